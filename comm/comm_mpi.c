/* comm/comm_mpi.c - the Open MPI transport of fx/comm.h: MPI_COMM_WORLD,
 * sums with MPI_Allreduce / MPI_Iallreduce (in place), MPI_Bcast,
 * MPI_Barrier, MPI_Abort. Built only with -DFX_MPI=ON/AUTO (CMake finds
 * MPI's C bindings); comm_mpi_unavailable.c stands in otherwise, so a
 * libfx built without MPI never needs libmpi.
 *
 * MPI is initialised with MPI_THREAD_FUNNELED: only the thread that
 * trains calls MPI (the loader and CPU thread pool never do). Errors
 * return codes (MPI_ERRORS_RETURN) so the message reaches the user with
 * the rank; a peer that vanishes is noticed by mpirun, which ends the
 * job and names the rank. */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include "fx/comm.h"

typedef struct mpi_state {
    int finalize; /* we initialised MPI, so we finalise it */
} mpi_state;

static fx_status mpi_error(int code, const char *call, char *err, size_t err_size)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "error code %d", code);
    snprintf(err, err_size, "%s failed: %s", call, text);
    return FX_ERR_BACKEND;
}

/* MPI counts are int: longer buffers go in pieces. */
static fx_status mpi_allreduce(void *buf, int64_t count, MPI_Datatype type, size_t elem, char *err, size_t err_size)
{
    char *p = buf;
    while (count > 0) {
        int n = count > INT_MAX ? INT_MAX : (int)count;
        int rc = MPI_Allreduce(MPI_IN_PLACE, p, n, type, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_error(rc, "MPI_Allreduce", err, err_size);
        p += (size_t)n * elem;
        count -= n;
    }
    return FX_OK;
}

static fx_status mpi_allreduce_f32(void *impl, float *buf, int64_t count, char *err, size_t err_size)
{
    return mpi_allreduce(buf, count, MPI_FLOAT, sizeof(float), err, err_size);
}

static fx_status mpi_allreduce_f64(void *impl, double *buf, int64_t count, char *err, size_t err_size)
{
    return mpi_allreduce(buf, count, MPI_DOUBLE, sizeof(double), err, err_size);
}

static fx_status mpi_start_f32(void *impl, float *buf, int64_t count, void **request, char *err, size_t err_size)
{
    *request = NULL;
    if (count > INT_MAX) {
        snprintf(err, err_size, "a started all-reduce of %lld floats exceeds MPI's int count; use smaller buckets",
                 (long long)count);
        return FX_ERR_INVALID;
    }
    MPI_Request *req = malloc(sizeof *req);
    if (!req) {
        snprintf(err, err_size, "out of memory for an MPI request");
        return FX_ERR_NOMEM;
    }
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, req);
    if (rc != MPI_SUCCESS) {
        free(req);
        return mpi_error(rc, "MPI_Iallreduce", err, err_size);
    }
    *request = req;
    return FX_OK;
}

static fx_status mpi_wait(void *impl, void *request, char *err, size_t err_size)
{
    MPI_Request *req = request;
    int rc = MPI_Wait(req, MPI_STATUS_IGNORE);
    free(req);
    return rc == MPI_SUCCESS ? FX_OK : mpi_error(rc, "MPI_Wait", err, err_size);
}

static fx_status mpi_broadcast(void *impl, void *buf, size_t bytes, int root, char *err, size_t err_size)
{
    char *p = buf;
    while (bytes > 0) {
        int n = bytes > INT_MAX ? INT_MAX : (int)bytes;
        int rc = MPI_Bcast(p, n, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_error(rc, "MPI_Bcast", err, err_size);
        p += n;
        bytes -= (size_t)n;
    }
    return FX_OK;
}

static fx_status mpi_barrier(void *impl, char *err, size_t err_size)
{
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? FX_OK : mpi_error(rc, "MPI_Barrier", err, err_size);
}

static void mpi_abort(void *impl, int code)
{
    MPI_Abort(MPI_COMM_WORLD, code);
}

static void mpi_destroy(void *impl)
{
    mpi_state *s = impl;
    int finalized = 0;
    if (s && s->finalize && MPI_Finalized(&finalized) == MPI_SUCCESS && !finalized)
        MPI_Finalize();
    free(s);
}

static const fx_comm_ops mpi_ops = {
    .name = "mpi",
    .allreduce_sum_f32 = mpi_allreduce_f32,
    .allreduce_sum_f64 = mpi_allreduce_f64,
    .allreduce_start_f32 = mpi_start_f32,
    .wait = mpi_wait,
    .broadcast = mpi_broadcast,
    .barrier = mpi_barrier,
    .abort = mpi_abort,
    .destroy = mpi_destroy,
};

int fx_comm_mpi_available(void) { return 1; }

fx_status fx_comm_create_mpi(fx_context *ctx, fx_comm **out)
{
    *out = NULL;
    mpi_state *s = fx_calloc(ctx, 1, sizeof *s, "the MPI communicator");
    if (!s)
        return FX_ERR_NOMEM;
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
        int provided = 0;
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            free(s);
            return fx_fail(ctx, FX_ERR_BACKEND, "MPI_Init_thread failed: start fx with mpirun, or check the MPI "
                                                "installation (ompi_info)");
        }
        s->finalize = 1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    fx_status st = fx_comm_create(ctx, &mpi_ops, s, rank, size, out);
    if (st != FX_OK)
        mpi_destroy(s);
    return st;
}
