/* backends/opencl/ocl_module.c - the OpenCL backend as a module: the
 * plugin entry point of libfx-opencl.so (fx loads it on first use of
 * "opencl", core/engine/backend_table.c), its registration record, and the
 * table of functions (fx_opencl_api) that fx/opencl.h's inline wrappers
 * and OpenCL kernels of plugins reach through fx_backend_get_proc.
 *
 * The module does not link libfx: like any plugin it gets the fx_*
 * functions from the program that loads it. It links OpenCL and CLBlast,
 * so a machine without an OpenCL loader fails to load it (dlopen names
 * the missing library) and fx goes on without it. */
#include <string.h>

#include "backends/opencl/ocl_backend.h"
#include "fx/plugin.h"

FX_PLUGIN("opencl", FX_VERSION_STRING, "the OpenCL backend (clkernels/, CLBlast)");

/* ---- argument and launch helpers for plugin kernels ---------------------- */
/* fx_opencl_args is ocl_args's public twin (no OpenCL types in fx/opencl.h):
 * each helper converts, calls the backend's own helper, and converts back. */

static ocl_args args_in(const fx_opencl_args *a)
{
    ocl_args o = { (cl_kernel)a->kernel, a->name, (cl_uint)a->index, (cl_int)a->err };
    return o;
}

static void args_out(fx_opencl_args *a, const ocl_args *o)
{
    a->index = o->index;
    a->err = o->err;
}

static fx_status api_args_begin(fx_backend *be, const fx_opencl_program *prog, const char *kernel, fx_opencl_args *a)
{
    memset(a, 0, sizeof *a);
    void *k = NULL;
    fx_status st = ocl_plugin_kernel(be, prog, kernel, &k);
    a->kernel = k;
    a->name = kernel;
    return st;
}

#define ARG_ADAPTER(fn, type)                        \
    static void api_##fn(fx_opencl_args *a, type v)  \
    {                                                \
        ocl_args o = args_in(a);                     \
        ocl_##fn(&o, v);                             \
        args_out(a, &o);                             \
    }
ARG_ADAPTER(arg_tensor, const fx_tensor *)
ARG_ADAPTER(arg_int, int)
ARG_ADAPTER(arg_float, float)
ARG_ADAPTER(arg_local, size_t)
#undef ARG_ADAPTER

static fx_status api_launch_1d(fx_backend *be, fx_opencl_args *a, size_t n, size_t local, const char *what)
{
    ocl_args o = args_in(a);
    return ocl_launch_1d(be, &o, n, local, what);
}

static fx_status api_launch_groups(fx_backend *be, fx_opencl_args *a, size_t groups, size_t local, const char *what)
{
    ocl_args o = args_in(a);
    return ocl_launch_groups(be, &o, groups, local, what);
}

static const fx_opencl_api ocl_api = {
    .struct_size = sizeof(fx_opencl_api),
    .list_devices = ocl_list_devices,
    .programs_built = ocl_programs_built,
    .programs_loaded = ocl_programs_loaded,
    .cache_dir = ocl_cache_dir,
    .set_profiling = ocl_set_profiling,
    .profile_reset = ocl_profile_reset,
    .profile_report = ocl_profile_report,
    .transfer_bytes = ocl_transfer_bytes,
    .plugin_kernel = ocl_plugin_kernel,
    .plugin_queue = ocl_plugin_queue,
    .args_begin = api_args_begin,
    .arg_tensor = api_arg_tensor,
    .arg_int = api_arg_int,
    .arg_float = api_arg_float,
    .arg_local = api_arg_local,
    .launch_1d = api_launch_1d,
    .launch_groups = api_launch_groups,
    .counters = ocl_counters,
};

static const fx_opencl_api *get_api(void) { return &ocl_api; }

static fx_backend_proc get_proc(const char *name)
{
    if (!strcmp(name, "fx_opencl_api"))
        return (fx_backend_proc)get_api;
    return NULL;
}

/* ---- registration ---------------------------------------------------------- */

static const fx_backend_registration ocl_registration = {
    .struct_size = sizeof(fx_backend_registration),
    .name = "opencl",
    .description = "OpenCL devices: opencl (best), opencl:P:D, opencl:NAME (`fxrun devices` lists them)",
    .create = ocl_backend_create,
    .list_devices = ocl_list_devices,
    .register_kernels = ocl_register_kernels, /* only table entries: no OpenCL call until a backend is made */
    .get_proc = get_proc,
};

fx_status fx_plugin_init(fx_plugin *plugin, int abi_version)
{
    (void)abi_version;
    return fx_context_add_backend(fx_plugin_context(plugin), &ocl_registration);
}
