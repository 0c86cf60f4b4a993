/* fx/tensor.h - tensors and the buffers that hold their storage.
 *
 * Shape convention, stated once for all of fx: images and feature maps are
 * NCHW (batch, channels, height, width), row-major, the last dimension
 * contiguous. Vectors per example are [N, F]. Scalars (losses) are [1].
 * Conv weights are [out_channels, in_channels, kh, kw]; linear weights are
 * [out_features, in_features]. Labels are int32 class indices [N].
 *
 * A tensor is a view: dtype, shape, and (buffer, byte offset). Buffers are
 * owned by a backend; a CPU buffer has a host pointer, an OpenCL buffer a
 * cl_mem handle. */
#ifndef FX_TENSOR_H
#define FX_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FX_MAX_DIMS 6

typedef enum fx_dtype { FX_F32 = 0, FX_I32 = 1 } fx_dtype;

typedef struct fx_backend fx_backend;

typedef struct fx_buffer {
    fx_backend *backend; /* owner; frees it */
    void *host;          /* host-visible pointer (CPU backend), else NULL */
    void *handle;        /* backend handle (cl_mem), else NULL */
    size_t size;         /* bytes */
} fx_buffer;

typedef struct fx_shape {
    int ndim;
    int64_t dim[FX_MAX_DIMS];
} fx_shape;

typedef struct fx_tensor {
    fx_dtype dtype;
    fx_shape shape;
    fx_buffer *buffer; /* NULL until allocated */
    size_t offset;     /* bytes into buffer */
} fx_tensor;

/* Shape helpers. fx_shape_make(2, (int64_t[]){N, F}). */
fx_shape fx_shape_make(int ndim, const int64_t *dims);
fx_shape fx_shape_1d(int64_t a);
fx_shape fx_shape_2d(int64_t a, int64_t b);
fx_shape fx_shape_4d(int64_t n, int64_t c, int64_t h, int64_t w);
/* Element count of a shape; -1 when a dimension is negative or the
 * product would exceed FX_NUMEL_MAX (shape inference refuses such shapes
 * with "too large", so planned tensors always have a valid count). */
#define FX_NUMEL_MAX ((int64_t)1 << 40)
int64_t fx_shape_numel(const fx_shape *s);
int fx_shape_equal(const fx_shape *a, const fx_shape *b);
/* Writes "[64, 3, 96, 96]" into buf; returns buf. */
char *fx_shape_str(const fx_shape *s, char *buf, size_t size);

size_t fx_dtype_size(fx_dtype dtype);
const char *fx_dtype_name(fx_dtype dtype);

static inline int64_t fx_tensor_numel(const fx_tensor *t) { return fx_shape_numel(&t->shape); }
static inline size_t fx_tensor_bytes(const fx_tensor *t)
{
    return (size_t)fx_tensor_numel(t) * 4u; /* F32 and I32: 4 bytes (fx_dtype_size) */
}
/* Host pointer of a tensor on a host-visible (CPU) buffer. */
static inline float *fx_tensor_f32(const fx_tensor *t)
{
    return (float *)(void *)((char *)t->buffer->host + t->offset);
}
static inline int32_t *fx_tensor_i32(const fx_tensor *t)
{
    return (int32_t *)(void *)((char *)t->buffer->host + t->offset);
}

#ifdef __cplusplus
}
#endif
#endif
