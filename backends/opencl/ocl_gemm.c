/* backends/opencl/ocl_gemm.c - matrix products on OpenCL: fx's own
 * register-tiled kernels (clkernels/gemm.cl) or CLBlast (its C API,
 * clblast_c.h), chosen per device when the backend is created:
 *
 *   CPU and accelerator devices -> fx kernels. CLBlast's kernels are tuned
 *     for GPUs; on PoCL (CPU) they reach ~10 GFLOP/s where gemm.cl's
 *     explicit-vector blocks reach 150-250 (AVX-512, 2 cores), because
 *     PoCL keeps a barrier-free work-item's accumulators in registers.
 *   GPU devices -> CLBlast (tuned per device by its authors).
 *   FX_OPENCL_GEMM=fx|clblast overrides the rule (tests run both on one
 *     device; a GPU user can measure ours with fxrun bench), and
 *     FX_OPENCL_STYLE=cpu|gpu sets the device class the rule (and the
 *     choice of im2col/col2im/reduction variants) assumes.
 *
 * The tile sizes of gemm.cl follow the device's native float vector width
 * (16: AVX-512, 32 registers: 8 x 32 blocks; 8: AVX2, 16 registers: 4 x 16;
 * otherwise float4). CLBlast tunes and caches its own kernels per device
 * (in memory, per process). All matrices are row-major. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_backend.h"

#include <clblast_c.h>

static const char *clblast_status_name(CLBlastStatusCode s)
{
    switch (s) {
    case CLBlastSuccess: return "CLBlastSuccess";
    case CLBlastOpenCLCompilerNotAvailable: return "CLBlastOpenCLCompilerNotAvailable";
    case CLBlastTempBufferAllocFailure: return "CLBlastTempBufferAllocFailure";
    case CLBlastOpenCLOutOfResources: return "CLBlastOpenCLOutOfResources";
    case CLBlastOpenCLOutOfHostMemory: return "CLBlastOpenCLOutOfHostMemory";
    case CLBlastOpenCLBuildProgramFailure: return "CLBlastOpenCLBuildProgramFailure";
    case CLBlastInvalidValue: return "CLBlastInvalidValue";
    case CLBlastInvalidMemObject: return "CLBlastInvalidMemObject";
    case CLBlastNotImplemented: return "CLBlastNotImplemented";
    case CLBlastInvalidMatrixA: return "CLBlastInvalidMatrixA";
    case CLBlastInvalidMatrixB: return "CLBlastInvalidMatrixB";
    case CLBlastInvalidMatrixC: return "CLBlastInvalidMatrixC";
    case CLBlastInvalidDimension: return "CLBlastInvalidDimension";
    case CLBlastInvalidLeadDimA: return "CLBlastInvalidLeadDimA";
    case CLBlastInvalidLeadDimB: return "CLBlastInvalidLeadDimB";
    case CLBlastInvalidLeadDimC: return "CLBlastInvalidLeadDimC";
    case CLBlastInsufficientMemoryA: return "CLBlastInsufficientMemoryA";
    case CLBlastInsufficientMemoryB: return "CLBlastInsufficientMemoryB";
    case CLBlastInsufficientMemoryC: return "CLBlastInsufficientMemoryC";
    case CLBlastInsufficientMemoryTemp: return "CLBlastInsufficientMemoryTemp";
    case CLBlastInvalidLocalMemUsage: return "CLBlastInvalidLocalMemUsage";
    case CLBlastDatabaseError: return "CLBlastDatabaseError";
    default: return (int)s > -1000 ? ocl_error_name((cl_int)s) : "CLBlast error";
    }
}

/* ---- selection ---------------------------------------------------------- */

/* Tile sizes (must match the defaults' meaning in clkernels/gemm.cl). */
static void gemm_tiles(const ocl_backend *b, int *vw, int *tm, int *nt_tm, int *nt_tn)
{
    if (b->native_float_width >= 16) {
        *vw = 16, *tm = 8, *nt_tm = 4, *nt_tn = 4;
    } else if (b->native_float_width >= 8) {
        *vw = 8, *tm = 4, *nt_tm = 2, *nt_tn = 4;
    } else {
        *vw = 4, *tm = 4, *nt_tm = 4, *nt_tn = 4;
    }
}

