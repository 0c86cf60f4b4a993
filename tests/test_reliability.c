/* tests/test_reliability.c - inputs that once crashed or hung fxrun (issue
 * 10): each must now end in one clear message and a non-zero exit (or the
 * documented behaviour), never a signal or a hang. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fxtest.h"
#include "reliability.h"

static char out[65536];

static void expect_refused(const char *dir, const char *args, const char *needle)
{
    int rc = rel_fxrun(dir, args, out, sizeof out);
    ck_assert_msg(rc != 0, "fxrun %s: expected a refusal, got success:\n%s", args, out);
    ck_assert_msg(strstr(out, needle) != NULL, "fxrun %s: output lacks '%s':\n%s", args, needle, out);
}

/* train.predict naming a value that is not [batch, classes] once made
 * `fxrun train` download the whole value into a batch-sized buffer. */
START_TEST(test_train_refuses_a_predict_value_that_is_not_class_scores)
{
    char *dir = fxtest_tempdir();
    rel_write_idx(dir);
    rel_write_config(dir, "conv.yaml", NULL, "batch: 4, epochs: 1, predict: c1");
    expect_refused(dir, "train conv.yaml", "train.predict 'c1' must be a computed [batch, classes] value");
    rel_write_config(dir, "input.yaml", NULL, "batch: 4, epochs: 1, predict: image");
    expect_refused(dir, "train input.yaml", "train.predict 'image'");
    /* The default (the first loss's input) is checked the same way. */
    rel_write_config(dir, "default.yaml",
                     "name: d\ninput: {image: [1, 8, 8], label: []}\nlayers:\n"
                     "  - {name: c1, op: conv2d, in: image, out_channels: 4, kernel: 3, pad: 1}\n"
                     "  - {name: f, op: flatten}\n"
                     "losses:\n  - {op: softmax_cross_entropy, in: [f, label]}\n",
                     "batch: 4, epochs: 1");
    int rc = rel_fxrun(dir, "train default.yaml", out, sizeof out);
    ck_assert_msg(rc == 0, "a [batch, 256] first loss input trains:\n%s", out);
    rel_write_config(dir, "ok.yaml", NULL, "batch: 4, epochs: 1, predict: logits");
    rc = rel_fxrun(dir, "train ok.yaml", out, sizeof out);
    ck_assert_msg(rc == 0, "the good graph trains:\n%s", out);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* Size attributes once accepted any int64 and shape arithmetic wrapped. */
START_TEST(test_huge_size_attributes_are_too_large_with_file_line_col)
{
    char *dir = fxtest_tempdir();
    char path[600];
    snprintf(path, sizeof path, "%s/big.yaml", dir);
    const char *layers[] = {
        "{name: a, op: linear, in: image, out_features: 4611686018427387904}",
        "{name: a, op: conv2d, in: image, out_channels: 4, kernel: 3, pad: 9223372036854775807}",
        "{name: a, op: conv2d, in: image, out_channels: 4, kernel: 3, stride: 99999999999999999999}",
        "{name: a, op: maxpool2d, in: image, kernel: 2, pad: -9223372036854775808}",
        "{name: a, op: resize_bilinear, in: image, size: 4294967296}",
        "{name: a, op: reshape, in: image, shape: [4294967296, 4294967296]}",
        "{name: a, op: conv2d, in: image, out_channels: 16777216, kernel: 3, pad: 16777216}",
        "{name: a, op: resize_bilinear, in: image, size: [16777216, 16777216]}",
    };
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text, "name: t\ninput: {image: [1, 8, 8], label: []}\nlayers:\n  - %s\n", layers[i]);
        fxtest_write_file(path, text);
        expect_refused(dir, "bench big.yaml --steps 1 --batch 1", "too large");
        ck_assert_msg(strstr(out, "big.yaml:4:") != NULL, "%s: no file:line:col in:\n%s", layers[i], out);
    }
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* A FIFO where a file is read once hung fxrun forever in open(). */
START_TEST(test_a_fifo_anywhere_a_file_is_read_is_refused_at_once)
{
    char *dir = fxtest_tempdir();
    char path[600];
    rel_write_idx(dir);
    snprintf(path, sizeof path, "%s/pipe", dir);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    expect_refused(dir, "bench pipe", "FIFO");
    char inc[600];
    snprintf(inc, sizeof inc, "%s/inc.yaml", dir);
    fxtest_write_file(inc, "name: t\ninclude: [pipe]\ninput: {x: [4], label: []}\nlayers:\n"
                           "  - {name: fc, op: linear, in: x, out_features: 3}\n");
    expect_refused(dir, "bench inc.yaml", "FIFO");
    ck_assert_msg(strstr(out, "inc.yaml:2:") != NULL, "no position of the include:\n%s", out);
    fxtest_write_file(inc, "name: t\ninput: {x: [4], label: []}\nlayers:\n"
                           "  - {name: fc, op: linear, in: x, out_features: 3}\n");
    expect_refused(dir, "run inc.yaml --feed x=pipe", "FIFO");
    rel_write_config(dir, "ck.yaml", NULL, "batch: 4, epochs: 1, checkpoint: pipe");
    expect_refused(dir, "eval ck.yaml", "FIFO");
    expect_refused(dir, "train ck.yaml --resume", "FIFO");
    /* The data files too. */
    char text[1024];
    snprintf(text, sizeof text, REL_NET_YAML "data:\n  train: {idx: {images: pipe, labels: lab.idx}}\n"
                                "train: {batch: 4, epochs: 1}\n");
    snprintf(path, sizeof path, "%s/data.yaml", dir);
    fxtest_write_file(path, text);
    expect_refused(dir, "train data.yaml", "FIFO");
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reliability");
    TCase *tc = tcase_create("crashes");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_train_refuses_a_predict_value_that_is_not_class_scores);
    tcase_add_test(tc, test_huge_size_attributes_are_too_large_with_file_line_col);
    tcase_add_test(tc, test_a_fifo_anywhere_a_file_is_read_is_refused_at_once);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
