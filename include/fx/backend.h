/* fx/backend.h - the backend interface: a struct of function pointers, as
 * in ggml. A backend owns device memory and executes kernels registered for
 * its name in the op registry. The CPU backend is built in; OpenCL and
 * plugin backends implement the same struct. */
#ifndef FX_BACKEND_H
#define FX_BACKEND_H

#include "fx/context.h"
#include "fx/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fx_backend_ops {
    /* Allocates `bytes` of device memory; on failure records the error
     * (naming `what` and the size) and returns non-OK. */
    fx_status (*buffer_alloc)(fx_backend *be, size_t bytes, const char *what, fx_buffer **out);
    void (*buffer_free)(fx_backend *be, fx_buffer *buf);
    /* Host <-> device copies of `bytes` at byte offset `offset` of tensor t. */
    fx_status (*tensor_write)(fx_backend *be, fx_tensor *t, const void *src, size_t offset, size_t bytes);
    fx_status (*tensor_read)(fx_backend *be, const fx_tensor *t, void *dst, size_t offset, size_t bytes);
    /* Sets every element of t to zero. */
    fx_status (*tensor_zero)(fx_backend *be, fx_tensor *t);
    /* Device-to-device copy within this backend (same size tensors). */
    fx_status (*tensor_copy)(fx_backend *be, fx_tensor *dst, const fx_tensor *src);
    /* Optimiser updates of one parameter tensor, elementwise (all tensors
     * same shape). Adam's bias corrections are folded into lr_t by the
     * caller: w -= lr_t * m / (sqrt(v) + eps_t). See core/optimizer.c. */
    fx_status (*sgd_update)(fx_backend *be, fx_tensor *w, const fx_tensor *g, fx_tensor *velocity,
                            float lr, float momentum, float weight_decay, int nesterov);
    fx_status (*adam_update)(fx_backend *be, fx_tensor *w, const fx_tensor *g, fx_tensor *m, fx_tensor *v,
                             float lr_t, float beta1, float beta2, float eps_t, float weight_decay);
    /* Waits for queued work. */
    fx_status (*synchronize)(fx_backend *be);
    /* Frees the backend itself (not its buffers: free those first). */
    void (*destroy)(fx_backend *be);
} fx_backend_ops;

struct fx_backend {
    char name[32];        /* kernel table key: "cpu", "opencl" */
    char device_name[128];/* human description for logs */
    const fx_backend_ops *ops;
    fx_context *ctx;
    void *impl;           /* backend private state */
};

/* Convenience wrappers that dispatch through be->ops. */
fx_status fx_backend_alloc_tensor(fx_backend *be, fx_tensor *t, const char *what);
void fx_backend_free_tensor(fx_backend *be, fx_tensor *t);
fx_status fx_tensor_upload(fx_tensor *t, const void *src);   /* whole tensor */
fx_status fx_tensor_download(const fx_tensor *t, void *dst); /* whole tensor */
fx_status fx_tensor_zero(fx_tensor *t);

/* The CPU backend of a context (always present). */
fx_backend *fx_context_cpu_backend(fx_context *ctx);

#ifdef __cplusplus
}
#endif
#endif
