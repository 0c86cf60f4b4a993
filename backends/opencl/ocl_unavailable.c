/* backends/opencl/ocl_unavailable.c - fx/opencl.h in a build without the
 * OpenCL backend (FX_OPENCL=OFF, or no OpenCL/CLBlast found): every call
 * fails with FX_ERR_UNSUPPORTED and a message saying how to get the
 * backend, so callers need no #ifdef. Compiled instead of the backend (see
 * the OpenCL section of CMakeLists.txt). */
#include "fx/fx.h"
#include "fx/opencl.h"

static fx_status not_built(fx_context *ctx)
{
    return fx_fail(ctx, FX_ERR_UNSUPPORTED,
                   "this fx was built without the OpenCL backend; install an OpenCL driver, "
                   "ocl-icd-opencl-dev, opencl-headers and libclblast-dev, then rebuild with -DFX_OPENCL=ON");
}

fx_status fx_opencl_backend_create(fx_context *ctx, const char *spec, fx_backend **out)
{
    *out = NULL;
    return not_built(ctx);
}

fx_status fx_opencl_list_devices(fx_context *ctx, FILE *out)
{
    fprintf(out, "  (OpenCL backend not built)\n");
    return not_built(ctx);
}

fx_status fx_opencl_register_kernels(fx_registry *reg) { return FX_OK; }
int fx_opencl_programs_built(const fx_backend *be) { return -1; }
int fx_opencl_programs_loaded(const fx_backend *be) { return -1; }
const char *fx_opencl_cache_dir(const fx_backend *be) { return ""; }
fx_status fx_opencl_set_profiling(fx_backend *be, int on) { return not_built(be ? be->ctx : NULL); }
fx_status fx_opencl_profile_reset(fx_backend *be) { return not_built(be ? be->ctx : NULL); }
fx_status fx_opencl_profile_report(fx_backend *be, FILE *out, int steps) { return not_built(be ? be->ctx : NULL); }
fx_status fx_opencl_transfer_bytes(const fx_backend *be, uint64_t *to_device, uint64_t *to_host)
{
    return not_built(be ? be->ctx : NULL);
}