fx_status ocl_gemm_select(fx_backend *be)
{
    ocl_backend *b = ocl_impl(be);
    const char *style = getenv("FX_OPENCL_STYLE");
    if (style && *style && strcmp(style, "auto")) {
        if (strcmp(style, "cpu") && strcmp(style, "gpu"))
            return fx_fail(be->ctx, FX_ERR_INVALID,
                           "FX_OPENCL_STYLE='%s': write cpu, gpu or auto (from the device type)", style);
        b->cpu_style = !strcmp(style, "cpu");
    } else {
        b->cpu_style = !(b->device_type & CL_DEVICE_TYPE_GPU);
    }
    const char *env = getenv("FX_OPENCL_GEMM");
    if (env && *env && strcmp(env, "auto")) {
        if (!strcmp(env, "fx"))
            b->gemm = OCL_GEMM_FX;
        else if (!strcmp(env, "clblast"))
            b->gemm = OCL_GEMM_CLBLAST;
        else
            return fx_fail(be->ctx, FX_ERR_INVALID,
                           "FX_OPENCL_GEMM='%s': write fx (fx's kernels), clblast or auto (fx on CPUs, CLBlast on "
                           "GPUs)", env);
    } else {
        b->gemm = b->cpu_style ? OCL_GEMM_FX : OCL_GEMM_CLBLAST;
    }
    int vw, tm, nt_tm, nt_tn;
    gemm_tiles(b, &vw, &tm, &nt_tm, &nt_tn);
    snprintf(b->gemm_options, sizeof b->gemm_options, "-DGEMM_VW=%d -DGEMM_TM=%d -DGEMM_NT_TM=%d -DGEMM_NT_TN=%d", vw,
             tm, nt_tm, nt_tn);
    return FX_OK;
}

/* Work-group shape of the gemm.cl kernels: on a CPU one work-item per
 * group (each is already a big block; PoCL runs groups on its threads in
 * index order, so neighbouring row blocks share the cached B columns);
 * elsewhere 8 x 8 work-items. */
static const size_t *gemm_local(const ocl_backend *b, size_t *local)
{
    int cpu = b->cpu_style;
    local[0] = cpu ? 1 : 8;
    local[1] = cpu ? 1 : 8;
    local[2] = 1;
    return local;
}

static fx_status too_big(fx_backend *be, const char *what)
{
    return fx_fail(be->ctx, FX_ERR_UNSUPPORTED,
                   "OpenCL GEMM for %s: an operand has more than 2^31 elements, beyond fx's GEMM kernels; "
                   "use a smaller batch", what);
}

static fx_status clblast_fail(fx_backend *be, CLBlastStatusCode s, size_t m, size_t n, size_t k, const char *what)
{
    fx_status st = (s == CLBlastTempBufferAllocFailure || s == CLBlastOpenCLOutOfResources ||
                    s == CLBlastOpenCLOutOfHostMemory || s == CL_MEM_OBJECT_ALLOCATION_FAILURE)
                       ? FX_ERR_NOMEM
                       : FX_ERR_BACKEND;
    return fx_fail(be->ctx, st, "OpenCL: CLBlast SGEMM for %s (%zux%zux%zu) failed: %s (%d)%s", what, m, n, k,
                   clblast_status_name(s), (int)s, st == FX_ERR_NOMEM ? "; try a smaller batch" : "");
}

/* ---- fx kernels ----------------------------------------------------------- */

static int fits_int(size_t v) { return v < ((size_t)1 << 31); }

/* The leading arguments every gemm.cl kernel takes: the sizes, alpha and
 * the two operands (buffer, offset, leading dimension, batch stride). */
static void gemm_args_operands(ocl_args *args, size_t m, size_t n, size_t k, float alpha, ocl_matrix a, ocl_matrix b)
{
    ocl_arg_int(args, (int)m);
    ocl_arg_int(args, (int)n);
    ocl_arg_int(args, (int)k);
    ocl_arg_float(args, alpha);
    ocl_arg_mem(args, a.mem, a.off);
    ocl_arg_int(args, (int)a.ld);
    ocl_arg_int(args, (int)a.stride);
    ocl_arg_mem(args, b.mem, b.off);
    ocl_arg_int(args, (int)b.ld);
    ocl_arg_int(args, (int)b.stride);
}

