/* backends/opencl/ocl_backend.h - private declarations of the OpenCL
 * backend: its state (one context and one in-order queue per device), the
 * program cache, error reporting and the small launch helpers every
 * OpenCL kernel wrapper (backends/opencl/ocl_<op>.c) uses.
 *
 * Tensors: fx_buffer.handle is a cl_mem, host is NULL. A tensor is (buffer,
 * byte offset); kernels take each tensor as two arguments, the cl_mem and
 * its offset in ELEMENTS (uint), and add the offset themselves. That avoids
 * sub-buffers, whose origins must be aligned to CL_DEVICE_MEM_BASE_ADDR_ALIGN. */
#ifndef FX_OCL_BACKEND_H
#define FX_OCL_BACKEND_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include "fx/fx.h"
#include "fx/opencl.h"

#define OCL_MAX_PROGRAMS 16
#define OCL_MAX_KERNELS 96
#define OCL_PATH_MAX 1024

/* One .cl file from clkernels/, embedded by the build (generated file
 * fx_clkernels.c in the build folder). */
typedef struct ocl_embedded_source {
    const char *name;   /* "elementwise.cl" */
    const char *text;   /* NUL-terminated */
    size_t length;
} ocl_embedded_source;
extern const ocl_embedded_source fx_ocl_embedded_sources[];
extern const int fx_ocl_embedded_source_count;

typedef struct ocl_program_entry {
    char file[64];
    char options[256];
    cl_program program;
} ocl_program_entry;

typedef struct ocl_kernel_entry {
    int program;        /* index into programs */
    char name[64];
    cl_kernel kernel;
} ocl_kernel_entry;

typedef struct ocl_backend {
    fx_context *ctx;
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    char device_name[256];
    char driver_version[128];
    char platform_version[128];
    int cl_major, cl_minor;       /* device OpenCL version */
    size_t max_work_group;        /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    cl_ulong local_mem;           /* CL_DEVICE_LOCAL_MEM_SIZE */
    cl_ulong max_alloc;           /* CL_DEVICE_MAX_MEM_ALLOC_SIZE */
    cl_ulong global_mem;
    ocl_program_entry programs[OCL_MAX_PROGRAMS];
    int n_programs;
    ocl_kernel_entry kernels[OCL_MAX_KERNELS];
    int n_kernels;
    char cache_dir[OCL_PATH_MAX]; /* "" = no disk cache */
    int programs_built, programs_loaded;
    /* Scratch device memory for conv2d columns and transposed gradients,
     * grown on demand; safe to reuse between launches because the queue is
     * in order and one host thread drives it. */
    cl_mem scratch[2];
    size_t scratch_bytes[2];
} ocl_backend;

static inline ocl_backend *ocl_impl(const fx_backend *be) { return (ocl_backend *)be->impl; }

/* ocl_errors.c */
const char *ocl_error_name(cl_int err);
/* Records "<what>: <CL_ERROR_NAME> (code)" and returns FX_ERR_BACKEND (or
 * FX_ERR_NOMEM for the allocation failures, with advice). */
fx_status ocl_fail(fx_context *ctx, cl_int err, const char *what);

/* ocl_program_cache.c: the cl_kernel `name` from clkernels/`file`, built
 * (or loaded from the disk cache) on first use. */
fx_status ocl_kernel_get(fx_backend *be, const char *file, const char *name, cl_kernel *out);
void ocl_program_cache_release(ocl_backend *b);
/* Resolves the disk cache directory from the environment into b->cache_dir. */
void ocl_program_cache_init(ocl_backend *b);

/* Argument helpers: each appends at *index and advances it. */
typedef struct ocl_args {
    cl_kernel kernel;
    cl_uint index;
    cl_int err;          /* first failure */
} ocl_args;
void ocl_arg_tensor(ocl_args *a, const fx_tensor *t);      /* cl_mem + uint element offset */
void ocl_arg_mem(ocl_args *a, cl_mem mem, size_t elem_offset);
void ocl_arg_int(ocl_args *a, int v);
void ocl_arg_float(ocl_args *a, float v);
void ocl_arg_ulong(ocl_args *a, uint64_t v);
void ocl_arg_local(ocl_args *a, size_t bytes);

/* Launches a 1-D range of n work-items (rounded up to the work-group size;
 * kernels check bounds). `local` 0 = the backend's choice. */
fx_status ocl_launch_1d(fx_backend *be, ocl_args *a, size_t n, size_t local, const char *what);
/* Launches `groups` work-groups of `local` work-items (reductions). */
fx_status ocl_launch_groups(fx_backend *be, ocl_args *a, size_t groups, size_t local, const char *what);
/* Largest power-of-two work-group size <= limit the device allows. */
size_t ocl_group_size(fx_backend *be, size_t limit);

/* Starts an argument list for kernel `name` of `file`. */
fx_status ocl_args_begin(fx_backend *be, const char *file, const char *name, ocl_args *a);

/* Scratch buffer `slot` (0 or 1) of at least `bytes`. */
fx_status ocl_scratch(fx_backend *be, int slot, size_t bytes, cl_mem *out);

static inline cl_mem ocl_mem(const fx_tensor *t) { return (cl_mem)t->buffer->handle; }
static inline size_t ocl_elem_offset(const fx_tensor *t) { return t->offset / 4; }
static inline int ocl_has_tensor(const fx_tensor *t) { return t != NULL && t->shape.ndim != 0 && t->buffer; }

/* ocl_backend.c */
fx_status ocl_sgd_update(fx_backend *be, fx_tensor *w, const fx_tensor *g, fx_tensor *velocity, float lr,
                         float momentum, float weight_decay, int nesterov);
fx_status ocl_adam_update(fx_backend *be, fx_tensor *w, const fx_tensor *g, fx_tensor *m, fx_tensor *v,
                          float lr_t, float beta1, float beta2, float eps_t, float weight_decay);

/* ocl_gemm.c: row-major C[m, n] = alpha op(A) op(B) + beta C via CLBlast;
 * offsets and leading dimensions in elements. */
fx_status ocl_gemm(fx_backend *be, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha, cl_mem a,
                   size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
                   size_t ldc, const char *what);

#define FX_OCL_KERNEL_PAIR(op)                                 \
    fx_status ocl_##op##_forward(const fx_kernel_call *call);  \
    fx_status ocl_##op##_backward(const fx_kernel_call *call)

FX_OCL_KERNEL_PAIR(relu);
FX_OCL_KERNEL_PAIR(elu);
FX_OCL_KERNEL_PAIR(add);
FX_OCL_KERNEL_PAIR(mul);
FX_OCL_KERNEL_PAIR(scale);
FX_OCL_KERNEL_PAIR(flatten);
FX_OCL_KERNEL_PAIR(reshape);
FX_OCL_KERNEL_PAIR(dropout);
FX_OCL_KERNEL_PAIR(softmax_cross_entropy);
FX_OCL_KERNEL_PAIR(linear);
FX_OCL_KERNEL_PAIR(conv2d);
FX_OCL_KERNEL_PAIR(maxpool2d);
FX_OCL_KERNEL_PAIR(avgpool2d);
FX_OCL_KERNEL_PAIR(global_avgpool);
FX_OCL_KERNEL_PAIR(batchnorm);
FX_OCL_KERNEL_PAIR(concat);
FX_OCL_KERNEL_PAIR(l2_normalize);
FX_OCL_KERNEL_PAIR(resize_bilinear);

#endif
