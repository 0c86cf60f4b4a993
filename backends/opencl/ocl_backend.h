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

#define OCL_MAX_PROGRAMS 24
#define OCL_MAX_KERNELS 128
#define OCL_PATH_MAX 1024
#define OCL_MAX_PROFILE 160  /* distinct kernel names and transfer kinds */
#define OCL_MAX_PENDING 512  /* profiled commands awaiting their times */

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

/* Per-kernel (or per-transfer kind) totals of --profile. */
typedef struct ocl_profile_entry {
    char name[64];
    int64_t calls;
    double ms;
    uint64_t bytes;     /* transfers */
} ocl_profile_entry;

/* A profiled command whose event has not been read yet. */
typedef struct ocl_pending_event {
    cl_event event;
    int entry;
} ocl_pending_event;

/* A device-side input check awaiting the next host wait (ocl_checks.c). */
#define OCL_CHECK_SLOTS 64
typedef struct ocl_check {
    char where[800];      /* "file:line:col: node 'name' (op)" */
    const char *what;     /* format literal taking (int value, int index, int limit) */
    int limit;
} ocl_check;

/* Transfer kinds counted always (bytes, calls), timed when profiling. */
enum { OCL_XFER_TO_DEVICE, OCL_XFER_TO_HOST, OCL_XFER_ON_DEVICE, OCL_XFER_FILL, OCL_XFER_KINDS };

/* Which GEMM implementation the backend uses (ocl_gemm.c). */
typedef enum ocl_gemm_impl { OCL_GEMM_FX = 0, OCL_GEMM_CLBLAST = 1 } ocl_gemm_impl;

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
    cl_device_type device_type;
    cl_uint native_float_width;   /* CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT */
    int cpu_style;                /* kernel variants for CPUs (1) or GPUs (0): ocl_gemm_select */
    ocl_gemm_impl gemm;           /* chosen at creation: CPU -> FX, GPU -> CLBlast */
    char gemm_options[128];       /* -D tile sizes of clkernels/gemm.cl */
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
    uint64_t scratch_gen[2];      /* bumped by every ocl_scratch call on the slot */
    /* The columns conv2d forward left in scratch slot 0 (ocl_conv.c): its
     * backward reuses them when nothing took the slot since. */
    const void *cols_node;
    cl_mem cols_x;
    size_t cols_x_offset;
    uint64_t cols_gen;
    /* Transfers, counted always (tests check a step copies only what it
     * must); their times and per-kernel times only while profiling. */
    uint64_t xfer_bytes[OCL_XFER_KINDS];
    int64_t xfer_calls[OCL_XFER_KINDS];
    /* Host waits on the queue (clFinish, blocking reads and writes,
     * clWaitForEvents outside profiling) and kernels enqueued (CLBlast
     * calls included), counted always, as the transfers: --profile
     * reports them per step. */
    int64_t syncs;
    int64_t launches;
    int profiling;                /* queue has CL_QUEUE_PROFILING_ENABLE */
    ocl_profile_entry profile[OCL_MAX_PROFILE];
    int n_profile;
    ocl_pending_event pending[OCL_MAX_PENDING];
    int n_pending;
    cl_event slot_event;          /* the command being enqueued */
    /* Optimiser steps seen (the first parameter's update comes round
     * again), to report per step when the caller does not know. */
    cl_mem step_mem;
    size_t step_offset;
    int64_t optimizer_steps;
    /* Device-side input checks (ocl_checks.c): slot i is check_mem's ints
     * 2i, 2i+1; check_host is where each host wait reads them. */
    cl_mem check_mem;
    cl_int check_host[2 * OCL_CHECK_SLOTS];
    ocl_check checks[OCL_CHECK_SLOTS];
    int n_checks;
} ocl_backend;

static inline ocl_backend *ocl_impl(const fx_backend *be) { return (ocl_backend *)be->impl; }

/* Device-side input checks (ocl_checks.c). ocl_check_slot: a slot for one
 * launch (kernel arguments: *mem and *slot); `what` is a format literal
 * taking (int value, int index, int limit) that ends the error message.
 * Around every host wait: ocl_checks_queue_read before it, then
 * ocl_checks_verify(be, the wait's status) after it, which returns the
 * first failed check's error (FX_ERR_INVALID) or the wait's status. */
fx_status ocl_check_slot(const fx_kernel_call *call, const char *what, int limit, cl_mem *mem, int *slot);
fx_status ocl_checks_queue_read(fx_backend *be);
fx_status ocl_checks_verify(fx_backend *be, fx_status wait_status);
void ocl_checks_release(ocl_backend *b);

/* What the module offers through fx/opencl.h's fx_opencl_api
 * (ocl_module.c builds the table): ocl_backend.c, ocl_kernels.c,
 * ocl_plugin.c, ocl_profile.c. */
