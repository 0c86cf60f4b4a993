/* tests/test_reliability_input.c - the "silent acceptance of nonsense"
 * list of issue 10, through fxrun: inputs that once trained, ran or
 * printed something misleading must now end in one message naming the
 * file (line:column for YAML), the field and the fix, and a non-zero exit.
 * Each test failed against the fxrun before its fix (FX_FXRUN=old-fxrun
 * runs them against another binary). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx/npy.h"
#include "fxtest.h"
#include "reliability.h"

static char out[65536];

static void expect_refused(const char *dir, const char *args, const char *needle)
{
    int rc = rel_fxrun(dir, args, out, sizeof out);
    ck_assert_msg(rc != 0, "fxrun %s: expected a refusal, got success:\n%s", args, out);
    ck_assert_msg(strstr(out, needle) != NULL, "fxrun %s: output lacks '%s':\n%s", args, needle, out);
}

static void expect_ok(const char *dir, const char *args)
{
    int rc = rel_fxrun(dir, args, out, sizeof out);
    ck_assert_msg(rc == 0, "fxrun %s failed (status %d):\n%s", args, rc, out);
}

/* <dir>/<name>: REL_NET_YAML's input line, then `layers` and a loss on
 * `logits`, and train.checkpoint net.fxck. */
static void write_graph(const char *dir, const char *name, const char *head, const char *layers)
{
    char path[700], text[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(text, sizeof text,
             "name: t\ninput: {image: [1, 8, 8], label: []}\n%slayers:\n%s"
             "losses:\n  - {op: softmax_cross_entropy, in: [logits, label]}\ntrain: {checkpoint: net.fxck}\n",
             head, layers);
    fxtest_write_file(path, text);
}

#define CONV_POOL_LINEAR                                                              \
    "  - {name: c1, op: conv2d, in: image, out_channels: 4, kernel: 3, pad: 1}\n"     \
    "  - {name: g, op: global_avgpool}\n"                                              \
    "  - {name: logits, op: linear, out_features: 3}\n"

/* The CRC-32 of zlib (IEEE polynomial, reflected), bit by bit: enough to
 * re-seal a checkpoint a test has edited. */
static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*size);
    ck_assert(b != NULL);
    ck_assert_int_eq(fread(b, 1, *size, f), *size);
    fclose(f);
    return b;
}

/* Writes b back with its CRC recomputed (docs/checkpoint-format.md: the
 * last 4 bytes are the CRC of everything before them). */
static void reseal(const char *path, unsigned char *b, size_t size)
{
    uint32_t crc = crc32_of(b, size - 4);
    for (int i = 0; i < 4; i++)
        b[size - 4 + i] = (unsigned char)(crc >> (8 * i));
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    ck_assert_int_eq(fwrite(b, 1, size, f), size);
    ck_assert_int_eq(fclose(f), 0);
}

static void put_le64(unsigned char *p, int64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)((uint64_t)v >> (8 * i));
}

