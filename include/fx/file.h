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

/* Reads a whole regular file into a malloc'd buffer (*data, *size; the
 * caller frees *data). Never blocks: a FIFO, a device or a folder is
 * refused, naming what the path is. Errors read "<what> '<path>': <why>". */
fx_status fx_read_whole_file(fx_context *ctx, const char *what, const char *path, unsigned char **data,
                             size_t *size);
/* After renaming a file into place: fsyncs the folder holding `path`, so
 * the rename survives a power loss. Returns 0, or the errno of the
 * failure (0 too on filesystems that cannot sync a folder: EINVAL,
 * ENOTSUP). */
int fx_sync_parent_dir(const char *path);
/* 1 on a little-endian host: file formats that store little-endian
 * numbers (checkpoints, .npy) convert only when this is 0. */
int fx_host_is_little_endian(void);

#ifdef __cplusplus
}
#endif
#endif
