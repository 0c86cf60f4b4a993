/* cli/cli.h - shared state of the fxrun commands. fxrun uses only the
 * public API (include/fx). */
#ifndef FX_CLI_H
#define FX_CLI_H

#include "fx/fx.h"

#define CLI_MAX_TENSORS 32

typedef struct cli_binding {
    const char *name;
    const char *path;
} cli_binding;

typedef struct cli_options {
    const char *task;       /* train, eval, infer, run, devices, ops; NULL = the file's */
    const char *graph_path;
    const char *backend;    /* NULL = FX_BACKEND or the file's */
    int threads;
    int has_seed;
    unsigned long long seed;
    int epochs;
    long long steps;
    int batch;
    int resume;
    const char *metrics;
    const char *checkpoint;
    const char *output;     /* infer: predictions file */
    const char *mode;       /* run: train | infer */
    int progress;           /* -1 auto, 0 off, 1 on */
    int verbose;
    int n_feed, n_fetch, n_grad;
    cli_binding feed[CLI_MAX_TENSORS], fetch[CLI_MAX_TENSORS], grad[CLI_MAX_TENSORS];
} cli_options;

int cli_cmd_train(fx_context *ctx, const cli_options *o);
int cli_cmd_eval(fx_context *ctx, const cli_options *o);
int cli_cmd_infer(fx_context *ctx, const cli_options *o);
int cli_cmd_run(fx_context *ctx, const cli_options *o);
int cli_cmd_devices(fx_context *ctx, const cli_options *o);
int cli_cmd_ops(fx_context *ctx, const cli_options *o);
int cli_cmd_bench(fx_context *ctx, const cli_options *o);

/* Loads the graph and config, applying command-line overrides. Prints the
 * error and returns non-zero on failure. */
int cli_load(fx_context *ctx, const cli_options *o, fx_graph **g, fx_config *cfg);
/* Resolves the backend named by --backend / FX_BACKEND / the file. */
int cli_backend(fx_context *ctx, const cli_options *o, const fx_config *cfg, fx_backend **be);
/* Prints "fxrun: <message>" for the context's last error; returns 1. */
int cli_error(fx_context *ctx);

#endif
