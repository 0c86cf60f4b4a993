/* tests/test_reliability.c - inputs that once crashed or hung fxrun (issue
 * 10): each must now end in one clear message and a non-zero exit (or the
 * documented behaviour), never a signal or a hang. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fx/verify.h"
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

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Lists the .clbin entries of `dir` into names (at most max). */
static int list_entries(const char *dir, char names[][600], int max)
{
    char cmd[700], listing[8192];
    snprintf(cmd, sizeof cmd, "ls -1 '%s'/*.clbin", dir);
    fxtest_run(cmd, listing, sizeof listing);
    int n = 0;
    for (char *line = strtok(listing, "\n"); line && n < max; line = strtok(NULL, "\n"))
        snprintf(names[n++], 600, "%s", line);
    return n;
}

/* A structurally valid entry holding another program's binary once broke
 * every later OpenCL run with CL_INVALID_KERNEL_NAME. Two forgeries: a
 * file copied under another entry's name (its stored key differs), and an
 * entry whose key is right but whose binary is another program's (found
 * when a kernel is missing; dropped and rebuilt). */
START_TEST(test_a_wrong_kernel_cache_entry_is_rebuilt_not_fatal)
{
    if (!fxtest_have_opencl())
        return;
    char *dir = fxtest_tempdir();
    char cache[600], args[1200];
    snprintf(cache, sizeof cache, "%s/cache", dir);
    rel_write_idx(dir);
    rel_write_config(dir, "net.yaml", NULL, "batch: 4, epochs: 1, predict: logits");
    snprintf(args, sizeof args, "bench net.yaml --steps 1 --batch 4 --backend opencl");
    char env_args[1400];
    snprintf(env_args, sizeof env_args, "%s", args);
    setenv("FX_KERNEL_CACHE_DIR", cache, 1);
    ck_assert_msg(rel_fxrun(dir, env_args, out, sizeof out) == 0, "first OpenCL run:\n%s", out);
    char names[32][600];
    int n = list_entries(cache, names, 32);
    ck_assert_msg(n >= 2, "expected at least two cache entries in %s, found %d:\n%s", cache, n, out);
    size_t n0, n1;
    unsigned char *a = slurp(names[0], &n0), *b = slurp(names[1], &n1);
    /* 1: entry 0's file copied over entry 1. */
    FILE *f = fopen(names[1], "wb");
    fwrite(a, 1, n0, f);
    fclose(f);
    ck_assert_msg(rel_fxrun(dir, env_args, out, sizeof out) == 0, "run with a copied entry:\n%s", out);
    /* 2: entry 1's key with entry 0's binary and a valid checksum. */
    uint64_t ka = le64(a + 8), kb = le64(b + 8), na = le64(a + 16);
    ck_assert_int_eq(n0, 32 + ka + na);
    size_t total = 32 + kb + na;
    unsigned char *forged = malloc(total);
    memcpy(forged, b, 32 + kb);
    memcpy(forged + 32 + kb, a + 32 + ka, na);
    put_le64(forged + 16, na);
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 32; i < total; i++) {
        h ^= forged[i];
        h *= 0x100000001b3ull;
    }
    put_le64(forged + 24, h);
    f = fopen(names[1], "wb");
    fwrite(forged, 1, total, f);
    fclose(f);
    ck_assert_msg(rel_fxrun(dir, env_args, out, sizeof out) == 0, "run with a forged entry:\n%s", out);
    /* ...and the entry was rewritten, so the next run loads a good one. */
    size_t nn;
    unsigned char *now = slurp(names[1], &nn);
    ck_assert_msg(nn != total || memcmp(now, forged, total) != 0, "the bad entry was kept");
    ck_assert_msg(rel_fxrun(dir, env_args, out, sizeof out) == 0, "run after the rebuild:\n%s", out);
    unsetenv("FX_KERNEL_CACHE_DIR");
    free(a);
    free(b);
    free(forged);
    free(now);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* Writes that failed once reported success (exit 0). */
