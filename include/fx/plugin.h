/* fx/plugin.h - plugins: new ops (and whole backends) in shared objects
 * loaded at run time, and the backend table programs choose backends from.
 *
 * THE PLUGIN SIDE. A plugin is a shared object (CMake: add_library(NAME
 * MODULE ...)) that includes this header and defines, in one source file:
 *
 *     FX_PLUGIN("prelu", "1.0.0", "PReLU activation with a learnable slope");
 *
 *     fx_status fx_plugin_init(fx_plugin *plugin, int abi_version)
 *     {
 *         fx_registry *reg = fx_plugin_registry(plugin);
 *         fx_status st = fx_registry_add_op(reg, &prelu_def);
 *         if (st == FX_OK)
 *             st = fx_registry_add_kernel(reg, "prelu", "cpu", prelu_forward, prelu_backward);
 *         return st;
 *     }
 *
 * FX_PLUGIN exports `fx_plugin_abi`, a manifest whose first member is the
 * FX_PLUGIN_ABI_VERSION the plugin was compiled with: fx reads it BEFORE
 * running any plugin code and refuses a plugin built for another ABI.
 * fx_plugin_init (the name is fixed) then registers ops and kernels with
 * the same calls the built-in ops use (fx/op.h), optimisers (fx/optim.h),
 * OpenCL programs (fx/opencl.h) and whole backends with the calls below.
 *
 * A plugin does NOT link libfx: the fx_* functions it calls are resolved
 * from the program that loads it (fxrun exports them; a program embedding
 * libfx.so has them; a program linking libfx.a statically must link the
 * whole archive and export it: -Wl,--whole-archive and -rdynamic, CMake
 * ENABLE_EXPORTS). Linking libfx into the plugin would give
 * it a second, separate copy of fx. See docs/plugins.md.
 *
 * Transactions: everything a plugin registers during fx_plugin_init is
 * committed only when fx_plugin_init returns FX_OK. If it fails (or a
 * registration fails and the plugin passes the status on), every op,
 * kernel, optimiser, backend and backend resource it registered is
 * removed again, and
 * any op it replaced is restored: a refused plugin leaves nothing behind.
 *
 * THE ABI. FX_PLUGIN_ABI_VERSION is bumped on every change that a compiled
 * plugin could notice: the layout of any struct in fx/op.h, fx/backend.h,
 * fx/tensor.h or this header (fx_op_def, fx_attr_spec, fx_param_spec,
 * fx_infer_call, fx_kernel_call, fx_backend, fx_backend_ops, fx_tensor,
 * fx_buffer, fx_shape, fx_opencl_program (fx/opencl.h), fx_plugin_manifest, fx_window2d,
 * fx_occlude_window, and fx_optimizer_def, fx_optim_hparams of fx/optim.h),
 * a value of
 * an enum they use, the meaning of a flag, or the signature or contract of
 * a function a plugin may call. Adding a new function is not a change (an
 * old plugin does not call it), nor is a field appended to a struct that
 * carries its own size (fx_backend, fx_backend_registration,
 * fx_backend_ops, fx_opencl_api, fx_optimizer_def, fx_optim_hparams). The
 * first member of fx_plugin_manifest is
 * the ABI version in every ABI, forever.
 *
 * THE PROGRAM SIDE. Plugins belong to the context: it loads them, keeps
 * them mapped as long as it lives, and creates backends from its table:
 *
 *     fx_context_load_plugin(ctx, "prelu", 0);   // FX_PLUGIN_PATH search
 *     fx_backend *be;
 *     fx_context_create_backend(ctx, "ref", &be); // fx/backend.h
 *     ...
 *     fx_context_release_backend(ctx, be);       // after the graphs using it
 *     fx_context_destroy(ctx);                   // unloads the plugins last
 *
 * (fx_plugin_host, the separate object of ABI 1, remains as a thin alias
 * of the context: see the end of this header.) */
#ifndef FX_PLUGIN_H
#define FX_PLUGIN_H

#include "fx/backend.h"
#include "fx/op.h"
#include "fx/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Version 1: fx 0.1. Version 2: fx_backend_ops starts with its size, the
 * backend table moved into the context
 * (fx_backend_registration, fx/backend.h), the OpenCL backend became a
 * module and fx_opencl_plugin_kernel/_queue moved to fx/opencl.h.
 * Version 3: fx_backend starts with its size; the sgd_update/adam_update
 * slots left fx_backend_ops (optimisers are registry entries with update
 * kernels per backend, fx/optim.h); fx_plugin_summary lists optimisers;
 * fx_opencl_program and fx_plugin_add_opencl_program moved to fx/opencl.h
 * (a backend resource of the OpenCL module), the summary's
 * opencl_programs became backend_resources.
 * Version 4: fx_infer_call's outputs are pointer + count (n_out, out,
 * out_dtype over arrays the executor keeps per node) instead of arrays of
 * FX_MAX_IO, so its layout no longer depends on that bound; a shape
 * function that writes call->out[k] compiles unchanged. */
