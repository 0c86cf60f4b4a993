/* cli/common.c - loading a graph with command-line overrides, choosing
 * the backend, printing errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "fx/opencl.h"

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
        /* fx_opencl_backend_create fails with FX_ERR_UNSUPPORTED and says
         * how to get it when this fx was built without OpenCL; a bad index
         * or name lists the devices. The backend lives until exit. */
        if (fx_opencl_backend_create(ctx, name, be) != FX_OK) {
            fprintf(stderr, "fxrun: backend '%s': %s\n", name, fx_context_error(ctx));
            return 1;
        }
        return 0;
    }
    fprintf(stderr, "fxrun: unknown backend '%s' (available: cpu, opencl, opencl:P:D, opencl:NAME; "
                    "run `fxrun devices`)\n", name);
    return 1;
}
