/* core/engine/plugin.c - plugins of a context (fx/plugin.h): finding, checking
 * and loading plugin shared objects (backend modules are plugins too:
 * core/engine/backend_table.c finds them), and the registration transaction that
 * makes a refused plugin leave nothing behind.
 *
 * Plugins belong to the context: its registry and backend table point at
 * the plugins' op definitions, kernels and factories, so the context
 * keeps them mapped as long as it lives and unloads them last
 * (fx_plugins_unload, from fx_context_destroy).
 *
 * The transaction: ops, kernels and backends go straight into the
 * context's registry and backend table (plugins use the same calls as
 * built-in ops and backends), which only ever append; their sizes before
 * fx_plugin_init are recorded and, on failure, cut back to, and any op
 * the plugin replaced is put back. Backend resources (named data a backend
 * module uses, such as the OpenCL module's plugin programs: fx/opencl.h)
 * are staged in the fx_plugin and reach the plugin's record only on
 * success. The core knows no backend by name: a resource is a
 * "backend:name" key and a pointer. */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"
#include "core/engine/plugin_elf.h"
#include "fx/plugin.h"

/* The install layout puts plugins in <prefix>/<libdir>/fx/plugins; the
 * build passes the relative libdir (lib, lib64, lib/x86_64-linux-gnu). */
#ifndef FX_PLUGIN_LIBDIR
#define FX_PLUGIN_LIBDIR "lib"
#endif

/* "backend:name": a backend name (< 32) and a resource name (< 64). */
#define RESOURCE_KEY_MAX 96

/* An op the plugin replaced: where it was, what it was, and the kernels
 * of the old op that were switched off (their op name blanked). */
typedef struct override_entry {
    int op_index;
    const fx_op_def *old;
    int *kernels;
    int n_kernels;
} override_entry;

struct fx_plugin {
    fx_context *ctx;
    unsigned flags;
    int active;              /* inside fx_plugin_init */
    const fx_plugin_manifest *manifest;
    int n_ops0, n_kernels0;  /* registry sizes before init */
    int n_backends0;         /* backend table size before init */
    int n_optimizers0, n_optim_kernels0; /* optimiser registry sizes before init */
    override_entry *overrides;
    int n_overrides, cap_overrides;
    struct resource_entry *resources; /* staged backend resources */
    int n_resources, cap_resources;
};

/* A backend resource of a plugin: key "backend:name", data borrowed from
 * the plugin. */
typedef struct resource_entry {
    char key[RESOURCE_KEY_MAX];
    const void *data;
} resource_entry;

typedef struct fx_plugin_record {
    fx_plugin_summary summary;
    char *path;
    void *handle;
    const fx_plugin_manifest *manifest;
    const char **ops, **overrides, **backends, **optimizers;
    char **kernels, **optim_kernels;
    resource_entry *resources; /* committed backend resources */
    const char **resource_keys;
} plugin_record;

/* ---- small helpers ------------------------------------------------------ */

static fx_status grow(fx_context *ctx, void **array, int *cap, int need, size_t elem, const char *what)
{
    if (need <= *cap)
        return FX_OK;
    int cap2 = *cap ? *cap : 4;
    while (cap2 < need)
        cap2 *= 2;
    void *p = realloc(*array, (size_t)cap2 * elem);
    if (!p)
        return fx_fail(ctx, FX_ERR_NOMEM, "out of memory growing the table of %s", what);
    *array = p;
    *cap = cap2;
    return FX_OK;
}

static int valid_name(const char *s, size_t max)
{
    if (!s || !s[0] || strlen(s) >= max)
        return 0;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
            return 0;
    return 1;
}

static int is_readable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
}

static char *dup_string(fx_context *ctx, const char *s)
{
    char *d = fx_malloc(ctx, strlen(s) + 1, "a plugin string");
    if (d)
        strcpy(d, s);
    return d;
}

/* ---- records --------------------------------------------------------------- */

