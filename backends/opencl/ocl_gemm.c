/* backends/opencl/ocl_gemm.c - matrix products through CLBlast (its C API,
 * clblast_c.h), row-major, on the backend's queue. CLBlast tunes and
 * caches its own kernels per device (in memory, per process). */
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

fx_status ocl_gemm(fx_backend *be, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha, cl_mem a,
                   size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
                   size_t ldc, const char *what)
{
    if (m == 0 || n == 0)
        return FX_OK;
    ocl_backend *ob = ocl_impl(be);
    cl_event ev = NULL;
    CLBlastStatusCode s = CLBlastSgemm(CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
                                       trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a, a_off,
                                       lda, b, b_off, ldb, beta, c, c_off, ldc, &ob->queue, &ev);
    if (ev)
        clReleaseEvent(ev);
    if (s == CLBlastSuccess)
        return FX_OK;
    fx_status st = (s == CLBlastTempBufferAllocFailure || s == CLBlastOpenCLOutOfResources ||
                    s == CLBlastOpenCLOutOfHostMemory || s == CL_MEM_OBJECT_ALLOCATION_FAILURE)
                       ? FX_ERR_NOMEM
                       : FX_ERR_BACKEND;
    return fx_fail(be->ctx, st, "OpenCL: CLBlast SGEMM for %s (%zux%zux%zu) failed: %s (%d)%s", what, m, n, k,
                   clblast_status_name(s), (int)s, st == FX_ERR_NOMEM ? "; try a smaller batch" : "");
}
