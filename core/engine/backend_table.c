/* core/engine/backend_table.c - the context's backend table (fx/backend.h): one
 * registration record per backend, creating and releasing backends from
 * specs, extras found by name, and backend modules (libfx-NAME.so)
 * found in fx's backend folders and loaded, as plugins, on first use.
 *
 * Nothing here knows a backend by name except the CPU default: a spec
 * whose name is not in the table is looked for as a module file, so the
 * OpenCL backend (or any other built as libfx-NAME.so) is loaded only
 * when a program asks for it, and a machine without it (or without the
 * libraries it needs) runs on the CPU with no noise until then. */
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"
#include "fx/plugin.h"

/* The install layout puts modules in <prefix>/<libdir>/fx/backends; the
 * build passes the relative libdir (lib, lib64, lib/x86_64-linux-gnu). */
#ifndef FX_PLUGIN_LIBDIR
#define FX_PLUGIN_LIBDIR "lib"
#endif

#define BACKEND_NAME_MAX 32
#define MODULE_PREFIX "libfx-"
#define MODULE_SUFFIX ".so"

static int valid_backend_name(const char *s)
{
    if (!s || !s[0] || strlen(s) >= BACKEND_NAME_MAX)
        return 0;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
            return 0;
    return 1;
}

static fx_backend_entry *find_entry(const fx_context *ctx, const char *name, size_t len)
{
    for (int i = 0; i < ctx->n_backends; i++)
        if (strlen(ctx->backends[i].name) == len && !strncmp(ctx->backends[i].name, name, len))
            return &ctx->backends[i];
    return NULL;
}

static void entry_free(fx_backend_entry *e)
{
    free(e->name);
    free(e->doc);
}

void fx_backend_table_truncate(fx_context *ctx, int n)
{
    while (ctx->n_backends > n)
        entry_free(&ctx->backends[--ctx->n_backends]);
}

void fx_backend_table_free(fx_context *ctx)
{
    fx_backend_table_truncate(ctx, 0);
    free(ctx->backends);
    ctx->backends = NULL;
    ctx->cap_backends = 0;
}

fx_status fx_context_add_backend(fx_context *ctx, const fx_backend_registration *r)
{
    if (!r || r->struct_size < offsetof(fx_backend_registration, list_devices) ||
        r->struct_size > FX_STRUCT_SIZE_MAX)
        return fx_fail(ctx, FX_ERR_INVALID,
                       "fx_context_add_backend: no record, or its struct_size (%zu) is too small or garbage (set "
                       "it to sizeof(fx_backend_registration) and build against this fx's fx/backend.h)",
                       r ? r->struct_size : (size_t)0);
    if (!valid_backend_name(r->name))
        return fx_fail(ctx, FX_ERR_INVALID,
                       "backend name '%s' is not valid: use 1 to %d characters of a-z, 0-9, '_' and '-' (the name "
                       "is what users write after --backend, before any ':options')",
                       r->name ? r->name : "(null)", BACKEND_NAME_MAX - 1);
    if (!r->create)
        return fx_fail(ctx, FX_ERR_INVALID, "backend '%s' registered without a factory function", r->name);
    const char *loading = fx_plugin_loading_name(ctx);
    const fx_backend_entry *e = find_entry(ctx, r->name, strlen(r->name));
    if (e) {
        if (loading[0] && !strcmp(e->plugin, loading))
            return fx_fail(ctx, FX_ERR_INVALID, "backend '%s' is registered twice by this plugin", r->name);
        return fx_fail(ctx, FX_ERR_INVALID, "backend '%s' already exists (%s%s%s); choose another name", r->name,
                       e->plugin[0] ? "from plugin '" : "built in", e->plugin, e->plugin[0] ? "'" : "");
    }
    if (ctx->n_backends == ctx->cap_backends) {
        int cap = ctx->cap_backends ? ctx->cap_backends * 2 : 8;
        fx_backend_entry *t = realloc(ctx->backends, (size_t)cap * sizeof *t);
        if (!t)
            return fx_fail(ctx, FX_ERR_NOMEM, "out of memory growing the backend table");
        ctx->backends = t;
        ctx->cap_backends = cap;
    }
    const char *doc = r->description ? r->description : "";
    char *name = fx_malloc(ctx, strlen(r->name) + 1, "a backend name");
    char *d = name ? fx_malloc(ctx, strlen(doc) + 1, "a backend description") : NULL;
    if (!d) {
        free(name);
        return FX_ERR_NOMEM;
    }
    strcpy(name, r->name);
    strcpy(d, doc);
    fx_backend_entry *n = &ctx->backends[ctx->n_backends];
    memset(n, 0, sizeof *n);
    /* Copy what the registering code's record has; newer fields stay NULL. */
    memcpy(&n->reg, r, r->struct_size < sizeof n->reg ? r->struct_size : sizeof n->reg);
    n->reg.struct_size = sizeof n->reg;
    n->reg.name = name;
    n->reg.description = d;
    n->name = name;
    n->doc = d;
    n->plugin = loading;
    ctx->n_backends++;
    if (n->reg.register_kernels) {
        /* Kernels added before a failure are taken back here; inside a
         * plugin the transaction also would. */
        int kernels0 = ctx->registry.n_kernels;
        fx_status st = n->reg.register_kernels(&ctx->registry);
        if (st != FX_OK) {
            if (ctx->registry.n_kernels > kernels0)
                ctx->registry.n_kernels = kernels0;
            fx_backend_table_truncate(ctx, ctx->n_backends - 1);
            if (!ctx->has_error)
                fx_fail(ctx, st, "backend '%s': registering its kernels failed without a message", r->name);
            return fx_fail_prefix(ctx, st, "backend '%s': registering its kernels", r->name);
        }
    }
    return FX_OK;
}

