/* tests/test_train.c - training end to end through the public API on a
 * small real data set (the first 3000 Fashion-MNIST training images,
 * 1000 test images): the loss must fall and the test accuracy must end
 * well above chance; resuming from a checkpoint must continue the run;
 * the same seed must give the same losses. Skips when Debian's
 * dataset-fashion-mnist is not installed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fxtest.h"
#include "small_fmnist.h"

static void write_config(const char *path, const char *ckpt, int epochs)
{
    char text[4096];
    snprintf(text, sizeof text,
             SMALL_FMNIST_NET_YAML
             "data:\n"
             "  train: {idx: {images: " FMNIST "/train-images-idx3-ubyte.gz, labels: " FMNIST
             "/train-labels-idx1-ubyte.gz}, limit: 3000}\n"
             "  test: {idx: {images: " FMNIST "/t10k-images-idx3-ubyte.gz, labels: " FMNIST
             "/t10k-labels-idx1-ubyte.gz}, limit: 1000}\n"
             "  normalize: {mean: [0.286], std: [0.353]}\n"
             "train: {optimizer: adam, lr: 0.01, batch: 50, epochs: %d, seed: 7, log_every: 10, checkpoint: %s, "
             "predict: logits}\n",
             epochs, ckpt);
    fxtest_write_file(path, text);
}

static void train_once(const char *yaml, const char *metrics, int resume, fx_eval_result *ev)
{
    fx_context *ctx = fxtest_context();
    fx_graph *g = NULL;
    fx_config cfg;
    fx_status st = fx_graph_load_yaml(ctx, yaml, &g, &cfg);
    ck_assert_msg(st == FX_OK, "load: %s", fx_context_error(ctx));
    fx_graph_set_seed(g, cfg.train.seed);
    fx_run_options ro;
    memset(&ro, 0, sizeof ro);
    ro.backend = fx_context_cpu_backend(ctx);
    ro.metrics_path = metrics;
    ro.resume = resume;
    ro.log = fopen("/dev/null", "w");
    st = fx_train(ctx, g, &cfg, &ro);
    ck_assert_msg(st == FX_OK, "train: %s", fx_context_error(ctx));
    if (ev) {
        st = fx_evaluate(ctx, g, &cfg, &ro, ev);
        ck_assert_msg(st == FX_OK, "evaluate: %s", fx_context_error(ctx));
    }
    fclose(ro.log);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}

START_TEST(test_training_lowers_the_loss_and_beats_chance)
{
    if (!small_fmnist_have_data()) {
        printf("skipped: " FMNIST " not installed (apt-get install dataset-fashion-mnist)\n");
        return;
    }
    char *dir = fxtest_tempdir();
    char yaml[512], metrics[512], ckpt[512];
    snprintf(yaml, sizeof yaml, "%s/small.yaml", dir);
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", dir);
    snprintf(ckpt, sizeof ckpt, "%s/small.fxck", dir);
    write_config(yaml, ckpt, 2);
    fx_eval_result ev;
    train_once(yaml, metrics, 0, &ev);
    double losses[64];
    int n = small_fmnist_read_losses(metrics, losses, 64);
    ck_assert_int_ge(n, 10); /* 2 epochs x 60 steps, a line every 10 */
    double first = losses[0], last = (losses[n - 1] + losses[n - 2]) / 2;
    ck_assert_msg(last < 0.6 * first, "loss did not fall enough: first %.4f, last %.4f", first, last);
    ck_assert_int_eq(ev.examples, 1000);
    ck_assert_msg(ev.accuracy > 0.55, "test accuracy %.3f after 2 small epochs (chance 0.1)", ev.accuracy);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_same_seed_same_losses_and_resume_continues)
{
    if (!small_fmnist_have_data()) {
        printf("skipped: " FMNIST " not installed\n");
        return;
    }
    char *dir = fxtest_tempdir();
    char yaml[512], m1[512], m2[512], m3[512], ckpt[512];
    snprintf(yaml, sizeof yaml, "%s/small.yaml", dir);
    snprintf(ckpt, sizeof ckpt, "%s/small.fxck", dir);
    snprintf(m1, sizeof m1, "%s/m1.jsonl", dir);
    snprintf(m2, sizeof m2, "%s/m2.jsonl", dir);
    snprintf(m3, sizeof m3, "%s/m3.jsonl", dir);
    /* Straight: 2 epochs. */
    write_config(yaml, ckpt, 2);
    train_once(yaml, m1, 0, NULL);
    /* Interrupted: 1 epoch, then resume to 2. */
    unlink(ckpt);
    write_config(yaml, ckpt, 1);
    train_once(yaml, m2, 0, NULL);
    write_config(yaml, ckpt, 2);
    train_once(yaml, m3, 1, NULL);
    double a[64], b[64], c[64];
    int na = small_fmnist_read_losses(m1, a, 64), nb = small_fmnist_read_losses(m2, b, 64), nc = small_fmnist_read_losses(m3, c, 64);
    ck_assert_int_eq(na, nb + nc);
    for (int i = 0; i < nb; i++)
        ck_assert_msg(a[i] == b[i], "step line %d: %.6g vs %.6g (same seed must repeat)", i, a[i], b[i]);
    for (int i = 0; i < nc; i++)
        ck_assert_msg(fabs(a[nb + i] - c[i]) <= 1e-4 * fabs(a[nb + i]), "resumed line %d: %.6g vs %.6g", i,
                      c[i], a[nb + i]);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("fashion-mnist");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_training_lowers_the_loss_and_beats_chance);
    tcase_add_test(tc, test_same_seed_same_losses_and_resume_continues);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
