/* cli/common.c - loading a graph with command-line overrides, choosing
 * the backend, printing errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"

int cli_error(fx_context *ctx)
{
    const char *msg = fx_context_error(ctx);
    fprintf(stderr, "fxrun: %s\n", msg && msg[0] ? msg : "failed (no message; please report this)");
    return 1;
}

int cli_load(fx_context *ctx, const cli_options *o, fx_graph **g, fx_config *cfg)
{
    *g = NULL;
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
    if (!strcmp(name, "cpu")) {
        *be = fx_context_cpu_backend(ctx);
        return 0;
    }
    if (!strncmp(name, "opencl", 6)) {
        fprintf(stderr, "fxrun: backend '%s' is not available in this build: the OpenCL backend is not "
                        "implemented yet; use --backend cpu\n", name);
        return 1;
    }
    fprintf(stderr, "fxrun: unknown backend '%s' (available: cpu; run `fxrun devices`)\n", name);
    return 1;
}
