/* fx/opencl.h - the OpenCL backend's interface, for programs and plugins:
 * device listing and selection, the program cache counters, profiling,
 * and what OpenCL kernels of plugins need (their programs built through
 * the backend's cache, its queue, argument and launch helpers).
 *
 * The backend is a module, libfx-opencl.so, that fx loads on first use
 * (fx_context_load_backend, fx/backend.h); libfx itself links neither
 * OpenCL nor CLBlast. Every function here is therefore an inline wrapper
 * that finds the module's table of functions (fx_opencl_api) through the
 * backend table: `fx_backend_get_proc(be, "fx_opencl_api")`. Where the
 * module is missing, cannot be loaded (no OpenCL loader on the machine)
 * or `be` is not an OpenCL backend, the calls fail with
 * FX_ERR_UNSUPPORTED (recording a message that says what is missing), so
 * callers need no #ifdef: they try, and fall back or report. A kernel
 * that launches often resolves the table once (fx_opencl_api_of) and
 * keeps it.
 *
 * Kernels come from the .cl files in clkernels/, embedded in the module
 * at build time; FX_CLKERNELS_DIR=<dir> reads them from <dir> instead (for
 * kernel development). Compiled programs are cached in memory per backend
 * and on disk under $FX_KERNEL_CACHE_DIR, else $XDG_CACHE_HOME/fx/kernels,
 * else ~/.cache/fx/kernels; FX_KERNEL_CACHE_DIR=off disables the disk
 * cache. GEMMs run through fx's own kernels (clkernels/gemm.cl) on CPU
 * devices and through CLBlast on GPUs; FX_OPENCL_GEMM=fx|clblast|auto
 * overrides that choice. */
#ifndef FX_OPENCL_H
#define FX_OPENCL_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "fx/backend.h"
#include "fx/op.h"
#include "fx/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* OpenCL kernels of a plugin: the .cl source as a string (usually a
 * static const array in the plugin). Register it during init with
 * fx_plugin_add_opencl_program (so it is listed and its name is checked
 * to be unique), then in an "opencl" kernel launch its kernels with the
 * helpers below: the program is compiled on first use for that backend's
 * device and cached in memory and in the OpenCL disk cache, like the
 * built-in clkernels/ programs (the cache key includes the source text,
 * so editing it rebuilds). */
typedef struct fx_opencl_program {
    const char *name;          /* unique among loaded plugins: "prelu.cl" (< 48 characters, no '/') */
    const char *source;        /* OpenCL C 1.2 source text */
    const char *options;       /* extra build options ("-DTILE=16"), or NULL */
    const char *const *kernels;/* kernel names, NULL-terminated (for listing and checks) */
} fx_opencl_program;

/* Registers a plugin's program: a backend resource of "opencl"
 * (fx_plugin_add_backend_resource, fx/plugin.h), so the core needs to
 * know nothing about OpenCL and the module need not be loaded (a plugin
 * with OpenCL kernels loads on a machine without OpenCL; its "opencl"
 * kernels just never run there). The OpenCL module finds it by name
 * (fx_context_find_backend_resource) when it builds the program, and
 * refuses a program whose name another plugin registered. */
static inline fx_status fx_plugin_add_opencl_program(fx_plugin *plugin, const fx_opencl_program *program)
{
    if (!program || !program->name || !program->name[0] || strlen(program->name) >= 48 ||
        strchr(program->name, '/') || !program->source || !program->kernels || !program->kernels[0])
        return fx_fail(fx_plugin_context(plugin), FX_ERR_INVALID,
                       "OpenCL program '%s': give a name (< 48 characters, no '/'), the source text and at least "
                       "one kernel name",
                       program && program->name ? program->name : "(null)");
    return fx_plugin_add_backend_resource(plugin, "opencl", program->name, program);
}

/* An argument list being built for one cl_kernel launch (plugin kernels):
 * arguments are appended in order; the first failure is kept in `err` and
 * reported by the launch. */
typedef struct fx_opencl_args {
    void *kernel;        /* cl_kernel */
    const char *name;    /* kernel name, for messages and --profile */
    unsigned index;      /* next argument */
    int err;             /* first clSetKernelArg failure (cl_int), 0 = none */
} fx_opencl_args;

