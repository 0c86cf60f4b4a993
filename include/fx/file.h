/* fx/file.h - writing result files (JSON, text lists, reports) safely. */
#ifndef FX_FILE_H
#define FX_FILE_H

#include <stddef.h>
#include "fx/context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes `size` bytes to path atomically: to "path.tmp.<pid>", flushed and
 * fsync'd, then renamed over path, so a failure never leaves a
 * half-written file under the real name (the old file stays). */
fx_status fx_file_write_atomic(fx_context *ctx, const char *path, const void *data, size_t size);

#ifdef __cplusplus
}
#endif
#endif
