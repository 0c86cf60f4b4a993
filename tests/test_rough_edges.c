/* tests/test_rough_edges.c - the rough edges of issue 13 through fxrun:
 * a block instance's name is fetchable (it stands for the block's
 * output) and a miss lists close names; infer refuses a checkpoint of
 * another graph and says which graph wrote it, and notes a renamed graph
 * whose tensors fit; `fxrun init` writes an untrained checkpoint that
 * infer can use; --metrics carries epoch means of every loss term and
 * the accuracy of every classifier. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"
#include "small_fmnist.h"

static char out[65536];

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[8192], full[8300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "{ %s; }", cmd);
    return fxtest_run(full, out, sizeof out);
}

static void write_input(const char *path, int c, int h, int w, uint64_t seed)
{
    fx_context *ctx = fxtest_context();
    int64_t dims[4] = { 1, c, h, w };
    fx_array a = { FX_F32, fx_shape_make(4, dims), fxtest_random(seed, (int64_t)c * h * w) };
    ck_assert_int_eq(fx_npy_write(ctx, path, &a), FX_OK);
    fx_array_free(&a);
    fx_context_destroy(ctx);
}

static int files_equal(const char *a, const char *b)
{
    return run("cmp -s %s %s", a, b) == 0;
}

START_TEST(test_block_instance_name_is_fetchable_and_a_miss_lists_close_names)
{
    char *dir = fxtest_tempdir();
    const char *cfg = FX_SOURCE_DIR "/configs/interpret-fr-base-small.yaml";
    char x[1024];
    snprintf(x, sizeof x, "%s/x.npy", dir);
    write_input(x, 3, 48, 48, 7);
    int rc = run("%s init %s --checkpoint %s/a.fxck -q && %s infer %s --checkpoint %s/a.fxck --feed image=%s "
                 "--fetch clean.bb.c33=%s/block.npy --fetch clean.bb.c33.act=%s/layer.npy --fetch clean=%s/f1.npy "
                 "--fetch clean.feat=%s/f2.npy --fetch clean.bb.c32=%s/other.npy",
                 fxtest_fxrun(), cfg, dir, fxtest_fxrun(), cfg, dir, x, dir, dir, dir, dir, dir);
    ck_assert_msg(rc == 0, "rc %d: %s", rc, out);
    char a[1100], b[1100];
    snprintf(a, sizeof a, "%s/block.npy", dir);
    snprintf(b, sizeof b, "%s/layer.npy", dir);
    ck_assert_msg(files_equal(a, b), "--fetch clean.bb.c33 is not the block's output clean.bb.c33.act");
    snprintf(b, sizeof b, "%s/other.npy", dir);
    ck_assert_msg(!files_equal(a, b), "the comparison cannot fail");
    snprintf(a, sizeof a, "%s/f1.npy", dir);
    snprintf(b, sizeof b, "%s/f2.npy", dir);
    ck_assert_msg(files_equal(a, b), "--fetch clean is not the branch's output clean.feat");
    rc = run("%s infer %s --checkpoint %s/a.fxck --feed image=%s --fetch clean.bb.c3=%s/m.npy", fxtest_fxrun(), cfg,
             dir, x, dir);
    ck_assert_msg(rc != 0 && strstr(out, "no value named 'clean.bb.c3'; close names: ") &&
                  strstr(out, "clean.bb.c33"), "rc %d: %s", rc, out);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

#define TINY_NET                                                                   \
    "input: {x: [4]}\n"                                                            \
    "layers:\n"                                                                    \
    "  - {name: fc, op: linear, in: x, out_features: %d}\n"

START_TEST(test_infer_refuses_checkpoint_of_another_graph_and_names_it)
{
    char *dir = fxtest_tempdir();
    char a[1024], b[1024], c[1024], x[1024], text[512];
    snprintf(a, sizeof a, "%s/a.yaml", dir);
    snprintf(b, sizeof b, "%s/b.yaml", dir);
    snprintf(c, sizeof c, "%s/c.yaml", dir);
    snprintf(x, sizeof x, "%s/x.npy", dir);
    snprintf(text, sizeof text, "name: net-a\n" TINY_NET, 3);
    fxtest_write_file(a, text);
    snprintf(text, sizeof text, "name: net-b\n" TINY_NET, 3); /* same tensors, another name */
    fxtest_write_file(b, text);
    snprintf(text, sizeof text, "name: net-c\n" TINY_NET, 5); /* other shapes */
    fxtest_write_file(c, text);
    fx_context *ctx = fxtest_context();
    int64_t dims[2] = { 2, 4 };
    fx_array arr = { FX_F32, fx_shape_make(2, dims), fxtest_random(3, 8) };
    ck_assert_int_eq(fx_npy_write(ctx, x, &arr), FX_OK);
    fx_array_free(&arr);
    fx_context_destroy(ctx);
    int rc = run("%s init %s --checkpoint %s/a.fxck -q", fxtest_fxrun(), a, dir);
    ck_assert_msg(rc == 0, "init: %s", out);
    rc = run("%s infer %s --checkpoint %s/a.fxck --feed x=%s --fetch fc=%s/y.npy", fxtest_fxrun(), a, dir, x, dir);
    ck_assert_msg(rc == 0 && !strstr(out, "note:"), "rc %d: %s", rc, out);
    rc = run("%s infer %s --checkpoint %s/a.fxck --feed x=%s --fetch fc=%s/y.npy", fxtest_fxrun(), b, dir, x, dir);
    ck_assert_msg(rc == 0 && strstr(out, "note: checkpoint") && strstr(out, "was written by graph 'net-a', not "
                  "'net-b'"), "rc %d: %s", rc, out);
    rc = run("%s infer %s --checkpoint %s/a.fxck --feed x=%s --fetch fc=%s/y.npy", fxtest_fxrun(), c, dir, x, dir);
    ck_assert_msg(rc != 0 && strstr(out, "does not fit graph 'net-c'; nothing was loaded") &&
                  strstr(out, "tensor 'fc.weight' is [3, 4] in the checkpoint but [5, 4] in the graph") &&
                  strstr(out, "the checkpoint was written by graph 'net-a'"), "rc %d: %s", rc, out);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* Reads the numbers of `key` ("\"key\":v") from every line of `path`
 * whose event is `event`. */