START_TEST(test_failed_writes_are_errors_and_predictions_are_atomic)
{
    if (access("/dev/full", W_OK) != 0) {
        printf("skipped: no /dev/full here\n");
        return;
    }
    char *dir = fxtest_tempdir();
    rel_write_idx(dir);
    rel_write_config(dir, "net.yaml", NULL, "batch: 4, epochs: 1, predict: logits, checkpoint: net.fxck");
    expect_refused(dir, "train net.yaml --metrics /dev/full", "writing the metrics failed");
    ck_assert_int_eq(rel_fxrun(dir, "train net.yaml", out, sizeof out), 0);
    expect_refused(dir, "infer net.yaml --output /dev/full", "writing failed");
    char cmd[800];
    snprintf(cmd, sizeof cmd, "cd '%s' && { timeout -s KILL 60 %s infer net.yaml > /dev/full; }", dir, fxtest_fxrun());
    int rc = fxtest_run(cmd, out, sizeof out);
    ck_assert_msg(rc == 1 && strstr(out, "writing the standard output failed"), "stdout on /dev/full (%d):\n%s",
                  rc, out);
    /* A good run writes the whole file; a failed run leaves the old one
     * and no temporary file. */
    ck_assert_int_eq(rel_fxrun(dir, "infer net.yaml --output pred.csv", out, sizeof out), 0);
    char path[700], listing[4096];
    snprintf(path, sizeof path, "%s/pred.csv", dir);
    size_t n = 0;
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    while (fgets(line, sizeof line, f))
        n++;
    fclose(f);
    ck_assert_int_eq(n, 1 + REL_N);
    rel_write_config(dir, "bad.yaml", NULL, "batch: 4, epochs: 1, predict: logits, checkpoint: missing.fxck");
    expect_refused(dir, "infer bad.yaml --output pred.csv", "missing.fxck");
    snprintf(cmd, sizeof cmd, "ls -a '%s'", dir);
    fxtest_run(cmd, listing, sizeof listing);
    ck_assert_msg(strstr(listing, ".tmp.") == NULL, "a temporary file was left:\n%s", listing);
    f = fopen(path, "r");
    n = 0;
    while (fgets(line, sizeof line, f))
        n++;
    fclose(f);
    ck_assert_int_eq(n, 1 + REL_N);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* A 60-byte gzip IDX file announcing 4 GB once made fx reserve it all
 * before reading (found by fuzz_idx): under a 1 GiB address-space limit
 * that was "out of memory"; the file is simply truncated. */
START_TEST(test_a_small_gzip_idx_announcing_gigabytes_is_truncated_not_out_of_memory)
{
    char *dir = fxtest_tempdir();
    rel_write_idx(dir);
    char cmd[2000];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && printf '\\000\\000\\010\\003\\000\\001\\000\\000\\000\\000\\001\\000\\000\\000\\001\\000abc' "
             "| gzip > big.idx.gz",
             dir);
    ck_assert_int_eq(system(cmd), 0);
    char text[1024], path[700];
    snprintf(text, sizeof text, REL_NET_YAML "data:\n  train: {idx: {images: big.idx.gz, labels: lab.idx}}\n"
                                "train: {batch: 4, epochs: 1}\n");
    snprintf(path, sizeof path, "%s/big.yaml", dir);
    fxtest_write_file(path, text);
    snprintf(cmd, sizeof cmd, "cd '%s' && ulimit -v 1048576 && timeout -s KILL 60 %s train big.yaml", dir,
             fxtest_fxrun());
    int rc = fxtest_run(cmd, out, sizeof out);
    if (strstr(out, "ReserveShadowMemoryRange")) {
        printf("skipped: an AddressSanitizer build cannot run under ulimit -v\n");
        fxtest_remove_tree(dir);
        free(dir);
        return;
    }
    ck_assert_msg(rc == 1 && strstr(out, "truncated"), "status %d:\n%s", rc, out);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* Runs a long training in the background, sends `signals` (e.g. "TERM" or
 * "INT INT") after 1.5 s, and returns fxrun's status; its output in out. */
static int train_and_signal(const char *dir, const char *yaml, const char *signals)
{
    char cmd[2000];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && { %s train -q %s > run.log 2>&1 & pid=$!; sleep 1.5; for s in %s; do kill -$s $pid; sleep 0.02; done; "
             "wait $pid; echo \"status=$?\"; cat run.log; }",
             dir, fxtest_fxrun(), yaml, signals);
    fxtest_run(cmd, out, sizeof out);
    const char *p = strstr(out, "status=");
    ck_assert_msg(p != NULL, "no status:\n%s", out);
    return atoi(p + 7);
}

/* SIGINT/SIGTERM: the step finishes, the checkpoint is written, fxrun says
 * so and exits 130; --resume continues from it. A second signal stops at
 * once. */
START_TEST(test_a_signal_stops_training_with_a_checkpoint_and_a_second_stops_at_once)
{
    char *dir = fxtest_tempdir();
    rel_write_idx(dir);
    rel_write_config(dir, "long.yaml", NULL, "batch: 4, epochs: 1000000, predict: logits, checkpoint: net.fxck");
    int rc = train_and_signal(dir, "long.yaml", "TERM");
    ck_assert_msg(rc == 130 && strstr(out, "stopped by a signal after step") && strstr(out, "checkpoint is written"),
                  "SIGTERM (status %d):\n%s", rc, out);
    char path[700];
    snprintf(path, sizeof path, "%s/net.fxck", dir);
    ck_assert_msg(access(path, R_OK) == 0, "no checkpoint after the stop");
    const char *p = strstr(out, "after step ");
    long long first = atoll(p + strlen("after step "));
    ck_assert_msg(first > 0, "stopped at step %lld", first);
    /* --resume loads that step and goes on from it. */
    rc = train_and_signal(dir, "long.yaml --resume", "INT");
    p = strstr(out, "after step ");
    ck_assert_msg(rc == 130 && p, "resume after SIGINT (status %d):\n%s", rc, out);
    long long second = atoll(p + strlen("after step "));
    ck_assert_msg(second > first, "the resumed run stopped at step %lld, not after %lld", second, first);
    /* Two signals: no checkpoint-and-message path, the process just ends. */
    /* Slow steps (convolutions at 768x768: about half a second each on
     * 2 cores), so the second signal arrives while the step the first one
     * lets finish is still running, even on a loaded machine (at 512x512
     * a late second signal now and then found the run already stopped). */
    rel_write_config(dir, "slow.yaml",
                     "name: slow\ninput: {image: [1, 8, 8], label: []}\nlayers:\n"
                     "  - {name: big, op: resize_bilinear, in: image, size: 768}\n"
                     "  - {name: c1, op: conv2d, out_channels: 16, kernel: 3, pad: 1}\n"
                     "  - {name: c2, op: conv2d, out_channels: 16, kernel: 3, pad: 1}\n"
                     "  - {name: c3, op: conv2d, out_channels: 16, kernel: 3, pad: 1}\n"
                     "  - {name: g, op: global_avgpool}\n"
                     "  - {name: logits, op: linear, out_features: 3}\n"
                     "losses:\n  - {op: softmax_cross_entropy, in: [logits, label]}\n",
                     "batch: 4, epochs: 1000, predict: logits, checkpoint: slow.fxck");
    rc = train_and_signal(dir, "slow.yaml", "TERM TERM");
    ck_assert_msg(rc == 128 + 15 && strstr(out, "stopped by a signal") == NULL, "two SIGTERMs (status %d):\n%s", rc, out);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* Nonsense once accepted silently (issue 10). */
START_TEST(test_silent_nonsense_is_refused)
{
    char *dir = fxtest_tempdir();
    rel_write_idx(dir);
    rel_write_config(dir, "net.yaml", NULL, "batch: 4, epochs: 1, predict: logits");
    expect_refused(dir, "train net.yaml --batch 4294967297", "--batch expects an integer from 1 to 1048576");
    ck_assert_int_eq(rel_fxrun(dir, "train net.yaml --batch 4294967297", out, sizeof out), 2);
    expect_refused(dir, "train net.yaml --seed 99999999999999999999", "--seed expects an integer from 0 to");
    expect_refused(dir, "train net.yaml --steps 99999999999999999999999", "--steps expects an integer from 1 to");
    rel_write_config(dir, "nolosses.yaml",
                     "name: n\ninput: {image: [1, 8, 8], label: []}\nlayers:\n"
                     "  - {name: logits, op: linear, in: image, out_features: 3}\n",
                     "batch: 4, epochs: 1, predict: logits");
    expect_refused(dir, "train nolosses.yaml", "has no losses");
    rel_write_config(dir, "minlr.yaml", NULL,
                     "batch: 4, epochs: 1, predict: logits, lr: 0.01, schedule: {type: cosine, min_lr: 2.5}");
    expect_refused(dir, "train minlr.yaml", "min_lr 2.5 is above train.lr");
    /* A failed first save does not claim a previous checkpoint. */
    rel_write_config(dir, "ck.yaml", NULL, "batch: 4, epochs: 1, predict: logits, checkpoint: net.fxck");
    setenv("FX_FAULT", "write:1", 1);
    expect_refused(dir, "train ck.yaml", "no checkpoint was written");
    unsetenv("FX_FAULT");
    ck_assert_msg(strstr(out, "previous checkpoint") == NULL, "%s", out);
    /* A non-finite loss stops training at its step, naming the term. */
    rel_write_config(dir, "nan.yaml",
                     "name: nan\ninput: {image: [1, 8, 8], label: []}\nlayers:\n"
                     "  - {name: c1, op: conv2d, in: image, out_channels: 4, kernel: 3, pad: 1}\n"
                     "  - {name: g, op: global_avgpool}\n"
                     "  - {name: logits, op: linear, out_features: 3}\n"
                     "losses:\n  - {op: softmax_cross_entropy, in: [logits, label]}\n",
                     "batch: 4, epochs: 50, predict: logits, optimizer: sgd, lr: 1000");
    expect_refused(dir, "train nan.yaml", "loss term 'softmax_cross_entropy0' is not finite");
    ck_assert_msg(strstr(out, "step ") != NULL, "no step named:\n%s", out);
    /* An unwritable checkpoint folder is found before the first step. */
    rel_write_config(dir, "nodir.yaml", NULL, "batch: 4, epochs: 1, predict: logits, checkpoint: no/such/dir/x.fxck");
    expect_refused(dir, "train nodir.yaml", "cannot be written");
    ck_assert_msg(strstr(out, "epoch 1/") == NULL, "it trained first:\n%s", out);
    /* A temporary file of a killed run (no such process) is removed. */
    char stale[700];
    snprintf(stale, sizeof stale, "%s/net.fxck.tmp.2147483646", dir);
    fxtest_write_file(stale, "half a checkpoint");
    ck_assert_int_eq(rel_fxrun(dir, "train -q ck.yaml", out, sizeof out), 0);
    ck_assert_msg(access(stale, F_OK) != 0, "the stale %s is still there", stale);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* A pairs header announcing 10^8 pairs once reserved ~9 GB before reading
 * a line (found by tests/fuzz/fuzz_pairs). */
START_TEST(test_a_pairs_header_announcing_more_pairs_than_lines_is_refused_first)
{
    fx_context *ctx = fxtest_context();
    fx_pairs p;
    memset(&p, 0, sizeof p);
    fx_status st = fx_pairs_parse(ctx, "10 5000000\nAnn 1 2\n", "big.txt", &p);
    ck_assert_int_eq(st, FX_ERR_PARSE);
    ck_assert_msg(strstr(fx_context_error(ctx), "big.txt:1: the header announces 100000000 pairs") != NULL, "%s",
                  fx_context_error(ctx));
    fx_pairs_free(&p);
    fx_context_destroy(ctx);
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
    tcase_add_test(tc, test_a_wrong_kernel_cache_entry_is_rebuilt_not_fatal);
    tcase_add_test(tc, test_failed_writes_are_errors_and_predictions_are_atomic);
    tcase_add_test(tc, test_a_small_gzip_idx_announcing_gigabytes_is_truncated_not_out_of_memory);
    tcase_add_test(tc, test_a_signal_stops_training_with_a_checkpoint_and_a_second_stops_at_once);
    tcase_add_test(tc, test_silent_nonsense_is_refused);
    tcase_add_test(tc, test_a_pairs_header_announcing_more_pairs_than_lines_is_refused_first);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