#define FX_PLUGIN_ABI_VERSION 4

#if defined(__GNUC__) || defined(__clang__)
#define FX_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define FX_PLUGIN_EXPORT
#endif

/* ---- the plugin side ---------------------------------------------------- */

/* The plugin being loaded; valid only during its fx_plugin_init. */
typedef struct fx_plugin fx_plugin;

typedef struct fx_plugin_manifest {
    int abi_version;           /* FX_PLUGIN_ABI_VERSION at build time: ALWAYS first */
    const char *name;          /* short unique name: "prelu" ([a-z0-9_-], < 64 chars) */
    const char *version;       /* the plugin's own version, "1.0.0" */
    const char *description;   /* one line, shown by `fxrun plugins` */
} fx_plugin_manifest;

/* Defines the exported manifest. Write it once per plugin, at file scope. */
#define FX_PLUGIN(name, version, description)                                            \
    FX_PLUGIN_EXPORT extern const fx_plugin_manifest fx_plugin_abi;                      \
    FX_PLUGIN_EXPORT const fx_plugin_manifest fx_plugin_abi = { FX_PLUGIN_ABI_VERSION, \
                                                                (name), (version), (description) }

/* The entry point every plugin defines. abi_version is the loading fx's
 * FX_PLUGIN_ABI_VERSION (equal to the plugin's: fx checked it). Return
 * FX_OK, or an error recorded with fx_fail(fx_plugin_context(plugin), ...)
 * — fx then removes everything the plugin registered. */
FX_PLUGIN_EXPORT fx_status fx_plugin_init(fx_plugin *plugin, int abi_version);
typedef fx_status (*fx_plugin_init_fn)(fx_plugin *plugin, int abi_version);

/* The registry to add ops and kernels to (fx_registry_add_op,
 * fx_registry_add_kernel). An op name that already exists is refused by
 * fx_registry_add_op; to replace one, use fx_plugin_override_op. Kernels
 * may be added for existing ops (for example for a backend the plugin
 * brings). */
fx_registry *fx_plugin_registry(fx_plugin *plugin);
/* The context, for fx_fail and the options (threads, verbose). */
fx_context *fx_plugin_context(fx_plugin *plugin);

/* Replaces the existing op def->name (built in or from another plugin)
 * by `def`, removing all its kernels; the plugin then adds its own. The
 * user must allow it (fxrun --plugin-override, FX_PLUGIN_ALLOW_OVERRIDE);
 * otherwise this fails with FX_ERR_INVALID and a message saying so. An op
 * that does not exist yet is simply added. */
fx_status fx_plugin_override_op(fx_plugin *plugin, const fx_op_def *def);

/* Registers a backend named `name` ([a-z0-9_-], < 32 characters; the name
 * before ':' in a spec, and the kernel-table key its kernels register
 * under). `doc` is one line for `fxrun plugins` / `fxrun devices`. The
 * factory (fx_backend_factory, fx/backend.h) makes a backend from a spec
 * ("ref", or "ref:options"). A shorthand for fx_context_add_backend with
 * a record that has only these three fields; a backend that lists devices
 * or offers extras registers the full record (fx/backend.h) instead. */
fx_status fx_plugin_add_backend(fx_plugin *plugin, const char *name, const char *doc, fx_backend_factory create);

/* Backend resources: named data of the plugin that a backend module
 * uses, keyed (backend, name); the OpenCL module's plugin programs are
 * such resources (fx_plugin_add_opencl_program, fx/opencl.h, registers
 * one under "opencl"). Registered during fx_plugin_init (part of its
 * transaction), unique per (backend, name) among the loaded plugins,
 * listed by `fxrun plugins` as "backend:name". fx keeps the pointer (the
 * data must live as long as the plugin: static data does) and does not
 * look inside; the core knows no backend but the CPU by name. */
fx_status fx_plugin_add_backend_resource(fx_plugin *plugin, const char *backend, const char *name, const void *data);
/* The data of resource `name` for `backend` that a loaded plugin
 * registered; NULL when none did. */