fx_status ocl_backend_create(fx_context *ctx, const char *spec, fx_backend **out);
fx_status ocl_list_devices(fx_context *ctx, FILE *out);
fx_status ocl_register_kernels(fx_registry *reg);
int ocl_programs_built(const fx_backend *be);   /* -1: not an OpenCL backend */
int ocl_programs_loaded(const fx_backend *be);
const char *ocl_cache_dir(const fx_backend *be);
fx_status ocl_set_profiling(fx_backend *be, int on);
fx_status ocl_profile_reset(fx_backend *be);
fx_status ocl_profile_report(fx_backend *be, FILE *out, int steps);
fx_status ocl_transfer_bytes(const fx_backend *be, uint64_t *to_device, uint64_t *to_host);
fx_status ocl_plugin_kernel(fx_backend *be, const fx_opencl_program *prog, const char *kernel, void **cl_kernel);
fx_status ocl_plugin_queue(fx_backend *be, void **cl_command_queue);

/* ocl_errors.c */
const char *ocl_error_name(cl_int err);
/* Records "<what>: <CL_ERROR_NAME> (code)" and returns FX_ERR_BACKEND (or
 * FX_ERR_NOMEM for the allocation failures, with advice). */
fx_status ocl_fail(fx_context *ctx, cl_int err, const char *what);

/* ocl_program_cache.c: the cl_kernel `name` from clkernels/`file`, built
 * (or loaded from the disk cache) on first use; _opts adds build options
 * (a separate program per distinct options string). */
fx_status ocl_kernel_get(fx_backend *be, const char *file, const char *name, cl_kernel *out);
fx_status ocl_kernel_get_opts(fx_backend *be, const char *file, const char *options, const char *name,
                              cl_kernel *out);
/* Builds a program from source `text` with `options` for be's device, or
 * loads it from the disk cache (same key, entry format and counters as the
 * clkernels/ programs). `name` names it in messages and its cache file
 * ("clkernels/conv.cl", "plugin program prelu.cl"). A build failure
 * returns FX_ERR_BACKEND with the build log and writes no cache entry.
 * The caller owns *out. */
fx_status ocl_program_from_text(fx_backend *be, const char *name, const char *text, const char *options,
                                cl_program *out);
void ocl_program_cache_release(ocl_backend *b);
/* Resolves the disk cache directory from the environment into b->cache_dir. */
void ocl_program_cache_init(ocl_backend *b);

/* Argument helpers: each appends at *index and advances it. */
typedef struct ocl_args {
    cl_kernel kernel;
    const char *name;    /* kernel name, for the profile */
    cl_uint index;
    cl_int err;          /* first failure */
} ocl_args;
void ocl_arg_tensor(ocl_args *a, const fx_tensor *t);      /* cl_mem + uint element offset */
void ocl_arg_mem(ocl_args *a, cl_mem mem, size_t elem_offset);
void ocl_arg_int(ocl_args *a, int v);
void ocl_arg_float(ocl_args *a, float v);
void ocl_arg_ulong(ocl_args *a, uint64_t v);
void ocl_arg_local(ocl_args *a, size_t bytes);
/* Division by a run-time constant d >= 1 in kernels (div_magic in the .cl
 * files): appends the multiplier (uint) and shift (int) for d. */
void ocl_arg_divisor(ocl_args *a, int d);
void ocl_divisor(int d, cl_uint *m, int *shift);

/* Launches a 1-D range of n work-items (rounded up to the work-group size;
 * kernels check bounds). `local` 0 = the backend's choice. */
fx_status ocl_launch_1d(fx_backend *be, ocl_args *a, size_t n, size_t local, const char *what);
/* Launches `groups` work-groups of `local` work-items (reductions). */
fx_status ocl_launch_groups(fx_backend *be, ocl_args *a, size_t groups, size_t local, const char *what);
/* Largest power-of-two work-group size <= limit the device allows. */
size_t ocl_group_size(fx_backend *be, size_t limit);

/* Starts an argument list for a kernel handle found earlier (plan-time
 * state: no lookup by name per launch). */
void ocl_args_begin_kernel(ocl_args *a, cl_kernel kernel, const char *name);
/* Starts an argument list for kernel `name` of `file`. */
fx_status ocl_args_begin(fx_backend *be, const char *file, const char *name, ocl_args *a);
/* The same for a program built with extra options (e.g. "-DGEMM_VW=16"). */
fx_status ocl_args_begin_opts(fx_backend *be, const char *file, const char *options, const char *name, ocl_args *a);
/* Launches an n-D range (dims 1..3): global sizes are rounded up to
 * multiples of local (kernels check bounds); local NULL = the driver's
 * choice. */
fx_status ocl_launch_nd(fx_backend *be, ocl_args *a, cl_uint dims, const size_t *global, const size_t *local,
                        const char *what);

/* Profiling (ocl_profile.c): the event of a command just enqueued (NULL
 * when not profiling) is handed over with the name it is reported under:
 * ocl_profile_slot returns where clEnqueue* should put the event (NULL
 * when not profiling), ocl_profile_record then files it under `name`. */