static void record_free(plugin_record *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->summary.n_kernels; i++)
        free(r->kernels[i]);
    free(r->kernels);
    for (int i = 0; i < r->summary.n_optimizer_kernels; i++)
        free(r->optim_kernels[i]);
    free(r->optim_kernels);
    free(r->optimizers);
    free(r->ops);
    free(r->overrides);
    free(r->backends);
    free(r->resources);
    free(r->resource_keys);
    free(r->path);
    free(r);
}

void fx_plugins_unload(fx_context *ctx)
{
    /* Unload in reverse order: a later plugin may use an earlier one's
     * backend or ops. */
    for (int i = ctx->n_plugins - 1; i >= 0; i--) {
        if (ctx->plugins[i]->handle)
            dlclose(ctx->plugins[i]->handle);
        record_free(ctx->plugins[i]);
    }
    free(ctx->plugins);
    ctx->plugins = NULL;
    ctx->n_plugins = ctx->cap_plugins = 0;
}

int fx_context_plugin_count(const fx_context *ctx) { return ctx ? ctx->n_plugins : 0; }

const fx_plugin_summary *fx_context_plugin_at(const fx_context *ctx, int index)
{
    return ctx && index >= 0 && index < ctx->n_plugins ? &ctx->plugins[index]->summary : NULL;
}

int fx_plugin_loading_kernels0(const fx_context *ctx) { return ctx && ctx->loading ? ctx->loading->n_kernels0 : -1; }

const char *fx_plugin_loading_name(const fx_context *ctx)
{
    return ctx && ctx->loading ? ctx->loading->manifest->name : "";
}

/* ---- finding a plugin file ---------------------------------------------- */

/* Tries dir/NAME, dir/NAME.so, dir/libNAME.so. */
static int try_dir(const char *dir, size_t dir_len, const char *name, char *out, size_t size)
{
    static const char *const forms[][2] = { { "", "" }, { "", ".so" }, { "lib", ".so" } };
    for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
        int w = snprintf(out, size, "%.*s/%s%s%s", (int)dir_len, dir, forms[f][0], name, forms[f][1]);
        if (w > 0 && (size_t)w < size && is_readable_file(out))
            return 1;
    }
    return 0;
}

void fx_exe_dir(char *out, size_t size)
{
    out[0] = '\0';
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash)
        return;
    *slash = '\0';
    snprintf(out, size, "%s", buf[0] ? buf : "/");
}

fx_status fx_context_find_plugin(fx_context *ctx, const char *name, char *out, size_t size)
{
    if (!name || !name[0])
        return fx_fail(ctx, FX_ERR_INVALID, "empty plugin name");
    if (strchr(name, '/')) {
        if (snprintf(out, size, "%s", name) >= (int)size)
            return fx_fail(ctx, FX_ERR_INVALID, "plugin path '%s' is too long", name);
        return FX_OK;
    }
    char looked[2048] = "";
    size_t used = 0;
#define NOTE_DIR(d, len)                                                                           \
    do {                                                                                           \
        int w_ = snprintf(looked + used, sizeof looked - used, "%s%.*s", used ? ", " : "", (int)(len), (d)); \
        if (w_ > 0 && (size_t)w_ < sizeof looked - used)                                           \
            used += (size_t)w_;                                                                    \
    } while (0)
    const char *env = getenv("FX_PLUGIN_PATH");
    if (env) {
        for (const char *p = env; *p;) {
            size_t len = strcspn(p, ":");
            if (len > 0) {
                if (try_dir(p, len, name, out, size))
                    return FX_OK;
                NOTE_DIR(p, len);
            }
            p += len;
            if (*p == ':')
                p++;
        }
    }
    char dir[PATH_MAX];
    fx_exe_dir(dir, sizeof dir);
    if (dir[0]) {
        char d[PATH_MAX + 64];
        snprintf(d, sizeof d, "%s/plugins", dir);
        if (try_dir(d, strlen(d), name, out, size))
            return FX_OK;
        NOTE_DIR(d, strlen(d));
        snprintf(d, sizeof d, "%s/../%s/fx/plugins", dir, FX_PLUGIN_LIBDIR);
        if (try_dir(d, strlen(d), name, out, size))
            return FX_OK;
        NOTE_DIR(d, strlen(d));
    }
#undef NOTE_DIR
    char here[PATH_MAX + 8] = "";
    if (is_readable_file(name))
        snprintf(here, sizeof here, " (there is a file '%s' in the current folder: write ./%s to load it)", name,
                 name);
    return fx_fail(ctx, FX_ERR_IO,
                   "plugin '%s' not found; a name without '/' is looked up as %s, %s.so and lib%s.so in "
                   "$FX_PLUGIN_PATH (colon-separated folders) and the default folders; looked in: %s%s",
                   name, name, name, name, used ? looked : "(no folders)", here);
}