/* What the backend counted since creation or the last
 * fx_opencl_profile_reset (whether profiling is on or not). */
typedef struct fx_opencl_counters {
    size_t struct_size;        /* sizeof as the caller compiled it: set it before the call */
    uint64_t write_calls, write_bytes; /* host -> device */
    uint64_t read_calls, read_bytes;   /* device -> host */
    uint64_t copy_calls, copy_bytes;   /* device -> device */
    uint64_t fill_calls, fill_bytes;   /* fills (zeroing, constants) */
    /* Host waits on the queue: clFinish, blocking reads and writes
     * (waits for profiling's own events are not counted). */
    uint64_t blocking_syncs;
    uint64_t launches;         /* kernels enqueued, CLBlast calls included */
    int64_t optimizer_steps;   /* as fx_opencl_profile_report divides by */
} fx_opencl_counters;

/* The module's functions. Fields are only ever appended; struct_size says
 * how many a loaded module has (an older module lacks the newer ones). */
typedef struct fx_opencl_api {
    size_t struct_size;
    fx_status (*list_devices)(fx_context *ctx, FILE *out);
    int (*programs_built)(const fx_backend *be);
    int (*programs_loaded)(const fx_backend *be);
    const char *(*cache_dir)(const fx_backend *be);
    fx_status (*set_profiling)(fx_backend *be, int on);
    fx_status (*profile_reset)(fx_backend *be);
    fx_status (*profile_report)(fx_backend *be, FILE *out, int steps);
    fx_status (*transfer_bytes)(const fx_backend *be, uint64_t *to_device, uint64_t *to_host);
    /* Plugin kernels: see fx_opencl_plugin_kernel below. */
    fx_status (*plugin_kernel)(fx_backend *be, const fx_opencl_program *program, const char *kernel,
                               void **cl_kernel);
    fx_status (*plugin_queue)(fx_backend *be, void **cl_command_queue);
    /* Argument and launch helpers: see fx_opencl_args_begin below. */
    fx_status (*args_begin)(fx_backend *be, const fx_opencl_program *program, const char *kernel,
                            fx_opencl_args *a);
    void (*arg_tensor)(fx_opencl_args *a, const fx_tensor *t);
    void (*arg_int)(fx_opencl_args *a, int v);
    void (*arg_float)(fx_opencl_args *a, float v);
    void (*arg_local)(fx_opencl_args *a, size_t bytes);
    fx_status (*launch_1d)(fx_backend *be, fx_opencl_args *a, size_t n, size_t local, const char *what);
    fx_status (*launch_groups)(fx_backend *be, fx_opencl_args *a, size_t groups, size_t local, const char *what);
    /* Appended: see fx_opencl_get_counters. */
    fx_status (*counters)(const fx_backend *be, fx_opencl_counters *out);
} fx_opencl_api;

/* The proc the module registers: returns its fx_opencl_api. */
typedef const fx_opencl_api *(*fx_opencl_api_fn)(void);

/* The module's table for backend `be`; NULL when `be` is not an OpenCL
 * backend. */
static inline const fx_opencl_api *fx_opencl_api_of(const fx_backend *be)
{
    fx_backend_proc p = be && strcmp(be->name, "opencl") == 0 ? fx_backend_get_proc(be, "fx_opencl_api") : NULL;
    return p ? ((fx_opencl_api_fn)p)() : NULL;
}

/* Records why an fx_opencl_* call on `be` cannot run; returns
 * FX_ERR_UNSUPPORTED. */
static inline fx_status fx_opencl_not_opencl(const fx_backend *be, const char *what)
{
    return fx_fail(be ? be->ctx : NULL, FX_ERR_UNSUPPORTED,
                   "%s: backend '%s' is not an OpenCL backend (register OpenCL kernels under \"opencl\" only)", what,
                   be ? be->name : "(null)");
}

/* The table of the loaded module, loading it on first use (NULL, with the
 * reason recorded, when it is not there or cannot be loaded). */
