/* cli/cmd_train.c - `fxrun train`, `fxrun eval`, `fxrun infer`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/cli.h"
#include "fx/batch_feed.h"
#include "fx/opencl.h"

/* --profile on a backend without kernel events: per-layer wall time
 * (fx_graph_set_profiling synchronises after every layer), summed over
 * the run, evaluation forwards included. */
static void print_layer_profile(const fx_graph *g)
{
    double total = 0;
    for (int n = 0; n < fx_graph_node_count(g); n++) {
        double f, b;
        fx_graph_node_time(g, n, &f, &b);
        total += f + b;
    }
    printf("profile (per layer, summed over the run incl. evaluation):\n");
    printf("  %-20s %-22s %12s %12s %6s\n", "layer", "op", "forward ms", "backward ms", "%");
    for (int n = 0; n < fx_graph_node_count(g); n++) {
        const fx_node *node = fx_graph_node_at(g, n);
        double f, b;
        fx_graph_node_time(g, n, &f, &b);
        printf("  %-20s %-22s %12.1f %12.1f %5.1f%%\n", fx_node_name(node), fx_node_op_name(node), f, b,
               total > 0 ? 100.0 * (f + b) / total : 0.0);
    }
}

int cli_cmd_train(fx_context *ctx, const cli_options *o)
{
    fx_graph *g = NULL;
    fx_config cfg;
    if (cli_load(ctx, o, &g, &cfg) != 0)
        return 1;
    fx_backend *be = NULL;
    if (cli_backend(ctx, o, &cfg, &be) != 0) {
        fx_graph_destroy(g);
        return 1;
    }
    fx_run_options ro;
    memset(&ro, 0, sizeof ro);
    ro.backend = be;
    ro.resume = o->resume;
    ro.metrics_path = o->metrics;
    ro.progress = o->progress;
    ro.log = stdout;
    ro.quiet = o->verbose <= 0; /* -q */
    ro.comm = o->rt->comm;
    int rank0 = fx_comm_rank(o->rt->comm) == 0; /* rank 0 alone reports (docs/scaling.md) */
    int rc = 0;
    int kernel_profile = o->profile && !strcmp(be->name, "opencl");
    if (kernel_profile && fx_opencl_set_profiling(be, 1) != FX_OK)
        rc = cli_error(ctx);
    else if (o->profile && !kernel_profile)
        fx_graph_set_profiling(g, 1);
    fx_stop_flag stop;
    memset(&stop, 0, sizeof stop);
    ro.stop = &stop; /* data parallel: fx_train makes the ranks agree on the step */
    cli_stop_signals_install(&stop);
    if (rc == 0 && fx_train(ctx, g, &cfg, &ro) != FX_OK)
        rc = cli_error(ctx);
    if (ro.stop)
        cli_stop_signals_remove();
    if (rc == 0 && stop.stopped) {
        if (rank0)
            fprintf(stderr, "fxrun: stopped by a signal after step %lld%s\n", (long long)stop.stopped_step,
                    cfg.train.checkpoint[0] ? "; the checkpoint is written" : "");
        o->rt->stopped = 1;
        rc = 130; /* as a shell reports an interrupted command */
    }
    if (rc == 0 && rank0 && kernel_profile && fx_opencl_profile_report(be, stdout, 0) != FX_OK)
        rc = cli_error(ctx);
    else if (rc == 0 && rank0 && o->profile && !kernel_profile)
        print_layer_profile(g);
    if (rc == 0 && rank0 && cfg.train.checkpoint[0] && o->verbose > 0)
        printf("checkpoint: %s\n", cfg.train.checkpoint);
    fx_graph_destroy(g);
    return rc;
}

int cli_cmd_eval(fx_context *ctx, const cli_options *o)
{
    fx_graph *g = NULL;
    fx_config cfg;
    if (cli_load(ctx, o, &g, &cfg) != 0)
        return 1;
    fx_backend *be = NULL;
    int rc = cli_backend(ctx, o, &cfg, &be);
    if (rc == 0 && !cfg.train.checkpoint[0]) {
        fprintf(stderr, "fxrun: %s: eval needs trained weights: set train.checkpoint or pass --checkpoint FILE\n",
                cfg.path);
        rc = 1;
    }
    fx_run_options ro;
    memset(&ro, 0, sizeof ro);
    ro.backend = be;
    fx_eval_result res;
    if (rc == 0 && fx_evaluate(ctx, g, &cfg, &ro, &res) != FX_OK)
        rc = cli_error(ctx);
    if (rc == 0)
        printf("eval '%s': %lld images, accuracy %.2f%%, loss %.4f\n", fx_graph_name(g), (long long)res.examples,
               100.0 * res.accuracy, res.loss);
    fx_graph_destroy(g);
    return rc;
}

