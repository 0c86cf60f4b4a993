/* cli/cmd_interop.c - `fxrun init`, `fxrun export`, `fxrun import`: a
 * model's weights between fx checkpoints and other frameworks' files
 * (safetensors, .npy folders; docs/interop.md). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "cli/cli.h"

/* Loads the graph and plans it for inference with batch 1 on the chosen
 * backend: what holds every parameter, with the least memory. */
static int load_planned(fx_context *ctx, const cli_options *o, fx_graph **g, fx_config *cfg, const char *task)
{
    if (cli_load(ctx, o, g, cfg) != 0)
        return 1;
    fx_backend *be = NULL;
    if (cli_backend(ctx, o, cfg, &be) != 0 || fx_graph_plan(*g, 1, FX_MODE_INFER, be) != FX_OK) {
        int rc = be ? cli_error(ctx) : 1;
        fx_graph_destroy(*g);
        *g = NULL;
        return rc;
    }
    if (!cfg->train.checkpoint[0]) {
        fprintf(stderr, "fxrun %s: %s names no checkpoint: set train.checkpoint or pass --checkpoint FILE\n", task,
                cfg->path);
        fx_graph_destroy(*g);
        *g = NULL;
        return 1;
    }
    return 0;
}

static int save_checkpoint(fx_context *ctx, fx_graph *g, const fx_config *cfg)
{
    fx_checkpoint_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.seed = cfg->train.seed;
    snprintf(meta.graph_name, sizeof meta.graph_name, "%s", fx_graph_name(g));
    if (fx_checkpoint_save(ctx, cfg->train.checkpoint, g, NULL, &meta) != FX_OK)
        return cli_error(ctx);
    return 0;
}

int cli_cmd_init(fx_context *ctx, const cli_options *o)
{
    fx_graph *g = NULL;
    fx_config cfg;
    if (load_planned(ctx, o, &g, &cfg, "init") != 0)
        return 1;
    int rc = save_checkpoint(ctx, g, &cfg);
    if (rc == 0 && o->verbose > 0)
        printf("init '%s': %lld learnable parameters, seed %llu, untrained checkpoint %s\n", fx_graph_name(g),
               (long long)fx_graph_param_numel(g), (unsigned long long)cfg.train.seed, cfg.train.checkpoint);
    fx_graph_destroy(g);
    return rc;
}

int cli_cmd_export(fx_context *ctx, const cli_options *o)
{
    if (!o->weights && !o->onnx) {
        fprintf(stderr, "fxrun export: say what to write: --weights FILE.safetensors, --weights FOLDER/ or --onnx "
                "FILE.onnx\n");
        return 2;
    }
    fx_graph *g = NULL;
    fx_config cfg;
    if (load_planned(ctx, o, &g, &cfg, "export") != 0)
        return 1;
    int rc = 0;
    struct stat sb;
    if (stat(cfg.train.checkpoint, &sb) != 0) {
        fprintf(stderr, "fxrun export: no checkpoint '%s' to export: train the graph, or write one with `fxrun "
                "init` or `fxrun import`\n", cfg.train.checkpoint);
        rc = 1;
    }
    fx_checkpoint_meta meta;
    if (rc == 0 && fx_checkpoint_load(ctx, cfg.train.checkpoint, g, NULL, &meta) != FX_OK)
        rc = cli_error(ctx);
    if (rc == 0)
        cli_note_checkpoint_graph(cfg.train.checkpoint, &meta, g);
    fx_weights_options wo = { .map_path = o->map, .report = NULL };
    if (rc == 0 && o->weights && fx_weights_export(ctx, g, o->weights, &wo) != FX_OK)
        rc = cli_error(ctx);
    if (rc == 0 && o->weights && o->verbose > 0)
        printf("export '%s': %s -> %s\n", fx_graph_name(g), cfg.train.checkpoint, o->weights);
    char feature[FX_NAME_MAX * 2];
    if (rc == 0 && o->onnx) {
        if (o->feature)
            snprintf(feature, sizeof feature, "%s", o->feature);
        else if (fx_extract_default_feature(ctx, g, &cfg, feature, sizeof feature) != FX_OK)
            rc = cli_error(ctx);
    }
    if (rc == 0 && o->onnx && fx_onnx_export(ctx, g, o->onnx, feature) != FX_OK)
        rc = cli_error(ctx);
    if (rc == 0 && o->onnx && o->verbose > 0)
        printf("export '%s': %s -> %s (output '%s')\n", fx_graph_name(g), cfg.train.checkpoint, o->onnx, feature);
    fx_graph_destroy(g);
    return rc;
}

int cli_cmd_import(fx_context *ctx, const cli_options *o)
{
    if (!o->weights) {
        fprintf(stderr, "fxrun import: say what to read: --weights FILE.safetensors or --weights FOLDER/\n");
        return 2;
    }
    fx_graph *g = NULL;
    fx_config cfg;
    if (load_planned(ctx, o, &g, &cfg, "import") != 0)
        return 1;
    /* Mismatches go to stderr one per line (the error message holds only
     * the first few); the checkpoint is written only when all fit. */
    fx_weights_options wo = { .map_path = o->map, .report = stderr };
    int rc = 0;
    if (fx_weights_import(ctx, g, o->weights, &wo) != FX_OK)
        rc = cli_error(ctx);
    if (rc == 0)
        rc = save_checkpoint(ctx, g, &cfg);
    if (rc == 0 && o->verbose > 0)
        printf("import '%s': %s -> checkpoint %s\n", fx_graph_name(g), o->weights, cfg.train.checkpoint);
    fx_graph_destroy(g);
    return rc;
}
