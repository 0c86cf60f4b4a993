/* core/train/train.c - the training and evaluation loops behind `fxrun train`
 * and `fxrun eval`: data -> batches -> forward/backward -> optimiser, with
 * metrics as JSON lines, a progress line on a terminal, periodic
 * checkpoints, and a test-set evaluation after every epoch. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fx/fx.h"
#include "fx/batch_feed.h"
#include "core/train/data_parallel.h"
#include "core/train/stream_dump.h"
#include "core/train/train_metrics.h"

static void format_duration(double s, char *buf, size_t size)
{
    if (!(s >= 0) || s > 1e7)
        snprintf(buf, size, "--");
    else if (s >= 3600)
        snprintf(buf, size, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else if (s >= 60)
        snprintf(buf, size, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, size, "%.0fs", s);
}

/* The training log: printf to `log`, or nothing when it is NULL. */
static void log_say(FILE *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_say(FILE *log, const char *fmt, ...)
{
    if (!log)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(log, fmt, ap);
    va_end(ap);
}

static void log_flush(FILE *log)
{
    if (log)
        fflush(log);
}

/* Checks that the data fits the graph's inputs (images and labels). */
static fx_status check_inputs(fx_context *ctx, fx_graph *g, const fx_config *cfg, fx_dataset *ds,
                              const char *which)
{
    fx_status st = fx_config_check_image_input(ctx, g, cfg, ds, which);
    if (st != FX_OK)
        return st;
    int lab = fx_graph_input_index(g, cfg->data.label_input);
    if (lab < 0)
        return fx_fail(ctx, FX_ERR_INVALID, "%s: data.label names '%s', which is not an input of the graph",
                       cfg->path, cfg->data.label_input);
    if (fx_graph_input_dtype(g, lab) != FX_I32 || fx_graph_input_shape(g, lab).ndim != 0)
        return fx_fail(ctx, FX_ERR_INVALID, "%s: label input '%s' must be a scalar int32 (write `%s: []`)",
                       cfg->path, cfg->data.label_input, cfg->data.label_input);
    return FX_OK;
}

/* After planning: the data set's labels must fit every softmax
 * cross-entropy that reads them, or the first batch holding a label past
 * the logits' width would fail mid-run (after an epoch of work, maybe). */
static fx_status check_classes(fx_context *ctx, fx_graph *g, const fx_config *cfg, const fx_dataset *ds,
                               const char *which)
{
    /* Names compare as the graph's own (fx_node_input_name gives the
     * value's name, never an alias). */
    int lab = fx_graph_input_index(g, cfg->data.label_input);
    const char *label = lab >= 0 ? fx_graph_input_name(g, lab) : NULL;
    int classes = fx_dataset_classes(ds);
    for (int n = 0; label && n < fx_graph_node_count(g); n++) {
        const fx_node *node = fx_graph_node_at(g, n);
        if (strcmp(fx_node_op_name(node), "softmax_cross_entropy") != 0 || fx_node_input_count(node) < 2 ||
            strcmp(fx_node_input_name(node, 1), label) != 0)
            continue;
        const char *logits = fx_node_input_name(node, 0);
        const fx_tensor *t = fx_graph_value(g, logits);
        if (!t || t->shape.ndim != 2 || t->shape.dim[1] >= classes)
            continue;
        const fx_node *producer = fx_graph_value_producer(g, logits);
        const char *layer = producer ? fx_node_name(producer) : logits;
        return fx_fail(ctx, FX_ERR_SHAPE,
                       "%s: the %s data (data.%s) has %d classes (labels 0 to %d), but loss '%s' reads logits "
                       "'%s' of only %lld classes; set out_features of layer '%s' to %d (or give data with "
                       "fewer classes)",
                       cfg->path, which, which, classes, classes - 1,
                       fx_node_name(node), logits, (long long)t->shape.dim[1], layer, classes);
    }
    return FX_OK;
}

static int64_t count_correct(const float *logits, const int32_t *labels, int count, int64_t classes)
{
    int64_t correct = 0;
    for (int b = 0; b < count; b++) {
        const float *row = logits + (int64_t)b * classes;
        int64_t best = 0;
        for (int64_t c = 1; c < classes; c++)
            if (row[c] > row[best])
                best = c;
        correct += best == labels[b];
    }
    return correct;
}

/* A non-finite loss while evaluating (trained weights holding NaN/Inf, or
 * such data) is an error naming the examples and the first bad term, as
 * in training: a mean of NaN printed as a result would hide it. */
static fx_status nonfinite_eval_loss(fx_context *ctx, fx_graph *g, int64_t first, int count, float total)
{
    int bad = -1;
    for (int l = 0; l < fx_graph_loss_count(g) && bad < 0; l++) {
        float v = 0;
        if (fx_graph_loss_value(g, l, &v) == FX_OK && !isfinite(v))
            bad = l;
    }
    return fx_fail(ctx, FX_ERR_INVALID,
                   "evaluating examples %lld to %lld: the loss is %f%s%s%s; the weights or the data hold NaN/Inf "
                   "(retrain from an earlier checkpoint, or check the data)",
                   (long long)first, (long long)(first + count - 1), total, bad >= 0 ? " (loss term '" : "",
                   bad >= 0 ? fx_graph_loss_name(g, bad) : "", bad >= 0 ? "' is not finite)" : "");
}

/* Runs the graph forward over a whole data set (centre crops, no
 * shuffling) in inference behaviour. The graph must be planned with
 * batch `batch`. A final partial batch is padded with copies of its first
 * example; only real examples are counted. Data parallel (dp active):
 * each rank evaluates its share of every global batch and the counts and
 * loss sums are added over the ranks. */
static fx_status evaluate_planned(fx_context *ctx, fx_graph *g, const fx_config *cfg, fx_dataset *ds,
                                  fx_dp *dp, fx_eval_result *res)
{
    memset(res, 0, sizeof *res);
    const char *pred = fx_config_predict_name(g, cfg);
    if (!pred)
        return fx_fail(ctx, FX_ERR_INVALID, "%s: cannot tell which value holds the class scores; set train.predict",
                       cfg->path);
    fx_tensor *scores = fx_graph_value(g, pred);
    if (!scores || scores->shape.ndim != 2)
        return fx_fail(ctx, FX_ERR_INVALID, "%s: train.predict '%s' must be a computed [batch, classes] value",
                       cfg->path, pred);
    int64_t batch = fx_graph_batch(g);
    fx_batch_feed_options fo = { .loader = { .batch = (int)batch, .shuffle = 0, .augment = 0, .drop_last = 0,
                                             .seed = cfg->train.seed },
                                 .shard = fx_dp_rank(dp), .shards = fx_dp_size(dp), .labels = 1, .what = "test" };
    fo.loader.batch *= fx_dp_size(dp); /* data parallel: the global batch, sharded */
    fx_batch_feed *feed = NULL;
    fx_status st = fx_batch_feed_open(g, cfg, ds, &fo, &feed);
    if (st != FX_OK)
        return st;
    int64_t classes = scores->shape.dim[1];
    float *sbuf = fx_malloc(ctx, (size_t)(batch * classes) * sizeof(float), "evaluation scores");
    if (!sbuf)
        st = FX_ERR_NOMEM;
    if (st == FX_OK)
        st = fx_batch_feed_start_epoch(feed, 0);
    int64_t correct = 0, full_batches = 0;
    double loss_sum = 0;
    fx_graph_set_training(g, 0);
    while (st == FX_OK) {
        int count = 0;
        st = fx_batch_feed_next(feed, &count);
        if (st != FX_OK || count == 0)
            break;
        st = fx_batch_feed_upload(feed);
        if (st == FX_OK)
            st = fx_graph_forward(g);
        if (st == FX_OK)
            st = fx_tensor_download(scores, sbuf);
        if (st != FX_OK)
            break;
        correct += count_correct(sbuf, fx_batch_feed_labels(feed), count, classes);
        if (fx_graph_loss_count(g)) {
            float total = 0;
            st = fx_graph_loss_total(g, &total);
            if (st == FX_OK && !isfinite(total))
                st = nonfinite_eval_loss(ctx, g, res->examples, count, total);
            if (st == FX_OK && count == batch) {
                loss_sum += total;
                full_batches++;
            }
        }
        res->examples += count;
    }
    fx_graph_set_training(g, 1);
    free(sbuf);
    fx_batch_feed_close(feed);
    if (st != FX_OK)
        return st;
    if (fx_dp_active(dp)) {
        double sums[4] = { (double)correct, (double)res->examples, loss_sum, (double)full_batches };
        st = fx_dp_sum(dp, sums, 4);
        if (st != FX_OK)
            return st;
        correct = (int64_t)sums[0];
        res->examples = (int64_t)sums[1];
        loss_sum = sums[2];
        full_batches = (int64_t)sums[3];
    }
    res->accuracy = res->examples ? (double)correct / (double)res->examples : 0;
    res->loss = full_batches ? loss_sum / (double)full_batches : NAN;
    return FX_OK;
}

static fx_status open_dataset(fx_context *ctx, const fx_config *cfg, const fx_data_source *src, const char *which,
                              fx_dataset **out)
{
    *out = NULL;
    if (src->kind == FX_DATA_NONE)
        return fx_fail(ctx, FX_ERR_INVALID, "%s: no data.%s set is configured", cfg->path, which);
    fx_status st = fx_dataset_open(ctx, src, &cfg->data, out);
    if (st != FX_OK)
        fx_fail_prefix(ctx, st, "%s: data.%s", cfg->path, which);
    return st;
}

/* Per step: the loss of each loss node into parts[], and, data parallel,
 * the global batch's means (losses) and sums (correct, count) over the
 * ranks, in one all-reduce. */
/* Data parallel: also *stop (a graceful stop was asked for on this rank)
 * becomes 1 on every rank when any rank asked, so all stop after the same
 * step, at no extra collective. */
static fx_status reduce_step(fx_dp *dp, fx_graph *g, float *loss, int64_t *correct, int *count, float *parts,
                             int *stop)
{
    const int n_losses = fx_graph_loss_count(g);
    double v[4 + FX_GRAPH_MAX_LOSSES];
    v[0] = *loss;
    v[1] = (double)*correct;
    v[2] = *count;
    for (int l = 0; l < n_losses; l++) {
        float x = 0;
        fx_status st = fx_graph_loss_value(g, l, &x);
        if (st != FX_OK)
            return st;
        v[3 + l] = x;
    }
    v[3 + n_losses] = *stop;
    if (fx_dp_active(dp)) {
        fx_status st = fx_dp_sum(dp, v, 4 + n_losses);
        if (st != FX_OK)
            return st;
        double ranks = (double)fx_dp_size(dp);
        v[0] /= ranks;
        for (int l = 0; l < n_losses; l++)
            v[3 + l] /= ranks;
    }
    *loss = (float)v[0];
    *correct = (int64_t)v[1];
    *count = (int)v[2];
    for (int l = 0; l < n_losses; l++)
        parts[l] = (float)v[3 + l];
    *stop = v[3 + n_losses] > 0;
    return FX_OK;
}

static void json_number(FILE *f, const char *key, double v)
{
    if (isfinite(v))
        fprintf(f, ",\"%s\":%.6g", key, v);
    else
        fprintf(f, ",\"%s\":null", key);
}

/* Metrics that cannot be written are an error, not a silent loss. */
static fx_status metrics_flush(fx_context *ctx, FILE *metrics, const char *path)
{
    if (fflush(metrics) != 0 || ferror(metrics))
        return fx_fail(ctx, FX_ERR_IO, "%s: writing the metrics failed: %s", path, strerror(errno));
    return FX_OK;
}

/* Before the first step: removes "<checkpoint>.tmp.<pid>" files that runs
 * killed while saving left behind (their process is gone), and checks that
 * the checkpoint's folder takes a new file, so an unwritable folder or a
 * name too long is found now, not at the first save after an epoch. */
static fx_status checkpoint_prepare(fx_context *ctx, const fx_config *cfg, const char *ckpt)
{
    char dir[FX_PATH_MAX], probe[FX_PATH_MAX + 32];
    const char *slash = strrchr(ckpt, '/');
    const char *base = slash ? slash + 1 : ckpt;
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", slash == ckpt ? 1 : (int)(slash - ckpt), ckpt);
    DIR *d = opendir(dir);
    if (d) {
        size_t n = strlen(base);
        for (struct dirent *e; (e = readdir(d)) != NULL;) {
            if (strncmp(e->d_name, base, n) != 0 || strncmp(e->d_name + n, ".tmp.", 5) != 0)
                continue;
            char *end;
            long pid = strtol(e->d_name + n + 5, &end, 10);
            if (*end || pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH)) {
                char stale[FX_PATH_MAX + 300];
                snprintf(stale, sizeof stale, "%s/%s", dir, e->d_name);
                if (unlink(stale) == 0 && fx_context_get_options(ctx)->verbose > 0)
                    fprintf(stderr, "fx: removed %s, left by a run that was killed while saving\n", stale);
            }
        }
        closedir(d);
    }
    snprintf(probe, sizeof probe, "%s.tmp.%ld", ckpt, (long)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return fx_fail(ctx, FX_ERR_IO, "%s: train.checkpoint '%s' cannot be written: creating '%s' fails: %s; "
                       "fix the folder or the name before training", cfg->path, ckpt, probe, strerror(errno));
    close(fd);
    unlink(probe);
    return FX_OK;
}

fx_status fx_train(fx_context *ctx, fx_graph *g, const fx_config *cfg, const fx_run_options *opt)
{
    /* NULL: nothing is logged (quiet, or a rank other than 0). */
    FILE *log = opt->quiet ? NULL : opt->log ? opt->log : stdout;
    /* Nonsense that would otherwise train silently (issue 10). */
    if (fx_graph_loss_count(g) == 0)
        return fx_fail(ctx, FX_ERR_INVALID, "%s: the graph has no losses: section, so there is nothing to train; "
                       "add e.g. `losses: [{op: softmax_cross_entropy, in: [logits, label]}]`", cfg->path);
    if (cfg->train.schedule == FX_SCHEDULE_COSINE && cfg->train.min_lr > cfg->train.lr)
        return fx_fail(ctx, FX_ERR_INVALID, "%s: train.schedule.min_lr %g is above train.lr %g, so the rate would "
                       "climb; set min_lr below lr", cfg->path, cfg->train.min_lr, cfg->train.lr);
    /* Data parallel: rank 0 alone logs, draws progress and writes the
     * metrics and checkpoints (docs/scaling.md). */
    const int rank = fx_comm_rank(opt->comm), ranks = fx_comm_size(opt->comm);
    if (rank > 0)
        log = NULL;
    const int progress = opt->progress && rank == 0;
    fx_dp *dp = NULL;
    int local_batch = cfg->train.batch;
    const fx_train_config *tc = &cfg->train;
    fx_dataset *train_ds = NULL, *test_ds = NULL;
    fx_optimizer *optimizer = NULL;
    fx_batch_feed *feed = NULL;
    fx_stream_dump *dump = NULL; /* FX_DUMP_STREAM (core/train/stream_dump.c) */
    FILE *metrics = NULL;
    float *sbuf = NULL;
    fx_status st = open_dataset(ctx, cfg, &cfg->data.train, "train", &train_ds);
    if (st == FX_OK && cfg->data.test.kind != FX_DATA_NONE)
        st = open_dataset(ctx, cfg, &cfg->data.test, "test", &test_ds);
    if (st == FX_OK)
        st = check_inputs(ctx, g, cfg, train_ds, "train");
    if (st == FX_OK && test_ds)
        st = check_inputs(ctx, g, cfg, test_ds, "test");
    if (st == FX_OK && fx_dataset_size(train_ds) < tc->batch)
        st = fx_fail(ctx, FX_ERR_INVALID, "%s: the training set has %lld examples, fewer than train.batch %d",
                     cfg->path, (long long)fx_dataset_size(train_ds), tc->batch);
    const char *pred = st == FX_OK ? fx_config_predict_name(g, cfg) : NULL;
    if (st == FX_OK && pred)
        st = fx_graph_keep(g, pred);
    if (st == FX_OK)
        st = fx_dp_create(ctx, g, cfg, opt->comm, &local_batch, &dp);
    if (st == FX_OK)
        st = fx_graph_plan(g, local_batch, FX_MODE_TRAIN, opt->backend);
    if (st == FX_OK)
        st = check_classes(ctx, g, cfg, train_ds, "train");
    if (st == FX_OK && test_ds)
        st = check_classes(ctx, g, cfg, test_ds, "test");
    if (st == FX_OK)
        st = fx_optimizer_create(g, tc, &optimizer);
    if (st == FX_OK && fx_graph_fallback_count(g) > 0) {
        log_say(log, "note: %d layer%s without a kernel on %s run on the fallback backend:", fx_graph_fallback_count(g),
                fx_graph_fallback_count(g) == 1 ? "" : "s", opt->backend ? opt->backend->name : "cpu");
        for (int n = 0; n < fx_graph_node_count(g); n++)
            if (fx_node_on_fallback(fx_graph_node_at(g, n)))
                log_say(log, " %s", fx_node_name(fx_graph_node_at(g, n)));
        log_say(log, "\n");
    }

    fx_checkpoint_meta meta;
    memset(&meta, 0, sizeof meta);
    char ckpt[FX_PATH_MAX] = "";
    if (tc->checkpoint[0])
        snprintf(ckpt, sizeof ckpt, "%s", tc->checkpoint);
    if (st == FX_OK && ckpt[0] && rank == 0)
        st = checkpoint_prepare(ctx, cfg, ckpt);
    if (st == FX_OK && opt->resume) {
        struct stat sb;
        if (!ckpt[0])
            st = fx_fail(ctx, FX_ERR_INVALID, "%s: --resume needs train.checkpoint to name a checkpoint file", cfg->path);
        else if (stat(ckpt, &sb) != 0)
            st = fx_fail(ctx, FX_ERR_IO, "%s: nothing to resume: checkpoint '%s' does not exist (%s); run without --resume",
                         cfg->path, ckpt, strerror(errno));
        else
            st = fx_checkpoint_load(ctx, ckpt, g, optimizer, &meta);
        /* The step counter counts batches of the checkpoint's run, and the
         * data order follows its seed: continuing with another batch or
         * seed would silently train on a different schedule. */
        if (st == FX_OK && meta.seed != tc->seed)
            st = fx_fail(ctx, FX_ERR_INVALID, "%s: checkpoint '%s' was written by a run with seed %llu, but this run "
                         "has seed %llu: the resumed run would not continue that run's data order; resume with "
                         "--seed %llu (or set train.seed), or train afresh without --resume",
                         cfg->path, ckpt, (unsigned long long)meta.seed, (unsigned long long)tc->seed,
                         (unsigned long long)meta.seed);
        if (st == FX_OK && meta.batch != 0 && meta.batch != tc->batch)
            st = fx_fail(ctx, FX_ERR_INVALID, "%s: checkpoint '%s' was written by a run with train.batch %lld, but "
                         "this run has batch %d: its step %lld counts batches of %lld; resume with --batch %lld "
                         "(or set train.batch), or train afresh without --resume",
                         cfg->path, ckpt, (long long)meta.batch, tc->batch, (long long)meta.step,
                         (long long)meta.batch, (long long)meta.batch);
        if (st == FX_OK)
            log_say(log, "resumed from %s: epoch %lld, step %lld\n", ckpt, (long long)meta.epoch, (long long)meta.step);
    }
    if (st == FX_OK)
        st = fx_dp_start(dp);
    /* The loader draws global batches; this rank is fed its rows of each. */
    fx_batch_feed_options fo = { .loader = { .batch = tc->batch, .shuffle = 1, .augment = 1, .drop_last = 1,
                                             .seed = tc->seed },
                                 .shard = rank, .shards = ranks, .labels = 1, .what = "train" };
    if (st == FX_OK)
        st = fx_batch_feed_open(g, cfg, train_ds, &fo, &feed);
    if (st == FX_OK && opt->metrics_path && rank == 0) {
        metrics = fopen(opt->metrics_path, opt->resume ? "a" : "w");
        if (!metrics)
            st = fx_fail(ctx, FX_ERR_IO, "%s: cannot open metrics file for writing: %s", opt->metrics_path,
                         strerror(errno));
    }
    fx_tensor *scores = st == FX_OK && pred ? fx_graph_value(g, pred) : NULL;
    /* The scores are downloaded into a [batch, classes] buffer every step,
     * so anything else is refused here, before the first step. */
    if (st == FX_OK && pred && (!scores || !fx_graph_value_producer(g, pred) || scores->shape.ndim != 2 || scores->shape.dim[0] != local_batch)) {
        char sh[64] = "unknown";
        if (scores)
            fx_shape_str(&scores->shape, sh, sizeof sh);
        st = fx_fail(ctx, FX_ERR_SHAPE,
                     "%s: %s '%s' must be a computed [batch, classes] value (the class scores), but it is %s; "
                     "set train.predict to the logits",
                     cfg->path, cfg->train.predict[0] ? "train.predict" : "the first softmax_cross_entropy's input", pred, sh);
    }
    int64_t classes = st == FX_OK && scores ? scores->shape.dim[1] : 0;
    if (st == FX_OK) {
        sbuf = fx_malloc(ctx, (size_t)(tc->batch * (classes ? classes : 1)) * sizeof(float), "scores");
        if (!sbuf)
            st = FX_ERR_NOMEM;
    }
    int epochs = opt->epochs > 0 ? opt->epochs : tc->epochs;
    int64_t max_steps = opt->max_steps > 0 ? opt->max_steps : tc->max_steps;
    int64_t per_epoch = st == FX_OK ? fx_batch_feed_batches_per_epoch(feed) : 1;
    fx_train_meter meter; /* per-loss means, per-classifier accuracies */
    memset(&meter, 0, sizeof meter);
    if (st == FX_OK && metrics)
        st = fx_train_meter_init(ctx, g, cfg->data.label_input, &meter);
    /* A resumed step must lie in its epoch: epoch e covers steps
     * e*per_epoch .. (e+1)*per_epoch. Otherwise the data set changed size
     * since (or the batch, in a checkpoint that does not record it). */
    if (st == FX_OK && opt->resume && (meta.step < meta.epoch * per_epoch || meta.step > (meta.epoch + 1) * per_epoch))
        st = fx_fail(ctx, FX_ERR_INVALID, "%s: checkpoint '%s' is at step %lld of epoch %lld, but an epoch of this "
                     "run has %lld steps (steps %lld to %lld): the training set or train.batch differs from the run "
                     "that wrote it; resume with that run's data and batch, or train afresh without --resume",
                     cfg->path, ckpt, (long long)meta.step, (long long)meta.epoch + 1, (long long)per_epoch,
                     (long long)(meta.epoch * per_epoch), (long long)((meta.epoch + 1) * per_epoch));
    int64_t total_steps = (int64_t)epochs * per_epoch;
    if (max_steps > 0 && max_steps < total_steps)
        total_steps = max_steps;
    if (st == FX_OK) {
        log_say(log, "training '%s' on %s: %lld parameters, %lld examples, batch %d, %d epoch%s (%lld steps)\n",
                fx_graph_name(g), opt->backend ? opt->backend->device_name : "cpu", (long long)fx_graph_param_numel(g),
                (long long)fx_dataset_size(train_ds), tc->batch, epochs, epochs == 1 ? "" : "s",
                (long long)total_steps);
        if (ranks > 1)
            log_say(log, "data parallel over %d ranks (%s): %d examples per rank per step, %s batch statistics\n",
                    ranks, fx_comm_name(opt->comm), local_batch, tc->sync_bn ? "global (train.sync_bn)" : "per-rank");
        log_flush(log);
    }
    int64_t step = meta.step;
    if (st == FX_OK) {
        fx_graph_set_step(g, (uint64_t)step);
        st = fx_stream_dump_open(ctx, g, optimizer, per_epoch, &dump);
    }
    float loss_parts[FX_GRAPH_MAX_LOSSES];
    double t_start = fx_now_seconds();
    fx_eval_result last_eval = { 0, NAN, NAN };
    double last_progress = 0; /* the progress line redraws at most 10 times a second */
    int evaluated = 0;
    int64_t steps_this_run = 0;
    int stopped = 0;
    for (int64_t epoch = meta.epoch; st == FX_OK && epoch < epochs && step < total_steps; epoch++) {
        st = fx_batch_feed_start_epoch(feed, epoch);
        /* A resumed run skips the batches of a partly done epoch. */
        int64_t skip = step - epoch * per_epoch;
        double loss_sum = 0, window_loss = 0;
        int64_t correct = 0, seen = 0, window_steps = 0, epoch_steps = 0;
        double t_window = fx_now_seconds();
        while (st == FX_OK && step < total_steps) {
            int count = 0;
            st = fx_batch_feed_next(feed, &count);
            if (st != FX_OK || count == 0)
                break;
            if (skip > 0) {
                skip--;
                continue;
            }
            fx_graph_set_step(g, (uint64_t)step);
            float lr = fx_lr_at(tc, step, per_epoch, total_steps);
            const int32_t *lbuf = fx_batch_feed_labels(feed);
            st = dump ? fx_stream_dump_batch(dump, step, lr, fx_batch_feed_images(feed), lbuf) : FX_OK;
            if (st == FX_OK)
                st = fx_batch_feed_upload(feed);
            if (st == FX_OK)
                st = fx_graph_forward(g);
            if (st == FX_OK)
                st = fx_graph_backward(g);
            if (st == FX_OK)
                st = fx_dp_allreduce_gradients(dp);
            if (st == FX_OK)
                st = fx_optimizer_step(optimizer, lr);
            float loss = 0;
            if (st == FX_OK)
                st = fx_graph_loss_total(g, &loss);
            int64_t step_correct = 0;
            if (st == FX_OK && scores) {
                st = fx_tensor_download(scores, sbuf);
                step_correct = count_correct(sbuf, lbuf, count, classes);
            }
            /* Data parallel: the global batch's mean losses and counts. */
            const int step_count = count; /* this rank's rows (lbuf) */
            int stop_asked = opt->stop && opt->stop->requested;
            if (st == FX_OK)
                st = reduce_step(dp, g, &loss, &step_correct, &count, loss_parts, &stop_asked);
            if (st == FX_OK && !isfinite(loss)) {
                /* Name the first non-finite term: that is where to look. */
                int bad = -1;
                for (int l = 0; l < fx_graph_loss_count(g) && bad < 0; l++)
                    if (!isfinite(loss_parts[l]))
                        bad = l;
                st = fx_fail(ctx, FX_ERR_INVALID,
                             "step %lld: the loss is %f%s%s%s; training diverged or the data holds NaN/Inf "
                             "(lower train.lr or check the data)",
                             (long long)step, loss, bad >= 0 ? " (loss term '" : "",
                             bad >= 0 ? fx_graph_loss_name(g, bad) : "", bad >= 0 ? "' is not finite)" : "");
            }
            if (st == FX_OK && dump)
                st = fx_stream_dump_step(dump, step, loss);
            if (st == FX_OK && metrics)
                st = fx_train_meter_step(&meter, lbuf, step_count, loss_parts);
            if (st != FX_OK)
                break;
            correct += step_correct;
            seen += count;
            loss_sum += loss;
            window_loss += loss;
            step++;
            epoch_steps++;
            window_steps++;
            steps_this_run++;
            double elapsed = fx_now_seconds() - t_start;
            double rate = steps_this_run / (elapsed > 1e-9 ? elapsed : 1e-9);
            if (progress && (fx_now_seconds() - last_progress > 0.1 || step == total_steps)) {
                last_progress = fx_now_seconds();
                char eta[32];
                format_duration((double)(total_steps - step) / rate, eta, sizeof eta);
                fprintf(stderr, "\r  epoch %lld/%d  step %lld/%lld  loss %.4f  acc %5.1f%%  %.0f img/s  ETA %s   ",
                        (long long)epoch + 1, epochs, (long long)step, (long long)total_steps, loss_sum / epoch_steps,
                        seen ? 100.0 * correct / seen : 0.0, rate * tc->batch, eta);
                fflush(stderr);
            }
            if (metrics && (step % (tc->log_every > 0 ? tc->log_every : 50) == 0 || step == total_steps)) {
                double dt = fx_now_seconds() - t_window;
                fprintf(metrics, "{\"event\":\"train\",\"epoch\":%lld,\"step\":%lld", (long long)epoch + 1,
                        (long long)step);
                json_number(metrics, "lr", lr);
                json_number(metrics, "loss", window_loss / (double)window_steps);
                fx_train_meter_write_window(&meter, metrics);
                json_number(metrics, "train_accuracy", seen ? (double)correct / seen : NAN);
                json_number(metrics, "images_per_second", dt > 0 ? window_steps * tc->batch / dt : NAN);
                fprintf(metrics, "}\n");
                st = metrics_flush(ctx, metrics, opt->metrics_path);
                window_loss = 0;
                window_steps = 0;
                t_window = fx_now_seconds();
            }
            if (st == FX_OK && ckpt[0] && tc->checkpoint_every > 0 && step % tc->checkpoint_every == 0) {
                fx_checkpoint_meta m = { .epoch = epoch, .step = step, .seed = tc->seed, .batch = tc->batch };
                snprintf(m.graph_name, sizeof m.graph_name, "%s", fx_graph_name(g));
                st = fx_dp_average_state(dp); /* every rank: a collective */
                if (st == FX_OK && rank == 0)
                    st = fx_checkpoint_save(ctx, ckpt, g, optimizer, &m);
            }
            if (st == FX_OK && stop_asked) { /* every rank decides alike (reduce_step) */
                stopped = 1;
                break;
            }
        }
        if (st != FX_OK)
            break;
        if (stopped) {
            /* A graceful stop: the step is done; save it and leave. */
            if (ckpt[0]) {
                int done_epoch = step >= (epoch + 1) * per_epoch;
                fx_checkpoint_meta m = { .epoch = done_epoch ? epoch + 1 : epoch, .step = step, .seed = tc->seed,
                                         .batch = tc->batch };
                snprintf(m.graph_name, sizeof m.graph_name, "%s", fx_graph_name(g));
                st = fx_dp_average_state(dp); /* every rank: a collective */
                if (st == FX_OK && rank == 0)
                    st = fx_checkpoint_save(ctx, ckpt, g, optimizer, &m);
            }
            break;
        }
        if (progress)
            fprintf(stderr, "\r%*s\r", 100, "");
        int epoch_done = step >= (epoch + 1) * per_epoch;
        fx_eval_result ev = { 0, NAN, NAN };
        st = fx_dp_average_state(dp); /* before evaluating and checkpointing */
        if (st == FX_OK && test_ds) {
            st = evaluate_planned(ctx, g, cfg, test_ds, dp, &ev);
            last_eval = ev;
            evaluated = 1;
        }
        if (st != FX_OK)
            break;
        double elapsed = fx_now_seconds() - t_start;
        log_say(log, "epoch %lld/%d: train loss %.4f, train accuracy %.2f%%", (long long)epoch + 1, epochs,
                epoch_steps ? loss_sum / epoch_steps : NAN, seen ? 100.0 * correct / seen : 0.0);
        if (test_ds)
            log_say(log, ", test loss %.4f, test accuracy %.2f%% (%lld images)", ev.loss, 100.0 * ev.accuracy,
                    (long long)ev.examples);
        log_say(log, " [%.1f s]\n", elapsed);
        log_flush(log);
        if (metrics) {
            fprintf(metrics, "{\"event\":\"epoch\",\"epoch\":%lld,\"step\":%lld", (long long)epoch + 1, (long long)step);
            json_number(metrics, "train_loss", epoch_steps ? loss_sum / epoch_steps : NAN);
            json_number(metrics, "train_accuracy", seen ? (double)correct / seen : NAN);
            fx_train_meter_write_epoch(&meter, metrics);
            if (test_ds) {
                json_number(metrics, "test_loss", ev.loss);
                json_number(metrics, "test_accuracy", ev.accuracy);
            }
            json_number(metrics, "seconds", elapsed);
            fprintf(metrics, "}\n");
            st = metrics_flush(ctx, metrics, opt->metrics_path);
        }
        if (st != FX_OK)
            break;
        if (ckpt[0]) {
            fx_checkpoint_meta m = { .epoch = epoch_done ? epoch + 1 : epoch, .step = step, .seed = tc->seed,
                                     .batch = tc->batch };
            snprintf(m.graph_name, sizeof m.graph_name, "%s", fx_graph_name(g));
            if (rank == 0)
                st = fx_checkpoint_save(ctx, ckpt, g, optimizer, &m);
            if (st == FX_OK && fx_context_get_options(ctx)->verbose > 1)
                log_say(log, "checkpoint written: %s\n", ckpt);
        }
    }
    if (progress)
        fprintf(stderr, "\r%*s\r", 100, "");
    if (st == FX_OK && fx_dp_gradient_steps(dp) > 0) {
        int64_t early = 0, buckets = 0;
        fx_dp_overlap(dp, &early, &buckets);
        log_say(log,
                "all-reduce of %lld gradients over %d ranks: %.2f ms per step (%.1f MB staged through the host); "
                "%lld of %lld buckets started during backward\n",
                (long long)fx_graph_param_numel(g), ranks,
                1e3 * fx_dp_gradient_seconds(dp) / (double)fx_dp_gradient_steps(dp), fx_dp_staged_bytes(dp) / 1e6,
                (long long)early, (long long)buckets);
    }
    if (st == FX_OK && stopped) {
        opt->stop->stopped = 1;
        opt->stop->stopped_step = step;
        if (ckpt[0])
            log_say(log, "stopped after step %lld of %lld: checkpoint written to %s; continue with --resume\n",
                    (long long)step, (long long)total_steps, ckpt);
        else
            log_say(log, "stopped after step %lld of %lld; no train.checkpoint is set, so nothing was saved\n",
                    (long long)step, (long long)total_steps);
        log_flush(log);
    } else if (st == FX_OK) {
        char took[32];
        format_duration(fx_now_seconds() - t_start, took, sizeof took);
        if (evaluated)
            log_say(log, "done: %lld steps in %s; test accuracy %.2f%% on %lld images\n", (long long)step, took,
                    100.0 * last_eval.accuracy, (long long)last_eval.examples);
        else
            log_say(log, "done: %lld steps in %s\n", (long long)step, took);
        log_flush(log);
    }
    if (metrics && fclose(metrics) != 0 && st == FX_OK)
        st = fx_fail(ctx, FX_ERR_IO, "%s: writing the metrics failed: %s", opt->metrics_path, strerror(errno));
    fx_stream_dump_close(dump);
    fx_train_meter_free(&meter);
    free(sbuf);
    fx_batch_feed_close(feed);
    fx_optimizer_destroy(optimizer);
    fx_dataset_close(train_ds);
    fx_dataset_close(test_ds);
    fx_dp_destroy(dp);
    return st;
}

fx_status fx_evaluate(fx_context *ctx, fx_graph *g, const fx_config *cfg, const fx_run_options *opt,
                      fx_eval_result *result)
{
    fx_dataset *ds = NULL;
    const fx_data_source *src = cfg->data.test.kind != FX_DATA_NONE ? &cfg->data.test : &cfg->data.train;
    fx_status st = open_dataset(ctx, cfg, src, src == &cfg->data.test ? "test" : "train", &ds);
    if (st == FX_OK)
        st = check_inputs(ctx, g, cfg, ds, "evaluation");
    if (st == FX_OK && !fx_graph_is_planned(g))
        st = fx_graph_plan(g, cfg->train.batch, FX_MODE_TRAIN, opt->backend);
    if (st == FX_OK)
        st = check_classes(ctx, g, cfg, ds, src == &cfg->data.test ? "test" : "train");
    if (st == FX_OK && cfg->train.checkpoint[0]) {
        fx_checkpoint_meta meta;
        st = fx_checkpoint_load(ctx, cfg->train.checkpoint, g, NULL, &meta);
        if (st == FX_OK && meta.graph_name[0] && strcmp(meta.graph_name, fx_graph_name(g)) != 0)
            log_say(opt->quiet ? NULL : opt->log ? opt->log : stderr, "note: checkpoint '%s' was written by graph '%s', not '%s' (its "
                    "tensors fit this graph, so it was loaded)\n", cfg->train.checkpoint, meta.graph_name, fx_graph_name(g));
    }
    if (st == FX_OK)
        st = evaluate_planned(ctx, g, cfg, ds, NULL, result);
    fx_dataset_close(ds);
    return st;
}
