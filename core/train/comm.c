/* core/train/comm.c - the communicator seam (fx/comm.h): the handle that wraps
 * a transport's table of collectives, time accounting, and the
 * single-process transport ("local": size 1, every collective the
 * identity). The MPI transport lives in comm/comm_mpi.c. The graph's side
 * (fx_graph_set_data_parallel, fx_node_batch_comm/offset) lives with the
 * graph, in core/engine/executor.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fx/fx.h"

struct fx_comm {
    fx_context *ctx;
    const fx_comm_ops *ops;
    void *impl;
    int rank, size;
    double seconds; /* in collectives (blocking calls and waits) */
    int64_t calls;
};

/* ---- the single-process transport ---- */

/* A started local collective has nothing to wait for; any non-NULL
 * pointer will do as its handle. */
static char local_request_token;

static fx_status local_allreduce_f32(void *impl, float *buf, int64_t count, char *err, size_t err_size)
{
    return FX_OK;
}

static fx_status local_allreduce_f64(void *impl, double *buf, int64_t count, char *err, size_t err_size)
{
    return FX_OK;
}

static fx_status local_start_f32(void *impl, float *buf, int64_t count, void **request, char *err, size_t err_size)
{
    *request = &local_request_token;
    return FX_OK;
}

static fx_status local_wait(void *impl, void *request, char *err, size_t err_size) { return FX_OK; }
static fx_status local_broadcast(void *impl, void *buf, size_t bytes, int root, char *err, size_t err_size)
{
    return FX_OK;
}
static fx_status local_barrier(void *impl, char *err, size_t err_size) { return FX_OK; }
static void local_abort(void *impl, int code) { exit(code); }
static void local_destroy(void *impl) {}

static const fx_comm_ops local_ops = {
    .name = "local",
    .allreduce_sum_f32 = local_allreduce_f32,
    .allreduce_sum_f64 = local_allreduce_f64,
    .allreduce_start_f32 = local_start_f32,
    .wait = local_wait,
    .broadcast = local_broadcast,
    .barrier = local_barrier,
    .abort = local_abort,
    .destroy = local_destroy,
};

/* ---- the handle ---- */

fx_status fx_comm_create(fx_context *ctx, const fx_comm_ops *ops, void *impl, int rank, int size, fx_comm **out)
{
    *out = NULL;
    if (!ops || !ops->allreduce_sum_f32 || !ops->allreduce_sum_f64 || !ops->allreduce_start_f32 || !ops->wait ||
        !ops->broadcast || !ops->barrier || !ops->abort || !ops->destroy)
        return fx_fail(ctx, FX_ERR_INVALID, "fx_comm_create: the transport '%s' leaves a function of fx_comm_ops unset",
                       ops && ops->name ? ops->name : "?");
    if (size < 1 || rank < 0 || rank >= size)
        return fx_fail(ctx, FX_ERR_INVALID, "fx_comm_create: rank %d of %d is not a valid rank", rank, size);
    fx_comm *c = fx_calloc(ctx, 1, sizeof *c, "a communicator");
    if (!c)
        return FX_ERR_NOMEM;
    c->ctx = ctx;
    c->ops = ops;
    c->impl = impl;
    c->rank = rank;
    c->size = size;
    *out = c;
    return FX_OK;
}

fx_status fx_comm_create_local(fx_context *ctx, fx_comm **out)
{
    return fx_comm_create(ctx, &local_ops, NULL, 0, 1, out);
}

void fx_comm_destroy(fx_comm *comm)
{
    if (!comm)
        return;
    comm->ops->destroy(comm->impl);
    free(comm);
}

int fx_comm_launched_by_mpi(void)
{
    /* Open MPI (and PMIx launchers) and MPICH/Hydra (PMI). */
    static const char *const vars[] = { "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", NULL };
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}

int fx_comm_rank(const fx_comm *comm) { return comm ? comm->rank : 0; }
int fx_comm_size(const fx_comm *comm) { return comm ? comm->size : 1; }
const char *fx_comm_name(const fx_comm *comm) { return comm ? comm->ops->name : "local"; }
double fx_comm_seconds(const fx_comm *comm) { return comm ? comm->seconds : 0; }
int64_t fx_comm_calls(const fx_comm *comm) { return comm ? comm->calls : 0; }

/* Records the transport's message as the context's error, naming the rank. */
static fx_status comm_result(fx_comm *comm, fx_status st, const char *what, const char *err, double t0)
{
    comm->seconds += fx_now_seconds() - t0;
    comm->calls++;
    if (st == FX_OK)
        return FX_OK;
    return fx_fail(comm->ctx, st, "rank %d of %d: %s (%s): %s", comm->rank, comm->size, what, comm->ops->name,
                   err[0] ? err : "failed");
}

fx_status fx_comm_allreduce_sum(fx_comm *comm, float *buf, int64_t count)
{
    char err[512] = "";
    double t0 = fx_now_seconds();
    fx_status st = comm->ops->allreduce_sum_f32(comm->impl, buf, count, err, sizeof err);
    return comm_result(comm, st, "all-reduce", err, t0);
}

fx_status fx_comm_allreduce_sum_f64(fx_comm *comm, double *buf, int64_t count)
{
    char err[512] = "";
    double t0 = fx_now_seconds();
    fx_status st = comm->ops->allreduce_sum_f64(comm->impl, buf, count, err, sizeof err);
    return comm_result(comm, st, "all-reduce", err, t0);
}

fx_status fx_comm_allreduce_sum_start(fx_comm *comm, float *buf, int64_t count, fx_comm_request **request)
{
    char err[512] = "";
    void *handle = NULL;
    *request = NULL;
    double t0 = fx_now_seconds();
    fx_status st = comm->ops->allreduce_start_f32(comm->impl, buf, count, &handle, err, sizeof err);
    comm->calls--; /* counted once, at the wait */
    st = comm_result(comm, st, "starting an all-reduce", err, t0);
    if (st == FX_OK)
        *request = (fx_comm_request *)handle;
    return st;
}

fx_status fx_comm_wait(fx_comm *comm, fx_comm_request *request)
{
    char err[512] = "";
    double t0 = fx_now_seconds();
    fx_status st = request ? comm->ops->wait(comm->impl, request, err, sizeof err) : FX_OK;
    return comm_result(comm, st, "waiting for an all-reduce", err, t0);
}

fx_status fx_comm_broadcast(fx_comm *comm, void *buf, size_t bytes, int root)
{
    char err[512] = "";
    if (root < 0 || root >= comm->size)
        return fx_fail(comm->ctx, FX_ERR_INVALID, "broadcast from rank %d, but there are %d ranks", root, comm->size);
    double t0 = fx_now_seconds();
    fx_status st = comm->ops->broadcast(comm->impl, buf, bytes, root, err, sizeof err);
    return comm_result(comm, st, "broadcast", err, t0);
}

fx_status fx_comm_barrier(fx_comm *comm)
{
    char err[512] = "";
    double t0 = fx_now_seconds();
    fx_status st = comm->ops->barrier(comm->impl, err, sizeof err);
    return comm_result(comm, st, "barrier", err, t0);
}

void fx_comm_abort(fx_comm *comm, int code, const char *message)
{
    if (comm && comm->size > 1)
        fprintf(stderr, "fx: rank %d of %d: %s\n", comm->rank, comm->size, message ? message : "aborting");
    else
        fprintf(stderr, "fx: %s\n", message ? message : "aborting");
    fflush(stderr);
    fflush(stdout);
    if (comm)
        comm->ops->abort(comm->impl, code ? code : 1);
    exit(code ? code : 1);
}
