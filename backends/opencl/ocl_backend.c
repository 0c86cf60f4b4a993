/* backends/opencl/ocl_backend.c - the OpenCL backend object: platform and
 * device selection, one context and in-order queue per device, device
 * buffers (cl_mem in fx_buffer.handle), host<->device copies, the
 * optimiser updates (clkernels/optimizer.cl) and the launch helpers.
 *
 * Work-group sizes come from the device (CL_DEVICE_MAX_WORK_GROUP_SIZE),
 * capped at 256, a size every vendor runs at full occupancy; 1-D launches
 * round the global size up and kernels check bounds. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_backend.h"

#define OCL_MAX_PLATFORMS 16
#define OCL_MAX_DEVICES 32

static void ocl_destroy(fx_backend *be);
static const fx_backend_ops ocl_ops;

static int is_ocl(const fx_backend *be) { return be && be->ops == &ocl_ops; }

/* ---- buffers and copies ------------------------------------------------ */

static fx_status ocl_buffer_alloc(fx_backend *be, size_t bytes, const char *what, fx_buffer **out)
{
    ocl_backend *b = ocl_impl(be);
    *out = NULL;
    fx_buffer *buf = fx_calloc(be->ctx, 1, sizeof *buf, "an OpenCL buffer record");
    if (!buf)
        return FX_ERR_NOMEM;
    /* Zero-size tensors still get a (tiny) buffer: kernels need a valid cl_mem. */
    size_t alloc = bytes ? bytes : 4;
    if (b->max_alloc && alloc > b->max_alloc) {
        free(buf);
        return fx_fail(be->ctx, FX_ERR_NOMEM,
                       "OpenCL: %s needs %zu bytes, more than one allocation may hold on %s (%llu bytes); "
                       "try a smaller batch", what ? what : "a tensor", bytes, b->device_name,
                       (unsigned long long)b->max_alloc);
    }
    cl_int err;
    /* FX_FAULT=device_alloc:N: the device says out of memory (tests). */
    int injected = fx_fault_hit(be->ctx, FX_FAULT_DEVICE_ALLOC);
    cl_mem mem = injected ? NULL : clCreateBuffer(b->context, CL_MEM_READ_WRITE, alloc, NULL, &err);
    if (injected)
        err = CL_MEM_OBJECT_ALLOCATION_FAILURE;
    if (!mem || err != CL_SUCCESS) {
        free(buf);
        return fx_fail(be->ctx, FX_ERR_NOMEM,
                       "OpenCL: allocating %s (%zu bytes) on %s failed: %s (%d)%s; try a smaller batch",
                       what ? what : "a tensor", bytes, b->device_name, ocl_error_name(err), (int)err,
                       injected ? " (injected by FX_FAULT)" : "");
    }
    buf->backend = be;
    buf->handle = mem;
    buf->size = bytes;
    *out = buf;
    return FX_OK;
}

static void ocl_buffer_free(fx_backend *be, fx_buffer *buf)
{
    if (!buf)
        return;
    if (buf->handle)
        clReleaseMemObject((cl_mem)buf->handle);
    free(buf);
}

static fx_status check_range(fx_backend *be, const fx_tensor *t, size_t offset, size_t bytes)
{
    if (!t->buffer || !t->buffer->handle || t->offset + offset + bytes > t->buffer->size)
        return fx_fail(be->ctx, FX_ERR_INTERNAL, "OpenCL tensor copy out of bounds (%zu + %zu bytes)", offset, bytes);
    return FX_OK;
}

static fx_status write_buffer(fx_backend *be, fx_tensor *t, const void *src, size_t offset, size_t bytes,
                              cl_bool blocking)
{
    fx_status st = check_range(be, t, offset, bytes);
    if (st != FX_OK || bytes == 0)
        return st;
    if (blocking && (st = ocl_checks_queue_read(be)) != FX_OK)
        return st;
    cl_int err = clEnqueueWriteBuffer(ocl_impl(be)->queue, ocl_mem(t), blocking, t->offset + offset, bytes, src, 0,
                                      NULL, ocl_profile_slot(be));
    if (err != CL_SUCCESS)
        return blocking ? ocl_checks_verify(be, ocl_fail(be->ctx, err, "clEnqueueWriteBuffer"))
                        : ocl_fail(be->ctx, err, "clEnqueueWriteBuffer");
    ocl_count_transfer(be, OCL_XFER_TO_DEVICE, bytes);
    if (blocking) {
        ocl_count_sync(be);
        return ocl_checks_verify(be, FX_OK);
    }
    return FX_OK;
}

