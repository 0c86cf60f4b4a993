/* bench/conv_time.c - fx_bench_conv: the CPU time of one conv2d node's
 * forward and backward pass (input and weight gradients, bias gradient)
 * alone, on the CPU backend: a graph of just the conv (input x needs a
 * gradient, the output's gradient is seeded with random values), planned
 * for training at batch N. Each pass is timed by the process's CPU clock
 * (CLOCK_PROCESS_CPUTIME_ID), which a busy shared machine disturbs much
 * less than wall time; with 1 thread that clock counts the pass's own
 * work. Prints the medians of REPS runs (after one warm-up run) in ms and
 * as effective GFLOP/s counted as direct-conv FLOPs (forward 2 N O C kh kw
 * P, backward twice that), the least CPU time of the REPS runs (on a
 * loaded machine the least disturbed estimate: a busy sibling hyperthread
 * or a cold cache only ever adds time), and the wall-clock medians.
 *
 * Usage: fx_bench_conv C H O KERNEL STRIDE N [REPS] [THREADS]
 *   (square H x H input, padding same; bench/conv_stride2.sh runs it) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fx/fx.h"

static double clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int fail(fx_context *ctx, const char *what)
{
    fprintf(stderr, "fx_bench_conv: %s: %s\n", what, ctx ? fx_context_error(ctx) : "");
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: fx_bench_conv C H O KERNEL STRIDE N [REPS] [THREADS]\n");
        return 2;
    }
    long c = atol(argv[1]), h = atol(argv[2]), o = atol(argv[3]), k = atol(argv[4]), s = atol(argv[5]);
    long n = atol(argv[6]);
    int reps = argc > 7 ? atoi(argv[7]) : 5;
    int threads = argc > 8 ? atoi(argv[8]) : 1;
    if (c <= 0 || h <= 0 || o <= 0 || k <= 0 || s <= 0 || n <= 0 || reps <= 0 || reps > 1000 || threads < 0) {
        fprintf(stderr, "fx_bench_conv: C H O KERNEL STRIDE N must be positive, REPS in 1..1000\n");
        return 2;
    }
    fx_context_options opt = fx_context_options_default();
    opt.threads = threads;
    fx_context *ctx = NULL;
    char err[256];
    if (fx_context_create(&opt, &ctx, err, sizeof err) != FX_OK) {
        fprintf(stderr, "fx_bench_conv: %s\n", err);
        return 1;
    }
    fx_graph *g = NULL;
    int rc = 0;
    char ob[32], kb[32], sb[32];
    snprintf(ob, sizeof ob, "%ld", o);
    snprintf(kb, sizeof kb, "%ld", k);
    snprintf(sb, sizeof sb, "%ld", s);
    const char *oi[] = { ob }, *ki[] = { kb }, *si[] = { sb }, *pi[] = { "same" };
    fx_attr_input attrs[] = {
        { "out_channels", oi, 1, 0, { NULL, 0, 0 } },
        { "kernel", ki, 1, 0, { NULL, 0, 0 } },
        { "stride", si, 1, 0, { NULL, 0, 0 } },
        { "padding", pi, 1, 0, { NULL, 0, 0 } },
    };
    const char *inputs[] = { "x" };
    fx_node_desc d;
    memset(&d, 0, sizeof d);
    d.name = "conv";
    d.op = "conv2d";
    d.inputs = inputs;
    d.n_inputs = 1;
    d.attrs = attrs;
    d.n_attrs = 4;
    fx_shape per = fx_shape_make(3, (int64_t[]){ c, h, h });
    fx_srcpos pos = { NULL, 0, 0 };
    if (fx_graph_create(ctx, "conv-bench", &g) != FX_OK || fx_graph_add_input(g, "x", FX_F32, &per, pos) != FX_OK ||
        fx_graph_add_node(g, &d) != FX_OK || fx_graph_require_grad(g, "x") != FX_OK ||
        fx_graph_plan(g, n, FX_MODE_TRAIN, NULL) != FX_OK) {
        rc = fail(ctx, "building the graph");
        goto done;
    }
    fx_tensor *x = fx_graph_value(g, "x"), *y = fx_graph_value(g, "conv");
    int64_t nx = fx_tensor_numel(x), ny = fx_tensor_numel(y);
    float *buf = malloc(sizeof(float) * (size_t)(nx > ny ? nx : ny));
    if (!buf) {
        rc = fail(NULL, "out of memory");
        goto done;
    }
    fx_rng rng;
    fx_rng_seed(&rng, 7);
    for (int64_t i = 0; i < nx; i++)
        buf[i] = fx_rng_next_normal(&rng);
    if (fx_tensor_upload(x, buf) != FX_OK) {
        free(buf);
        rc = fail(ctx, "uploading x");
        goto done;
    }
    for (int64_t i = 0; i < ny; i++)
        buf[i] = fx_rng_next_normal(&rng);
    double *t = malloc(sizeof(double) * 4 * (size_t)reps);
    if (!t) {
        free(buf);
        rc = fail(NULL, "out of memory");
        goto done;
    }
    for (int r = -1; r < reps; r++) {
        double c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_ms(CLOCK_MONOTONIC);
        fx_status st = fx_graph_forward(g);
        double c1 = clock_ms(CLOCK_PROCESS_CPUTIME_ID), w1 = clock_ms(CLOCK_MONOTONIC);
        if (st == FX_OK)
            st = fx_graph_seed_grad(g, "conv", buf);
        double c2 = clock_ms(CLOCK_PROCESS_CPUTIME_ID), w2 = clock_ms(CLOCK_MONOTONIC);
        if (st == FX_OK)
            st = fx_graph_backward(g);
        double c3 = clock_ms(CLOCK_PROCESS_CPUTIME_ID), w3 = clock_ms(CLOCK_MONOTONIC);
        if (st != FX_OK) {
            rc = fail(ctx, "running the conv");
            break;
        }
        if (r >= 0) {
            t[r] = c1 - c0;
            t[reps + r] = c3 - c2;
            t[2 * reps + r] = w1 - w0;
            t[3 * reps + r] = w3 - w2;
        }
    }
    if (rc == 0) {
        int64_t oh = fx_tensor_numel(y) / (n * o);
        double flops = 2.0 * (double)n * (double)o * (double)c * (double)(k * k) * (double)oh;
        double fc = median(t, reps), bc = median(t + reps, reps);   /* median sorts: [0] is the least */
        double fmin = t[0], bmin = t[reps];
        double fw = median(t + 2 * reps, reps), bw = median(t + 3 * reps, reps);
        printf("conv %ld->%ld k%ld s%ld at %ldx%ld, batch %ld, %d threads: forward %.2f ms CPU (%.1f GFLOP/s), "
               "backward %.2f ms CPU (%.1f GFLOP/s); least forward %.2f backward %.2f ms CPU; wall %.2f / %.2f ms\n",
               c, o, k, s, h, h, n, threads, fc, flops / fc / 1e6, bc, 2 * flops / bc / 1e6, fmin, bmin, fw, bw);
    }
    free(t);
    free(buf);
done:
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
    return rc;
}
