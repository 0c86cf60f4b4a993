/* cli/cli.h - shared state of the fxrun commands. fxrun uses only the
 * public API (include/fx). */
#ifndef FX_CLI_H
#define FX_CLI_H

#include "fx/fx.h"
#include "fx/plugin.h"

#define CLI_MAX_TENSORS 32
#define CLI_MAX_PLUGINS 16
#define CLI_MAX_BACKENDS 4

/* What fxrun holds for the whole run: the backends cli_backend made,
 * released before the context (which owns the plugins, the backend table
 * and the backend modules) is destroyed. */
typedef struct cli_runtime {
    fx_backend *backends[CLI_MAX_BACKENDS];
    int n_backends;
    fx_comm *comm;          /* the ranks of `mpirun -np N fxrun` (cli/mpi.c); NULL = one process */
    int stopped;            /* train stopped on a signal, every rank after the same step: no MPI_Abort */
} cli_runtime;

typedef struct cli_binding {
    const char *name;
    const char *path;
} cli_binding;

typedef struct cli_options {
    const char *task;       /* train, eval, infer, run, devices, ops; NULL = the file's */
    const char *graph_path;
    const char *backend;    /* NULL = FX_BACKEND or the file's */
    const char *fallback;   /* --fallback cpu: ops without a kernel run on the CPU */
    int threads;
    int has_seed;
    unsigned long long seed;
    int epochs;
    long long steps;
    int batch;
    int resume;
    int sync_bn;            /* --sync-bn: set train.sync_bn */
    const char *metrics;
    const char *checkpoint;
    const char *output;     /* infer: predictions file */
    const char *mode;       /* run: train | infer */
    int progress;           /* -1 auto, 0 off, 1 on */
    int verbose;
    int profile;            /* --profile: per-kernel (OpenCL) or per-layer (CPU) times */
    int n_feed, n_fetch, n_grad;
    cli_binding feed[CLI_MAX_TENSORS], fetch[CLI_MAX_TENSORS], grad[CLI_MAX_TENSORS];
    int n_plugins;          /* --plugin NAME|PATH, in order */
    const char *plugins[CLI_MAX_PLUGINS];
    int plugin_override;    /* --plugin-override: plugins may replace ops */
    const char *weights;    /* export/import: --weights FILE.safetensors | FOLDER/ */
    const char *map;        /* export/import: --map FILE (fx name -> external name) */
    const char *onnx;       /* export: --onnx FILE (the inference graph up to --feature) */
    /* face commands (explain, verify, ...) */
    const char *images;     /* --images DIR: an ImageFolder root (<identity>/<image>) */
    const char *landmarks;  /* --landmarks FILE: CSV image,x1,y1,... for --images */
    int has_box;            /* --box X,Y,W,H: cut from every image before the resize (data.box) */
    int box[4];
    const char *feature;    /* --feature NAME: the feature value (default: before the classifier) */
    const char *value;      /* explain --value NAME: the studied response maps */
    const char *out_dir;    /* --out DIR: where reports go */
    long long limit;        /* --limit N: use the first N images; 0 = command default */
    /* verify, identify, pairs (cmd_verify.c, cmd_identify.c; --images etc. above) */
    const char *pairs;      /* verify: --pairs FILE (LFW format) */
    int occlude;            /* verify/identify/features: --occlude (the paper's window on every image) */
    int has_occlude_at, occlude_at[2]; /* --occlude-at X,Y: the window's top-left in the 110x110 mean face */
    const char *json;       /* --json FILE */
    const char *roc;        /* verify: --roc FILE.png */
    int gallery;            /* identify: --gallery N images per identity (0: 1) */
    int folds, per_fold;    /* pairs: --folds N, --per-fold N (0: 10 and 300) */
    cli_runtime *rt;
} cli_options;

int cli_cmd_train(fx_context *ctx, const cli_options *o);
/* stop_signal.c: SIGINT/SIGTERM set flag->requested (a second one stops at
 * once) until cli_stop_signals_remove. */
