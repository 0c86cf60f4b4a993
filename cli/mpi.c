/* cli/mpi.c - `mpirun -np N fxrun ...`: which rank this process is, the
 * MPI communicator for data-parallel training, and how a failure on one
 * rank ends the whole job (docs/scaling.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"

/* Reads a non-negative integer environment variable; -1 when unset. */
static int env_int(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return -1;
    char *end;
    long x = strtol(v, &end, 10);
    return *end || x < 0 || x > 1 << 24 ? -1 : (int)x;
}

void cli_mpi_launch_rank(int *rank, int *size)
{
    /* Open MPI, then MPICH/Hydra (PMI). */
    int s = env_int("OMPI_COMM_WORLD_SIZE"), r = env_int("OMPI_COMM_WORLD_RANK");
    if (s < 0) {
        s = env_int("PMI_SIZE");
        r = env_int("PMI_RANK");
    }
    *size = s > 0 ? s : 1;
    *rank = s > 0 && r >= 0 && r < s ? r : 0;
}

int cli_mpi_start(fx_context *ctx, const char *task, cli_runtime *rt)
{
    int rank, size;
    cli_mpi_launch_rank(&rank, &size);
    if (size <= 1)
        return 0; /* one process: fx as without MPI (no MPI_Init) */
    if (strcmp(task, "train") != 0) {
        fprintf(stderr, "fxrun: rank %d of %d: `%s` runs in one process; start it without mpirun (training is the "
                        "data-parallel task)\n", rank, size, task);
        return 1;
    }
    if (!fx_comm_mpi_available()) {
        fprintf(stderr, "fxrun: rank %d of %d: started by mpirun with %d processes, but this fxrun was built without "
                        "MPI, so each would train alone; install libopenmpi-dev and rebuild (-DFX_MPI=ON)\n",
                rank, size, size);
        return 1;
    }
    if (fx_comm_create_mpi(ctx, &rt->comm) != FX_OK)
        return cli_error(ctx);
    return 0;
}

int cli_mpi_finish(cli_runtime *rt, int rc)
{
    if (!rt->comm)
        return rc;
    /* A graceful stop: every rank stopped after the same step; wait for
     * rank 0's checkpoint before any rank exits (mpirun ends the job at
     * the first non-zero exit). */
    if (rt->stopped && fx_comm_size(rt->comm) > 1 && fx_comm_barrier(rt->comm) == FX_OK) {
        fx_comm_destroy(rt->comm);
        rt->comm = NULL;
        return rc;
    }
    if (rc != 0 && fx_comm_size(rt->comm) > 1)
        /* A peer may be waiting in a collective for this rank: end them
         * all. The error was printed with this rank's number. */
        fx_comm_abort(rt->comm, rc, "ending every rank (MPI_Abort)");
    fx_comm_destroy(rt->comm);
    rt->comm = NULL;
    return rc;
}
