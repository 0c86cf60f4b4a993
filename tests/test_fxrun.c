/* tests/test_fxrun.c - fxrun as a user meets it: --help, bad command lines,
 * missing and malformed files, shape errors, bad .npy feeds, corrupt
 * checkpoints. Every case must end in one clear message and a non-zero
 * exit, never a crash (exit >= 128) or a hang; and `fxrun run` must
 * produce outputs and gradients that match the same computation done by
 * hand. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "fxtest.h"

static char out[65536];

static int fxrun(const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s", fxtest_fxrun(), args);
    int rc = fxtest_run(cmd, out, sizeof out);
    ck_assert_msg(rc < 128, "fxrun %s crashed (status %d):\n%s", args, rc, out);
    return rc;
}

static void expect_fail(const char *args, const char *needle)
{
    int rc = fxrun(args);
    ck_assert_msg(rc != 0, "fxrun %s: expected failure, got success:\n%s", args, out);
    ck_assert_msg(strstr(out, needle) != NULL, "fxrun %s: output lacks '%s':\n%s", args, needle, out);
}

/* A tiny graph: linear 4 -> 3 on a [4] input, cross-entropy loss. */
static const char *tiny_yaml =
    "name: tiny\n"
    "input: {x: [4], label: []}\n"
    "layers:\n"
    "  - {name: fc, op: linear, in: x, out_features: 3}\n"
    "losses:\n"
    "  - {op: softmax_cross_entropy, in: [fc, label]}\n";

START_TEST(test_help_lists_every_task_and_option)
{
    ck_assert_int_eq(fxrun("--help"), 0);
    const char *words[] = { "train", "eval", "infer", "run", "bench", "devices", "--backend", "--feed", "--fetch",
                            "--grad", "--resume", "--metrics", "--threads", "Examples" };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        ck_assert_msg(strstr(out, words[i]) != NULL, "--help lacks %s", words[i]);
}
END_TEST

START_TEST(test_bad_command_lines_are_refused_with_a_reason)
{
    expect_fail("", "usage");
    expect_fail("--no-such-option x.yaml", "unknown option '--no-such-option'");
    expect_fail("train", "no graph file");
    expect_fail("--threads zero x.yaml", "--threads expects an integer");
    expect_fail("run x.yaml --feed nonsense", "NAME=FILE");
    expect_fail("x.yaml y.yaml", "unexpected argument");
}
END_TEST

START_TEST(test_missing_graph_file_names_the_path)
{
    expect_fail("/nonexistent/graph.yaml", "/nonexistent/graph.yaml");
}
END_TEST

