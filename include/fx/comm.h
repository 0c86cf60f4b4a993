/* fx/comm.h - communicators: the group of processes ("ranks") that train
 * one model together, data-parallel (docs/scaling.md).
 *
 * A communicator is a small table of collective operations (fx_comm_ops)
 * behind an opaque handle, so the training loop and the kernels that need
 * batch-wide statistics (train.sync_bn) never name a transport. fx ships
 * two: the single-process one (size 1, every collective the identity) and
 * Open MPI (fx_comm_create_mpi, in builds with -DFX_MPI=ON/AUTO). Another
 * transport is a fx_comm_ops filled by the program (fx_comm_create).
 *
 * Every collective is called by every rank of the communicator in the
 * same order with the same sizes (the MPI rule). A failure is reported
 * in the calling rank's context; the usual reaction is fx_comm_abort,
 * which ends every rank (a peer blocked in a collective would wait
 * forever otherwise). */
#ifndef FX_COMM_H
#define FX_COMM_H

#include <stddef.h>
#include <stdint.h>
#include "fx/context.h"
#include "fx/graph.h"
#include "fx/op.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fx_comm fx_comm;
/* A started, not yet waited-for collective (fx_comm_allreduce_sum_start). */
typedef struct fx_comm_request fx_comm_request;

/* A transport. `impl` is the transport's own state; every function
 * returns FX_OK or a status with a message written to err (err_size
 * bytes). Requests are the transport's handles (void *). */
typedef struct fx_comm_ops {
    const char *name; /* "local", "mpi" */
    fx_status (*allreduce_sum_f32)(void *impl, float *buf, int64_t count, char *err, size_t err_size);
    fx_status (*allreduce_sum_f64)(void *impl, double *buf, int64_t count, char *err, size_t err_size);
    fx_status (*allreduce_start_f32)(void *impl, float *buf, int64_t count, void **request, char *err,
                                     size_t err_size);
    fx_status (*wait)(void *impl, void *request, char *err, size_t err_size);
    fx_status (*broadcast)(void *impl, void *buf, size_t bytes, int root, char *err, size_t err_size);
    fx_status (*barrier)(void *impl, char *err, size_t err_size);
    /* Ends every rank with `code`; does not return when it works. */
    void (*abort)(void *impl, int code);
    void (*destroy)(void *impl);
} fx_comm_ops;

/* A communicator over a transport (ops must outlive it; impl is owned:
 * ops->destroy frees it). */
fx_status fx_comm_create(fx_context *ctx, const fx_comm_ops *ops, void *impl, int rank, int size, fx_comm **out);
/* The single process: size 1, rank 0, collectives are the identity. */
fx_status fx_comm_create_local(fx_context *ctx, fx_comm **out);
/* Open MPI's MPI_COMM_WORLD. Initialises MPI (MPI_Init_thread, FUNNELED)
 * unless the program already did; fx_comm_destroy finalises it only then.
 * FX_ERR_UNSUPPORTED in builds without MPI. */
fx_status fx_comm_create_mpi(fx_context *ctx, fx_comm **out);
/* 1 when this build has the MPI transport (fx_comm_create_mpi can work). */
int fx_comm_mpi_available(void);
/* 1 when this process was started by mpirun/mpiexec (Open MPI, MPICH or
 * PMIx environment variables), whatever the build. */
int fx_comm_launched_by_mpi(void);
void fx_comm_destroy(fx_comm *comm);

int fx_comm_rank(const fx_comm *comm);
int fx_comm_size(const fx_comm *comm);
const char *fx_comm_name(const fx_comm *comm);

/* buf[0..count) = the element-wise sum of every rank's buf (in place). */
fx_status fx_comm_allreduce_sum(fx_comm *comm, float *buf, int64_t count);
fx_status fx_comm_allreduce_sum_f64(fx_comm *comm, double *buf, int64_t count);
/* Starts the same sum without waiting (MPI_Iallreduce); buf must stay
 * untouched until fx_comm_wait returns. *request is freed by the wait. */
fx_status fx_comm_allreduce_sum_start(fx_comm *comm, float *buf, int64_t count, fx_comm_request **request);
fx_status fx_comm_wait(fx_comm *comm, fx_comm_request *request);
/* Copies root's buf[0..bytes) to every rank. */
fx_status fx_comm_broadcast(fx_comm *comm, void *buf, size_t bytes, int root);
fx_status fx_comm_barrier(fx_comm *comm);
/* Prints "fx: rank R of N: <message>" to stderr, flushes, and ends every
 * rank with exit status `code` (MPI_Abort). The single-process
 * communicator exits the process. Does not return. For programs (fxrun),
 * never called inside libfx. */
void fx_comm_abort(fx_comm *comm, int code, const char *message) __attribute__((noreturn));

/* Seconds spent in collectives and their count since creation (for the
 * profile and docs/scaling.md's measurements). */
double fx_comm_seconds(const fx_comm *comm);
int64_t fx_comm_calls(const fx_comm *comm);

/* Data parallelism inside a graph. batch_offset: how many examples of
 * the global batch come before this rank's share (rank * per-rank batch),
 * so per-example random draws (dropout) equal the single process's.
 * stats: the communicator over which batch statistics are reduced
 * (train.sync_bn: BatchNorm normalises with the global batch's mean and
 * variance); NULL = each rank's batch statistics are its own. */
void fx_graph_set_data_parallel(fx_graph *g, fx_comm *stats, int64_t batch_offset);
/* For kernels: the graph's statistics communicator (NULL when none) and
 * batch offset. */
fx_comm *fx_node_batch_comm(const fx_node *node);
int64_t fx_node_batch_offset(const fx_node *node);

#ifdef __cplusplus
}
#endif
#endif