/* A tag was once dropped: `!!str 3` read as 3, `!!python/...` ignored. */
START_TEST(test_yaml_tags_are_refused_with_their_position)
{
    char *dir = fxtest_tempdir();
    write_graph(dir, "str.yaml", "",
                "  - {name: c1, op: conv2d, in: image, out_channels: !!str 4, kernel: 3, pad: 1}\n"
                "  - {name: g, op: global_avgpool}\n"
                "  - {name: logits, op: linear, out_features: 3}\n");
    expect_refused(dir, "init str.yaml -q", "str.yaml:4:");
    ck_assert_msg(strstr(out, "YAML tag '!!str' is not supported") != NULL, "%s", out);
    write_graph(dir, "py.yaml", "x-run: !!python/object/apply:os.system [touch pwned]\n", CONV_POOL_LINEAR);
    expect_refused(dir, "init py.yaml -q", "YAML tag '!!python/object/apply:os.system' is not supported");
    ck_assert_msg(strstr(out, "py.yaml:3:") != NULL, "%s", out);
    write_graph(dir, "mine.yaml", "x-mine: !mine {a: 1}\n", CONV_POOL_LINEAR);
    expect_refused(dir, "init mine.yaml -q", "YAML tag '!mine'");
    write_graph(dir, "ok.yaml", "x-quoted: '!!str'\n", CONV_POOL_LINEAR);
    expect_ok(dir, "init ok.yaml -q");
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* A misspelt params.init group once changed nothing; a negative std drew
 * the same numbers as a positive one. */
START_TEST(test_init_groups_that_match_nothing_and_negative_stds_are_refused)
{
    char *dir = fxtest_tempdir();
    write_graph(dir, "typo.yaml", "params:\n  init: {conv: he_normal, lineaR: he_normal}\n", CONV_POOL_LINEAR);
    expect_refused(dir, "init typo.yaml -q", "group 'lineaR' matches no parameter of this graph");
    ck_assert_msg(strstr(out, "typo.yaml:4:") && strstr(out, "did you mean 'linear'?"), "%s", out);
    write_graph(dir, "unused.yaml", "params:\n  init: {bn: ones}\n", CONV_POOL_LINEAR);
    expect_refused(dir, "init unused.yaml -q", "group 'bn' matches no parameter");
    write_graph(dir, "neg.yaml", "params:\n  init: {conv: 'normal:-0.1'}\n", CONV_POOL_LINEAR);
    expect_refused(dir, "init neg.yaml -q", "neg.yaml:4:");
    ck_assert_msg(strstr(out, "the std must not be negative; write normal:0.1"), "%s", out);
    write_graph(dir, "layer.yaml", "",
                "  - {name: c1, op: conv2d, in: image, out_channels: 4, kernel: 3, init: 'truncated_normal:-1'}\n"
                "  - {name: g, op: global_avgpool}\n"
                "  - {name: logits, op: linear, out_features: 3, init: 'uniform:-0.5'}\n");
    expect_refused(dir, "init layer.yaml -q", "layer.yaml:4:");
    ck_assert_msg(strstr(out, "layer 'c1': init") && strstr(out, "must not be negative"), "%s", out);
    write_graph(dir, "ok.yaml", "params:\n  init: {conv: 'normal:0.1', linear: he_normal}\n", CONV_POOL_LINEAR);
    expect_ok(dir, "init ok.yaml -q");
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* A window larger than the image, or k past H*W, was accepted silently. */
START_TEST(test_an_occlusion_window_or_topk_beyond_the_input_is_refused)
{
    char *dir = fxtest_tempdir();
    write_graph(dir, "win.yaml", "",
                "  - {name: o, op: occlude, in: image, window: [9, 4]}\n" CONV_POOL_LINEAR);
    expect_refused(dir, "init win.yaml -q", "window [9, 4] is larger than the input images");
    ck_assert_msg(strstr(out, "win.yaml:4:") && strstr(out, "at most [8, 8]"), "%s", out);
    write_graph(dir, "topk.yaml", "",
                "  - {name: c1, op: conv2d, in: image, out_channels: 4, kernel: 3, pad: 1}\n"
                "  - {name: m, op: topk_mask, k: 65}\n"
                "  - {name: g, op: global_avgpool}\n"
                "  - {name: logits, op: linear, out_features: 3}\n");
    expect_refused(dir, "init topk.yaml -q", "k 65 is more than the 64 positions");
    ck_assert_msg(strstr(out, "topk.yaml:5:") != NULL, "%s", out);
    write_graph(dir, "ok.yaml", "",
                "  - {name: o, op: occlude, in: image, window: [8, 8]}\n"
                "  - {name: c1, op: conv2d, out_channels: 4, kernel: 3, pad: 1}\n"
                "  - {name: m, op: topk_mask, k: 64}\n"
                "  - {name: g, op: global_avgpool}\n"
                "  - {name: logits, op: linear, out_features: 3}\n");
    expect_ok(dir, "init ok.yaml -q");
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* data.resize past the loader's 4096 passed the YAML check; data.workers
 * past 64 was clamped; FX_DATA_CACHE_MB=abc or -5 fell back to the
 * default (or wrapped) without a word. */
START_TEST(test_data_limits_are_refused_not_clamped_or_ignored)
{
    char *dir = fxtest_tempdir();
    rel_write_idx(dir);
    char path[700];
    snprintf(path, sizeof path, "%s/resize.yaml", dir);
    fxtest_write_file(path, REL_NET_YAML "data:\n  train: {idx: {images: img.idx, labels: lab.idx}}\n"
                                         "  resize: 5000\ntrain: {batch: 4, epochs: 1}\n");
    expect_refused(dir, "train resize.yaml", "resize.yaml:13:");
    ck_assert_msg(strstr(out, "data.resize") && strstr(out, "4096"), "%s", out);
    snprintf(path, sizeof path, "%s/workers.yaml", dir);
    fxtest_write_file(path, REL_NET_YAML "data:\n  train: {idx: {images: img.idx, labels: lab.idx}}\n"
                                         "  workers: 100\ntrain: {batch: 4, epochs: 1}\n");
    expect_refused(dir, "train workers.yaml", "workers.yaml:13:");
    ck_assert_msg(strstr(out, "data.workers") && strstr(out, "64"), "%s", out);
    rel_write_config(dir, "ok.yaml", NULL, "batch: 4, epochs: 1");
    const char *bad[] = { "abc", "-5", "1e3", "99999999999999999999" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("FX_DATA_CACHE_MB", bad[i], 1);
        expect_refused(dir, "train -q ok.yaml", "FX_DATA_CACHE_MB=");
        ck_assert_msg(strstr(out, bad[i]) && strstr(out, "whole number of MiB"), "%s: %s", bad[i], out);
    }
    setenv("FX_DATA_CACHE_MB", "0", 1);
    expect_ok(dir, "train -q ok.yaml");
    unsetenv("FX_DATA_CACHE_MB");
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

static void write_npy_f32(const char *path, int n, int c, int h, int w, float fill_nan_at)
{
    fx_context *ctx = fxtest_context();
    int64_t dims[4] = { n, c, h, w };
    fx_shape s = fx_shape_make(4, dims);
    int64_t count = fx_shape_numel(&s);
    fx_array a = { FX_F32, s, fxtest_random(3, count) };
    if (fill_nan_at >= 0)
        ((float *)a.data)[(int64_t)fill_nan_at] = NAN;
    ck_assert_int_eq(fx_npy_write(ctx, path, &a), FX_OK);
    fx_array_free(&a);
    fx_context_destroy(ctx);
}

static void write_npy_i32(const char *path, int n)
{
    fx_context *ctx = fxtest_context();
    int64_t dims[1] = { n };
    int32_t *v = malloc((size_t)n * sizeof *v);
    ck_assert(v != NULL);
    for (int i = 0; i < n; i++)
        v[i] = i % 3;
    fx_array a = { FX_I32, fx_shape_make(1, dims), v };
    ck_assert_int_eq(fx_npy_write(ctx, path, &a), FX_OK);
    fx_array_free(&a);
    fx_context_destroy(ctx);
}

/* A .npy of uint8 elements, written by hand (fx writes <f4 and <i4 only). */
static void write_npy_u8(const char *path, int n)
{
    char header[128];
    int len = snprintf(header, sizeof header, "{'descr': '|u1', 'fortran_order': False, 'shape': (%d, 1, 8, 8), }",
                       n);
    int total = 10 + len + 1;
    int pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc((len + pad + 1) & 0xff, f);
    fputc((len + pad + 1) >> 8, f);
    fwrite(header, 1, (size_t)len, f);
    for (int i = 0; i < pad; i++)
        fputc(' ', f);
    fputc('\n', f);
    for (int i = 0; i < n * 64; i++)
        fputc(i & 0xff, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* --feed twice once let the later one win silently; a |u1 array was
 * "int32"; an index past int once read as platform -1. */
START_TEST(test_feeds_and_backends_say_what_is_wrong)
{
    char *dir = fxtest_tempdir();
    write_graph(dir, "net.yaml", "", CONV_POOL_LINEAR);
    char a[700], b[700], y[700], u8[700];
    snprintf(a, sizeof a, "%s/a.npy", dir);
    snprintf(b, sizeof b, "%s/b.npy", dir);
    snprintf(y, sizeof y, "%s/y.npy", dir);
    snprintf(u8, sizeof u8, "%s/u8.npy", dir);
    write_npy_f32(a, 4, 1, 8, 8, -1);
    write_npy_f32(b, 4, 1, 8, 8, -1);
    write_npy_i32(y, 4);
    write_npy_u8(u8, 4);
    expect_ok(dir, "run net.yaml --feed image=a.npy --feed label=y.npy");
    expect_refused(dir, "run net.yaml --feed image=a.npy --feed label=y.npy --feed image=b.npy",
                   "--feed image is given twice ('a.npy' and 'b.npy')");
    expect_refused(dir, "run net.yaml --feed image=u8.npy --feed label=y.npy", "holds uint8 ('|u1'), but float32");
    ck_assert_msg(strstr(out, "--feed image") && strstr(out, "astype(numpy.float32)") && !strstr(out, "int32"),
                  "%s", out);
    /* A parameter is float32 too: integers once went in as their bits. */
    expect_refused(dir, "run net.yaml --feed image=a.npy --feed label=y.npy --feed logits.bias=y.npy",
                   "holds int32 ('<i4'), but float32 is needed");
    unlink(b);
    ck_assert_int_eq(mkdir(b, 0755), 0); /* b.npy is now a folder */
    expect_refused(dir, "run net.yaml --feed image=b.npy --feed label=y.npy", "is a folder");
    ck_assert_msg(strstr(out, "bad magic") == NULL, "%s", out);
    /* Only where an OpenCL device is listed (the index is parsed once
     * the platforms are known). */
    rel_fxrun(dir, "devices", out, sizeof out);
    if (strstr(out, "  opencl:0:0 ") != NULL) {
        expect_refused(dir, "run net.yaml --feed image=a.npy --feed label=y.npy --backend opencl:99999999999999999999:0",
                       "too large");
        ck_assert_msg(strstr(out, "platform -1") == NULL, "%s", out);
    }
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* `fxrun run` printed `total loss = nan` and exited 0; `eval` printed
 * "loss nan". */
START_TEST(test_run_and_eval_refuse_a_non_finite_loss)
{
    char *dir = fxtest_tempdir();
    write_graph(dir, "net.yaml", "", CONV_POOL_LINEAR);
    char x[700], y[700];
    snprintf(x, sizeof x, "%s/x.npy", dir);
    snprintf(y, sizeof y, "%s/y.npy", dir);
    write_npy_f32(x, 4, 1, 8, 8, 70); /* a NaN in the second image */
    write_npy_i32(y, 4);
    expect_refused(dir, "run net.yaml --feed image=x.npy --feed label=y.npy --fetch logits=l.npy",
                   "loss term 'softmax_cross_entropy0' is nan: ");
    char path[700];
    snprintf(path, sizeof path, "%s/l.npy", dir);
    ck_assert_msg(access(path, F_OK) == 0, "the fetched values are written first, to look at");

    /* eval: a checkpoint whose logits.bias holds a NaN (valid CRC). */
    rel_write_idx(dir);
    rel_write_config(dir, "ev.yaml", NULL, "batch: 4, epochs: 1, checkpoint: ev.fxck");
    expect_ok(dir, "init ev.yaml -q");
    expect_ok(dir, "eval ev.yaml");
    snprintf(path, sizeof path, "%s/ev.fxck", dir);
    size_t size;
    unsigned char *ck = read_all(path, &size);
    const char *name = "logits.bias";
    unsigned char *at = NULL;
    for (size_t i = 0; i + strlen(name) < size && !at; i++)
        if (!memcmp(ck + i, name, strlen(name)) && ck[i - 2] == strlen(name))
            at = ck + i + strlen(name);
    ck_assert_msg(at != NULL, "no tensor logits.bias in the checkpoint");
    /* name, u8 dtype, u8 ndim (1), i64 dim, u64 bytes, data */
    ck_assert_int_eq(at[1], 1);
    float nan = NAN;
    memcpy(at + 2 + 8 + 8, &nan, 4);
    reseal(path, ck, size);
    free(ck);
    expect_refused(dir, "eval ev.yaml", "the loss is nan (loss term 'softmax_cross_entropy0' is not finite)");
    ck_assert_msg(strstr(out, "evaluating examples 0 to 3") != NULL, "%s", out);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* Labels past the classifier's width were found by the loss kernel at the
 * first batch holding one, mid-run. */
START_TEST(test_labels_beyond_the_classifier_are_refused_before_step_1)
{
    char *dir = fxtest_tempdir();
    rel_write_idx(dir); /* labels 0, 1, 2 */
    rel_write_config(dir, "two.yaml",
                     "name: two\ninput: {image: [1, 8, 8], label: []}\nlayers:\n"
                     "  - {name: g, op: global_avgpool, in: image}\n"
                     "  - {name: logits, op: linear, out_features: 2}\n"
                     "losses:\n  - {name: ce, op: softmax_cross_entropy, in: [logits, label]}\n",
                     "batch: 4, epochs: 1, checkpoint: two.fxck");
    expect_refused(dir, "train two.yaml", "the train data (data.train) has 3 classes (labels 0 to 2)");
    ck_assert_msg(strstr(out, "loss 'ce' reads logits 'logits' of only 2 classes; set out_features of layer "
                              "'logits' to 3"), "%s", out);
    ck_assert_msg(strstr(out, "training '") == NULL, "it started training first:\n%s", out);
    expect_ok(dir, "init two.yaml -q");
    expect_refused(dir, "eval two.yaml", "has 3 classes");
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* Resume once took any --seed and --batch and trusted the counters. */
START_TEST(test_resume_refuses_another_seed_or_batch_and_impossible_counters)
{
    char *dir = fxtest_tempdir();
    rel_write_idx(dir);
    rel_write_config(dir, "net.yaml", NULL, "batch: 4, epochs: 1, seed: 5, checkpoint: net.fxck");
    expect_ok(dir, "train -q net.yaml");
    expect_refused(dir, "train net.yaml --resume --epochs 2 --seed 6", "written by a run with seed 5, but this run");
    ck_assert_msg(strstr(out, "resume with --seed 5"), "%s", out);
    expect_refused(dir, "train net.yaml --resume --epochs 2 --batch 8", "with train.batch 4, but this run has batch 8");
    ck_assert_msg(strstr(out, "resume with --batch 4"), "%s", out);
    /* A step that does not fall in its epoch (epoch 1 of 8 steps holds
     * steps 8..16), with a valid CRC: offset 32 is the step. */
    char path[700];
    snprintf(path, sizeof path, "%s/net.fxck", dir);
    size_t size;
    unsigned char *ck = read_all(path, &size);
    unsigned char *copy = malloc(size);
    ck_assert(copy != NULL);
    memcpy(copy, ck, size);
    put_le64(ck + 32, 100);
    reseal(path, ck, size);
    expect_refused(dir, "train net.yaml --resume --epochs 2", "is at step 100 of epoch 2, but an epoch of this run "
                                                               "has 8 steps");
    put_le64(ck + 32, -5);
    reseal(path, ck, size);
    expect_refused(dir, "train net.yaml --resume --epochs 2", "impossible counters (epoch 1, step -5");
    put_le64(ck + 32, 8);
    put_le64(ck + 48, INT64_MAX); /* optimiser steps */
    reseal(path, ck, size);
    expect_refused(dir, "train net.yaml --resume --epochs 2", "impossible counters");
    /* A checkpoint from before the batch field (its header 8 bytes
     * shorter) records no batch: it resumes with any batch that puts its
     * step in its epoch. */
    size_t hs = (size_t)copy[12] | (size_t)copy[13] << 8 | (size_t)copy[14] << 16 | (size_t)copy[15] << 24;
    unsigned char *old = malloc(size - 8);
    ck_assert(old != NULL);
    memcpy(old, copy, hs - 8);
    memcpy(old + hs - 8, copy + hs, size - hs);
    for (int i = 0; i < 4; i++)
        old[12 + i] = (unsigned char)((hs - 8) >> (8 * i));
    put_le64(old + 16, (int64_t)(size - 8));
    put_le64(old + size - 8 - 12, (int64_t)(size - 8 - 12));
    reseal(path, old, size - 8);
    free(old);
    expect_ok(dir, "train net.yaml --resume --epochs 2");
    ck_assert_msg(strstr(out, "resumed from net.fxck: epoch 1, step 8"), "%s", out);
    reseal(path, copy, size);
    expect_ok(dir, "train net.yaml --resume --epochs 2");
    ck_assert_msg(strstr(out, "resumed from net.fxck: epoch 1, step 8"), "%s", out);
    free(copy);
    free(ck);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reliability_input");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_yaml_tags_are_refused_with_their_position);
    tcase_add_test(tc, test_init_groups_that_match_nothing_and_negative_stds_are_refused);
    tcase_add_test(tc, test_an_occlusion_window_or_topk_beyond_the_input_is_refused);
    tcase_add_test(tc, test_data_limits_are_refused_not_clamped_or_ignored);
    tcase_add_test(tc, test_feeds_and_backends_say_what_is_wrong);
    tcase_add_test(tc, test_run_and_eval_refuse_a_non_finite_loss);
    tcase_add_test(tc, test_labels_beyond_the_classifier_are_refused_before_step_1);
    tcase_add_test(tc, test_resume_refuses_another_seed_or_batch_and_impossible_counters);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