START_TEST(test_malformed_yaml_shows_file_line_col)
{
    char *dir = fxtest_tempdir();
    char path[512], args[600];
    snprintf(path, sizeof path, "%s/bad.yaml", dir);
    fxtest_write_file(path, "name: bad\ninput: {x: [4]\nlayers: []\n");
    snprintf(args, sizeof args, "train %s", path);
    expect_fail(args, "bad.yaml:");
    fxtest_write_file(path, "name: bad\ninput: {x: [4], label: []}\nlayers:\n  - {name: a, op: no_such_op, in: x}\n");
    expect_fail(args, "bad.yaml:4:");
    expect_fail(args, "no_such_op");
    fxtest_write_file(path, "name: bad\ninput: {x: [4], label: []}\nlayers:\n  - {name: a, op: linear, in: x, out_features: 3, strange: 1}\n");
    expect_fail(args, "strange");
    fxtest_write_file(path, "name: bad\ninput: {x: [4], label: []}\nlayers:\n  - {name: a, op: linear, in: x, out_features: three}\n");
    expect_fail(args, "out_features");
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_shape_error_names_the_node)
{
    char *dir = fxtest_tempdir();
    char path[512], args[600];
    snprintf(path, sizeof path, "%s/shape.yaml", dir);
    fxtest_write_file(path, "name: s\ninput: {a: [3, 4, 4], b: [2, 5, 5], label: []}\nlayers:\n"
                            "  - {name: joined, op: concat, in: [a, b]}\n");
    snprintf(args, sizeof args, "train %s", path);
    expect_fail(args, "joined");
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

static void write_npy_f32(const char *path, const fx_shape *shape, const float *data)
{
    fx_context *ctx = fxtest_context();
    fx_array a = { FX_F32, *shape, (void *)data };
    ck_assert_int_eq(fx_npy_write(ctx, path, &a), FX_OK);
    fx_context_destroy(ctx);
}

START_TEST(test_run_matches_hand_computed_linear_and_its_gradients)
{
    char *dir = fxtest_tempdir();
    char yaml[512], x[512], w[512], b[512], lab[512], args[4000];
    snprintf(yaml, sizeof yaml, "%s/tiny.yaml", dir);
    fxtest_write_file(yaml, tiny_yaml);
    float xs[2 * 4] = { 1, 2, 3, 4, -1, 0.5f, 0, 2 };
    float ws[3 * 4] = { 0.1f, -0.2f, 0.3f, 0, 0.05f, 0.1f, -0.1f, 0.2f, -0.3f, 0.2f, 0.1f, 0.1f };
    float bs[3] = { 0.01f, -0.02f, 0.03f };
    snprintf(x, sizeof x, "%s/x.npy", dir);
    snprintf(w, sizeof w, "%s/w.npy", dir);
    snprintf(b, sizeof b, "%s/b.npy", dir);
    snprintf(lab, sizeof lab, "%s/label.npy", dir);
    write_npy_f32(x, &(fx_shape){ 2, { 2, 4 } }, xs);
    write_npy_f32(w, &(fx_shape){ 2, { 3, 4 } }, ws);
    write_npy_f32(b, &(fx_shape){ 1, { 3 } }, bs);
    fx_context *ctx = fxtest_context();
    int32_t labels[2] = { 2, 0 };
    fx_array la = { FX_I32, { 1, { 2 } }, labels };
    ck_assert_int_eq(fx_npy_write(ctx, lab, &la), FX_OK);
    snprintf(args, sizeof args,
             "run %s --feed x=%s --feed label=%s --feed fc.weight=%s --feed fc.bias=%s "
             "--fetch fc=%s/logits.npy --grad x=%s/dx.npy --grad fc.weight=%s/dw.npy",
             yaml, x, lab, w, b, dir, dir, dir);
    ck_assert_msg(fxrun(args) == 0, "fxrun run failed:\n%s", out);
    /* By hand: logits, softmax CE mean, gradients. */
    double logits[2][3], dl[2][3], loss = 0;
    for (int n = 0; n < 2; n++) {
        double mx = -1e30, se = 0;
        for (int o = 0; o < 3; o++) {
            logits[n][o] = bs[o];
            for (int i = 0; i < 4; i++)
                logits[n][o] += (double)ws[o * 4 + i] * xs[n * 4 + i];
            mx = logits[n][o] > mx ? logits[n][o] : mx;
        }
        for (int o = 0; o < 3; o++)
            se += exp(logits[n][o] - mx);
        for (int o = 0; o < 3; o++) {
            double p = exp(logits[n][o] - mx) / se;
            dl[n][o] = (p - (o == labels[n])) / 2.0;
        }
        loss += -(logits[n][labels[n]] - mx - log(se)) / 2.0;
    }
    char expect[64];
    snprintf(expect, sizeof expect, "%.4f", loss);
    ck_assert_msg(strstr(out, "total loss = ") != NULL, "no loss printed:\n%s", out);
    ck_assert_msg(fabs(atof(strstr(out, "total loss = ") + 13) - loss) < 1e-5, "loss %s, expected %s", out, expect);
    fx_array got;
    char path[600];
    snprintf(path, sizeof path, "%s/logits.npy", dir);
    ck_assert_int_eq(fx_npy_read(ctx, path, &got), FX_OK);
    float want[6], dxw[8], dww[12];
    for (int n = 0; n < 2; n++)
        for (int o = 0; o < 3; o++)
            want[n * 3 + o] = (float)logits[n][o];
    fxtest_assert_close(got.data, want, 6, 1e-5, 1e-6, "logits");
    fx_array_free(&got);
    for (int n = 0; n < 2; n++)
        for (int i = 0; i < 4; i++) {
            double s = 0;
            for (int o = 0; o < 3; o++)
                s += dl[n][o] * ws[o * 4 + i];
            dxw[n * 4 + i] = (float)s;
        }
    for (int o = 0; o < 3; o++)
        for (int i = 0; i < 4; i++) {
            double s = 0;
            for (int n = 0; n < 2; n++)
                s += dl[n][o] * xs[n * 4 + i];
            dww[o * 4 + i] = (float)s;
        }
    snprintf(path, sizeof path, "%s/dx.npy", dir);
    ck_assert_int_eq(fx_npy_read(ctx, path, &got), FX_OK);
    ck_assert_int_eq(got.shape.ndim, 2);
    fxtest_assert_close(got.data, dxw, 8, 1e-4, 1e-6, "d loss / d x");
    fx_array_free(&got);
    snprintf(path, sizeof path, "%s/dw.npy", dir);
    ck_assert_int_eq(fx_npy_read(ctx, path, &got), FX_OK);
    fxtest_assert_close(got.data, dww, 12, 1e-4, 1e-6, "d loss / d weight");
    fx_array_free(&got);
    fx_context_destroy(ctx);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_run_refuses_bad_feeds)
{
    char *dir = fxtest_tempdir();
    char yaml[512], bad[512], x[512], args[2000];
    snprintf(yaml, sizeof yaml, "%s/tiny.yaml", dir);
    fxtest_write_file(yaml, tiny_yaml);
    snprintf(bad, sizeof bad, "%s/bad.npy", dir);
    fxtest_write_file(bad, "\x93NUMPY this is not a real header");
    snprintf(args, sizeof args, "run %s --feed x=%s", yaml, bad);
    expect_fail(args, "bad.npy");
    snprintf(args, sizeof args, "run %s --feed x=%s/missing.npy", yaml, dir);
    expect_fail(args, "missing.npy");
    float xs[2 * 5] = { 0 };
    snprintf(x, sizeof x, "%s/x5.npy", dir);
    write_npy_f32(x, &(fx_shape){ 2, { 2, 5 } }, xs);
    snprintf(args, sizeof args, "run %s --feed x=%s", yaml, x);
    expect_fail(args, "shape");
    snprintf(args, sizeof args, "run %s --feed label=%s", yaml, x);
    expect_fail(args, "label");
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_eval_refuses_a_truncated_checkpoint_and_leaves_it_alone)
{
    char *dir = fxtest_tempdir();
    char yaml[512], ck[512], args[1200];
    snprintf(yaml, sizeof yaml, "%s/tiny.yaml", dir);
    snprintf(ck, sizeof ck, "%s/tiny.fxck", dir);
    fxtest_write_file(yaml, tiny_yaml);
    fxtest_write_file(ck, "FXCKPT\0");
    struct stat before;
    ck_assert_int_eq(stat(ck, &before), 0);
    float xs[2 * 4] = { 0 };
    char x[512];
    snprintf(x, sizeof x, "%s/x.npy", dir);
    write_npy_f32(x, &(fx_shape){ 2, { 2, 4 } }, xs);
    snprintf(args, sizeof args, "infer %s --checkpoint %s --feed x=%s --fetch fc=%s/o.npy", yaml, ck, x, dir);
    expect_fail(args, "tiny.fxck");
    struct stat after;
    ck_assert_int_eq(stat(ck, &after), 0);
    ck_assert_int_eq(after.st_size, before.st_size);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_training_on_a_corrupt_image_names_the_file_and_saves_nothing)
{
    char *dir = fxtest_tempdir();
    char path[512], text[1024], args[700], ckpt[512];
    snprintf(path, sizeof path, "%s/faces/a", dir);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s %s/faces/b", path, dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(path, sizeof path, "%s/faces/a/broken.png", dir);
    fxtest_write_file(path, "\x89PNG\r\n\x1a\n but then nothing a PNG needs");
    snprintf(path, sizeof path, "%s/faces/b/text.pgm", dir);
    fxtest_write_file(path, "P5\n2 2\n255\nabcd");
    snprintf(ckpt, sizeof ckpt, "%s/net.fxck", dir);
    snprintf(text, sizeof text,
             "input: {image: [1, 2, 2], label: []}\nlayers:\n  - {name: fc, op: linear, out_features: 2}\n"
             "losses:\n  - {op: softmax_cross_entropy, in: [fc, label]}\n"
             "data: {train: {imagefolder: faces}, channels: 1}\ntrain: {batch: 1, checkpoint: net.fxck}\n");
    snprintf(path, sizeof path, "%s/net.yaml", dir);
    fxtest_write_file(path, text);
    snprintf(args, sizeof args, "train %s", path);
    expect_fail(args, "broken.png");
    ck_assert_msg(strstr(out, "checkpoint:") == NULL, "a failed run claims a checkpoint:\n%s", out);
    struct stat sb;
    ck_assert_int_ne(stat(ckpt, &sb), 0);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* -q: nothing on stdout, even where /dev/null cannot be opened (a process
 * out of file descriptors; here an LD_PRELOAD shim refuses it). fxrun once
 * opened /dev/null as the quiet log without checking, and a NULL log
 * means stdout. */
START_TEST(test_quiet_training_prints_nothing_even_without_dev_null)
{
    char *dir = fxtest_tempdir();
    char path[512], cmd[2048];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/faces/a %s/faces/b", dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(path, sizeof path, "%s/faces/a/one.pgm", dir);
    fxtest_write_file(path, "P5\n2 2\n255\nabcd");
    snprintf(path, sizeof path, "%s/faces/b/two.pgm", dir);
    fxtest_write_file(path, "P5\n2 2\n255\ndcba");
    snprintf(path, sizeof path, "%s/net.yaml", dir);
    fxtest_write_file(path, "input: {image: [1, 2, 2], label: []}\nlayers:\n  - {name: fc, op: linear, out_features: 2}\n"
                            "losses:\n  - {op: softmax_cross_entropy, in: [fc, label]}\n"
                            "data: {train: {imagefolder: faces}, channels: 1}\ntrain: {batch: 1, epochs: 1}\n");
    /* The shim is not instrumented; under AddressSanitizer it may load
     * after the ASan runtime. Stderr goes to a file: stdout alone counts. */
    snprintf(cmd, sizeof cmd,
             "ASAN_OPTIONS=verify_asan_link_order=0 LD_PRELOAD=%s/no_dev_null.so %s train -q %s 2>%s/stderr.txt",
             FX_TEST_PRELOAD_DIR, fxtest_fxrun(), path, dir);
    int rc = fxtest_run(cmd, out, sizeof out);
    char err[4096] = "";
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(err, 1, sizeof err - 1, f);
        err[n] = 0;
        fclose(f);
    }
    ck_assert_msg(rc == 0, "fxrun train -q failed (%d); stderr:\n%s", rc, err);
    ck_assert_msg(out[0] == 0, "fxrun train -q printed on stdout:\n%s", out);
    /* Without -q the same run reports (the shim does not silence it). */
    snprintf(path, sizeof path, "%s/net.yaml", dir);
    snprintf(cmd, sizeof cmd, "LD_PRELOAD=%s/no_dev_null.so ASAN_OPTIONS=verify_asan_link_order=0 %s train %s 2>/dev/null",
             FX_TEST_PRELOAD_DIR, fxtest_fxrun(), path);
    ck_assert_int_eq(fxtest_run(cmd, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "training") != NULL, "fxrun train without -q said nothing:\n%s", out);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_devices_and_ops_list_what_exists)
{
    ck_assert_int_eq(fxrun("devices"), 0);
    ck_assert_ptr_nonnull(strstr(out, "cpu"));
    ck_assert_int_eq(fxrun("ops"), 0);
    const char *ops[] = { "conv2d", "linear", "batchnorm", "relu", "elu", "maxpool2d", "avgpool2d", "global_avgpool",
                          "dropout", "resize_bilinear", "concat", "l2_normalize", "add", "mul", "scale", "flatten",
                          "reshape", "softmax_cross_entropy" };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        ck_assert_msg(strstr(out, ops[i]) != NULL, "fxrun ops lacks %s", ops[i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fxrun");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_help_lists_every_task_and_option);
    tcase_add_test(tc, test_bad_command_lines_are_refused_with_a_reason);
    tcase_add_test(tc, test_missing_graph_file_names_the_path);
    tcase_add_test(tc, test_malformed_yaml_shows_file_line_col);
    tcase_add_test(tc, test_shape_error_names_the_node);
    tcase_add_test(tc, test_run_matches_hand_computed_linear_and_its_gradients);
    tcase_add_test(tc, test_run_refuses_bad_feeds);
    tcase_add_test(tc, test_eval_refuses_a_truncated_checkpoint_and_leaves_it_alone);
    tcase_add_test(tc, test_training_on_a_corrupt_image_names_the_file_and_saves_nothing);
    tcase_add_test(tc, test_devices_and_ops_list_what_exists);
    tcase_add_test(tc, test_quiet_training_prints_nothing_even_without_dev_null);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
