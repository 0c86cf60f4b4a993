/* fx/backend.h - the backend interface: a struct of function pointers, as
 * in ggml. A backend owns device memory and executes kernels registered for
 * its name in the op registry. The CPU backend is built in; OpenCL and
 * plugin backends implement the same struct.
 *
 * The context keeps a table of backends: one registration record
 * (fx_backend_registration) per backend, the CPU backend's among them.
 * Backends that live in their own shared object (the OpenCL backend,
 * libfx-opencl.so) are loaded on first use, by name, from fx's backend
 * folders (fx_context_load_backend); docs/design.md draws the picture. */
#ifndef FX_BACKEND_H
#define FX_BACKEND_H

#include <stddef.h>
#include <stdio.h>
#include "fx/context.h"
#include "fx/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fx_backend_ops {
    /* sizeof(fx_backend_ops) as the backend was compiled: ALWAYS first.
     * Slots are only ever appended; fx calls a slot only when the size
     * says the backend's table has it (FX_BACKEND_OPS_HAS), so a module
     * built against an older fx keeps working when the table grows. A
     * backend whose table has no size is refused when it is created. */
    size_t struct_size;
    /* Allocates `bytes` of device memory; on failure records the error
     * (naming `what` and the size) and returns non-OK. */
    fx_status (*buffer_alloc)(fx_backend *be, size_t bytes, const char *what, fx_buffer **out);
    void (*buffer_free)(fx_backend *be, fx_buffer *buf);
    /* Host <-> device copies of `bytes` at byte offset `offset` of tensor t. */
    fx_status (*tensor_write)(fx_backend *be, fx_tensor *t, const void *src, size_t offset, size_t bytes);
    fx_status (*tensor_read)(fx_backend *be, const fx_tensor *t, void *dst, size_t offset, size_t bytes);
    /* Sets every element of t to zero. */
    fx_status (*tensor_zero)(fx_backend *be, fx_tensor *t);
    /* Device-to-device copy within this backend (same size tensors). */
    fx_status (*tensor_copy)(fx_backend *be, fx_tensor *dst, const fx_tensor *src);
    /* Waits for queued work. A backend that checks kernel inputs on the
     * device (OpenCL: softmax cross-entropy's labels) reports a failed
     * check from its next wait - synchronize or a blocking read/write -
     * not from the kernel call that queued it. */
    fx_status (*synchronize)(fx_backend *be);
    /* Frees the backend itself (not its buffers: free those first). */
    void (*destroy)(fx_backend *be);
    /* ---- appended slots: call only through FX_BACKEND_OPS_HAS ---------- */
    /* Copies that may return before they are done (queued in order with
     * the kernels): `src` must stay unchanged, and `dst` is not filled,
     * until the next synchronize or blocking read/write. Absent: fx uses
     * tensor_write / tensor_read (fx_tensor_upload_async and friends). */
    fx_status (*tensor_write_async)(fx_backend *be, fx_tensor *t, const void *src, size_t offset, size_t bytes);
    fx_status (*tensor_read_async)(fx_backend *be, const fx_tensor *t, void *dst, size_t offset, size_t bytes);
    /* Sets elements [first, first + count) of t (an F32 tensor) to
     * `value` on the device, queued like a kernel: the loss seeds of a
     * backward, no upload. Absent: fx writes a host copy. */
    fx_status (*tensor_fill)(fx_backend *be, fx_tensor *t, float value, size_t first, size_t count);
} fx_backend_ops;

/* 1 when the backend's ops table is large enough to have slot `field` and
 * the slot is set. */
#define FX_BACKEND_OPS_HAS(ops, field)                                                        \
    ((ops)->struct_size >= offsetof(fx_backend_ops, field) + sizeof((ops)->field) && (ops)->field)

/* A backend. The factory that makes one sets struct_size to
 * sizeof(fx_backend) as it was compiled (ABI 3 on): fields are only ever
 * appended, fx reads a field only when the size says the backend has it
 * (FX_BACKEND_HAS), and a backend whose size is zero or implausible is
 * refused when it is created (fx_context_create_backend). */
struct fx_backend {
    size_t struct_size;   /* sizeof(fx_backend) of the backend's code: ALWAYS first */
    char name[32];        /* kernel table key: "cpu", "opencl" */
    char device_name[128];/* human description for logs */
    const fx_backend_ops *ops;
    fx_context *ctx;
    void *impl;           /* backend private state */
};

/* The smallest fx_backend fx accepts (the ABI 3 layout, up to impl), and
 * a size no real record reaches (a garbage value). */
#define FX_BACKEND_MIN_SIZE (offsetof(fx_backend, impl) + sizeof(void *))
#define FX_STRUCT_SIZE_MAX 65536
/* 1 when backend `be` is large enough to have `field`. */
#define FX_BACKEND_HAS(be, field) ((be)->struct_size >= offsetof(fx_backend, field) + sizeof((be)->field))