/* ---- the registration transaction --------------------------------------- */

fx_registry *fx_plugin_registry(fx_plugin *plugin) { return &plugin->ctx->registry; }
fx_context *fx_plugin_context(fx_plugin *plugin) { return plugin->ctx; }

static fx_status require_active(fx_plugin *p, const char *what)
{
    if (!p)
        return FX_ERR_INVALID;
    if (!p->active)
        return fx_fail(p->ctx, FX_ERR_INVALID, "%s may only be called during fx_plugin_init", what);
    return FX_OK;
}

static int find_op_index(const fx_registry *reg, const char *name)
{
    for (int i = 0; i < reg->n_ops; i++)
        if (!strcmp(reg->ops[i]->name, name))
            return i;
    return -1;
}

/* The loaded plugin that added or replaced op `op_name`; NULL for a
 * built-in op. */
static const char *op_origin(const fx_context *ctx, const char *op_name)
{
    for (int i = 0; i < ctx->n_plugins; i++) {
        const fx_plugin_summary *s = &ctx->plugins[i]->summary;
        for (int k = 0; k < s->n_ops; k++)
            if (!strcmp(s->ops[k], op_name))
                return s->name;
        for (int k = 0; k < s->n_overrides; k++)
            if (!strcmp(s->overrides[k], op_name))
                return s->name;
    }
    return NULL;
}

fx_status fx_plugin_override_op(fx_plugin *p, const fx_op_def *def)
{
    fx_status st = require_active(p, "fx_plugin_override_op");
    if (st != FX_OK)
        return st;
    fx_context *ctx = p->ctx;
    fx_registry *reg = &ctx->registry;
    if (!def || !def->name || !def->infer)
        return fx_fail(ctx, FX_ERR_INVALID, "fx_plugin_override_op: op definition without a name or shape function");
    int at = find_op_index(reg, def->name);
    if (at < 0)
        return fx_registry_add_op(reg, def);
    if (at >= p->n_ops0)
        return fx_fail(ctx, FX_ERR_INVALID, "op '%s' is registered twice by this plugin", def->name);
    for (int i = 0; i < p->n_overrides; i++)
        if (p->overrides[i].op_index == at)
            return fx_fail(ctx, FX_ERR_INVALID, "op '%s' is replaced twice by this plugin", def->name);
    if (!(p->flags & FX_PLUGIN_ALLOW_OVERRIDE)) {
        const char *origin = op_origin(p->ctx, def->name);
        char from[96] = "a built-in op";
        if (origin)
            snprintf(from, sizeof from, "an op from plugin '%s'", origin);
        return fx_fail(ctx, FX_ERR_INVALID,
                       "the plugin asks to replace op '%s' (%s); replacing ops is off by default: allow it with "
                       "fxrun --plugin-override (or FX_PLUGIN_ALLOW_OVERRIDE in fx_plugin_load)",
                       def->name, from);
    }
    /* The checks of fx_registry_add_op, which is bypassed here. */
    st = fx_op_def_check_counts(ctx, def);
    if (st != FX_OK)
        return st;
    st = grow(ctx, (void **)&p->overrides, &p->cap_overrides, p->n_overrides + 1, sizeof *p->overrides,
              "replaced ops");
    if (st != FX_OK)
        return st;
    override_entry *o = &p->overrides[p->n_overrides];
    memset(o, 0, sizeof *o);
    int n = 0;
    for (int k = 0; k < reg->n_kernels; k++)
        n += !strcmp(reg->kernels[k].op, def->name);
    o->kernels = fx_calloc(ctx, (size_t)(n ? n : 1), sizeof *o->kernels, "replaced kernels");
    if (!o->kernels)
        return FX_ERR_NOMEM;
    for (int k = 0; k < reg->n_kernels; k++)
        if (!strcmp(reg->kernels[k].op, def->name)) {
            o->kernels[o->n_kernels++] = k;
            reg->kernels[k].op[0] = '\0'; /* matches no op name */
        }
    o->op_index = at;
    o->old = reg->ops[at];
    reg->ops[at] = def;
    p->n_overrides++;
    return FX_OK;
}