static fx_status read_buffer(fx_backend *be, const fx_tensor *t, void *dst, size_t offset, size_t bytes,
                             cl_bool blocking)
{
    fx_status st = check_range(be, t, offset, bytes);
    if (st != FX_OK || bytes == 0)
        return st;
    if (blocking && (st = ocl_checks_queue_read(be)) != FX_OK)
        return st;
    cl_int err = clEnqueueReadBuffer(ocl_impl(be)->queue, ocl_mem(t), blocking, t->offset + offset, bytes, dst, 0,
                                     NULL, ocl_profile_slot(be));
    if (err != CL_SUCCESS)
        return blocking ? ocl_checks_verify(be, ocl_fail(be->ctx, err, "clEnqueueReadBuffer"))
                        : ocl_fail(be->ctx, err, "clEnqueueReadBuffer");
    ocl_count_transfer(be, OCL_XFER_TO_HOST, bytes);
    if (blocking) {
        ocl_count_sync(be);
        return ocl_checks_verify(be, FX_OK);
    }
    return FX_OK;
}

/* Blocking: the caller may free or reuse `src` as soon as we return. */
static fx_status ocl_tensor_write(fx_backend *be, fx_tensor *t, const void *src, size_t offset, size_t bytes)
{
    return write_buffer(be, t, src, offset, bytes, CL_TRUE);
}

static fx_status ocl_tensor_read(fx_backend *be, const fx_tensor *t, void *dst, size_t offset, size_t bytes)
{
    return read_buffer(be, t, dst, offset, bytes, CL_TRUE);
}

/* Queued in order with the kernels; the caller keeps src (dst) until the
 * next clFinish or blocking copy (fx/backend.h). */
static fx_status ocl_tensor_write_async(fx_backend *be, fx_tensor *t, const void *src, size_t offset, size_t bytes)
{
    return write_buffer(be, t, src, offset, bytes, CL_FALSE);
}

static fx_status ocl_tensor_read_async(fx_backend *be, const fx_tensor *t, void *dst, size_t offset, size_t bytes)
{
    return read_buffer(be, t, dst, offset, bytes, CL_FALSE);
}