static fx_status fx_gemm_broadcast(fx_backend *be, int trans_a, size_t m, size_t n, size_t k, float alpha,
                                   ocl_matrix a, ocl_matrix b, float beta, ocl_matrix c, size_t batch,
                                   const fx_tensor *bias, const char *what)
{
    ocl_backend *ob = ocl_impl(be);
    size_t last = batch ? batch - 1 : 0;
    if (!fits_int(a.off + a.stride * last + a.ld * (trans_a ? k : m)) ||
        !fits_int(b.off + b.stride * last + b.ld * k) || !fits_int(c.off + c.stride * last + c.ld * m))
        return too_big(be, what);
    const char *name = trans_a ? "gemm_tn" : "gemm_nn";
    ocl_args args;
    fx_status st = ocl_args_begin_opts(be, "gemm.cl", ob->gemm_options, name, &args);
    if (st != FX_OK)
        return st;
    int vw, tm, nt_tm, nt_tn;
    gemm_tiles(ob, &vw, &tm, &nt_tm, &nt_tn);
    gemm_args_operands(&args, m, n, k, alpha, a, b);
    ocl_arg_float(&args, beta);
    ocl_arg_mem(&args, c.mem, c.off);
    ocl_arg_int(&args, (int)c.ld);
    ocl_arg_int(&args, (int)c.stride);
    if (bias)
        ocl_arg_tensor(&args, bias);
    else
        ocl_arg_mem(&args, c.mem, 0); /* unused */
    ocl_arg_int(&args, bias != NULL);
    size_t global[3] = { (m + (size_t)tm - 1) / (size_t)tm, (n + 2 * (size_t)vw - 1) / (2 * (size_t)vw), batch };
    size_t local[3];
    return ocl_launch_nd(be, &args, 3, global, gemm_local(ob, local), what);
}

static fx_status fx_gemm_nt(fx_backend *be, size_t m, size_t n, size_t l, float alpha, ocl_matrix a, ocl_matrix b,
                            size_t batch, float beta, cl_mem c, size_t c_off, size_t ldc, const char *what)
{
    ocl_backend *ob = ocl_impl(be);
    size_t last = batch ? batch - 1 : 0;
    if (!fits_int(a.off + a.stride * last + a.ld * m) || !fits_int(b.off + b.stride * last + b.ld * n) ||
        !fits_int(c_off + ldc * m) || !fits_int(l) || !fits_int(batch))
        return too_big(be, what);
    ocl_args args;
    fx_status st = ocl_args_begin_opts(be, "gemm.cl", ob->gemm_options, "gemm_nt", &args);
    if (st != FX_OK)
        return st;
    int vw, tm, nt_tm, nt_tn;
    gemm_tiles(ob, &vw, &tm, &nt_tm, &nt_tn);
    gemm_args_operands(&args, m, n, l, alpha, a, b);
    ocl_arg_int(&args, (int)batch);
    ocl_arg_float(&args, beta);
    ocl_arg_mem(&args, c, c_off);
    ocl_arg_int(&args, (int)ldc);
    size_t global[2] = { (m + (size_t)nt_tm - 1) / (size_t)nt_tm, (n + (size_t)nt_tn - 1) / (size_t)nt_tn };
    size_t local[3];
    return ocl_launch_nd(be, &args, 2, global, gemm_local(ob, local), what);
}

/* ---- CLBlast -------------------------------------------------------------- */

/* After a CLBlast call: on failure release its event and report; on
 * success hand the event to the profiler (which then owns it) or release it. */
static fx_status clblast_finish(fx_backend *be, CLBlastStatusCode s, cl_event ev, const char *kernel, size_t m,
                                size_t n, size_t k, const char *what)
{
    if (s != CLBlastSuccess) {
        if (ev)
            clReleaseEvent(ev);
        return clblast_fail(be, s, m, n, k, what);
    }
    ocl_impl(be)->launches++;
    cl_event *slot = ocl_profile_slot(be);
    if (slot && ev) {
        *slot = ev;
        ocl_profile_record(be, kernel, 0);
    } else if (ev) {
        clReleaseEvent(ev);
    }
    return FX_OK;
}

static fx_status clblast_gemm(fx_backend *be, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                              cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta,
                              cl_mem c, size_t c_off, size_t ldc, const char *what)
{
    ocl_backend *ob = ocl_impl(be);
    cl_event ev = NULL;
    CLBlastStatusCode s = CLBlastSgemm(CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
                                       trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a, a_off,
                                       lda, b, b_off, ldb, beta, c, c_off, ldc, &ob->queue, &ev);
    return clblast_finish(be, s, ev, "clblast_sgemm", m, n, k, what);
}

/* ---- entry points --------------------------------------------------------- */

fx_status ocl_gemm(fx_backend *be, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha, cl_mem a,
                   size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
                   size_t ldc, const char *what)
{
    if (m == 0 || n == 0)
        return FX_OK;
    ocl_backend *ob = ocl_impl(be);
    if (ob->gemm == OCL_GEMM_FX && !(trans_a && trans_b)) {
        ocl_matrix ma = { a, a_off, lda, 0 }, mb = { b, b_off, ldb, 0 }, mc = { c, c_off, ldc, 0 };
        if (trans_b)
            return fx_gemm_nt(be, m, n, k, alpha, ma, mb, 1, beta, c, c_off, ldc, what);
        return fx_gemm_broadcast(be, trans_a, m, n, k, alpha, ma, mb, beta, mc, 1, NULL, what);
    }
    return clblast_gemm(be, trans_a, trans_b, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc, what);
}

