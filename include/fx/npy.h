/* fx/npy.h - NumPy .npy files (format 1.0/2.0/3.0, C order). Read accepts
 * little-endian f4, f8, i4, i8, u1, b1 (converted to f32 or i32); write
 * produces <f4 or <i4 atomically (temp file + rename). */
#ifndef FX_NPY_H
#define FX_NPY_H

#include "fx/context.h"
#include "fx/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fx_array {
    fx_dtype dtype;
    fx_shape shape;
    void *data; /* numel * 4 bytes, malloc'd; free with fx_array_free */
} fx_array;

fx_status fx_npy_read(fx_context *ctx, const char *path, fx_array *out);
/* As fx_npy_read, but an array that does not read as `want` is refused
 * with its numpy dtype named ("holds uint8 ('|u1'), but float32 is
 * needed"), instead of being handed back as int32 for the caller to
 * misdescribe. */
fx_status fx_npy_read_as(fx_context *ctx, const char *path, fx_dtype want, fx_array *out);
fx_status fx_npy_write(fx_context *ctx, const char *path, const fx_array *a);
void fx_array_free(fx_array *a);

#ifdef __cplusplus
}
#endif
#endif