fx_status fx_plugin_add_backend(fx_plugin *p, const char *name, const char *doc, fx_backend_factory create)
{
    fx_status st = require_active(p, "fx_plugin_add_backend");
    if (st != FX_OK)
        return st;
    fx_backend_registration r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    r.name = name;
    r.description = doc;
    r.create = create;
    return fx_context_add_backend(p->ctx, &r);
}

fx_status fx_plugin_add_backend_resource(fx_plugin *p, const char *backend, const char *name, const void *data)
{
    fx_status st = require_active(p, "fx_plugin_add_backend_resource");
    if (st != FX_OK)
        return st;
    fx_context *ctx = p->ctx;
    if (!valid_name(backend, 32) || !name || !name[0] || strlen(name) >= 64 || strchr(name, '/') || !data)
        return fx_fail(ctx, FX_ERR_INVALID,
                       "backend resource '%s:%s': give a backend name (a-z, 0-9, '_', '-'), a name (< 64 "
                       "characters, no '/') and its data",
                       backend ? backend : "(null)", name ? name : "(null)");
    char key[RESOURCE_KEY_MAX];
    snprintf(key, sizeof key, "%s:%s", backend, name);
    for (int i = 0; i < ctx->n_plugins; i++) {
        const plugin_record *r = ctx->plugins[i];
        for (int k = 0; k < r->summary.n_backend_resources; k++)
            if (!strcmp(r->resources[k].key, key))
                return fx_fail(ctx, FX_ERR_INVALID,
                               "%s '%s' is already registered by plugin '%s'; names must be unique among the loaded "
                               "plugins (prefix them with the plugin's name)",
                               backend, name, r->summary.name);
    }
    for (int i = 0; i < p->n_resources; i++)
        if (!strcmp(p->resources[i].key, key))
            return fx_fail(ctx, FX_ERR_INVALID, "%s '%s' is registered twice by this plugin", backend, name);
    st = grow(ctx, (void **)&p->resources, &p->cap_resources, p->n_resources + 1, sizeof *p->resources,
              "backend resources");
    if (st != FX_OK)
        return st;
    resource_entry *e = &p->resources[p->n_resources++];
    snprintf(e->key, sizeof e->key, "%s", key);
    e->data = data;
    return FX_OK;
}

const void *fx_context_find_backend_resource(const fx_context *ctx, const char *backend, const char *name)
{
    if (!ctx || !backend || !name)
        return NULL;
    size_t bl = strlen(backend);
    for (int i = 0; i < ctx->n_plugins; i++) {
        const plugin_record *r = ctx->plugins[i];
        for (int k = 0; k < r->summary.n_backend_resources; k++) {
            const char *key = r->resources[k].key;
            if (!strncmp(key, backend, bl) && key[bl] == ':' && !strcmp(key + bl + 1, name))
                return r->resources[k].data;
        }
    }
    return NULL;
}

