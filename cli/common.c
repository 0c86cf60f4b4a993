/* cli/common.c - loading a graph (and the plugins it lists) with
 * command-line overrides, choosing the backend, printing errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"

int cli_error(fx_context *ctx)
{
    const char *msg = fx_context_error(ctx);
    int rank, size;
    cli_mpi_launch_rank(&rank, &size);
    if (size > 1)
        fprintf(stderr, "fxrun: rank %d of %d: %s\n", rank, size,
                msg && msg[0] ? msg : "failed (no message; please report this)");
    else
        fprintf(stderr, "fxrun: %s\n", msg && msg[0] ? msg : "failed (no message; please report this)");
    fflush(stderr);
    return 1;
}

int cli_load(fx_context *ctx, const cli_options *o, fx_graph **g, fx_config *cfg)
{
    *g = NULL;
    /* Two passes: fx_graph_load_yaml resolves ops while it builds the
     * graph, so the plugins the file lists must be loaded first. With a
     * NULL graph it reads only the config (docs/graph-format.md). */
    if (fx_graph_load_yaml(ctx, o->graph_path, NULL, cfg) != FX_OK)
        return cli_error(ctx);
    if (cfg->n_plugins > 0 && cli_load_config_plugins(ctx, o, cfg) != 0)
        return 1;
    if (fx_graph_load_yaml(ctx, o->graph_path, g, cfg) != FX_OK)
        return cli_error(ctx);
    if (o->has_seed) {
        cfg->train.seed = o->seed;
    }
    fx_graph_set_seed(*g, cfg->train.seed);
    if (o->epochs > 0)
        cfg->train.epochs = o->epochs;
    if (o->steps > 0)
        cfg->train.max_steps = o->steps;
    if (o->batch > 0)
        cfg->train.batch = o->batch;
    if (o->sync_bn)
        cfg->train.sync_bn = 1;
    if (o->fallback) {
        if (strcmp(o->fallback, "cpu") != 0) {
            fprintf(stderr, "fxrun: --fallback supports only 'cpu', got '%s'\n", o->fallback);
            fx_graph_destroy(*g);
            *g = NULL;
            return 1;
        }
        fx_graph_set_fallback(*g, fx_context_cpu_backend(ctx));
    }
    if (o->has_box)
        memcpy(cfg->data.box, o->box, sizeof cfg->data.box);
    if (o->checkpoint)
        snprintf(cfg->train.checkpoint, sizeof cfg->train.checkpoint, "%s", o->checkpoint);
    return 0;
}

int cli_backend(fx_context *ctx, const cli_options *o, const fx_config *cfg, fx_backend **be)
{
    const char *name = o->backend;
    if (!name)
        name = getenv("FX_BACKEND");
    if (!name || !name[0])
        name = cfg && cfg->backend[0] ? cfg->backend : "cpu";
    /* cpu, plugin backends and backend modules (opencl[:...]), all from
     * the context's table; unknown names get the list of known ones. */
    cli_runtime *rt = o->rt;
    if (rt->n_backends == CLI_MAX_BACKENDS) {
        fprintf(stderr, "fxrun: internal: more than %d backends made in one run\n", CLI_MAX_BACKENDS);
        return 1;
    }
    if (fx_context_create_backend(ctx, name, be) != FX_OK) {
        const char *msg = fx_context_error(ctx);
        if (!strncmp(msg, "unknown backend", 15) || !strncmp(msg, "backend '", 9) ||
            !strncmp(msg, "backend module", 14))
            fprintf(stderr, "fxrun: %s\n", msg); /* the message names the backend already */
        else
            fprintf(stderr, "fxrun: backend '%s': %s\n", name, msg);
        return 1;
    }
    if (*be != fx_context_cpu_backend(ctx))
        rt->backends[rt->n_backends++] = *be; /* released by main, after the graphs */
    return 0;
}

void cli_note_fallback(fx_graph *g)
{
    int n = fx_graph_fallback_count(g);
    if (n == 0)
        return;
    fprintf(stderr, "fxrun: note: %d layer%s without a kernel on the chosen backend run%s on the CPU (--fallback):", n,
            n == 1 ? "" : "s", n == 1 ? "s" : "");
    for (int i = 0; i < fx_graph_node_count(g); i++) {
        const fx_node *node = fx_graph_node_at(g, i);
        if (!strcmp(fx_node_backend_name(node), "cpu"))
            fprintf(stderr, " %s (%s)", fx_node_name(node), fx_node_op_name(node));
    }
    fprintf(stderr, "\n");
}

void cli_note_checkpoint_graph(const char *path, const fx_checkpoint_meta *meta, const fx_graph *g)
{
    if (meta->graph_name[0] && strcmp(meta->graph_name, fx_graph_name(g)) != 0)
        fprintf(stderr, "fxrun: note: checkpoint '%s' was written by graph '%s', not '%s' (its tensors fit this "
                "graph, so it was loaded)\n", path, meta->graph_name, fx_graph_name(g));
}

int cli_parse_box(const char *text, int box[4])
{
    long v[4];
    const char *s = text;
    for (int i = 0; i < 4; i++) {
        char *end;
        errno = 0;
        v[i] = strtol(s, &end, 10);
        int sep_ok = i < 3 ? *end == ',' : *end == '\0';
        if (end == s || errno || !sep_ok || v[i] < (i < 2 ? 0 : 1) || v[i] > 1000000) {
            fprintf(stderr, "fxrun: --box expects X,Y,W,H (x, y >= 0; w, h >= 1 pixels), got '%s'\n", text);
            return 1;
        }
        s = end + 1;
        box[i] = (int)v[i];
    }
    return 0;
}
