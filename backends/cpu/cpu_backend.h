/* backends/cpu/cpu_backend.h - private declarations of the CPU backend:
 * its state, the thread pool, and every CPU kernel (registered in
 * cpu_kernels.c). Kernels are named cpu_<op>_forward / cpu_<op>_backward
 * and take the generic fx_kernel_call. */
#ifndef FX_CPU_BACKEND_H
#define FX_CPU_BACKEND_H

#include "fx/fx.h"

typedef struct cpu_thread_pool cpu_thread_pool;

typedef struct cpu_backend {
    cpu_thread_pool *pool;
    int threads;
    fx_simd_level simd;
    float **scratch;        /* per thread */
    size_t *scratch_floats; /* per thread */
} cpu_backend;

/* threadpool.c */
fx_status cpu_thread_pool_create(fx_context *ctx, int threads, cpu_thread_pool **out);
void cpu_thread_pool_destroy(cpu_thread_pool *pool);
void cpu_thread_pool_run(cpu_thread_pool *pool, int64_t n, int64_t grain, fx_cpu_range_fn fn, void *arg);

/* optimizer_update.c: the update kernels of "sgd" and "adam" (fx/optim.h). */
fx_status fx_cpu_register_optimizer_kernels(fx_registry *reg);

/* Whether an optional tensor of a kernel call is there: the executor passes
 * NULL (or a tensor without a shape) for a parameter the node does not have
 * (bias: false) and for a gradient nobody needs. */
static inline int cpu_tensor_present(const fx_tensor *t) { return t != NULL && t->shape.ndim != 0; }

/* Kernels: declare each pair as
 *   fx_status cpu_<op>_forward(const fx_kernel_call *call);
 *   fx_status cpu_<op>_backward(const fx_kernel_call *call);
 * in the kernel's own header (backends/cpu/<op>.h) or here. */
#define FX_CPU_KERNEL_PAIR(op)                                 \
    fx_status cpu_##op##_forward(const fx_kernel_call *call);  \
    fx_status cpu_##op##_backward(const fx_kernel_call *call)

FX_CPU_KERNEL_PAIR(conv2d);
FX_CPU_KERNEL_PAIR(linear);
FX_CPU_KERNEL_PAIR(maxpool2d);
FX_CPU_KERNEL_PAIR(avgpool2d);
FX_CPU_KERNEL_PAIR(global_avgpool);
FX_CPU_KERNEL_PAIR(batchnorm);
FX_CPU_KERNEL_PAIR(relu);
FX_CPU_KERNEL_PAIR(elu);
FX_CPU_KERNEL_PAIR(dropout);
FX_CPU_KERNEL_PAIR(resize_bilinear);
FX_CPU_KERNEL_PAIR(concat);
FX_CPU_KERNEL_PAIR(l2_normalize);
FX_CPU_KERNEL_PAIR(add);
FX_CPU_KERNEL_PAIR(mul);
FX_CPU_KERNEL_PAIR(scale);
FX_CPU_KERNEL_PAIR(flatten);
FX_CPU_KERNEL_PAIR(reshape);
FX_CPU_KERNEL_PAIR(softmax_cross_entropy);
FX_CPU_KERNEL_PAIR(topk_mask);
FX_CPU_KERNEL_PAIR(sad_loss);
FX_CPU_KERNEL_PAIR(fad_loss);
FX_CPU_KERNEL_PAIR(filter_diversity);
FX_CPU_KERNEL_PAIR(occlude);

#endif
