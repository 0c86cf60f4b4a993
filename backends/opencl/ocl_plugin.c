/* backends/opencl/ocl_plugin.c - OpenCL kernels of plugins (fx/plugin.h):
 * ocl_plugin_kernel compiles a plugin's program from the source
 * text the plugin passes, on first use per backend, and keeps the
 * program and its kernels in the backend's own tables (b->programs,
 * b->kernels), so they are looked up like the built-in clkernels/
 * programs and released with them when the backend is destroyed.
 *
 * Programs are keyed "plugin/<name>": plugin program names are unique
 * (checked when registered), and clkernels/ file names have no '/'.
 *
 * Compiling goes through ocl_program_from_text (ocl_program_cache.c), so
 * plugin programs share the built-in programs' disk cache (keyed by
 * device, driver, source text and options; cache files
 * plugin_program_<name>-<hash>.clbin) and their built/loaded counters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_backend.h"
#include "fx/plugin.h"

static fx_status not_opencl(fx_backend *be, const char *what)
{
    return fx_fail(be ? be->ctx : NULL, FX_ERR_UNSUPPORTED,
                   "%s: backend '%s' is not an OpenCL backend (register this kernel under \"opencl\" only)", what,
                   be ? be->name : "(null)");
}

/* Builds `prog` for be's device through the program cache
 * (ocl_program_from_text): loaded from disk when an entry for this
 * device, driver, source text and options exists, else compiled (a
 * failure carries the program's name and the build log) and stored. */
static fx_status program_build(fx_backend *be, const fx_opencl_program *prog, cl_program *out)
{
    char options[512], name[160];
    /* The built-in programs' standard; no fast-math (results must match
     * the CPU within rounding), plus what the plugin asks for. */
    if (snprintf(options, sizeof options, "-cl-std=CL1.2%s%s", prog->options ? " " : "",
                 prog->options ? prog->options : "") >= (int)sizeof options)
        return fx_fail(be->ctx, FX_ERR_INVALID, "OpenCL plugin program %s: build options longer than %d characters",
                       prog->name, (int)sizeof options - 16);
    snprintf(name, sizeof name, "plugin program %s", prog->name);
    return ocl_program_from_text(be, name, prog->source, options, out);
}

fx_status ocl_plugin_kernel(fx_backend *be, const fx_opencl_program *prog, const char *kernel,
                                  void **cl_kernel_out)
{
    *cl_kernel_out = NULL;
    if (!be || ocl_programs_built(be) < 0)
        return not_opencl(be, kernel ? kernel : "OpenCL plugin kernel");
    if (!prog || !prog->name || !prog->source || !kernel)
        return fx_fail(be->ctx, FX_ERR_INVALID, "ocl_plugin_kernel: program, source and kernel name are required");
    ocl_backend *b = ocl_impl(be);
    char key[sizeof b->programs[0].file];
    if (snprintf(key, sizeof key, "plugin/%s", prog->name) >= (int)sizeof key ||
        strlen(kernel) >= sizeof b->kernels[0].name)
        return fx_fail(be->ctx, FX_ERR_INVALID, "OpenCL plugin program '%s' or kernel '%s': name too long", prog->name,
                       kernel);
    int at = -1;
    for (int i = 0; i < b->n_programs; i++)
        if (!strcmp(b->programs[i].file, key))
            at = i;
    if (at >= 0)
        for (int i = 0; i < b->n_kernels; i++)
            if (b->kernels[i].program == at && !strcmp(b->kernels[i].name, kernel)) {
                *cl_kernel_out = b->kernels[i].kernel;
                return FX_OK;
            }
    if (at < 0) {
        /* Plugin programs are backend resources (fx_plugin_add_opencl_program):
         * a program under a name another one was registered with would
         * take that one's place in the tables keyed by name. */
        const void *registered = fx_context_find_backend_resource(be->ctx, "opencl", prog->name);
        if (registered && registered != (const void *)prog)
            return fx_fail(be->ctx, FX_ERR_INVALID,
                           "OpenCL program '%s' is not the program a plugin registered under that name; give it "
                           "another name (prefix it with the plugin's name)",
                           prog->name);
        if (b->n_programs == OCL_MAX_PROGRAMS)
            return fx_fail(be->ctx, FX_ERR_UNSUPPORTED,
                           "OpenCL: no room for plugin program %s (at most %d programs per device; raise "
                           "OCL_MAX_PROGRAMS)",
                           prog->name, OCL_MAX_PROGRAMS);
        cl_program p = NULL;
        fx_status st = program_build(be, prog, &p);
        if (st != FX_OK)
            return st;
        at = b->n_programs++;
        snprintf(b->programs[at].file, sizeof b->programs[at].file, "%s", key);
        snprintf(b->programs[at].options, sizeof b->programs[at].options, "%s", prog->options ? prog->options : "");
        b->programs[at].program = p; /* counted built or loaded by ocl_program_from_text */
    }
    if (b->n_kernels == OCL_MAX_KERNELS)
        return fx_fail(be->ctx, FX_ERR_UNSUPPORTED,
                       "OpenCL: no room for kernel %s of plugin program %s (at most %d kernels per device)", kernel,
                       prog->name, OCL_MAX_KERNELS);
    cl_int err;
    cl_kernel k = clCreateKernel(b->programs[at].program, kernel, &err);
    if (!k || err != CL_SUCCESS) {
        char what[192];
        snprintf(what, sizeof what, "clCreateKernel(%s) from plugin program %s", kernel, prog->name);
        return ocl_fail(be->ctx, err, what);
    }
    ocl_kernel_entry *e = &b->kernels[b->n_kernels++];
    e->program = at;
    snprintf(e->name, sizeof e->name, "%s", kernel);
    e->kernel = k;
    *cl_kernel_out = k;
    return FX_OK;
}

fx_status ocl_plugin_queue(fx_backend *be, void **cl_command_queue)
{
    *cl_command_queue = NULL;
    if (!be || ocl_programs_built(be) < 0)
        return not_opencl(be, "ocl_plugin_queue");
    *cl_command_queue = ocl_impl(be)->queue;
    return FX_OK;
}