int fx_context_backend_count(const fx_context *ctx) { return ctx ? ctx->n_backends : 0; }

int fx_context_backend_at(const fx_context *ctx, int index, const char **name, const char **description,
                          const char **plugin)
{
    if (!ctx || index < 0 || index >= ctx->n_backends)
        return 0;
    const fx_backend_entry *e = &ctx->backends[index];
    if (name)
        *name = e->name;
    if (description)
        *description = e->doc;
    if (plugin)
        *plugin = e->plugin;
    return 1;
}

const fx_backend_registration *fx_context_find_backend(const fx_context *ctx, const char *name)
{
    const fx_backend_entry *e = ctx && name ? find_entry(ctx, name, strlen(name)) : NULL;
    return e ? &e->reg : NULL;
}

fx_backend_proc fx_backend_get_proc(const fx_backend *be, const char *name)
{
    if (!be || !be->ctx || !name)
        return NULL;
    const fx_backend_entry *e = find_entry(be->ctx, be->name, strlen(be->name));
    return e && e->reg.get_proc ? e->reg.get_proc(name) : NULL;
}

/* ---- backend modules ------------------------------------------------------ */

/* The folders modules are looked for in, as one colon-separated list. */
static void module_dirs(char *out, size_t size)
{
    out[0] = '\0';
    const char *env = getenv("FX_BACKEND_PATH");
    if (env) {
        snprintf(out, size, "%s", env);
        return;
    }
    char exe[PATH_MAX];
    fx_exe_dir(exe, sizeof exe);
    size_t used = 0;
    if (exe[0]) {
        int w = snprintf(out, size, "%s/backends:%s/../backends:%s/../%s/fx/backends", exe, exe, exe,
                         FX_PLUGIN_LIBDIR);
        used = w > 0 && (size_t)w < size ? (size_t)w : 0;
        if (!used)
            out[0] = '\0';
    }
    /* Next to libfx.so, for programs that link it from an installed fx. */
    Dl_info info;
    if (dladdr((void *)&fx_context_load_backend, &info) && info.dli_fname) {
        const char *slash = strrchr(info.dli_fname, '/');
        if (slash && strstr(slash, "libfx"))
            snprintf(out + used, size - used, "%s%.*s/fx/backends", used ? ":" : "",
                     (int)(slash - info.dli_fname), info.dli_fname);
    }
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Finds libfx-NAME.so in the module folders; 1 when found (path in out). */
static int module_find(const char *dirs, const char *name, size_t len, char *out, size_t size)
{
    for (const char *p = dirs; *p;) {
        size_t n = strcspn(p, ":");
        if (n > 0) {
            int w = snprintf(out, size, "%.*s/" MODULE_PREFIX "%.*s" MODULE_SUFFIX, (int)n, p, (int)len, name);
            if (w > 0 && (size_t)w < size && is_file(out))
                return 1;
        }
        p += n;
        if (*p == ':')
            p++;
    }
    return 0;
}

static fx_status load_module(fx_context *ctx, const char *name, size_t len)
{
    if (find_entry(ctx, name, len))
        return FX_OK;
    char dirs[3 * PATH_MAX + 64], path[PATH_MAX];
    module_dirs(dirs, sizeof dirs);
    if (!module_find(dirs, name, len, path, sizeof path))
        return fx_fail(ctx, FX_ERR_UNSUPPORTED,
                       "backend '%.*s' is not available: its module " MODULE_PREFIX "%.*s" MODULE_SUFFIX
                       " is in none of the backend folders (%s)%s; install fx's %.*s backend, or point "
                       "FX_BACKEND_PATH at the folder that holds the module",
                       (int)len, name, (int)len, name, dirs[0] ? dirs : "none known",
                       getenv("FX_BACKEND_PATH") ? ", set by FX_BACKEND_PATH" : "", (int)len, name);
    fx_context_clear_error(ctx);
    fx_status st = fx_context_load_plugin(ctx, path, 0);
    if (st != FX_OK) {
        /* dlopen's "libOpenCL.so.1: cannot open shared object file" is
         * the usual reason: the module needs a library this machine lacks. */
        const char *hint = strstr(ctx->error, "cannot open shared object file")
                               ? " [the module needs a library this machine does not have, named above: install "
                                 "it (docs/opencl.md lists the OpenCL module's), or run on another backend]"
                               : "";
        fx_fail_prefix(ctx, FX_ERR_UNSUPPORTED, "backend '%.*s' is not available", (int)len, name);
        if (hint[0]) {
            size_t used = strlen(ctx->error);
            snprintf(ctx->error + used, sizeof ctx->error - used, "%s", hint);
        }
        return FX_ERR_UNSUPPORTED;
    }
    if (!find_entry(ctx, name, len))
        return fx_fail(ctx, FX_ERR_UNSUPPORTED,
                       "backend module %s loaded, but it registered no backend named '%.*s' (a module "
                       "libfx-NAME.so must register the backend NAME)",
                       path, (int)len, name);
    return FX_OK;
}

fx_status fx_context_load_backend(fx_context *ctx, const char *name)
{
    if (!valid_backend_name(name))
        return fx_fail(ctx, FX_ERR_INVALID, "backend name '%s' is not valid (a-z, 0-9, '_', '-')",
                       name ? name : "(null)");
    return load_module(ctx, name, strlen(name));
}

int fx_context_load_all_backends(fx_context *ctx, FILE *report)
{
    char dirs[3 * PATH_MAX + 64];
    module_dirs(dirs, sizeof dirs);
    int failed = 0;
    for (const char *p = dirs; *p;) {
        size_t n = strcspn(p, ":");
        char dir[PATH_MAX];
        DIR *d = NULL;
        if (n > 0 && n < sizeof dir) {
            memcpy(dir, p, n);
            dir[n] = '\0';
            d = opendir(dir);
        }
        for (struct dirent *de; d && (de = readdir(d));) {
            size_t len = strlen(de->d_name), pre = strlen(MODULE_PREFIX), suf = strlen(MODULE_SUFFIX);
            if (len <= pre + suf || strncmp(de->d_name, MODULE_PREFIX, pre) ||
                strcmp(de->d_name + len - suf, MODULE_SUFFIX))
                continue;
            char name[BACKEND_NAME_MAX];
            size_t nl = len - pre - suf;
            if (nl >= sizeof name)
                continue;
            memcpy(name, de->d_name + pre, nl);
            name[nl] = '\0';
            if (!valid_backend_name(name) || find_entry(ctx, name, nl))
                continue;
            if (load_module(ctx, name, nl) != FX_OK) {
                failed++;
                if (report)
                    fprintf(report, "%s: %s\n", name, ctx->error);
                fx_context_clear_error(ctx);
            }
        }
        if (d)
            closedir(d);
        p += n;
        if (*p == ':')
            p++;
    }
    return failed;
}

/* ---- creating and releasing backends -------------------------------------- */

fx_status fx_context_create_backend(fx_context *ctx, const char *spec, fx_backend **out)
{
    *out = NULL;
    if (!spec || !spec[0])
        return fx_fail(ctx, FX_ERR_INVALID, "empty backend name (try cpu)");
    size_t len = strcspn(spec, ":");
    const fx_backend_entry *e = find_entry(ctx, spec, len);
    if (!e) {
        char list[1024] = "";
        size_t used = 0;
        for (int i = 0; i < ctx->n_backends; i++) {
            int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", ctx->backends[i].name);
            if (w > 0 && (size_t)w < sizeof list - used)
                used += (size_t)w;
        }
        char dirs[3 * PATH_MAX + 64], path[PATH_MAX];
        module_dirs(dirs, sizeof dirs);
        int valid = len < BACKEND_NAME_MAX;
        for (size_t i = 0; valid && i < len; i++)
            valid = (spec[i] >= 'a' && spec[i] <= 'z') || (spec[i] >= '0' && spec[i] <= '9') || spec[i] == '_' ||
                    spec[i] == '-';
        if (valid && len > 0 && module_find(dirs, spec, len, path, sizeof path)) {
            fx_status st = load_module(ctx, spec, len);
            if (st != FX_OK)
                return st;
            e = find_entry(ctx, spec, len);
        } else {
            return fx_fail(ctx, FX_ERR_INVALID,
                           "unknown backend '%.*s' (available: %s): no plugin registered it, and its module "
                           MODULE_PREFIX "%.*s" MODULE_SUFFIX " is in none of the backend folders (%s%s); install "
                           "the module or point FX_BACKEND_PATH at its folder, or load a plugin that adds the "
                           "backend with --plugin (`fxrun plugins` lists the backends)",
                           (int)len, spec, list, (int)len, spec, dirs[0] ? dirs : "none known",
                           getenv("FX_BACKEND_PATH") ? ", from FX_BACKEND_PATH" : "");
        }
    }
    fx_backend *be = NULL;
    fx_status st = e->reg.create(ctx, spec, &be);
    if (st != FX_OK) {
        if (!ctx->has_error)
            fx_fail(ctx, st, "backend '%s' could not be created (%s) and gave no reason", spec, fx_status_name(st));
        return st;
    }
    if (!be)
        return fx_fail(ctx, FX_ERR_INTERNAL, "backend factory of '%s'%s%s returned no backend", e->name,
                       e->plugin[0] ? " from plugin " : "", e->plugin);
    /* The backend must say how large it is before fx reads any other
     * field (fx/backend.h): zero is a factory that never set it (built
     * against a header before ABI 3), a huge value is garbage. Not
     * destroyed: fx cannot know where its ops are. */
    if (be->struct_size < FX_BACKEND_MIN_SIZE || be->struct_size > FX_STRUCT_SIZE_MAX)
        return fx_fail(ctx, FX_ERR_INVALID,
                       "backend '%s'%s%s: its fx_backend has struct_size %zu (expected at least %zu); the factory "
                       "must set be->struct_size = sizeof(fx_backend) (rebuild it against this fx's fx/backend.h)",
                       e->name, e->plugin[0] ? " from plugin " : "", e->plugin, be->struct_size,
                       (size_t)FX_BACKEND_MIN_SIZE);
    if (!be->ops)
        return fx_fail(ctx, FX_ERR_INTERNAL, "backend factory of '%s'%s%s returned a backend without ops", e->name,
                       e->plugin[0] ? " from plugin " : "", e->plugin);
    /* The ops table must say how large it is (fx/backend.h): fx reads no
     * slot past that size. */
    if (be->ops->struct_size < offsetof(fx_backend_ops, destroy) + sizeof be->ops->destroy ||
        be->ops->struct_size > FX_STRUCT_SIZE_MAX) {
        /* Not destroyed: a table of unknown size has no slot fx may call. */
        return fx_fail(ctx, FX_ERR_INVALID,
                       "backend '%s'%s%s: its fx_backend_ops table has struct_size %zu; set .struct_size = "
                       "sizeof(fx_backend_ops) (rebuild it against this fx's fx/backend.h)",
                       e->name, e->plugin[0] ? " from plugin " : "", e->plugin, be->ops->struct_size);
    }
    /* Kernels are found by be->name: a backend must carry the name it was
     * registered under, or it would run another backend's kernels on its
     * own buffers. ("opencl:P:D" still names itself "opencl".) */
    if (strcmp(be->name, e->name) != 0) {
        if (be != ctx->cpu && be->ops->destroy)
            be->ops->destroy(be);
        return fx_fail(ctx, FX_ERR_INTERNAL,
                       "backend factory of '%s'%s%s returned a backend named '%s'; it must set fx_backend.name "
                       "to '%s' (its kernels are registered under that name)",
                       e->name, e->plugin[0] ? " from plugin " : "", e->plugin, be->name, e->name);
    }
    if (!be->ctx)
        be->ctx = ctx;
    *out = be;
    return FX_OK;
}

void fx_context_release_backend(fx_context *ctx, fx_backend *be)
{
    if (!be)
        return;
    /* The CPU backend belongs to the context: whoever asks, with or
     * without a context at hand, it is never destroyed here. */
    if ((ctx && be == ctx->cpu) || (be->ctx && be == be->ctx->cpu))
        return;
    if (be->ops && be->ops->destroy)
        be->ops->destroy(be);
}
