/* tests/test_stream_dump.c - FX_DUMP_STREAM=DIR (core/train/stream_dump.c), the
 * hook tools/parity/ replays fx's training stream with: the dump must be
 * complete and exact. Training a small network for a few steps with the
 * dump on, then replaying the dumped batches by hand from the dumped
 * initial weights (forward, backward, Adam at the dumped step numbers),
 * must give the dumped losses bit for bit and the run's final weights;
 * each dumped dropout mask must be the one the dropout kernel applied
 * (out == in * mask exactly). Without the variable nothing is written.
 * Skips when Debian's dataset-fashion-mnist is not installed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "fxtest.h"
#include "small_fmnist.h"

#define STEPS 4
#define BATCH 16

static void write_config(const char *path, const char *ckpt)
{
    char text[4096];
    snprintf(text, sizeof text,
             "name: dump-net\n"
             "input: {image: [1, 24, 24], label: []}\n"
             "layers:\n"
             "  - {name: c1, op: conv2d, in: image, out_channels: 6, kernel: 3, pad: 1}\n"
             "  - {name: b1, op: batchnorm}\n"
             "  - {name: r1, op: elu}\n"
             "  - {name: g, op: global_avgpool}\n"
             "  - {name: drop, op: dropout, rate: 0.4}\n"
             "  - {name: logits, op: linear, out_features: 10}\n"
             "losses:\n"
             "  - {op: softmax_cross_entropy, in: [logits, label], weight: 2}\n"
             "data:\n"
             "  train: {idx: {images: " FMNIST "/train-images-idx3-ubyte.gz, labels: " FMNIST
             "/train-labels-idx1-ubyte.gz}, limit: 40}\n"
             "  size: 24\n  crop: random\n  flip: true\n"
             "train: {optimizer: adam, lr: 0.01, beta1: 0.5, batch: %d, epochs: 3, max_steps: %d, seed: 11, "
             "checkpoint: %s, predict: logits}\n",
             BATCH, STEPS, ckpt);
    fxtest_write_file(path, text);
}

static fx_graph *load(fx_context *ctx, const char *yaml, fx_config *cfg)
{
    fx_graph *g = NULL;
    fx_status st = fx_graph_load_yaml(ctx, yaml, &g, cfg);
    ck_assert_msg(st == FX_OK, "load: %s", fx_context_error(ctx));
    fx_graph_set_seed(g, cfg->train.seed);
    return g;
}

static void train_opts(const char *yaml, int resume)
{
    fx_context *ctx = fxtest_context();
    fx_config cfg;
    fx_graph *g = load(ctx, yaml, &cfg);
    fx_run_options ro;
    memset(&ro, 0, sizeof ro);
    ro.backend = fx_context_cpu_backend(ctx);
    ro.log = fopen("/dev/null", "w");
    ro.resume = resume;
    fx_status st = fx_train(ctx, g, &cfg, &ro);
    ck_assert_msg(st == FX_OK, "train: %s", fx_context_error(ctx));
    fclose(ro.log);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}

static void train(const char *yaml) { train_opts(yaml, 0); }

/* The "loss" of line `step` of steps.jsonl. */
static float dumped_loss(const char *dir, int step)
{
    char path[600], line[1024];
    snprintf(path, sizeof path, "%s/steps.jsonl", dir);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "no %s", path);
    float loss = NAN;
    for (int i = 0; fgets(line, sizeof line, f); i++) {
        const char *p = strstr(line, "\"loss\":");
        ck_assert_ptr_nonnull(p);
        if (i == step)
            loss = strtof(p + 7, NULL);
    }
    fclose(f);
    return loss;
}

static fx_array load_step(fx_context *ctx, const char *dir, int step, const char *what)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%06d.%s.npy", dir, step, what);
    fx_array a;
    fx_status st = fx_npy_read(ctx, path, &a);
    ck_assert_msg(st == FX_OK, "%s", fx_context_error(ctx));
    return a;
}

