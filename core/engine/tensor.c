/* core/engine/tensor.c - shapes, dtypes and backend-dispatching tensor helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "core/internal.h"

fx_shape fx_shape_make(int ndim, const int64_t *dims)
{
    fx_shape s;
    memset(&s, 0, sizeof s);
    s.ndim = ndim < 0 ? 0 : ndim > FX_MAX_DIMS ? FX_MAX_DIMS : ndim;
    for (int i = 0; i < s.ndim; i++)
        s.dim[i] = dims[i];
    return s;
}
fx_shape fx_shape_1d(int64_t a) { return fx_shape_make(1, (int64_t[]){ a }); }
fx_shape fx_shape_2d(int64_t a, int64_t b) { return fx_shape_make(2, (int64_t[]){ a, b }); }
fx_shape fx_shape_4d(int64_t n, int64_t c, int64_t h, int64_t w) { return fx_shape_make(4, (int64_t[]){ n, c, h, w }); }

int64_t fx_shape_numel(const fx_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) {
        if (s->dim[i] < 0 || __builtin_mul_overflow(n, s->dim[i], &n) || n > FX_NUMEL_MAX)
            return -1;
    }
    return n;
}

int fx_shape_equal(const fx_shape *a, const fx_shape *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dim[i] != b->dim[i])
            return 0;
    return 1;
}

char *fx_shape_str(const fx_shape *s, char *buf, size_t size)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < s->ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "", (long long)s->dim[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
    return buf;
}

size_t fx_dtype_size(fx_dtype dtype) { return dtype == FX_F32 || dtype == FX_I32 ? 4 : 0; }
const char *fx_dtype_name(fx_dtype dtype) { return dtype == FX_I32 ? "int32" : "float32"; }

fx_status fx_backend_alloc_tensor(fx_backend *be, fx_tensor *t, const char *what)
{
    size_t bytes = fx_tensor_bytes(t);
    t->offset = 0;
    return be->ops->buffer_alloc(be, bytes, what, &t->buffer);
}

void fx_backend_free_tensor(fx_backend *be, fx_tensor *t)
{
    if (t->buffer)
        be->ops->buffer_free(be, t->buffer);
    t->buffer = NULL;
}

fx_status fx_tensor_upload(fx_tensor *t, const void *src)
{
    fx_backend *be = t->buffer->backend;
    return be->ops->tensor_write(be, t, src, 0, fx_tensor_bytes(t));
}

fx_status fx_tensor_download(const fx_tensor *t, void *dst)
{
    fx_backend *be = t->buffer->backend;
    return be->ops->tensor_read(be, t, dst, 0, fx_tensor_bytes(t));
}

fx_status fx_tensor_zero(fx_tensor *t)
{
    fx_backend *be = t->buffer->backend;
    return be->ops->tensor_zero(be, t);
}

fx_status fx_tensor_upload_async(fx_tensor *t, const void *src)
{
    fx_backend *be = t->buffer->backend;
    if (FX_BACKEND_OPS_HAS(be->ops, tensor_write_async))
        return be->ops->tensor_write_async(be, t, src, 0, fx_tensor_bytes(t));
    return be->ops->tensor_write(be, t, src, 0, fx_tensor_bytes(t));
}

fx_status fx_tensor_download_async(const fx_tensor *t, void *dst)
{
    fx_backend *be = t->buffer->backend;
    if (FX_BACKEND_OPS_HAS(be->ops, tensor_read_async))
        return be->ops->tensor_read_async(be, t, dst, 0, fx_tensor_bytes(t));
    return be->ops->tensor_read(be, t, dst, 0, fx_tensor_bytes(t));
}

fx_status fx_tensor_fill(fx_tensor *t, float value, size_t first, size_t count)
{
    fx_backend *be = t->buffer->backend;
    if (t->dtype != FX_F32 || first + count < first || first + count > (size_t)fx_tensor_numel(t))
        return fx_fail(be->ctx, FX_ERR_INTERNAL, "fx_tensor_fill: elements [%zu, %zu) of a tensor of %lld (F32 only)",
                       first, first + count, (long long)fx_tensor_numel(t));
    if (count == 0)
        return FX_OK;
    if (FX_BACKEND_OPS_HAS(be->ops, tensor_fill))
        return be->ops->tensor_fill(be, t, value, first, count);
    float *host = fx_malloc(be->ctx, count * sizeof(float), "a tensor fill");
    if (!host)
        return FX_ERR_NOMEM;
    for (size_t i = 0; i < count; i++)
        host[i] = value;
    fx_status st = be->ops->tensor_write(be, t, host, first * sizeof(float), count * sizeof(float));
    free(host);
    return st;
}

fx_status fx_backend_synchronize(fx_backend *be)
{
    return be->ops->synchronize ? be->ops->synchronize(be) : FX_OK;
}

float fx_rng_next_normal(fx_rng *r)
{
    /* Box-Muller; u1 in (0, 1] so log is finite. */
    float u1 = 1.0f - fx_rng_next_uniform(r);
    float u2 = fx_rng_next_uniform(r);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647692f * u2);
}