int cli_cmd_infer(fx_context *ctx, const cli_options *o)
{
    if (o->n_feed > 0 || o->n_fetch > 0)
        return cli_cmd_run_feeds(ctx, o, 1);
    /* Predictions over the test set: index,label,predicted. */
    fx_graph *g = NULL;
    fx_config cfg;
    if (cli_load(ctx, o, &g, &cfg) != 0)
        return 1;
    fx_backend *be = NULL;
    int rc = cli_backend(ctx, o, &cfg, &be);
    if (rc == 0 && !cfg.train.checkpoint[0]) {
        fprintf(stderr, "fxrun: %s: infer needs trained weights: set train.checkpoint or pass --checkpoint FILE\n",
                cfg.path);
        rc = 1;
    }
    /* --output is written to a temporary file renamed over the target at
     * the end, so a failed run never leaves half a prediction file; a
     * device or a pipe (not a regular file) is written directly. */
    FILE *out = stdout;
    char tmp[4200] = "";
    if (rc == 0 && o->output) {
        struct stat sb;
        int special = stat(o->output, &sb) == 0 && !S_ISREG(sb.st_mode);
        if (special)
            snprintf(tmp, sizeof tmp, "%s", o->output);
        else
            snprintf(tmp, sizeof tmp, "%s.tmp.%ld", o->output, (long)getpid());
        out = fopen(tmp, "w");
        if (!out) {
            fprintf(stderr, "fxrun: --output %s: cannot create %s: %s\n", o->output, tmp, strerror(errno));
            rc = 1;
        }
        if (special)
            tmp[0] = 0;
    }
    fx_dataset *ds = NULL;
    const fx_data_source *src = cfg.data.test.kind != FX_DATA_NONE ? &cfg.data.test : &cfg.data.train;
    if (rc == 0 && fx_dataset_open(ctx, src, &cfg.data, &ds) != FX_OK)
        rc = cli_error(ctx);
    const char *pred = cfg.train.predict;
    if (rc == 0 && !pred[0]) {
        fprintf(stderr, "fxrun: %s: set train.predict to the value holding class scores\n", cfg.path);
        rc = 1;
    }
    int batch = cfg.train.batch;
    if (rc == 0 && (fx_graph_keep(g, pred) != FX_OK || fx_graph_plan(g, batch, FX_MODE_INFER, be) != FX_OK))
        rc = cli_error(ctx);
    fx_checkpoint_meta meta;
    if (rc == 0 && fx_checkpoint_load(ctx, cfg.train.checkpoint, g, NULL, &meta) != FX_OK)
        rc = cli_error(ctx);
    if (rc == 0)
        cli_note_checkpoint_graph(cfg.train.checkpoint, &meta, g);
    fx_batch_feed *feed = NULL;
    fx_batch_feed_options fo = { .loader = { .batch = batch, .shuffle = 0, .augment = 0, .drop_last = 0,
                                             .seed = cfg.train.seed },
                                 .labels = 0, .what = "inference" };
    if (rc == 0 && (fx_batch_feed_open(g, &cfg, ds, &fo, &feed) != FX_OK || fx_batch_feed_start_epoch(feed, 0) != FX_OK))
        rc = cli_error(ctx);
    fx_tensor *scores = rc == 0 ? fx_graph_value(g, pred) : NULL;
    if (rc == 0 && (!scores || scores->shape.ndim != 2)) {
        fprintf(stderr, "fxrun: %s: '%s' must be an input and '%s' a [batch, classes] value\n", cfg.path,
                cfg.data.image_input, pred);
        rc = 1;
    }
    if (rc == 0 && scores->shape.dim[1] > fx_dataset_classes(ds)) {
        fprintf(stderr, "fxrun: %s: '%s' gives %lld class scores but the data set has %d classes, so some "
                "predictions would have no class name; check train.predict and the data\n", cfg.path, pred,
                (long long)scores->shape.dim[1], fx_dataset_classes(ds));
        rc = 1;
    }
    float *sbuf = NULL;
    if (rc == 0) {
        sbuf = malloc(fx_tensor_bytes(scores));
        if (!sbuf) {
            fprintf(stderr, "fxrun: out of memory\n");
            rc = 1;
        }
    }
    if (rc == 0)
        fprintf(out, "index,label,predicted,score\n");
    long long index = 0;
    int64_t classes = scores ? scores->shape.dim[1] : 0;
    while (rc == 0) {
        int count = 0;
        if (fx_batch_feed_next(feed, &count) != FX_OK) {
            rc = cli_error(ctx);
            break;
        }
        if (count == 0)
            break;
        if (fx_batch_feed_upload(feed) != FX_OK || fx_graph_forward(g) != FX_OK ||
            fx_tensor_download(scores, sbuf) != FX_OK) {
            rc = cli_error(ctx);
            break;
        }
        const int32_t *lbuf = fx_batch_feed_labels(feed);
        for (int b = 0; b < count; b++, index++) {
            const float *row = sbuf + b * classes;
            int64_t best = 0;
            for (int64_t c = 1; c < classes; c++)
                if (row[c] > row[best])
                    best = c;
            fprintf(out, "%lld,%s,%s,%.6g\n", index, fx_dataset_class_name(ds, lbuf[b]),
                    fx_dataset_class_name(ds, (int)best), row[best]);
        }
    }
    free(sbuf);
    fx_batch_feed_close(feed);
    fx_dataset_close(ds);
    if (out && out != stdout) {
        int write_failed = fflush(out) != 0 || ferror(out) || (tmp[0] && fsync(fileno(out)) != 0);
        int err = errno;
        if (fclose(out) != 0 && !write_failed) {
            write_failed = 1;
            err = errno;
        }
        if (rc == 0 && write_failed) {
            fprintf(stderr, "fxrun: --output %s: writing failed: %s; the file was not changed\n", o->output,
                    strerror(err));
            rc = 1;
        }
        if (rc == 0 && tmp[0] && rename(tmp, o->output) != 0) {
            fprintf(stderr, "fxrun: --output %s: cannot rename %s to it: %s\n", o->output, tmp, strerror(errno));
            rc = 1;
        }
        if (rc != 0 && tmp[0])
            remove(tmp);
    }
    fx_graph_destroy(g);
    return rc;
}