void cli_stop_signals_install(fx_stop_flag *flag);
void cli_stop_signals_remove(void);
int cli_cmd_eval(fx_context *ctx, const cli_options *o);
int cli_cmd_infer(fx_context *ctx, const cli_options *o);
int cli_cmd_run(fx_context *ctx, const cli_options *o);
/* `run` on .npy feeds (cmd_run.c); `infer` with --feed/--fetch too, with
 * `inference` set: inference plan, checkpoint loaded, no --grad. */
int cli_cmd_run_feeds(fx_context *ctx, const cli_options *o, int inference);
int cli_cmd_devices(fx_context *ctx, const cli_options *o);
int cli_cmd_ops(fx_context *ctx, const cli_options *o);
int cli_cmd_bench(fx_context *ctx, const cli_options *o);
int cli_cmd_plugins(fx_context *ctx, const cli_options *o);
/* `fxrun crop-faces`: parses its own arguments (argv[0] = "crop-faces"). */
int cli_cmd_crop_faces(int argc, char **argv);
/* init, export, import (cmd_interop.c) */
int cli_cmd_init(fx_context *ctx, const cli_options *o);
int cli_cmd_export(fx_context *ctx, const cli_options *o);
int cli_cmd_import(fx_context *ctx, const cli_options *o);
/* explain (cmd_explain.c): filter peaks, spread, pictures and the HTML report */
int cli_cmd_explain(fx_context *ctx, const cli_options *o);
/* Parses "X,Y,W,H" (x, y >= 0; w, h >= 1) into box; prints and returns non-zero when malformed. */
int cli_parse_box(const char *text, int box[4]);

/* features, verify, identify, pairs: cmd_features.c, cmd_verify.c, cmd_identify.c */
int cli_cmd_features(fx_context *ctx, const cli_options *o);
int cli_cmd_verify(fx_context *ctx, const cli_options *o);
int cli_cmd_identify(fx_context *ctx, const cli_options *o);
int cli_cmd_pairs(fx_context *ctx, const cli_options *o);

/* Loads the graph and config, applying command-line overrides. Prints the
 * error and returns non-zero on failure. The plugins the file lists
 * (`plugins:`) are loaded first, so the graph may use their ops. */
int cli_load(fx_context *ctx, const cli_options *o, fx_graph **g, fx_config *cfg);
/* Loads the --plugin plugins (cli/plugins.c). Prints and returns non-zero
 * on failure. */
int cli_load_plugins(fx_context *ctx, const cli_options *o);
/* Loads the plugins a graph file lists (cfg->plugins, read by
 * fx_graph_load_yaml): a path relative to the file, or, when no such file
 * exists and the entry is a bare name, a name searched like --plugin's. */
int cli_load_config_plugins(fx_context *ctx, const cli_options *o, const fx_config *cfg);
/* Resolves the backend named by --backend / FX_BACKEND / the file through
 * the context's backend table (cpu, plugin backends, backend modules such
 * as opencl, loaded on first use). */
int cli_backend(fx_context *ctx, const cli_options *o, const fx_config *cfg, fx_backend **be);
/* Prints "fxrun: <message>" for the context's last error ("fxrun: rank R
 * of N: <message>" under mpirun with N > 1); returns 1. */
int cli_error(fx_context *ctx);
/* Under mpirun (cli/mpi.c): creates rt->comm (MPI) when this process is
 * one of several ranks and refuses tasks that do not run data-parallel;
 * prints and returns non-zero on failure. cli_mpi_finish ends the job:
 * after a failure on a rank of several, MPI_Abort (every rank ends, the
 * exit status is rc); else finalises MPI. */
int cli_mpi_start(fx_context *ctx, const char *task, cli_runtime *rt);
int cli_mpi_finish(cli_runtime *rt, int rc);
/* This process's rank and the number of ranks as the launcher set them
 * (0 and 1 when not started by mpirun). */
void cli_mpi_launch_rank(int *rank, int *size);
/* Notes on stderr when a loaded checkpoint was written by a graph of
 * another name (the tensors fitted, or the load would have failed). */
void cli_note_checkpoint_graph(const char *path, const fx_checkpoint_meta *meta, const fx_graph *g);
/* Prints, once, which layers the plan put on the fallback backend. */
void cli_note_fallback(fx_graph *g);

#endif