static fx_status ocl_tensor_fill(fx_backend *be, fx_tensor *t, float value, size_t first, size_t count)
{
    ocl_backend *b = ocl_impl(be);
    size_t bytes = count * sizeof(float);
    fx_status st = check_range(be, t, first * sizeof(float), bytes);
    if (st != FX_OK || bytes == 0)
        return st;
    if (b->cl_major > 1 || b->cl_minor >= 2) {
        cl_float v = value;
        cl_int err = clEnqueueFillBuffer(b->queue, ocl_mem(t), &v, sizeof v, t->offset + first * sizeof(float), bytes,
                                         0, NULL, ocl_profile_slot(be));
        if (err != CL_SUCCESS)
            return ocl_fail(be->ctx, err, "clEnqueueFillBuffer");
        ocl_count_transfer(be, OCL_XFER_FILL, bytes);
        return FX_OK;
    }
    ocl_args a;
    st = ocl_args_begin(be, "elementwise.cl", "fill_value", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_mem(&a, ocl_mem(t), ocl_elem_offset(t) + first);
    ocl_arg_int(&a, (int)count);
    ocl_arg_float(&a, value);
    return ocl_launch_1d(be, &a, count, 0, "fill_value");
}

static fx_status ocl_tensor_zero(fx_backend *be, fx_tensor *t)
{
    ocl_backend *b = ocl_impl(be);
    size_t bytes = fx_tensor_bytes(t);
    fx_status st = check_range(be, t, 0, bytes);
    if (st != FX_OK || bytes == 0)
        return st;
    if (b->cl_major > 1 || b->cl_minor >= 2) {
        cl_float zero = 0.0f;
        cl_int err = clEnqueueFillBuffer(b->queue, ocl_mem(t), &zero, sizeof zero, t->offset, bytes, 0, NULL,
                                         ocl_profile_slot(be));
        if (err != CL_SUCCESS)
            return ocl_fail(be->ctx, err, "clEnqueueFillBuffer");
        ocl_count_transfer(be, OCL_XFER_FILL, bytes);
        return FX_OK;
    }
    ocl_args a;
    st = ocl_args_begin(be, "elementwise.cl", "fill_zero", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_tensor(&a, t);
    ocl_arg_int(&a, (int)(bytes / 4));
    return ocl_launch_1d(be, &a, bytes / 4, 0, "fill_zero");
}

static fx_status ocl_tensor_copy(fx_backend *be, fx_tensor *dst, const fx_tensor *src)
{
    size_t bytes = fx_tensor_bytes(src);
    fx_status st = check_range(be, dst, 0, bytes);
    if (st == FX_OK)
        st = check_range(be, src, 0, bytes);
    if (st != FX_OK || bytes == 0 || (ocl_mem(dst) == ocl_mem(src) && dst->offset == src->offset))
        return st;
    cl_int err = clEnqueueCopyBuffer(ocl_impl(be)->queue, ocl_mem(src), ocl_mem(dst), src->offset, dst->offset, bytes,
                                     0, NULL, ocl_profile_slot(be));
    if (err != CL_SUCCESS)
        return ocl_fail(be->ctx, err, "clEnqueueCopyBuffer");
    ocl_count_transfer(be, OCL_XFER_ON_DEVICE, bytes);
    return FX_OK;
}

static fx_status ocl_synchronize(fx_backend *be)
{
    fx_status st = ocl_checks_queue_read(be);
    if (st != FX_OK)
        return st;
    cl_int err = clFinish(ocl_impl(be)->queue);
    ocl_count_sync(be);
    if (err != CL_SUCCESS)
        return ocl_checks_verify(be, ocl_fail(be->ctx, err, "clFinish"));
    ocl_profile_drain(ocl_impl(be));
    return ocl_checks_verify(be, FX_OK);
}

void ocl_count_transfer(fx_backend *be, int kind, size_t bytes)
{
    ocl_backend *b = ocl_impl(be);
    b->xfer_bytes[kind] += bytes;
    b->xfer_calls[kind]++;
    ocl_profile_record(be, ocl_xfer_name(kind), bytes);
}

/* ---- launch helpers ---------------------------------------------------- */

void ocl_args_begin_kernel(ocl_args *a, cl_kernel kernel, const char *name)
{
    memset(a, 0, sizeof *a);
    a->kernel = kernel;
    a->name = name;
}

fx_status ocl_args_begin(fx_backend *be, const char *file, const char *name, ocl_args *a)
{
    return ocl_args_begin_opts(be, file, "", name, a);
}

fx_status ocl_args_begin_opts(fx_backend *be, const char *file, const char *options, const char *name, ocl_args *a)
{
    memset(a, 0, sizeof *a);
    fx_status st = ocl_kernel_get_opts(be, file, options, name, &a->kernel);
    a->name = name;
    return st;
}

static void set_arg(ocl_args *a, size_t size, const void *value)
{
    cl_int err = clSetKernelArg(a->kernel, a->index++, size, value);
    if (err != CL_SUCCESS && a->err == CL_SUCCESS)
        a->err = err;
}

void ocl_arg_mem(ocl_args *a, cl_mem mem, size_t elem_offset)
{
    cl_uint off = (cl_uint)elem_offset;
    set_arg(a, sizeof mem, &mem);
    set_arg(a, sizeof off, &off);
}

void ocl_arg_tensor(ocl_args *a, const fx_tensor *t) { ocl_arg_mem(a, ocl_mem(t), ocl_elem_offset(t)); }

void ocl_arg_int(ocl_args *a, int v)
{
    cl_int x = v;
    set_arg(a, sizeof x, &x);
}

void ocl_arg_float(ocl_args *a, float v)
{
    cl_float x = v;
    set_arg(a, sizeof x, &x);
}

void ocl_arg_ulong(ocl_args *a, uint64_t v)
{
    cl_ulong x = v;
    set_arg(a, sizeof x, &x);
}

void ocl_arg_local(ocl_args *a, size_t bytes) { set_arg(a, bytes, NULL); }

size_t ocl_group_size(fx_backend *be, size_t limit)
{
    size_t max = ocl_impl(be)->max_work_group;
    if (limit && limit < max)
        max = limit;
    size_t g = 1;
    while (g * 2 <= max)
        g *= 2;
    return g;
}

fx_status ocl_launch_nd(fx_backend *be, ocl_args *a, cl_uint dims, const size_t *global, const size_t *local,
                        const char *what)
{
    char msg[200];
    if (a->err != CL_SUCCESS) {
        snprintf(msg, sizeof msg, "clSetKernelArg #%u of kernel %s", (unsigned)a->index, what);
        return ocl_fail(be->ctx, a->err, msg);
    }
    size_t g[3] = { 1, 1, 1 };
    for (cl_uint d = 0; d < dims && d < 3; d++) {
        if (global[d] == 0)
            return FX_OK;
        size_t l = local ? local[d] : 1;
        g[d] = (global[d] + l - 1) / l * l;
    }
    cl_int err = clEnqueueNDRangeKernel(ocl_impl(be)->queue, a->kernel, dims, NULL, g, local, 0, NULL,
                                        ocl_profile_slot(be));
    if (err != CL_SUCCESS) {
        snprintf(msg, sizeof msg, "clEnqueueNDRangeKernel(%s, global %zux%zux%zu, local %zux%zux%zu)", what, g[0],
                 g[1], g[2], local ? local[0] : 0, dims > 1 && local ? local[1] : 0, dims > 2 && local ? local[2] : 0);
        return ocl_fail(be->ctx, err, msg);
    }
    ocl_impl(be)->launches++;
    ocl_profile_record(be, a->name ? a->name : what, 0);
    return FX_OK;
}

static fx_status enqueue(fx_backend *be, ocl_args *a, size_t global, size_t local, const char *what)
{
    return ocl_launch_nd(be, a, 1, &global, &local, what);
}

fx_status ocl_launch_1d(fx_backend *be, ocl_args *a, size_t n, size_t local, const char *what)
{
    if (n == 0)
        return FX_OK;
    if (local == 0)
        local = ocl_group_size(be, 256);
    size_t global = (n + local - 1) / local * local;
    return enqueue(be, a, global, local, what);
}

fx_status ocl_launch_groups(fx_backend *be, ocl_args *a, size_t groups, size_t local, const char *what)
{
    if (groups == 0)
        return FX_OK;
    return enqueue(be, a, groups * local, local, what);
}

void ocl_divisor(int d, cl_uint *m, int *shift)
{
    /* l = ceil(log2 d); m = ceil(2^(31+l) / d) < 2^32; then for n < 2^31,
     * n / d = (n * m) >> (31 + l) (Granlund & Montgomery 1994, thm 4.2). */
    int l = 0;
    while (l < 31 && ((cl_ulong)1 << l) < (cl_ulong)d)
        l++;
    cl_ulong two = (cl_ulong)1 << (31 + l);
    *m = (cl_uint)((two + (cl_ulong)d - 1) / (cl_ulong)d);
    *shift = 31 + l;
}

void ocl_arg_divisor(ocl_args *a, int d)
{
    cl_uint m;
    int shift;
    ocl_divisor(d > 0 ? d : 1, &m, &shift);
    set_arg(a, sizeof m, &m);
    ocl_arg_int(a, shift);
}

fx_status ocl_scratch(fx_backend *be, int slot, size_t bytes, cl_mem *out)
{
    ocl_backend *b = ocl_impl(be);
    b->scratch_gen[slot]++;
    if (b->scratch_bytes[slot] < bytes || !b->scratch[slot]) {
        if (b->scratch[slot])
            clReleaseMemObject(b->scratch[slot]);
        b->scratch[slot] = NULL;
        b->scratch_bytes[slot] = 0;
        cl_int err;
        int injected = fx_fault_hit(be->ctx, FX_FAULT_DEVICE_ALLOC);
        cl_mem m = injected ? NULL : clCreateBuffer(b->context, CL_MEM_READ_WRITE, bytes ? bytes : 4, NULL, &err);
        if (injected)
            err = CL_MEM_OBJECT_ALLOCATION_FAILURE;
        if (!m || err != CL_SUCCESS)
            return fx_fail(be->ctx, FX_ERR_NOMEM,
                           "OpenCL: allocating %zu bytes of kernel scratch (convolution columns, SAD maps) on %s failed: %s (%d)%s; "
                           "try a smaller batch", bytes, b->device_name, ocl_error_name(err), (int)err,
                           injected ? " (injected by FX_FAULT)" : "");
        b->scratch[slot] = m;
        b->scratch_bytes[slot] = bytes;
    }
    *out = b->scratch[slot];
    return FX_OK;
}

/* ---- optimiser updates ------------------------------------------------- */

/* Counts optimiser steps: one each time the first parameter ever updated
 * is updated again (for per-step profile figures). */
static void count_optimizer_step(ocl_backend *b, const fx_tensor *w)
{
    if (!b->step_mem) {
        b->step_mem = ocl_mem(w);
        b->step_offset = w->offset;
    }
    if (b->step_mem == ocl_mem(w) && b->step_offset == w->offset)
        b->optimizer_steps++;
}

/* The common start of an optimizer launch: checks that the weight w, its
 * gradient g and the n_state (== want) state tensors have one size, opens
 * `kernel` in optimizer.cl, counts the step and pushes the tensors in
 * that order. */
static fx_status optimizer_begin(fx_backend *be, const char *which, const char *kernel, fx_tensor *w,
                                 const fx_tensor *g, fx_tensor *const *state, int n_state, int want, ocl_args *a)
{
    if (n_state != want)
        return fx_fail(be->ctx, FX_ERR_INTERNAL, "%s update: %d state tensors, expected %d", which, n_state, want);
    int64_t n = fx_tensor_numel(w);
    int same = fx_tensor_numel(g) == n;
    for (int k = 0; k < n_state; k++)
        same = same && fx_tensor_numel(state[k]) == n;
    if (!same)
        return fx_fail(be->ctx, FX_ERR_INTERNAL, "%s update: weight, gradient and state sizes differ", which);
    fx_status st = ocl_args_begin(be, "optimizer.cl", kernel, a);
    if (st != FX_OK)
        return st;
    count_optimizer_step(ocl_impl(be), w);
    ocl_arg_tensor(a, w);
    ocl_arg_tensor(a, g);
    for (int k = 0; k < n_state; k++)
        ocl_arg_tensor(a, state[k]);
    return FX_OK;
}

/* state[0] = velocity */
fx_status ocl_sgd_update(fx_backend *be, fx_tensor *w, const fx_tensor *g, fx_tensor *const *state, int n_state,
                         const fx_optim_hparams *hp)
{
    ocl_args a;
    fx_status st = optimizer_begin(be, "sgd", "sgd_update", w, g, state, n_state, 1, &a);
    if (st != FX_OK)
        return st;
    int n = (int)fx_tensor_numel(w);
    ocl_arg_float(&a, hp->lr);
    ocl_arg_float(&a, hp->momentum);
    ocl_arg_float(&a, hp->weight_decay);
    ocl_arg_int(&a, hp->nesterov);
    ocl_arg_int(&a, n);
    return ocl_launch_1d(be, &a, (size_t)n, 0, "sgd_update");
}

/* state[0] = m, state[1] = v; the bias corrections folded into lr_t and
 * eps_t on the host, exactly as the CPU kernel does. */
fx_status ocl_adam_update(fx_backend *be, fx_tensor *w, const fx_tensor *g, fx_tensor *const *state, int n_state,
                          const fx_optim_hparams *hp)
{
    ocl_args a;
    fx_status st = optimizer_begin(be, "adam", "adam_update", w, g, state, n_state, 2, &a);
    if (st != FX_OK)
        return st;
    int n = (int)fx_tensor_numel(w);
    float lr_t, eps_t;
    fx_optim_adam_corrections(hp, &lr_t, &eps_t);
    ocl_arg_float(&a, lr_t);
    ocl_arg_float(&a, hp->beta1);
    ocl_arg_float(&a, hp->beta2);
    ocl_arg_float(&a, eps_t);
    ocl_arg_float(&a, hp->weight_decay);
    ocl_arg_int(&a, n);
    return ocl_launch_1d(be, &a, (size_t)n, 0, "adam_update");
}

/* ---- devices ----------------------------------------------------------- */

typedef struct ocl_device_ref {
    cl_platform_id platform;
    cl_device_id device;
    int p, d;
    char name[256];
    cl_device_type type;
} ocl_device_ref;

/* Every device of every platform, in platform/device index order. */
static int enumerate(ocl_device_ref *refs, int max)
{
    cl_platform_id plats[OCL_MAX_PLATFORMS];
    cl_uint np = 0;
    if (clGetPlatformIDs(OCL_MAX_PLATFORMS, plats, &np) != CL_SUCCESS)
        return 0;
    int n = 0;
    for (cl_uint p = 0; p < np && p < OCL_MAX_PLATFORMS; p++) {
        cl_device_id devs[OCL_MAX_DEVICES];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, OCL_MAX_DEVICES, devs, &nd) != CL_SUCCESS)
            continue;
        for (cl_uint d = 0; d < nd && d < OCL_MAX_DEVICES && n < max; d++) {
            ocl_device_ref *r = &refs[n++];
            r->platform = plats[p];
            r->device = devs[d];
            r->p = (int)p;
            r->d = (int)d;
            r->name[0] = '\0';
            clGetDeviceInfo(devs[d], CL_DEVICE_NAME, sizeof r->name, r->name, NULL);
            r->name[sizeof r->name - 1] = '\0';
            r->type = 0;
            clGetDeviceInfo(devs[d], CL_DEVICE_TYPE, sizeof r->type, &r->type, NULL);
        }
    }
    return n;
}

