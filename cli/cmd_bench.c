/* cli/cmd_bench.c - `fxrun bench GRAPH`: times training steps (forward,
 * backward, optimiser update) of a graph on seeded random data, and the
 * time of each layer, printing medians. No pass/fail: a measurement.
 * --profile on OpenCL adds the per-kernel table of the timed steps (from
 * OpenCL events; the per-layer table synchronises after every layer). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "cli/cli.h"
#include "fx/opencl.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int cli_cmd_bench(fx_context *ctx, const cli_options *o)
{
    fx_graph *g = NULL;
    fx_config cfg;
    if (cli_load(ctx, o, &g, &cfg) != 0)
        return 1;
    fx_backend *be = NULL;
    int rc = cli_backend(ctx, o, &cfg, &be);
    int steps = o->steps > 0 ? (int)o->steps : 20;
    int batch = cfg.train.batch;
    fx_optimizer *opt = NULL;
    if (rc == 0 && (fx_graph_plan(g, batch, FX_MODE_TRAIN, be) != FX_OK || fx_optimizer_create(g, &cfg.train, &opt) != FX_OK))
        rc = cli_error(ctx);
    if (rc == 0)
        cli_note_fallback(g);
    /* Seeded data: normal images, labels in [0, classes) of train.predict's scores. */
    fx_rng rng;
    fx_rng_seed(&rng, cfg.train.seed);
    int classes = 2;
    if (rc == 0 && cfg.train.predict[0]) {
        fx_tensor *t = fx_graph_value(g, cfg.train.predict);
        if (t && t->shape.ndim == 2)
            classes = (int)t->shape.dim[1];
    }
    for (int i = 0; rc == 0 && i < fx_graph_input_count(g); i++) {
        fx_tensor *t = fx_graph_value(g, fx_graph_input_name(g, i));
        int64_t n = fx_tensor_numel(t);
        void *buf = malloc((size_t)n * 4);
        if (!buf) {
            fprintf(stderr, "fxrun: out of memory\n");
            rc = 1;
            break;
        }
        for (int64_t k = 0; k < n; k++) {
            if (t->dtype == FX_I32)
                ((int32_t *)buf)[k] = (int32_t)fx_rng_below(&rng, (uint64_t)classes);
            else
                ((float *)buf)[k] = fx_rng_next_normal(&rng);
        }
        if (fx_tensor_upload(t, buf) != FX_OK)
            rc = cli_error(ctx);
        free(buf);
    }
    int warmup = 3;
    double *times = calloc((size_t)steps, sizeof *times);
    if (rc == 0 && !times) {
        fprintf(stderr, "fxrun: out of memory\n");
        rc = 1;
    }
    fx_backend *sync = be;
    int kernel_profile = rc == 0 && o->profile && !strcmp(be->name, "opencl");
    if (kernel_profile && fx_opencl_set_profiling(be, 1) != FX_OK)
        rc = cli_error(ctx);
    for (int s = 0; rc == 0 && s < warmup + steps; s++) {
        if (kernel_profile && s == warmup && fx_opencl_profile_reset(be) != FX_OK) {
            rc = cli_error(ctx);
            break;
        }
        double t0 = now_ms();
        fx_graph_set_step(g, (uint64_t)s);
        if (fx_graph_forward(g) != FX_OK || fx_graph_backward(g) != FX_OK ||
            fx_optimizer_step(opt, cfg.train.lr) != FX_OK || sync->ops->synchronize(sync) != FX_OK) {
            rc = cli_error(ctx);
            break;
        }
        if (s >= warmup)
            times[s - warmup] = now_ms() - t0;
    }
    if (rc == 0) {
        double med = median(times, steps);
        printf("bench '%s' on %s: batch %d, %d steps: median %.2f ms/step (min %.2f, max %.2f), %.1f images/s\n",
               fx_graph_name(g), be->device_name, batch, steps, med, times[0], times[steps - 1],
               1e3 * batch / med);
        /* Planned: the graph's buffers (core/engine/memory_plan.c), the optimiser
         * state and the CPU kernels' shared scratch; peak RSS: what the
         * process held at most so far (libraries and data too). */
        struct rusage ru;
        double rss_mib = getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss / 1024.0 : 0.0;
        fx_memory_report mr;
        if (fx_graph_memory_report(g, &mr) != FX_OK)
            rc = cli_error(ctx);
        int64_t state = 0;
        for (int i = 0; opt && i < fx_optimizer_state_count(opt); i++) {
            fx_tensor *t = fx_optimizer_state_at(opt, i, NULL);
            state += t && t->buffer ? (int64_t)t->buffer->size : 0;
        }
        int64_t scratch = (int64_t)fx_cpu_scratch_bytes(fx_context_cpu_backend(ctx));
        const double mib = 1024.0 * 1024.0;
        int64_t total = mr.values + mr.saved + mr.parameters + mr.parameter_gradients + state + scratch;
        if (rc == 0) {
            printf("memory: planned %.1f MiB, peak RSS %.1f MiB\n", (double)total / mib, rss_mib);
            printf("  planned peak: activations %.1f + gradients %.1f MiB at the busiest step (a buffer each: %.1f); "
                   "held in %d shared buffers %.1f + own %.1f MiB%s\n",
                   (double)mr.peak_activations / mib, (double)mr.peak_gradients / mib, (double)mr.naive / mib,
                   mr.shared_buffers, (double)mr.shared / mib, (double)(mr.values - mr.shared) / mib,
                   mr.reuse ? "" : " (sharing off: FX_MEMORY_REUSE=0)");
            printf("  saved for backward %.1f, parameters %.1f + gradients %.1f + optimiser state %.1f, "
                   "CPU workspace %.1f MiB\n",
                   (double)mr.saved / mib, (double)mr.parameters / mib, (double)mr.parameter_gradients / mib,
                   (double)state / mib, (double)scratch / mib);
        }
        if (kernel_profile && (fx_opencl_profile_report(be, stdout, steps) != FX_OK ||
                               fx_opencl_set_profiling(be, 0) != FX_OK))
            rc = cli_error(ctx);
        /* Per layer, profiled separately (synchronising after each node). */
        fx_graph_set_profiling(g, 1);
        int prof_steps = steps < 10 ? steps : 10;
        double *fwd = calloc((size_t)fx_graph_node_count(g) * (size_t)prof_steps, sizeof *fwd);
        double *bwd = calloc((size_t)fx_graph_node_count(g) * (size_t)prof_steps, sizeof *bwd);
        if (rc == 0 && (!fwd || !bwd)) {
            fprintf(stderr, "fxrun: out of memory\n");
            rc = 1;
        }
        for (int s = 0; s < prof_steps && rc == 0; s++) {
            fx_graph_reset_profile(g);
            if (fx_graph_forward(g) != FX_OK || fx_graph_backward(g) != FX_OK)
                rc = cli_error(ctx);
            for (int n = 0; n < fx_graph_node_count(g); n++)
                fx_graph_node_time(g, n, &fwd[n * prof_steps + s], &bwd[n * prof_steps + s]);
        }
        if (rc == 0) {
            printf("%-20s %-22s %12s %12s\n", "layer", "op", "forward ms", "backward ms");
            for (int n = 0; n < fx_graph_node_count(g); n++) {
                const fx_node *node = fx_graph_node_at(g, n);
                printf("%-20s %-22s %12.3f %12.3f\n", fx_node_name(node), fx_node_op_name(node),
                       median(fwd + n * prof_steps, prof_steps), median(bwd + n * prof_steps, prof_steps));
            }
        }
        free(fwd);
        free(bwd);
    }
    free(times);
    fx_optimizer_destroy(opt);
    fx_graph_destroy(g);
    return rc;
}