/* y[z, row, col] += bias[row] over a batch of [m, n] planes (CLBlast path). */
static fx_status add_bias_planes(fx_backend *be, ocl_matrix c, size_t m, size_t n, size_t batch,
                                 const fx_tensor *bias)
{
    ocl_args args;
    fx_status st = ocl_args_begin(be, "conv.cl", "bias_planes", &args);
    if (st != FX_OK)
        return st;
    ocl_arg_mem(&args, c.mem, c.off);
    ocl_arg_int(&args, (int)c.ld);
    ocl_arg_int(&args, (int)c.stride);
    ocl_arg_tensor(&args, bias);
    ocl_arg_int(&args, (int)m);
    ocl_arg_int(&args, (int)n);
    ocl_arg_int(&args, (int)batch);
    return ocl_launch_1d(be, &args, m * n * batch, 0, "bias_planes");
}

fx_status ocl_gemm_batched(fx_backend *be, int trans_a, size_t m, size_t n, size_t k, float alpha, ocl_matrix a,
                           ocl_matrix b, float beta, ocl_matrix c, size_t batch, const fx_tensor *bias,
                           const char *what)
{
    if (m == 0 || n == 0 || batch == 0)
        return FX_OK;
    ocl_backend *ob = ocl_impl(be);
    if (ob->gemm == OCL_GEMM_FX)
        return fx_gemm_broadcast(be, trans_a, m, n, k, alpha, a, b, beta, c, batch, bias, what);
    fx_status st = FX_OK;
    if (batch == 1) {
        st = clblast_gemm(be, trans_a, 0, m, n, k, alpha, a.mem, a.off, a.ld, b.mem, b.off, b.ld, beta, c.mem, c.off,
                          c.ld, what);
    } else {
        cl_event ev = NULL;
        CLBlastStatusCode s = CLBlastSgemmStridedBatched(
            CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo, CLBlastTransposeNo, m, n, k,
            alpha, a.mem, a.off, a.ld, a.stride, b.mem, b.off, b.ld, b.stride, beta, c.mem, c.off, c.ld, c.stride,
            batch, &ob->queue, &ev);
        st = clblast_finish(be, s, ev, "clblast_sgemm_batched", m, n, k, what);
    }
    if (st == FX_OK && bias)
        st = add_bias_planes(be, c, m, n, batch, bias);
    return st;
}

fx_status ocl_gemm_nt_sum(fx_backend *be, size_t m, size_t n, size_t l, float alpha, ocl_matrix a, ocl_matrix b,
                          size_t batch, float beta, cl_mem c, size_t c_off, size_t ldc, const char *what)
{
    if (m == 0 || n == 0)
        return FX_OK;
    ocl_backend *ob = ocl_impl(be);
    if (ob->gemm == OCL_GEMM_FX)
        return fx_gemm_nt(be, m, n, l, alpha, a, b, batch, beta, c, c_off, ldc, what);
    if (batch <= 1)
        return clblast_gemm(be, 0, 1, m, n, l, alpha, a.mem, a.off, a.ld, b.mem, b.off, b.ld, beta, c, c_off, ldc,
                            what);
    /* One strided-batched product into scratch slot 1 ([batch, m, n]),
     * then a fixed-order sum over the batch: one big launch each instead
     * of `batch` small GEMMs. */
    cl_mem part = NULL;
    fx_status st = ocl_scratch(be, 1, batch * m * n * sizeof(float), &part);
    if (st != FX_OK)
        return st;
    cl_event ev = NULL;
    CLBlastStatusCode s = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeYes, m,
                                                     n, l, 1.0f, a.mem, a.off, a.ld, a.stride, b.mem, b.off, b.ld,
                                                     b.stride, 0.0f, part, 0, n, m * n, batch, &ob->queue, &ev);
    st = clblast_finish(be, s, ev, "clblast_sgemm_batched", m, n, l, what);
    if (st != FX_OK)
        return st;
    ocl_args args;
    st = ocl_args_begin(be, "conv.cl", "sum_batches", &args);
    if (st != FX_OK)
        return st;
    ocl_arg_mem(&args, part, 0);
    ocl_arg_mem(&args, c, c_off);
    ocl_arg_int(&args, (int)ldc);
    ocl_arg_int(&args, (int)m);
    ocl_arg_int(&args, (int)n);
    ocl_arg_int(&args, (int)batch);
    ocl_arg_float(&args, alpha);
    ocl_arg_float(&args, beta);
    return ocl_launch_1d(be, &args, m * n, 0, "sum_batches");
}
