/* fx/train.h - optimisers, learning-rate schedules, checkpoints, and the
 * training and evaluation loops used by fxrun. */
#ifndef FX_TRAIN_H
#define FX_TRAIN_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include "fx/config.h"
#include "fx/data.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fx_optimizer fx_optimizer;

/* Creates the optimiser state (momentum / Adam moments) for every
 * learnable parameter of a planned graph, on the parameter's backend. */
fx_status fx_optimizer_create(fx_graph *g, const fx_train_config *cfg, fx_optimizer **out);
void fx_optimizer_destroy(fx_optimizer *opt);
/* One update of every learnable parameter with learning rate lr. */
fx_status fx_optimizer_step(fx_optimizer *opt, float lr);
int64_t fx_optimizer_steps(const fx_optimizer *opt);
void fx_optimizer_set_steps(fx_optimizer *opt, int64_t steps);
/* Optimiser state tensors, named "<param>.m", "<param>.v", "<param>.velocity". */
int fx_optimizer_state_count(const fx_optimizer *opt);
fx_tensor *fx_optimizer_state_at(fx_optimizer *opt, int i, const char **name);

/* Learning rate at `step` (0-based) for a schedule over total_steps. */
float fx_lr_at(const fx_train_config *cfg, int64_t step, int64_t steps_per_epoch, int64_t total_steps);

/* Checkpoints: a versioned, checksummed file of named tensors (parameters,
 * BN statistics, optimiser state) and progress counters, written to a
 * temporary file, fsync'd and renamed over the old one, so a failed write
 * never damages the previous checkpoint. */
typedef struct fx_checkpoint_meta {
    int64_t epoch;      /* completed epochs */
    int64_t step;       /* completed steps */
    uint64_t seed;
    char graph_name[FX_NAME_MAX];
    int64_t batch;      /* the run's global train.batch; 0 = not recorded (older files, `fxrun init`) */
} fx_checkpoint_meta;

fx_status fx_checkpoint_save(fx_context *ctx, const char *path, fx_graph *g, fx_optimizer *opt,
                             const fx_checkpoint_meta *meta);
/* Loads into a planned graph (and optimiser, if given). Every tensor's name
 * and shape must match; a truncated or tampered file is refused with
 * FX_ERR_CORRUPT and changes nothing. */
fx_status fx_checkpoint_load(fx_context *ctx, const char *path, fx_graph *g, fx_optimizer *opt,
                             fx_checkpoint_meta *meta);

/* A request to stop training gracefully, owned by the caller (fxrun sets
 * `requested` from its SIGINT/SIGTERM handler; a handler may do nothing
 * else that is safe). fx_train checks it after every step: it finishes the
 * step, writes the checkpoint (when train.checkpoint is set), sets
 * `stopped` and returns FX_OK. Data parallel (comm set): a request on any
 * rank stops every rank after the same step (the flag travels with the
 * step's loss all-reduce); rank 0 writes the checkpoint. */
typedef struct fx_stop_flag {
    volatile sig_atomic_t requested;
    int stopped;           /* set by fx_train: it stopped early because of `requested` */
    int64_t stopped_step;  /* the steps done when it stopped */
} fx_stop_flag;

typedef struct fx_run_options {
    fx_backend *backend;
    int resume;              /* continue from cfg->train.checkpoint */
    const char *metrics_path;/* JSON lines; NULL = none */
    int progress;            /* draw a progress line (stdout is a terminal) */
    FILE *log;               /* human-readable log; NULL = stdout (unless quiet) */
    int64_t max_steps;       /* override of train.max_steps; 0 = none */
    int epochs;              /* override of train.epochs; 0 = none */
    struct fx_comm *comm;    /* data-parallel training over these ranks (fx/comm.h); NULL = one process */
    fx_stop_flag *stop;      /* graceful stop (see fx_stop_flag); NULL = none */
    int quiet;               /* 1: no log at all (`log` is ignored) */
} fx_run_options;

typedef struct fx_eval_result {
    int64_t examples;
    double accuracy;   /* top-1 on train.predict */
    double loss;       /* mean weighted total loss per batch */
} fx_eval_result;

fx_status fx_train(fx_context *ctx, fx_graph *g, const fx_config *cfg, const fx_run_options *opt);
fx_status fx_evaluate(fx_context *ctx, fx_graph *g, const fx_config *cfg, const fx_run_options *opt,
                      fx_eval_result *result);

#ifdef __cplusplus
}
#endif
#endif
