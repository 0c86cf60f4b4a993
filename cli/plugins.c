/* cli/plugins.c - plugins in fxrun: loading those named with --plugin and
 * those a graph file lists under `plugins:`, and `fxrun plugins`, which
 * shows what each loaded plugin registered and the backend table. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"

static unsigned load_flags(const cli_options *o) { return o->plugin_override ? FX_PLUGIN_ALLOW_OVERRIDE : 0u; }

int cli_load_plugins(fx_context *ctx, const cli_options *o)
{
    for (int i = 0; i < o->n_plugins; i++)
        if (fx_context_load_plugin(ctx, o->plugins[i], load_flags(o)) != FX_OK) {
            fprintf(stderr, "fxrun: --plugin %s: %s\n", o->plugins[i], fx_context_error(ctx));
            return 1;
        }
    return 0;
}

/* 1 if the file at `path` is already loaded: every command reloads the
 * graph file (and the default-task lookup reads it once more), and the
 * second time is expected, so it gets no "already loaded" note. */
static int already_loaded(fx_context *ctx, const char *path)
{
    char real[PATH_MAX];
    if (!realpath(path, real))
        return 0;
    for (int i = 0; i < fx_context_plugin_count(ctx); i++)
        if (!strcmp(fx_context_plugin_at(ctx, i)->path, real))
            return 1;
    return 0;
}

int cli_load_config_plugins(fx_context *ctx, const cli_options *o, const fx_config *cfg)
{
    for (int i = 0; i < cfg->n_plugins; i++) {
        const char *entry = cfg->plugins[i];
        /* The loader joined the entry to the file's folder; recover what
         * was written to tell a bare name ("prelu") from a path. */
        const char *written = entry;
        size_t dir_len = strlen(cfg->dir);
        if (strcmp(cfg->dir, ".") != 0 && !strncmp(entry, cfg->dir, dir_len) && entry[dir_len] == '/')
            written = entry + dir_len + 1;
        char path[FX_PATH_MAX + 2];
        const char *load = entry;
        if (access(entry, F_OK) == 0) {
            /* A file next to the graph file: with a '/', so that
             * fx_plugin_load takes it as a path, not a name to search. */
            if (!strchr(entry, '/')) {
                snprintf(path, sizeof path, "./%s", entry);
                load = path;
            }
        } else if (!strchr(written, '/')) {
            load = written;
        } else {
            fprintf(stderr,
                    "fxrun: %s: plugins[%d]: %s does not exist (a path is relative to the graph file's folder; "
                    "a bare name is searched in $FX_PLUGIN_PATH and the default folders)\n",
                    cfg->path, i, entry);
            return 1;
        }
        char found[FX_PATH_MAX];
        if (fx_context_find_plugin(ctx, load, found, sizeof found) == FX_OK && already_loaded(ctx, found))
            continue;
        fx_context_clear_error(ctx);
        if (fx_context_load_plugin(ctx, load, load_flags(o)) != FX_OK) {
            fprintf(stderr, "fxrun: %s: plugins[%d]: %s\n", cfg->path, i, fx_context_error(ctx));
            return 1;
        }
    }
    return 0;
}

static void print_list(const char *label, int n, const char *const *items)
{
    if (n == 0)
        return;
    printf("    %-10s", label);
    for (int i = 0; i < n; i++)
        printf("%s%s", i ? ", " : "", items[i]);
    printf("\n");
}

int cli_cmd_plugins(fx_context *ctx, const cli_options *o)
{
    if (o->graph_path) {
        fx_config cfg;
        if (fx_graph_load_yaml(ctx, o->graph_path, NULL, &cfg) != FX_OK)
            return cli_error(ctx);
        if (cli_load_config_plugins(ctx, o, &cfg) != 0)
            return 1;
    }
    int n = fx_context_plugin_count(ctx);
    if (n == 0)
        printf("no plugins loaded (load one with --plugin NAME|PATH, or list it under `plugins:` in a graph "
               "file and give the file)\n");
    for (int i = 0; i < n; i++) {
        const fx_plugin_summary *s = fx_context_plugin_at(ctx, i);
        printf("plugin %s %s  %s\n", s->name, s->version, s->path);
        if (s->description[0])
            printf("    %s\n", s->description);
        print_list("ops:", s->n_ops, s->ops);
        print_list("replaces:", s->n_overrides, s->overrides);
        print_list("kernels:", s->n_kernels, s->kernels);
        print_list("backends:", s->n_backends, s->backends);
        print_list("resources:", s->n_backend_resources, s->backend_resources); /* "opencl:prelu.cl" */
        print_list("optimisers:", s->n_optimizers, s->optimizers);
        print_list("updates:", s->n_optimizer_kernels, s->optimizer_kernels);
    }
    printf("backends:\n");
    for (int i = 0; i < fx_context_backend_count(ctx); i++) {
        const char *name, *doc, *plugin;
        fx_context_backend_at(ctx, i, &name, &doc, &plugin);
        printf("    %-10s%s%s%s%s\n", name, doc, plugin[0] ? " [plugin " : "", plugin, plugin[0] ? "]" : "");
    }
    printf("    (backend modules such as opencl, libfx-NAME.so, join the table when first used; `fxrun devices` "
           "loads and lists them)\n");
    const char *path = getenv("FX_PLUGIN_PATH");
    printf("search path for plugin names: $FX_PLUGIN_PATH (%s), then plugins/ next to fxrun, then "
           "../lib/fx/plugins from it\n",
           path && path[0] ? path : "unset");
    return 0;
}