cl_event *ocl_profile_slot(fx_backend *be);
void ocl_profile_record(fx_backend *be, const char *name, uint64_t bytes);
/* Reads the times of every pending event (waits for them). */
void ocl_profile_drain(ocl_backend *b);
const char *ocl_xfer_name(int kind);
void ocl_profile_release(ocl_backend *b);

/* Scratch buffer `slot` (0 or 1) of at least `bytes`. Its contents are
 * the caller's until the next ocl_scratch call on the slot (each call
 * bumps scratch_gen[slot]). */
fx_status ocl_scratch(fx_backend *be, int slot, size_t bytes, cl_mem *out);

/* Counts a transfer of `kind` (OCL_XFER_*) just enqueued, and files its
 * profiling event. */
void ocl_count_transfer(fx_backend *be, int kind, size_t bytes);
/* Counts a host wait on the queue (see ocl_backend.syncs). */
static inline void ocl_count_sync(fx_backend *be) { ((struct ocl_backend *)be->impl)->syncs++; }
/* fx_opencl_counters of the module API (ocl_profile.c). */
fx_status ocl_counters(const fx_backend *be, fx_opencl_counters *out);

static inline cl_mem ocl_mem(const fx_tensor *t) { return (cl_mem)t->buffer->handle; }
static inline size_t ocl_elem_offset(const fx_tensor *t) { return t->offset / 4; }
static inline int ocl_has_tensor(const fx_tensor *t) { return t != NULL && t->shape.ndim != 0 && t->buffer; }

/* ocl_backend.c: the update kernels of "sgd" and "adam" (fx/optim.h),
 * registered under "opencl" by ocl_register_kernels. */
fx_status ocl_sgd_update(fx_backend *be, fx_tensor *w, const fx_tensor *g, fx_tensor *const *state, int n_state,
                         const fx_optim_hparams *hp);
fx_status ocl_adam_update(fx_backend *be, fx_tensor *w, const fx_tensor *g, fx_tensor *const *state, int n_state,
                          const fx_optim_hparams *hp);

/* ocl_gemm.c: row-major C[m, n] = alpha op(A) op(B) + beta C, with fx's
 * kernels (clkernels/gemm.cl) or CLBlast as the backend chose (b->gemm);
 * offsets and leading dimensions in elements. */
fx_status ocl_gemm(fx_backend *be, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha, cl_mem a,
                   size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
                   size_t ldc, const char *what);
/* A matrix operand of the batched products: matrix z starts at
 * off + z * stride (stride 0: one matrix shared by the batch). */
typedef struct ocl_matrix {
    cl_mem mem;
    size_t off, ld, stride;
} ocl_matrix;
/* C_z = alpha op(A_z) B_z + beta C_z (+ bias[row]) for z < batch: trans_a
 * 0 (A_z [m, k]) or 1 (A_z stored [k, m]); B_z [k, n]. bias NULL = none. */
fx_status ocl_gemm_batched(fx_backend *be, int trans_a, size_t m, size_t n, size_t k, float alpha, ocl_matrix a,
                           ocl_matrix b, float beta, ocl_matrix c, size_t batch, const fx_tensor *bias,
                           const char *what);
/* C = alpha sum_{z < batch} A_z B_z^T + beta C with A_z [m, l], B_z [n, l]
 * (weight gradients summed over the images of a batch). */
fx_status ocl_gemm_nt_sum(fx_backend *be, size_t m, size_t n, size_t l, float alpha, ocl_matrix a, ocl_matrix b,
                          size_t batch, float beta, cl_mem c, size_t c_off, size_t ldc, const char *what);
/* Chooses the kernel style (FX_OPENCL_STYLE=cpu|gpu overrides the device
 * type), the GEMM implementation (the style's, or FX_OPENCL_GEMM=fx|clblast)
 * and gemm.cl's tile sizes for the device. */
fx_status ocl_gemm_select(fx_backend *be);

/* ocl_conv.c: out[c] += scale * sum over n and the plane of x[n, c, plane]
 * (bias gradients of conv2d and linear). */
fx_status ocl_channel_sum(fx_backend *be, const fx_tensor *x, fx_tensor *out, int n, int channels, int plane,
                          float scale);

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
/* ocl_layout.c: resize_bilinear's plan-time state (taps, kernel handles). */
fx_status ocl_resize_bilinear_prepare(fx_kernel_prepare_call *call);
void ocl_resize_bilinear_release(fx_backend *be, void *state);
FX_OCL_KERNEL_PAIR(topk_mask);        /* ocl_paper.c */
FX_OCL_KERNEL_PAIR(fad_loss);
FX_OCL_KERNEL_PAIR(filter_diversity);
FX_OCL_KERNEL_PAIR(occlude);
FX_OCL_KERNEL_PAIR(sad_loss);         /* ocl_sad_loss.c */

#endif