/* Puts the registry back as it was before fx_plugin_init. */
static void transaction_rollback(fx_plugin *p)
{
    fx_registry *reg = &p->ctx->registry;
    fx_backend_table_truncate(p->ctx, p->n_backends0);
    if (reg->n_ops > p->n_ops0)
        reg->n_ops = p->n_ops0;
    if (reg->n_kernels > p->n_kernels0)
        reg->n_kernels = p->n_kernels0;
    if (reg->n_optimizers > p->n_optimizers0)
        reg->n_optimizers = p->n_optimizers0;
    if (reg->n_optim_kernels > p->n_optim_kernels0)
        reg->n_optim_kernels = p->n_optim_kernels0;
    for (int i = p->n_overrides - 1; i >= 0; i--) {
        override_entry *o = &p->overrides[i];
        reg->ops[o->op_index] = o->old;
        for (int k = 0; k < o->n_kernels; k++)
            snprintf(reg->kernels[o->kernels[k]].op, sizeof reg->kernels[o->kernels[k]].op, "%s", o->old->name);
    }
}

static void transaction_free(fx_plugin *p)
{
    for (int i = 0; i < p->n_overrides; i++)
        free(p->overrides[i].kernels);
    free(p->overrides);
    free(p->resources);
}

/* Builds the summary of a successful init (all allocation happens here,
 * before anything is committed). */
static fx_status record_build(fx_plugin *p, const char *path, void *handle, plugin_record **out)
{
    fx_context *ctx = p->ctx;
    const fx_registry *reg = &ctx->registry;
    plugin_record *r = fx_calloc(ctx, 1, sizeof *r, "a plugin record");
    if (!r)
        return FX_ERR_NOMEM;
    int n_ops = reg->n_ops - p->n_ops0, n_kernels = reg->n_kernels - p->n_kernels0;
    int n_backends = ctx->n_backends - p->n_backends0;
    int n_optimizers = reg->n_optimizers - p->n_optimizers0;
    int n_optim_kernels = reg->n_optim_kernels - p->n_optim_kernels0;
    r->path = dup_string(ctx, path);
    r->ops = fx_calloc(ctx, (size_t)n_ops + 1, sizeof *r->ops, "plugin op names");
    r->overrides = fx_calloc(ctx, (size_t)p->n_overrides + 1, sizeof *r->overrides, "plugin op names");
    r->kernels = fx_calloc(ctx, (size_t)n_kernels + 1, sizeof *r->kernels, "plugin kernel names");
    r->backends = fx_calloc(ctx, (size_t)n_backends + 1, sizeof *r->backends, "plugin backend names");
    r->resources = fx_calloc(ctx, (size_t)p->n_resources + 1, sizeof *r->resources, "plugin backend resources");
    r->resource_keys = fx_calloc(ctx, (size_t)p->n_resources + 1, sizeof *r->resource_keys,
                                 "plugin backend resource names");
    r->optimizers = fx_calloc(ctx, (size_t)n_optimizers + 1, sizeof *r->optimizers, "plugin optimiser names");
    r->optim_kernels = fx_calloc(ctx, (size_t)n_optim_kernels + 1, sizeof *r->optim_kernels,
                                 "plugin optimiser kernel names");
    if (!r->path || !r->ops || !r->overrides || !r->kernels || !r->backends || !r->resources || !r->resource_keys ||
        !r->optimizers ||
        !r->optim_kernels) {
        record_free(r);
        return FX_ERR_NOMEM;
    }
    for (int i = 0; i < n_kernels; i++) {
        const fx_kernel_entry *k = &reg->kernels[p->n_kernels0 + i];
        size_t len = strlen(k->op) + strlen(k->backend) + 2;
        r->kernels[i] = fx_malloc(ctx, len, "a plugin kernel name");
        if (!r->kernels[i]) {
            r->summary.n_kernels = i;
            record_free(r);
            return FX_ERR_NOMEM;
        }
        snprintf(r->kernels[i], len, "%s@%s", k->op, k->backend);
    }
    for (int i = 0; i < n_optim_kernels; i++) {
        const fx_optim_kernel_entry *k = &reg->optim_kernels[p->n_optim_kernels0 + i];
        size_t len = strlen(k->name) + strlen(k->backend) + 2;
        r->optim_kernels[i] = fx_malloc(ctx, len, "a plugin optimiser kernel name");
        if (!r->optim_kernels[i]) {
            r->summary.n_kernels = n_kernels;
            r->summary.n_optimizer_kernels = i;
            record_free(r);
            return FX_ERR_NOMEM;
        }
        snprintf(r->optim_kernels[i], len, "%s@%s", k->name, k->backend);
    }
    for (int i = 0; i < n_optimizers; i++)
        r->optimizers[i] = reg->optimizers[p->n_optimizers0 + i]->name;
    for (int i = 0; i < n_ops; i++)
        r->ops[i] = reg->ops[p->n_ops0 + i]->name;
    for (int i = 0; i < p->n_overrides; i++)
        r->overrides[i] = reg->ops[p->overrides[i].op_index]->name;
    for (int i = 0; i < n_backends; i++)
        r->backends[i] = ctx->backends[p->n_backends0 + i].name; /* heap strings: stable */
    for (int i = 0; i < p->n_resources; i++) {
        r->resources[i] = p->resources[i];
        r->resource_keys[i] = r->resources[i].key; /* owned by the record: stable */
    }
    r->handle = handle;
    r->manifest = p->manifest;
    fx_plugin_summary *s = &r->summary;
    s->path = r->path;
    s->name = p->manifest->name;
    s->version = p->manifest->version ? p->manifest->version : "";
    s->description = p->manifest->description ? p->manifest->description : "";
    s->n_ops = n_ops;
    s->ops = r->ops;
    s->n_overrides = p->n_overrides;
    s->overrides = r->overrides;
    s->n_kernels = n_kernels;
    s->kernels = (const char *const *)r->kernels;
    s->n_backends = n_backends;
    s->backends = r->backends;
    s->n_backend_resources = p->n_resources;
    s->backend_resources = r->resource_keys;
    s->n_optimizers = n_optimizers;
    s->optimizers = r->optimizers;
    s->n_optimizer_kernels = n_optim_kernels;
    s->optimizer_kernels = (const char *const *)r->optim_kernels;
    *out = r;
    return FX_OK;
}