static const char *type_name(cl_device_type t)
{
    if (t & CL_DEVICE_TYPE_GPU)
        return "GPU";
    if (t & CL_DEVICE_TYPE_ACCELERATOR)
        return "accelerator";
    if (t & CL_DEVICE_TYPE_CPU)
        return "CPU";
    return "other";
}

/* One line per device into buf (for listings and error messages). */
static void describe_devices(char *buf, size_t size)
{
    ocl_device_ref refs[OCL_MAX_PLATFORMS * 4];
    int n = enumerate(refs, (int)(sizeof refs / sizeof refs[0]));
    size_t used = 0;
    buf[0] = '\0';
    if (n == 0) {
        snprintf(buf, size, "  (no OpenCL devices: install a driver, e.g. pocl-opencl-icd for the CPU)\n");
        return;
    }
    for (int i = 0; i < n && used < size; i++) {
        cl_ulong mem = 0;
        cl_uint cu = 0;
        char version[128] = "";
        clGetDeviceInfo(refs[i].device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
        clGetDeviceInfo(refs[i].device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
        clGetDeviceInfo(refs[i].device, CL_DEVICE_VERSION, sizeof version, version, NULL);
        version[sizeof version - 1] = '\0';
        int w = snprintf(buf + used, size - used, "  opencl:%d:%d  %-11s %s, %llu MiB, %u compute units, %s\n",
                         refs[i].p, refs[i].d, type_name(refs[i].type), refs[i].name,
                         (unsigned long long)(mem >> 20), (unsigned)cu, version);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

fx_status ocl_list_devices(fx_context *ctx, FILE *out)
{
    char buf[8192];
    describe_devices(buf, sizeof buf);
    fputs(buf, out);
    return FX_OK;
}

static int contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return 0;
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return 0;
}

static fx_status select_device(fx_context *ctx, const char *spec, ocl_device_ref *out)
{
    ocl_device_ref refs[OCL_MAX_PLATFORMS * 4];
    int n = enumerate(refs, (int)(sizeof refs / sizeof refs[0]));
    char list[8192];
    if (n == 0) {
        describe_devices(list, sizeof list);
        return fx_fail(ctx, FX_ERR_UNSUPPORTED, "backend '%s': no OpenCL device found:\n%s", spec, list);
    }
    const char *rest = spec && !strncmp(spec, "opencl", 6) ? spec + 6 : spec ? spec : "";
    if (*rest == '\0') {
        int pick = 0;
        for (int i = n - 1; i >= 0; i--)
            if (refs[i].type & CL_DEVICE_TYPE_GPU)
                pick = i;
        *out = refs[pick];
        return FX_OK;
    }
    if (*rest != ':') {
        describe_devices(list, sizeof list);
        return fx_fail(ctx, FX_ERR_INVALID, "backend '%s': write opencl, opencl:P:D or opencl:NAME; devices:\n%s",
                       spec, list);
    }
    rest++;
    /* P:D as digits only, each below 10000 (sscanf's %d has undefined
     * behaviour past INT_MAX: "opencl:99999999999999999999:0" once read
     * as platform -1). */
    int p = -1, d = -1;
    size_t np = strspn(rest, "0123456789");
    size_t nd = rest[np] == ':' ? strspn(rest + np + 1, "0123456789") : 0;
    if (np > 0 && nd > 0 && rest[np + 1 + nd] == '\0') {
        if (np > 4 || nd > 4) {
            describe_devices(list, sizeof list);
            return fx_fail(ctx, FX_ERR_INVALID, "backend '%s': platform and device numbers are small indices "
                           "(0, 1, ...), this one is too large; devices:\n%s", spec, list);
        }
        p = atoi(rest);
        d = atoi(rest + np + 1);
        for (int i = 0; i < n; i++)
            if (refs[i].p == p && refs[i].d == d) {
                *out = refs[i];
                return FX_OK;
            }
        describe_devices(list, sizeof list);
        return fx_fail(ctx, FX_ERR_INVALID, "backend '%s': there is no OpenCL device %d on platform %d; devices:\n%s",
                       spec, d, p, list);
    }
    for (int i = 0; i < n; i++)
        if (contains_nocase(refs[i].name, rest)) {
            *out = refs[i];
            return FX_OK;
        }
    describe_devices(list, sizeof list);
    return fx_fail(ctx, FX_ERR_INVALID, "backend '%s': no OpenCL device name contains '%s'; devices:\n%s", spec, rest,
                   list);
}

fx_status ocl_backend_create(fx_context *ctx, const char *spec, fx_backend **out)
{
    *out = NULL;
    ocl_device_ref ref;
    fx_status st = select_device(ctx, spec ? spec : "opencl", &ref);
    if (st != FX_OK)
        return st;
    fx_backend *be = fx_calloc(ctx, 1, sizeof *be, "the OpenCL backend");
    ocl_backend *b = be ? fx_calloc(ctx, 1, sizeof *b, "the OpenCL backend") : NULL;
    if (!b) {
        free(be);
        return FX_ERR_NOMEM;
    }
    be->struct_size = sizeof *be;
    snprintf(be->name, sizeof be->name, "opencl");
    be->ops = &ocl_ops;
    be->ctx = ctx;
    be->impl = b;
    b->ctx = ctx;
    b->platform = ref.platform;
    b->device = ref.device;
    snprintf(b->device_name, sizeof b->device_name, "%s", ref.name);
    clGetDeviceInfo(b->device, CL_DRIVER_VERSION, sizeof b->driver_version, b->driver_version, NULL);
    clGetPlatformInfo(b->platform, CL_PLATFORM_VERSION, sizeof b->platform_version, b->platform_version, NULL);
    b->driver_version[sizeof b->driver_version - 1] = '\0';
    b->platform_version[sizeof b->platform_version - 1] = '\0';
    char version[128] = "";
    clGetDeviceInfo(b->device, CL_DEVICE_VERSION, sizeof version, version, NULL);
    version[sizeof version - 1] = '\0';
    if (sscanf(version, "OpenCL %d.%d", &b->cl_major, &b->cl_minor) != 2) {
        b->cl_major = 1;
        b->cl_minor = 0;
    }
    clGetDeviceInfo(b->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof b->max_work_group, &b->max_work_group, NULL);
    clGetDeviceInfo(b->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof b->local_mem, &b->local_mem, NULL);
    clGetDeviceInfo(b->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof b->max_alloc, &b->max_alloc, NULL);
    clGetDeviceInfo(b->device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof b->global_mem, &b->global_mem, NULL);
    clGetDeviceInfo(b->device, CL_DEVICE_TYPE, sizeof b->device_type, &b->device_type, NULL);
    clGetDeviceInfo(b->device, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof b->native_float_width,
                    &b->native_float_width, NULL);
    if (b->max_work_group == 0)
        b->max_work_group = 1;
    snprintf(be->device_name, sizeof be->device_name, "OpenCL %d:%d %s (%s)", ref.p, ref.d, ref.name, version);
    ocl_program_cache_init(b);
    cl_int err;
    cl_context_properties props[] = { CL_CONTEXT_PLATFORM, (cl_context_properties)b->platform, 0 };
    b->context = clCreateContext(props, 1, &b->device, NULL, NULL, &err);
    if (!b->context || err != CL_SUCCESS) {
        st = ocl_fail(ctx, err, "clCreateContext");
        ocl_destroy(be);
        return st;
    }
    /* clCreateCommandQueue is deprecated in 2.0 but present everywhere, and
     * is the only call 1.2 devices have. */
    b->queue = clCreateCommandQueue(b->context, b->device, 0, &err);
    if (!b->queue || err != CL_SUCCESS) {
        st = ocl_fail(ctx, err, "clCreateCommandQueue");
        ocl_destroy(be);
        return st;
    }
    st = ocl_gemm_select(be);
    if (st != FX_OK) {
        ocl_destroy(be);
        return st;
    }
    if (fx_context_get_options(ctx)->verbose >= 2)
        fprintf(stderr, "fx: opencl: %s; GEMM: %s%s%s\n", be->device_name,
                b->gemm == OCL_GEMM_FX ? "fx kernels (clkernels/gemm.cl " : "CLBlast",
                b->gemm == OCL_GEMM_FX ? b->gemm_options : "", b->gemm == OCL_GEMM_FX ? ")" : "");
    *out = be;
    return FX_OK;
}

static void ocl_destroy(fx_backend *be)
{
    if (!be)
        return;
    ocl_backend *b = ocl_impl(be);
    if (b) {
        if (b->queue)
            clFinish(b->queue);
        /* The line tests and users look for to see whether the disk cache
         * worked (a warm start builds nothing). */
        if (b->context && fx_context_get_options(be->ctx)->verbose >= 2)
            fprintf(stderr, "fx: opencl: programs built %d, loaded %d from cache (%s)\n", b->programs_built,
                    b->programs_loaded, b->cache_dir[0] ? b->cache_dir : "disk cache off");
        ocl_profile_release(b);
        ocl_checks_release(b);
        for (int i = 0; i < 2; i++)
            if (b->scratch[i])
                clReleaseMemObject(b->scratch[i]);
        ocl_program_cache_release(b);
        if (b->queue)
            clReleaseCommandQueue(b->queue);
        if (b->context)
            clReleaseContext(b->context);
        free(b);
    }
    free(be);
}

int ocl_programs_built(const fx_backend *be) { return is_ocl(be) ? ocl_impl(be)->programs_built : -1; }
int ocl_programs_loaded(const fx_backend *be) { return is_ocl(be) ? ocl_impl(be)->programs_loaded : -1; }
const char *ocl_cache_dir(const fx_backend *be) { return is_ocl(be) ? ocl_impl(be)->cache_dir : ""; }

static const fx_backend_ops ocl_ops = {
    .struct_size = sizeof(fx_backend_ops),
    .buffer_alloc = ocl_buffer_alloc,
    .buffer_free = ocl_buffer_free,
    .tensor_write = ocl_tensor_write,
    .tensor_read = ocl_tensor_read,
    .tensor_zero = ocl_tensor_zero,
    .tensor_copy = ocl_tensor_copy,
    .synchronize = ocl_synchronize,
    .destroy = ocl_destroy,
    .tensor_write_async = ocl_tensor_write_async,
    .tensor_read_async = ocl_tensor_read_async,
    .tensor_fill = ocl_tensor_fill,
};