const void *fx_context_find_backend_resource(const fx_context *ctx, const char *backend, const char *name);

/* ---- the program side --------------------------------------------------- */

typedef enum fx_plugin_flags {
    /* Let the plugin replace existing ops (fx_plugin_override_op). */
    FX_PLUGIN_ALLOW_OVERRIDE = 1u << 0
} fx_plugin_flags;

/* Loads a plugin into the context. `name_or_path` with a '/' is a file
 * path; a bare name ("prelu", "prelu.so") is searched, as NAME, NAME.so
 * and libNAME.so, in the colon-separated folders of $FX_PLUGIN_PATH, then
 * in the folder `plugins/` next to the running executable (a build tree),
 * then in `../LIBDIR/fx/plugins` relative to it (an installed fx).
 *
 * Refused, with a message naming the file and the fix, and nothing
 * registered: a missing or unreadable file, a file that is not a shared
 * object, one that cannot be loaded (undefined symbols, ...), one without
 * fx_plugin_init or fx_plugin_abi, one built for another ABI version, one
 * that registers an existing op or backend name (unless allowed), one
 * whose fx_plugin_init fails.
 *
 * Loading a plugin that is already loaded (the same file, or another file
 * with the same manifest name) does nothing but print a note to stderr
 * (when the context is verbose) and returns FX_OK. The plugin stays
 * mapped until fx_context_destroy, which unloads plugins last. */
fx_status fx_context_load_plugin(fx_context *ctx, const char *name_or_path, unsigned flags);

/* Resolves a plugin name as fx_context_load_plugin does, into `out`. */
fx_status fx_context_find_plugin(fx_context *ctx, const char *name_or_path, char *out, size_t size);

/* What each loaded plugin registered, in load order. Pointers stay valid
 * until the context is destroyed. */
typedef struct fx_plugin_summary {
    const char *path;           /* the file, as resolved (realpath) */
    const char *name, *version, *description; /* from its manifest */
    int n_ops;                  /* ops it added */
    const char *const *ops;
    int n_overrides;            /* existing ops it replaced */
    const char *const *overrides;
    int n_kernels;              /* kernels it added, as "op@backend" */
    const char *const *kernels;
    int n_backends;             /* backends it registered */
    const char *const *backends;
    int n_backend_resources;    /* backend resources it registered, as "backend:name"
                                 * ("opencl:prelu.cl": an OpenCL program) */
    const char *const *backend_resources;
    int n_optimizers;           /* optimisers it added (fx/optim.h) */
    const char *const *optimizers;
    int n_optimizer_kernels;    /* optimiser update kernels it added, as "optimiser@backend" */
    const char *const *optimizer_kernels;
} fx_plugin_summary;

/* Plugins and backend modules loaded into the context, in load order. */
int fx_context_plugin_count(const fx_context *ctx);
const fx_plugin_summary *fx_context_plugin_at(const fx_context *ctx, int index);

/* ---- ABI 1's plugin host, now an alias of the context -------------------- */
/* The host of ABI 1 was a separate object with its own lifetime; plugins
 * and backends now belong to the context. These calls remain for programs
 * written against it: a host IS its context (fx_plugin_host_create stores
 * the context pointer; fx_plugin_host_destroy does nothing), and each call
 * forwards to the fx_context_* call of the same job. */
typedef struct fx_plugin_host fx_plugin_host;
fx_status fx_plugin_host_create(fx_context *ctx, fx_plugin_host **out);
void fx_plugin_host_destroy(fx_plugin_host *host);
fx_status fx_plugin_load(fx_plugin_host *host, const char *name_or_path, unsigned flags);
fx_status fx_plugin_find(fx_plugin_host *host, const char *name_or_path, char *out, size_t size);
int fx_plugin_host_count(const fx_plugin_host *host);
const fx_plugin_summary *fx_plugin_host_at(const fx_plugin_host *host, int index);
fx_status fx_plugin_host_add_backend(fx_plugin_host *host, const char *name, const char *doc,
                                     fx_backend_factory create);
fx_status fx_plugin_host_create_backend(fx_plugin_host *host, const char *spec, fx_backend **out);
/* Leaves the context's CPU backend alone, with or without a host. */
void fx_plugin_host_release_backend(fx_plugin_host *host, fx_backend *be);
int fx_plugin_host_backend_count(const fx_plugin_host *host);
int fx_plugin_host_backend_at(const fx_plugin_host *host, int index, const char **name, const char **doc,
                              const char **plugin);

#ifdef __cplusplus
}
#endif
#endif
