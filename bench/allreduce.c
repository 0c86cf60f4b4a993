/* bench/allreduce.c - fx_bench_allreduce: the time to average a gradient
 * of COUNT floats over the ranks of `mpirun -np N`, through fx/comm.h as
 * training does: one blocking all-reduce of the whole buffer, and the
 * bucketed form of core/train/data_parallel.c (4 MiB buckets started one after
 * the other, then waited for). Prints the median of ITERS runs (after 2
 * warm-up runs) in ms and the bus bandwidth 2 (N-1)/N * bytes / time (the
 * bytes each rank sends and receives in a ring all-reduce) on rank 0.
 * Usage: mpirun -np N fx_bench_allreduce COUNT [ITERS]   (bench/allreduce.sh) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "fx/fx.h"

#define BUCKET (1 << 20)

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long long count = argc > 1 ? atoll(argv[1]) : 0;
    int iters = argc > 2 ? atoi(argv[2]) : 20;
    if (count <= 0 || iters <= 0) {
        fprintf(stderr, "usage: mpirun -np N fx_bench_allreduce COUNT [ITERS]\n");
        return 2;
    }
    char err[512];
    fx_context_options co = fx_context_options_default();
    co.threads = 1;
    fx_context *ctx = NULL;
    if (fx_context_create(&co, &ctx, err, sizeof err) != FX_OK) {
        fprintf(stderr, "fx_bench_allreduce: %s\n", err);
        return 1;
    }
    fx_comm *comm = NULL;
    if (fx_comm_create_mpi(ctx, &comm) != FX_OK) {
        fprintf(stderr, "fx_bench_allreduce: %s\n", fx_context_error(ctx));
        return 1;
    }
    float *buf = malloc((size_t)count * sizeof(float));
    double *t_whole = malloc((size_t)iters * sizeof(double)), *t_bucket = malloc((size_t)iters * sizeof(double));
    fx_comm_request **req = malloc(((size_t)count / BUCKET + 1) * sizeof *req);
    if (!buf || !t_whole || !t_bucket || !req) {
        fprintf(stderr, "fx_bench_allreduce: out of memory\n");
        fx_comm_abort(comm, 1, "out of memory");
    }
    for (long long i = 0; i < count; i++)
        buf[i] = (float)(i % 7) * 0.125f;
    for (int it = -2; it < iters; it++) {
        fx_comm_barrier(comm);
        double t0 = seconds();
        if (fx_comm_allreduce_sum(comm, buf, count) != FX_OK)
            fx_comm_abort(comm, 1, fx_context_error(ctx));
        double t1 = seconds();
        fx_comm_barrier(comm);
        double t2 = seconds();
        int n = 0;
        for (long long off = 0; off < count; off += BUCKET)
            if (fx_comm_allreduce_sum_start(comm, buf + off, count - off < BUCKET ? count - off : BUCKET, &req[n++]) !=
                FX_OK)
                fx_comm_abort(comm, 1, fx_context_error(ctx));
        for (int k = 0; k < n; k++)
            if (fx_comm_wait(comm, req[k]) != FX_OK)
                fx_comm_abort(comm, 1, fx_context_error(ctx));
        double t3 = seconds();
        if (it >= 0) {
            t_whole[it] = t1 - t0;
            t_bucket[it] = t3 - t2;
        }
    }
    qsort(t_whole, (size_t)iters, sizeof(double), by_value);
    qsort(t_bucket, (size_t)iters, sizeof(double), by_value);
    int ranks = fx_comm_size(comm);
    double bytes = (double)count * 4.0, factor = 2.0 * (ranks - 1) / ranks;
    if (fx_comm_rank(comm) == 0) {
        double w = t_whole[iters / 2], b = t_bucket[iters / 2];
        printf("allreduce %lld floats (%.1f MB) over %d ranks: whole %.2f ms (bus %.2f GB/s), "
               "4 MiB buckets %.2f ms (bus %.2f GB/s), median of %d\n",
               count, bytes / 1e6, ranks, 1e3 * w, factor * bytes / w / 1e9, 1e3 * b, factor * bytes / b / 1e9, iters);
    }
    free(buf);
    free(t_whole);
    free(t_bucket);
    free(req);
    fx_comm_destroy(comm);
    fx_context_destroy(ctx);
    return 0;
}