static inline const fx_opencl_api *fx_opencl_module_api(fx_context *ctx)
{
    if (fx_context_load_backend(ctx, "opencl") != FX_OK)
        return NULL;
    const fx_backend_registration *r = fx_context_find_backend(ctx, "opencl");
    fx_backend_proc p = r && r->get_proc ? r->get_proc("fx_opencl_api") : NULL;
    if (!p) {
        fx_fail(ctx, FX_ERR_UNSUPPORTED, "the backend registered as 'opencl' is not fx's OpenCL module");
        return NULL;
    }
    return ((fx_opencl_api_fn)p)();
}

/* Creates an OpenCL backend (named "opencl" in the kernel table), loading
 * the module on first use. Same as fx_context_create_backend(ctx, spec).
 * spec: "opencl"       the best device: the first GPU, else the first device;
 *       "opencl:P:D"   platform P, device D (indices as fx_opencl_list_devices);
 *       "opencl:NAME"  the first device whose name contains NAME (any case).
 * An unknown index or a name that matches nothing fails with FX_ERR_INVALID
 * and a message listing the devices. Free with fx_context_release_backend
 * (or be->ops->destroy(be)) after freeing its buffers (fx_graph_destroy),
 * and before fx_context_destroy. */
static inline fx_status fx_opencl_backend_create(fx_context *ctx, const char *spec, fx_backend **out)
{
    return fx_context_create_backend(ctx, spec, out);
}

/* Writes every platform and device (index, type, global memory, compute
 * units, OpenCL version) to `out`. */
static inline fx_status fx_opencl_list_devices(fx_context *ctx, FILE *out)
{
    const fx_opencl_api *api = fx_opencl_module_api(ctx);
    return api ? api->list_devices(ctx, out) : FX_ERR_UNSUPPORTED;
}

/* Programs this backend compiled from source, and loaded from the disk
 * cache, since it was created (a warm cache builds none). -1 when `be` is
 * not an OpenCL backend. */
static inline int fx_opencl_programs_built(const fx_backend *be)
{
    const fx_opencl_api *api = fx_opencl_api_of(be);
    return api ? api->programs_built(be) : -1;
}
static inline int fx_opencl_programs_loaded(const fx_backend *be)
{
    const fx_opencl_api *api = fx_opencl_api_of(be);
    return api ? api->programs_loaded(be) : -1;
}

/* The disk cache directory in use ("" when disabled). */
static inline const char *fx_opencl_cache_dir(const fx_backend *be)
{
    const fx_opencl_api *api = fx_opencl_api_of(be);
    return api ? api->cache_dir(be) : "";
}

/* Profiling (fxrun --profile). While on, the queue has
 * CL_QUEUE_PROFILING_ENABLE and every kernel, CLBlast call and transfer
 * keeps its event; times are read in batches, at synchronisation and at
 * report time. Switching waits for queued work and replaces the queue
 * (a plugin must not hold the queue across the switch). Off by default. */
static inline fx_status fx_opencl_set_profiling(fx_backend *be, int on)
{
    const fx_opencl_api *api = fx_opencl_api_of(be);
    return api ? api->set_profiling(be, on) : fx_opencl_not_opencl(be, "fx_opencl_set_profiling");
}
/* Forgets the times, call counts, transfer counts and optimiser steps so
 * far (e.g. after warm-up steps). */
static inline fx_status fx_opencl_profile_reset(fx_backend *be)
{
    const fx_opencl_api *api = fx_opencl_api_of(be);
    return api ? api->profile_reset(be) : fx_opencl_not_opencl(be, "fx_opencl_profile_reset");
}
/* Writes a table to `out`: per kernel name the calls, total and mean ms
 * and ms per step, slowest first; then per transfer kind (host->device,
 * device->host, device->device, fill) the calls, bytes and ms per step.
 * steps > 0 divides by it; steps <= 0 by the optimiser steps the backend
 * saw since the last reset. */
static inline fx_status fx_opencl_profile_report(fx_backend *be, FILE *out, int steps)
{
    const fx_opencl_api *api = fx_opencl_api_of(be);
    return api ? api->profile_report(be, out, steps) : fx_opencl_not_opencl(be, "fx_opencl_profile_report");
}
/* Bytes copied host->device and device->host since creation or the last
 * fx_opencl_profile_reset (counted whether profiling is on or not). */