/* Convenience wrappers that dispatch through be->ops. */
fx_status fx_backend_alloc_tensor(fx_backend *be, fx_tensor *t, const char *what);
void fx_backend_free_tensor(fx_backend *be, fx_tensor *t);
fx_status fx_tensor_upload(fx_tensor *t, const void *src);   /* whole tensor */
fx_status fx_tensor_download(const fx_tensor *t, void *dst); /* whole tensor */
fx_status fx_tensor_zero(fx_tensor *t);
/* Asynchronous copies and the fill, through the backend's slots when it
 * has them, else the blocking copies (fx_backend_ops above says what the
 * caller must keep alive). fx_backend_synchronize waits for them. */
fx_status fx_tensor_upload_async(fx_tensor *t, const void *src);
fx_status fx_tensor_download_async(const fx_tensor *t, void *dst);
fx_status fx_tensor_fill(fx_tensor *t, float value, size_t first, size_t count);
fx_status fx_backend_synchronize(fx_backend *be);

/* The CPU backend of a context (always present). */
fx_backend *fx_context_cpu_backend(fx_context *ctx);

/* ---- the backend table of a context ------------------------------------ */

/* Creates a backend from a spec, the text the user wrote after --backend
 * ("ref", "opencl:0:1"). Free it with fx_context_release_backend. */
typedef fx_status (*fx_backend_factory)(fx_context *ctx, const char *spec, fx_backend **out);
/* An optional extra of a backend, found by name (fx_backend_get_proc);
 * cast it to the function type its backend's header documents. */
typedef void (*fx_backend_proc)(void);

/* One record per backend. The context copies the record (and its
 * strings) when it is added; the functions must stay loaded as long as
 * the context lives (a module's do: the context unloads modules last). */
typedef struct fx_backend_registration {
    /* sizeof(fx_backend_registration) as the registering code was
     * compiled: fields added at the end later are read only when the
     * size says the record has them. */
    size_t struct_size;
    /* [a-z0-9_-], < 32 characters: the name before ':' in a spec and the
     * key the backend's kernels are registered under. */
    const char *name;
    /* One line for `fxrun devices` and `fxrun plugins`. */
    const char *description;
    /* Makes a backend from a spec whose name part is `name`. Required. */
    fx_backend_factory create;
    /* Writes the backend's devices, one indented line each, to `out`
     * (`fxrun devices`). Optional: NULL prints the description. */
    fx_status (*list_devices)(fx_context *ctx, FILE *out);
    /* Adds the backend's kernels to the op registry; called once, when
     * the record is added. Optional. */
    fx_status (*register_kernels)(fx_registry *reg);
    /* Extras by name (NULL when there is no such extra). Optional. */
    fx_backend_proc (*get_proc)(const char *name);
} fx_backend_registration;

/* Adds a backend to the context's table (and its kernels to the
 * registry). A name that is taken fails with FX_ERR_INVALID. Inside a
 * plugin's fx_plugin_init this is part of the plugin's transaction:
 * refused with the plugin. */
fx_status fx_context_add_backend(fx_context *ctx, const fx_backend_registration *registration);

/* The table, in registration order: name, description, and the plugin
 * or module that registered it ("" for ones the program added). Returns
 * 0 when index is out of range. */
int fx_context_backend_count(const fx_context *ctx);
int fx_context_backend_at(const fx_context *ctx, int index, const char **name, const char **description,
                          const char **plugin);
/* The record of backend `name` (NULL if the table has none). */
const fx_backend_registration *fx_context_find_backend(const fx_context *ctx, const char *name);

/* Loads the backend module libfx-NAME.so unless backend NAME is in the
 * table already. Modules are looked for in the colon-separated folders of
 * $FX_BACKEND_PATH when it is set (and only there), else in `backends/`
 * next to the running executable and in its parent folder (a build
 * tree), in `../LIBDIR/fx/backends` relative to it and in `fx/backends`
 * next to libfx.so (an installed fx). A module is a plugin (fx/plugin.h)
 * that registers the backend. Fails with FX_ERR_UNSUPPORTED and a
 * message saying what is missing (the module, or a library it needs). */
fx_status fx_context_load_backend(fx_context *ctx, const char *name);
/* Loads every module libfx-*.so of those folders that is not loaded yet.
 * Returns the number that could not be loaded; for each, when `report` is
 * not NULL, one line "NAME: reason" is written to it. */
int fx_context_load_all_backends(fx_context *ctx, FILE *report);

/* Creates the backend a spec names: "cpu" gives the context's CPU
 * backend (shared, not a new one); another name is looked up in the
 * table, loading its module on first use (fx_context_load_backend). An
 * unknown name fails with FX_ERR_INVALID and the list of backends. */
fx_status fx_context_create_backend(fx_context *ctx, const char *spec, fx_backend **out);
/* Destroys a backend made by fx_context_create_backend (the context's CPU
 * backend is left alone; NULL is a no-op). Free the graphs planned on it
 * first, and release every backend before destroying the context (which
 * unloads the modules their code lives in). */
void fx_context_release_backend(fx_context *ctx, fx_backend *be);

/* The extra `name` of the backend's registration (be->name in be->ctx's
 * table), NULL when it has none. */
fx_backend_proc fx_backend_get_proc(const fx_backend *be, const char *name);

#ifdef __cplusplus
}
#endif
#endif