/* ---- loading ------------------------------------------------------------ */

static void note(fx_context *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(fx_context *ctx, const char *fmt, ...)
{
    if (fx_context_get_options(ctx)->verbose < 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fx: note: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static fx_status load_failed(fx_context *ctx, fx_status st, const char *path, const char *what)
{
    if (!ctx->has_error)
        return fx_fail(ctx, st, "plugin %s: %s", path, what);
    return fx_fail_prefix(ctx, st, "plugin %s: %s", path, what);
}

fx_status fx_context_load_plugin(fx_context *ctx, const char *name_or_path, unsigned flags)
{
    if (!ctx)
        return FX_ERR_INVALID;
    if (ctx->loading)
        return fx_fail(ctx, FX_ERR_INVALID,
                       "plugin %s: plugins cannot be loaded from inside another plugin's fx_plugin_init",
                       name_or_path ? name_or_path : "(null)");
    char found[PATH_MAX];
    fx_status st = fx_context_find_plugin(ctx, name_or_path, found, sizeof found);
    if (st != FX_OK)
        return st;
    st = fx_plugin_check_elf(ctx, found); /* before dlopen, which maps it (core/engine/plugin_elf.c) */
    if (st != FX_OK)
        return st;
    char real[PATH_MAX];
    if (!realpath(found, real))
        return fx_fail(ctx, FX_ERR_IO, "plugin %s: cannot resolve the path: %s", found, strerror(errno));
    for (int i = 0; i < ctx->n_plugins; i++)
        if (!strcmp(ctx->plugins[i]->path, real)) {
            note(ctx, "plugin %s is already loaded (as '%s'); loading it again does nothing", real,
                 ctx->plugins[i]->summary.name);
            return FX_OK;
        }

    dlerror();
    void *handle = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *why = dlerror();
        const char *hint = "";
        if (why && strstr(why, "undefined symbol"))
            hint = " (a plugin gets fx_* functions from the program that loads it: that program must export "
                   "them, as fxrun does, and the plugin must be built against this fx's headers)";
        else if (why && strstr(why, "wrong ELF class"))
            hint = " (it was built for another architecture)";
        return fx_fail(ctx, FX_ERR_INVALID, "plugin %s cannot be loaded: %s%s", real, why ? why : "unknown error",
                       hint);
    }
    for (int i = 0; i < ctx->n_plugins; i++)
        if (ctx->plugins[i]->handle == handle) {
            /* Another path (a link) to a file already loaded. */
            dlclose(handle);
            note(ctx, "plugin %s is the already loaded %s ('%s'); loading it again does nothing", real,
                 ctx->plugins[i]->path, ctx->plugins[i]->summary.name);
            return FX_OK;
        }
    union {
        void *object;
        fx_plugin_init_fn fn;
    } init_sym;
    init_sym.object = dlsym(handle, "fx_plugin_init");
    if (!init_sym.object) {
        dlclose(handle);
        return fx_fail(ctx, FX_ERR_INVALID,
                       "plugin %s is not an fx plugin: it does not export the function fx_plugin_init (define "
                       "`fx_status fx_plugin_init(fx_plugin *plugin, int abi_version)` with fx/plugin.h included)",
                       real);
    }
    const fx_plugin_manifest *manifest = dlsym(handle, "fx_plugin_abi");
    if (!manifest) {
        dlclose(handle);
        return fx_fail(ctx, FX_ERR_INVALID,
                       "plugin %s does not export fx_plugin_abi, so its ABI version is unknown: add "
                       "FX_PLUGIN(\"name\", \"version\", \"description\"); to one of its source files",
                       real);
    }
    if (manifest->abi_version != FX_PLUGIN_ABI_VERSION) {
        int abi = manifest->abi_version;
        dlclose(handle);
        return fx_fail(ctx, FX_ERR_UNSUPPORTED,
                       "plugin %s was built for fx plugin ABI version %d, but this fx (%s) has ABI version %d: "
                       "rebuild the plugin against this fx's headers (docs/plugins.md says what changes the ABI)",
                       real, abi, FX_VERSION_STRING, FX_PLUGIN_ABI_VERSION);
    }
    if (!valid_name(manifest->name, FX_NAME_MAX)) {
        /* The name lives inside the plugin: copy (a printable, bounded
         * part of) it before dlclose unmaps it. */
        char shown[FX_NAME_MAX + 8];
        size_t n = 0;
        if (manifest->name)
            for (const char *c = manifest->name; *c && n < FX_NAME_MAX; c++)
                shown[n++] = *c >= 32 && *c < 127 ? *c : '?';
        shown[n] = 0;
        if (manifest->name && manifest->name[n])
            snprintf(shown + n, sizeof shown - n, "...");
        fx_fail(ctx, FX_ERR_INVALID,
                "plugin %s: its manifest name '%s' is not valid (1 to %d characters of a-z, 0-9, '_', '-')", real,
                manifest->name ? shown : "(null)", FX_NAME_MAX - 1);
        dlclose(handle);
        return FX_ERR_INVALID;
    }
    for (int i = 0; i < ctx->n_plugins; i++)
        if (!strcmp(ctx->plugins[i]->summary.name, manifest->name)) {
            note(ctx, "a plugin named '%s' is already loaded from %s; not loading %s", manifest->name,
                 ctx->plugins[i]->path, real);
            dlclose(handle);
            return FX_OK;
        }

    /* Room for the record now, so committing cannot fail. */
    st = grow(ctx, (void **)&ctx->plugins, &ctx->cap_plugins, ctx->n_plugins + 1, sizeof *ctx->plugins,
              "plugins");
    if (st != FX_OK) {
        dlclose(handle);
        return st;
    }
    fx_plugin p;
    memset(&p, 0, sizeof p);
    p.ctx = ctx;
    p.flags = flags;
    p.manifest = manifest;
    p.n_ops0 = ctx->registry.n_ops;
    p.n_kernels0 = ctx->registry.n_kernels;
    p.n_backends0 = ctx->n_backends;
    p.n_optimizers0 = ctx->registry.n_optimizers;
    p.n_optim_kernels0 = ctx->registry.n_optim_kernels;
    p.active = 1;
    fx_context_clear_error(ctx);
    ctx->loading = &p;
    st = init_sym.fn(&p, FX_PLUGIN_ABI_VERSION);
    ctx->loading = NULL;
    p.active = 0;
    if (st == FX_OK && ctx->has_error) {
        /* It ignored a failed registration: refuse rather than keep a
         * plugin that registered only part of what it meant to. */
        st = FX_ERR_INVALID;
        fx_fail_prefix(ctx, st, "fx_plugin_init returned FX_OK after a failed call (it must return the failure)");
    }
    plugin_record *rec = NULL;
    if (st == FX_OK)
        st = record_build(&p, real, handle, &rec);
    if (st != FX_OK) {
        transaction_rollback(&p);
        transaction_free(&p);
        dlclose(handle);
        if (st < FX_OK || st > FX_ERR_INTERNAL)
            st = FX_ERR_INVALID; /* not an fx_status */
        if (!ctx->has_error)
            fx_fail(ctx, st, "fx_plugin_init failed (%s) without a message", fx_status_name(st));
        const char *hint = strstr(ctx->error, "is already registered")
                               ? " [an op of that name exists already: give the plugin's op another name, or "
                                 "replace the existing one with fx_plugin_override_op and --plugin-override]"
                               : "";
        fx_status out = load_failed(ctx, st, real, "refused; nothing it registered was kept");
        if (hint[0]) {
            size_t len = strlen(ctx->error);
            snprintf(ctx->error + len, sizeof ctx->error - len, "%s", hint);
        }
        return out;
    }
    /* Commit: the record (room reserved); the table entries stay. */
    ctx->plugins[ctx->n_plugins++] = rec;
    transaction_free(&p);
    return FX_OK;
}

/* ---- ABI 1's plugin host: an alias of the context ------------------------- */
/* A host pointer IS its context pointer (fx/plugin.h). */

static fx_context *host_ctx(const fx_plugin_host *host) { return (fx_context *)(void *)host; }

fx_status fx_plugin_host_create(fx_context *ctx, fx_plugin_host **out)
{
    *out = (fx_plugin_host *)(void *)ctx;
    return ctx ? FX_OK : FX_ERR_INVALID;
}

void fx_plugin_host_destroy(fx_plugin_host *host) { (void)host; /* the context unloads its plugins */ }

fx_status fx_plugin_load(fx_plugin_host *host, const char *name_or_path, unsigned flags)
{
    return fx_context_load_plugin(host_ctx(host), name_or_path, flags);
}

fx_status fx_plugin_find(fx_plugin_host *host, const char *name_or_path, char *out, size_t size)
{
    return fx_context_find_plugin(host_ctx(host), name_or_path, out, size);
}

int fx_plugin_host_count(const fx_plugin_host *host) { return fx_context_plugin_count(host_ctx(host)); }

const fx_plugin_summary *fx_plugin_host_at(const fx_plugin_host *host, int index)
{
    return fx_context_plugin_at(host_ctx(host), index);
}

fx_status fx_plugin_host_add_backend(fx_plugin_host *host, const char *name, const char *doc,
                                     fx_backend_factory create)
{
    fx_backend_registration r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    r.name = name;
    r.description = doc;
    r.create = create;
    return fx_context_add_backend(host_ctx(host), &r);
}

fx_status fx_plugin_host_create_backend(fx_plugin_host *host, const char *spec, fx_backend **out)
{
    return fx_context_create_backend(host_ctx(host), spec, out);
}

void fx_plugin_host_release_backend(fx_plugin_host *host, fx_backend *be)
{
    fx_context_release_backend(host_ctx(host), be);
}

int fx_plugin_host_backend_count(const fx_plugin_host *host) { return fx_context_backend_count(host_ctx(host)); }

int fx_plugin_host_backend_at(const fx_plugin_host *host, int index, const char **name, const char **doc,
                              const char **plugin)
{
    return fx_context_backend_at(host_ctx(host), index, name, doc, plugin);
}
