/* core/train/data_parallel.h - what fx_train needs to train data-parallel over
 * a communicator (core/train/data_parallel.c; docs/scaling.md). Private;
 * declares only public types, so train.c stays on the public API. */
#ifndef FX_CORE_DATA_PARALLEL_H
#define FX_CORE_DATA_PARALLEL_H

#include "fx/fx.h"
#include "fx/comm.h"

typedef struct fx_dp fx_dp;

/* Checks train.batch against the number of ranks, sets the graph's batch
 * offset (and statistics communicator with train.sync_bn) and prepares
 * the gradient buckets' host staging; *local_batch = train.batch / N.
 * comm NULL or of size 1: nothing is reduced and *local_batch =
 * train.batch. The graph is not planned yet. */
fx_status fx_dp_create(fx_context *ctx, fx_graph *g, const fx_config *cfg, fx_comm *comm, int *local_batch,
                       fx_dp **out);
/* After planning (and loading a checkpoint): checks the backend supports
 * what was asked (sync_bn), allocates the staging buffer and copies rank
 * 0's parameters and state to every rank, so all start identical. */
fx_status fx_dp_start(fx_dp *dp);
void fx_dp_destroy(fx_dp *dp);
int fx_dp_active(const fx_dp *dp); /* more than one rank */
int fx_dp_rank(const fx_dp *dp);
int fx_dp_size(const fx_dp *dp); /* 1 when not active */

/* After backward: every learnable parameter's gradient becomes the mean
 * over the ranks (bucketed MPI_Iallreduce through host staging; buckets
 * start during backward, fx_dp_start hooks the graph; this waits). */
fx_status fx_dp_allreduce_gradients(fx_dp *dp);
/* Averages the non-learnable state (BN running statistics) over the
 * ranks: before an evaluation and before a checkpoint. */
fx_status fx_dp_average_state(fx_dp *dp);
/* Sums values[0..n) over the ranks in place (metrics). */
fx_status fx_dp_sum(fx_dp *dp, double *values, int n);
/* Seconds spent in gradient all-reduces (waits and staging) and their
 * count (steps). */
double fx_dp_gradient_seconds(const fx_dp *dp);
int64_t fx_dp_gradient_steps(const fx_dp *dp);
size_t fx_dp_staged_bytes(const fx_dp *dp);
/* Buckets whose all-reduce started during backward (as soon as their
 * gradients were final) and buckets started in all, since creation. */
void fx_dp_overlap(const fx_dp *dp, int64_t *early, int64_t *total);

#endif