START_TEST(test_the_dump_replays_fx_training_exactly)
{
    if (!small_fmnist_have_data()) {
        printf("skipped: " FMNIST " not installed (apt-get install dataset-fashion-mnist)\n");
        return;
    }
    char *tmp = fxtest_tempdir();
    char yaml[512], ckpt[512], dump[512], path[600];
    snprintf(yaml, sizeof yaml, "%s/net.yaml", tmp);
    snprintf(ckpt, sizeof ckpt, "%s/net.fxck", tmp);
    snprintf(dump, sizeof dump, "%s/stream", tmp);
    write_config(yaml, ckpt);

    /* Off: nothing is written. */
    unsetenv("FX_DUMP_STREAM");
    train(yaml);
    struct stat sb;
    ck_assert_int_ne(stat(dump, &sb), 0);

    setenv("FX_DUMP_STREAM", dump, 1);
    train(yaml);
    unsetenv("FX_DUMP_STREAM");

    /* Replay by hand from the dumped start. */
    fx_context *ctx = fxtest_context();
    fx_config cfg;
    fx_graph *g = load(ctx, yaml, &cfg);
    ck_assert_int_eq(fx_graph_keep(g, "g"), FX_OK);
    ck_assert_int_eq(fx_graph_plan(g, BATCH, FX_MODE_TRAIN, fx_context_cpu_backend(ctx)), FX_OK);
    fx_optimizer *opt = NULL;
    ck_assert_int_eq(fx_optimizer_create(g, &cfg.train, &opt), FX_OK);
    fx_checkpoint_meta meta;
    snprintf(path, sizeof path, "%s/init.fxck", dump);
    fx_status st = fx_checkpoint_load(ctx, path, g, opt, &meta);
    ck_assert_msg(st == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(meta.step, 0);
    float *in = malloc(BATCH * 6 * sizeof(float)), *out = malloc(BATCH * 6 * sizeof(float));
    float prev_mask0[BATCH * 6];
    for (int s = 0; s < STEPS; s++) {
        fx_array im = load_step(ctx, dump, s, "images"), lab = load_step(ctx, dump, s, "labels");
        fx_array mask = load_step(ctx, dump, s, "drop.mask");
        ck_assert_int_eq(im.shape.ndim, 4);
        ck_assert_int_eq(im.shape.dim[0], BATCH);
        ck_assert_int_eq(im.shape.dim[2], 24);
        ck_assert_int_eq(lab.dtype, FX_I32);
        ck_assert_int_eq(fx_shape_numel(&mask.shape), BATCH * 6);
        const float *m = mask.data;
        int kept = 0;
        for (int i = 0; i < BATCH * 6; i++) {
            ck_assert_msg(m[i] == 0.0f || m[i] == 1.0f / (1.0f - 0.4f), "mask value %g", (double)m[i]);
            kept += m[i] != 0.0f;
        }
        ck_assert_msg(kept > 30 && kept < 85, "%d of 96 kept at rate 0.4", kept);
        if (s > 0)
            ck_assert_msg(memcmp(prev_mask0, m, sizeof prev_mask0) != 0, "step %d reuses the mask of step %d", s,
                          s - 1);
        memcpy(prev_mask0, m, sizeof prev_mask0);

        fx_graph_set_step(g, (uint64_t)s);
        ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "image"), im.data), FX_OK);
        ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "label"), lab.data), FX_OK);
        ck_assert_int_eq(fx_graph_forward(g), FX_OK);
        ck_assert_int_eq(fx_tensor_download(fx_graph_value(g, "g"), in), FX_OK);
        ck_assert_int_eq(fx_tensor_download(fx_graph_value(g, "drop"), out), FX_OK);
        for (int i = 0; i < BATCH * 6; i++)
            ck_assert_msg(out[i] == in[i] * m[i], "step %d element %d: dropout gave %g, input %g x mask %g", s, i,
                          (double)out[i], (double)in[i], (double)m[i]);
        ck_assert_int_eq(fx_graph_backward(g), FX_OK);
        ck_assert_int_eq(fx_optimizer_step(opt, cfg.train.lr), FX_OK);
        float loss;
        ck_assert_int_eq(fx_graph_loss_total(g, &loss), FX_OK);
        float want = dumped_loss(dump, s);
        ck_assert_msg(loss == want, "step %d: replayed loss %.9g, dumped %.9g", s, (double)loss, (double)want);
        fx_array_free(&im);
        fx_array_free(&lab);
        fx_array_free(&mask);
    }
    /* The replay ends where the run ended. */
    fx_graph *g2 = load(ctx, yaml, &cfg);
    ck_assert_int_eq(fx_graph_plan(g2, BATCH, FX_MODE_TRAIN, fx_context_cpu_backend(ctx)), FX_OK);
    st = fx_checkpoint_load(ctx, ckpt, g2, NULL, &meta);
    ck_assert_msg(st == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(meta.step, STEPS);
    int compared = 0;
    for (int i = 0; i < fx_graph_param_count(g); i++) {
        fx_param a = fx_graph_param_at(g, i), b = fx_graph_param_at(g2, i);
        if (a.absent || !a.value)
            continue;
        int64_t n = fx_tensor_numel(a.value);
        float *x = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)n * sizeof(float));
        ck_assert_int_eq(fx_tensor_download(a.value, x), FX_OK);
        ck_assert_int_eq(fx_tensor_download(b.value, y), FX_OK);
        ck_assert_msg(memcmp(x, y, (size_t)n * sizeof(float)) == 0, "parameter %s differs after the replay", a.name);
        free(x);
        free(y);
        compared++;
    }
    ck_assert_int_ge(compared, 8);
    free(in);
    free(out);
    fx_optimizer_destroy(opt);
    fx_graph_destroy(g);
    fx_graph_destroy(g2);
    fx_context_destroy(ctx);
    fxtest_remove_tree(tmp);
    free(tmp);
}
END_TEST

/* The whole file (malloc'd) and its size, or NULL. */
static char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
        fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = n >= 0 ? (size_t)n : 0;
    return buf;
}