static inline fx_status fx_opencl_transfer_bytes(const fx_backend *be, uint64_t *to_device, uint64_t *to_host)
{
    const fx_opencl_api *api = fx_opencl_api_of(be);
    return api ? api->transfer_bytes(be, to_device, to_host) : fx_opencl_not_opencl(be, "fx_opencl_transfer_bytes");
}

/* The transfer, sync and launch counts (fx_opencl_counters); out's
 * struct_size is set here. */
static inline fx_status fx_opencl_get_counters(const fx_backend *be, fx_opencl_counters *out)
{
    const fx_opencl_api *api = fx_opencl_api_of(be);
    memset(out, 0, sizeof *out);
    out->struct_size = sizeof *out;
    if (!api)
        return fx_opencl_not_opencl(be, "fx_opencl_get_counters");
    if (api->struct_size < offsetof(fx_opencl_api, counters) + sizeof api->counters || !api->counters)
        return fx_fail(be->ctx, FX_ERR_UNSUPPORTED, "fx_opencl_get_counters: the loaded OpenCL module is older "
                       "than this program; rebuild it");
    return api->counters(be, out);
}

/* ---- OpenCL kernels of plugins ------------------------------------------ */
/* A plugin registers its program (fx_plugin_add_opencl_program, fx/plugin.h)
 * and, in a kernel registered under "opencl", gets the cl_kernel `kernel`
 * of `program` on backend `be` (returned as void * so this header needs no
 * OpenCL headers): the program is compiled on first use for that
 * backend's device and cached in memory and in the OpenCL disk cache,
 * like the built-in clkernels/ programs (the cache key includes the
 * source text, so editing it rebuilds). fx_opencl_plugin_queue gives the
 * backend's in-order cl_command_queue. fx_tensor buffers of an OpenCL
 * backend carry their cl_mem in buffer->handle; t->offset is in bytes.
 * Both fail with FX_ERR_UNSUPPORTED when `be` is not an OpenCL backend,
 * and with FX_ERR_BACKEND and the build log when the source does not
 * compile. */
static inline fx_status fx_opencl_plugin_kernel(fx_backend *be, const fx_opencl_program *program, const char *kernel,
                                                void **cl_kernel)
{
    *cl_kernel = NULL;
    const fx_opencl_api *api = fx_opencl_api_of(be);
    return api ? api->plugin_kernel(be, program, kernel, cl_kernel) : fx_opencl_not_opencl(be, kernel ? kernel : "OpenCL plugin kernel");
}
static inline fx_status fx_opencl_plugin_queue(fx_backend *be, void **cl_command_queue)
{
    *cl_command_queue = NULL;
    const fx_opencl_api *api = fx_opencl_api_of(be);
    return api ? api->plugin_queue(be, cl_command_queue) : fx_opencl_not_opencl(be, "fx_opencl_plugin_queue");
}

/* The launch helpers the built-in kernels use, for plugin kernels:
 *
 *     const fx_opencl_api *cl = fx_opencl_api_of(call->backend);
 *     fx_opencl_args a;
 *     st = cl->args_begin(call->backend, &my_program, "my_kernel", &a);
 *     cl->arg_tensor(&a, call->in[0]);   // cl_mem, then uint ELEMENT offset
 *     cl->arg_int(&a, n);
 *     st = cl->launch_1d(call->backend, &a, n, 64, "my op forward");
 *
 * args_begin finds the kernel as fx_opencl_plugin_kernel does; a tensor is
 * two arguments (its cl_mem and its offset in 4-byte elements, which the
 * kernel adds itself); launch_1d runs n work-items rounded up to a
 * multiple of `local` (0 = the backend's choice: kernels check bounds);
 * launch_groups runs `groups` work-groups of `local` items (reductions).
 * Launches report a failed argument, name the kernel in the error and
 * the --profile table, and count in the backend's profile. */

#ifdef __cplusplus
}
#endif
#endif