static int read_key(const char *path, const char *event, const char *key, double *v, int max)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[4096], ev[64], k[256];
    snprintf(ev, sizeof ev, "\"event\":\"%s\"", event);
    snprintf(k, sizeof k, "\"%s\":", key);
    int n = 0;
    while (fgets(line, sizeof line, f) && n < max) {
        if (!strstr(line, ev))
            continue;
        const char *p = strstr(line, k);
        ck_assert_msg(p != NULL, "no %s in %s", key, line);
        v[n++] = strtod(p + strlen(k), NULL);
    }
    fclose(f);
    return n;
}

/* Two classifier heads (two cross-entropy losses) and log_every 1: the
 * epoch's train_loss.<loss> is the mean of the per-step values, and each
 * head has its own accuracy. */
START_TEST(test_metrics_hold_epoch_means_of_every_loss_and_every_accuracy)
{
    if (!small_fmnist_have_data()) {
        printf("SKIP: %s not found (apt-get install dataset-fashion-mnist)\n", FMNIST);
        return;
    }
    char *dir = fxtest_tempdir();
    char yaml[1024], metrics[1024];
    snprintf(yaml, sizeof yaml, "%s/two.yaml", dir);
    snprintf(metrics, sizeof metrics, "%s/m.jsonl", dir);
    fxtest_write_file(yaml,
        "name: two-heads\n"
        "input: {image: [1, 28, 28], label: []}\n"
        "layers:\n"
        "  - {name: c1, op: conv2d, in: image, out_channels: 4, kernel: 3, stride: 2, padding: same}\n"
        "  - {name: g, op: global_avgpool}\n"
        "  - {name: logits, op: linear, in: g, out_features: 10}\n"
        "  - {name: logits2, op: linear, in: g, out_features: 10}\n"
        "losses:\n"
        "  - {name: ce_a, op: softmax_cross_entropy, in: [logits, label], weight: 2}\n"
        "  - {name: ce_b, op: softmax_cross_entropy, in: [logits2, label], weight: 1}\n"
        "data:\n"
        "  train: {idx: {images: " FMNIST "/t10k-images-idx3-ubyte.gz, labels: " FMNIST "/t10k-labels-idx1-ubyte.gz}}\n"
        "  channels: 1\n"
        "train: {optimizer: sgd, lr: 0.5, batch: 16, epochs: 1, max_steps: 6, log_every: 1, predict: logits}\n");
    int rc = run("%s train %s --metrics %s --checkpoint %s/t.fxck -q", fxtest_fxrun(), yaml, metrics, dir);
    ck_assert_msg(rc == 0, "rc %d: %s", rc, out);
    double a[16], b[16], ea, eb, acc, acc_a, acc_b, total;
    int n = read_key(metrics, "train", "loss.ce_a", a, 16);
    ck_assert_int_eq(n, 6);
    ck_assert_int_eq(read_key(metrics, "train", "loss.ce_b", b, 16), 6);
    ck_assert_int_eq(read_key(metrics, "epoch", "train_loss.ce_a", &ea, 1), 1);
    ck_assert_int_eq(read_key(metrics, "epoch", "train_loss.ce_b", &eb, 1), 1);
    ck_assert_int_eq(read_key(metrics, "epoch", "train_loss", &total, 1), 1);
    double ma = 0, mb = 0;
    for (int i = 0; i < n; i++) {
        ma += a[i] / n;
        mb += b[i] / n;
    }
    ck_assert_msg(fabs(a[0] - a[n - 1]) > 1e-3, "the loss did not move: the mean test could not fail");
    /* 6 significant digits in the file */
    ck_assert_msg(fabs(ea - ma) <= 1e-5 * fabs(ma) + 1e-6, "epoch mean %g vs mean of steps %g", ea, ma);
    ck_assert_msg(fabs(eb - mb) <= 1e-5 * fabs(mb) + 1e-6, "epoch mean %g vs mean of steps %g", eb, mb);
    ck_assert_msg(fabs(total - (2 * ea + eb)) <= 1e-4 * fabs(total), "total %g vs 2*%g + %g", total, ea, eb);
    ck_assert_int_eq(read_key(metrics, "epoch", "train_accuracy", &acc, 1), 1);
    ck_assert_int_eq(read_key(metrics, "epoch", "train_accuracy.logits", &acc_a, 1), 1);
    ck_assert_int_eq(read_key(metrics, "epoch", "train_accuracy.logits2", &acc_b, 1), 1);
    ck_assert_msg(acc == acc_a, "train_accuracy (predict: logits) %g vs train_accuracy.logits %g", acc, acc_a);
    ck_assert(acc_b >= 0 && acc_b <= 1);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rough_edges");
    TCase *tc = tcase_create("fxrun");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_block_instance_name_is_fetchable_and_a_miss_lists_close_names);
    tcase_add_test(tc, test_infer_refuses_checkpoint_of_another_graph_and_names_it);
    tcase_add_test(tc, test_metrics_hold_epoch_means_of_every_loss_and_every_accuracy);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return fxtest_run_suite(suite()); }