static void assert_same_file(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    char *x = read_all(a, &na), *y = read_all(b, &nb);
    ck_assert_msg(x && y, "cannot read %s or %s", a, b);
    ck_assert_msg(na == nb && memcmp(x, y, na) == 0, "%s and %s differ", a, b);
    free(x);
    free(y);
}

/* FX_DUMP_STREAM_EVERY checkpoints resume (--resume) into exactly the rest
 * of the run, mid-epoch too: tools/parity restarts fx late in a long run
 * from them to compare single late steps. (They were written as epoch 0,
 * which --resume refused past the first epoch.) */
START_TEST(test_dumped_checkpoints_resume_the_same_stream)
{
    if (!small_fmnist_have_data()) {
        printf("skipped: " FMNIST " not installed (apt-get install dataset-fashion-mnist)\n");
        return;
    }
    char *tmp = fxtest_tempdir();
    char yaml[512], ckpt[512], dump[512], dump2[512], a[700], b[700];
    snprintf(yaml, sizeof yaml, "%s/net.yaml", tmp);
    snprintf(ckpt, sizeof ckpt, "%s/net.fxck", tmp);
    snprintf(dump, sizeof dump, "%s/stream", tmp);
    snprintf(dump2, sizeof dump2, "%s/stream2", tmp);
    write_config(yaml, ckpt); /* 40 examples, batch 16: 2 steps per epoch, 4 steps */
    setenv("FX_DUMP_STREAM", dump, 1);
    setenv("FX_DUMP_STREAM_EVERY", "1", 1);
    train(yaml);
    /* After step 2 (the first of epoch 1) and after step 0 (mid-epoch 0). */
    for (int from = 2; from >= 0; from -= 2) {
        snprintf(a, sizeof a, "%s/%06d.fxck", dump, from);
        size_t n = 0;
        char *bytes = read_all(a, &n);
        ck_assert_ptr_nonnull(bytes);
        FILE *f = fopen(ckpt, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(bytes, 1, n, f), n);
        fclose(f);
        free(bytes);
        setenv("FX_DUMP_STREAM", dump2, 1);
        unsetenv("FX_DUMP_STREAM_EVERY");
        train_opts(yaml, 1);
        for (int s = from + 1; s < STEPS; s++)
            for (int w = 0; w < 3; w++) {
                const char *what[] = { "images.npy", "labels.npy", "drop.mask.npy" };
                snprintf(a, sizeof a, "%s/%06d.%s", dump, s, what[w]);
                snprintf(b, sizeof b, "%s/%06d.%s", dump2, s, what[w]);
                assert_same_file(a, b);
            }
        snprintf(a, sizeof a, "%s/%06d.fxck", dump, STEPS - 1);
        fx_context *ctx = fxtest_context();
        fx_config cfg;
        fx_graph *g1 = load(ctx, yaml, &cfg), *g2 = load(ctx, yaml, &cfg);
        ck_assert_int_eq(fx_graph_plan(g1, BATCH, FX_MODE_TRAIN, fx_context_cpu_backend(ctx)), FX_OK);
        ck_assert_int_eq(fx_graph_plan(g2, BATCH, FX_MODE_TRAIN, fx_context_cpu_backend(ctx)), FX_OK);
        fx_checkpoint_meta meta;
        ck_assert_msg(fx_checkpoint_load(ctx, a, g1, NULL, &meta) == FX_OK, "%s", fx_context_error(ctx));
        ck_assert_msg(fx_checkpoint_load(ctx, ckpt, g2, NULL, &meta) == FX_OK, "%s", fx_context_error(ctx));
        ck_assert_int_eq(meta.step, STEPS);
        for (int i = 0; i < fx_graph_param_count(g1); i++) {
            fx_param p = fx_graph_param_at(g1, i), q = fx_graph_param_at(g2, i);
            if (p.absent || !p.value)
                continue;
            int64_t numel = fx_tensor_numel(p.value);
            float *x = malloc((size_t)numel * sizeof(float)), *y = malloc((size_t)numel * sizeof(float));
            ck_assert_int_eq(fx_tensor_download(p.value, x), FX_OK);
            ck_assert_int_eq(fx_tensor_download(q.value, y), FX_OK);
            ck_assert_msg(memcmp(x, y, (size_t)numel * sizeof(float)) == 0,
                          "resumed after step %d: parameter %s differs from the whole run's", from, p.name);
            free(x);
            free(y);
        }
        fx_graph_destroy(g1);
        fx_graph_destroy(g2);
        fx_context_destroy(ctx);
        fxtest_remove_tree(dump2);
    }
    unsetenv("FX_DUMP_STREAM");
    fxtest_remove_tree(tmp);
    free(tmp);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stream_dump");
    TCase *tc = tcase_create("dump");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_the_dump_replays_fx_training_exactly);
    tcase_add_test(tc, test_dumped_checkpoints_resume_the_same_stream);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
