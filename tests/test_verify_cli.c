/* tests/test_verify_cli.c - `fxrun pairs`, `features`, `verify` and
 * `identify` end to end on a small network trained for a few steps on the
 * ORL faces of ../shared/data (skipped, saying so, when absent): verify's
 * per-pair scores must equal the cosine similarity of the rows `features`
 * wrote for the two images, its accuracy the protocol recomputed from those
 * scores, identify's rank-1 the identification recomputed from the same
 * features; and bad command lines and pairs files end in one clear
 * message naming the file and line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fxtest.h"
#include "fx/verify.h"

#define ORL FX_SOURCE_DIR "/../shared/data/orl"

static char out[1 << 16];

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

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(fread(s, 1, (size_t)n, f), n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* The number after "key": in text (the first occurrence after from). */
static double json_number(const char *from, const char *key)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(from, pat);
    ck_assert_msg(p != NULL, "JSON lacks %s", key);
    return strtod(p + strlen(pat), NULL);
}

/* A tiny net: conv, BN, ReLU, pool, conv, ReLU, global average (feat),
 * dropout, linear over ORL's 40 people. */
static const char *tiny_yaml =
    "name: tiny-face\n"
    "input: {image: [1, 32, 32], label: []}\n"
    "layers:\n"
    "  - {name: c1, op: conv2d, in: image, out_channels: 8, kernel: 3, pad: 1}\n"
    "  - {name: b1, op: batchnorm}\n"
    "  - {name: r1, op: relu}\n"
    "  - {name: p1, op: maxpool2d, kernel: 2}\n"
    "  - {name: c2, op: conv2d, out_channels: 16, kernel: 3, pad: 1}\n"
    "  - {name: r2, op: relu}\n"
    "  - {name: feat, op: global_avgpool}\n"
    "  - {name: drop, op: dropout, rate: 0.2}\n"
    "  - {name: logits, op: linear, out_features: 40}\n"
    "losses:\n"
    "  - {op: softmax_cross_entropy, in: [logits, label]}\n"
    "data: {train: {imagefolder: " ORL "}, channels: 1, resize: 36, size: 32, crop: random}\n"
    "train: {batch: 16, epochs: 1, checkpoint: tiny.fxck, lr: 0.01, optimizer: adam}\n";

START_TEST(test_pairs_features_verify_identify_agree_on_a_trained_net)
{
    if (access(ORL, R_OK) != 0) {
        printf("skipped: %s not found (the shared face data)\n", ORL);
        return;
    }
    fx_context *ctx = fxtest_context();
    char *dir = fxtest_tempdir();
    char yaml[512], args[2048], pairs[512], npy[512], txt[512], json[512], png[512], idjson[512];
    snprintf(yaml, sizeof yaml, "%s/tiny.yaml", dir);
    fxtest_write_file(yaml, tiny_yaml);
    snprintf(args, sizeof args, "train %s --steps 10 --threads 1 -q", yaml);
    ck_assert_msg(fxrun(args) == 0, "%s", out);

    /* pairs: seeded, the same file twice. */
    snprintf(pairs, sizeof pairs, "%s/pairs.txt", dir);
    snprintf(args, sizeof args, "pairs --images %s --folds 4 --per-fold 10 --seed 5 --output %s", ORL, pairs);
    ck_assert_msg(fxrun(args) == 0, "%s", out);
    char *first = read_text(pairs);
    ck_assert_int_eq(fxrun(args), 0);
    char *second = read_text(pairs);
    ck_assert_str_eq(first, second);
    free(first);
    free(second);
    fx_pairs p;
    ck_assert_msg(fx_pairs_read(ctx, pairs, &p) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(p.n, 80);

    /* features of every ORL image. */
    snprintf(npy, sizeof npy, "%s/f.npy", dir);
    snprintf(txt, sizeof txt, "%s/f.txt", dir);
    snprintf(args, sizeof args, "features %s --images %s --output %s", yaml, ORL, npy);
    ck_assert_msg(fxrun(args) == 0, "%s", out);
    fx_array feats;
    ck_assert_msg(fx_npy_read(ctx, npy, &feats) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(feats.shape.ndim, 2);
    ck_assert_int_eq(feats.shape.dim[0], 400);
    ck_assert_int_eq(feats.shape.dim[1], 16);
    const float *fv = feats.data;
    /* The list: "index\tfile\tidentity" per image. */
    char *list = read_text(txt);
    char **files = calloc(400, sizeof *files);
    int32_t labels[400];
    char names[40][16];
    int n_names = 0;
    ck_assert_ptr_nonnull(files);
    char *line = strchr(list, '\n') + 1;
    for (int i = 0; i < 400; i++) {
        char *tab1 = strchr(line, '\t'), *tab2 = strchr(tab1 + 1, '\t'), *end = strchr(tab2 + 1, '\n');
        ck_assert_int_eq(atoi(line), i);
        *tab2 = '\0';
        *end = '\0';
        files[i] = tab1 + 1;
        int k = 0;
        while (k < n_names && strcmp(names[k], tab2 + 1) != 0)
            k++;
        if (k == n_names)
            snprintf(names[n_names++], sizeof names[0], "%s", tab2 + 1);
        labels[i] = k;
        line = end + 1;
    }
    ck_assert_int_eq(n_names, 40);

    /* verify: every pair's score is the cosine of the two rows. */
    snprintf(json, sizeof json, "%s/v.json", dir);
    snprintf(png, sizeof png, "%s/roc.png", dir);
    snprintf(args, sizeof args, "verify %s --pairs %s --images %s --json %s --roc %s", yaml, pairs, ORL, json, png);
    ck_assert_msg(fxrun(args) == 0, "%s", out);
    ck_assert_msg(strstr(out, "TAR@FAR") && strstr(out, "EER") && strstr(out, "accuracy"), "%s", out);
    char *v = read_text(json);
    const char *scores = strstr(v, "\"scores\":[");
    ck_assert_ptr_nonnull(scores);
    double *mine = malloc((size_t)p.n * sizeof *mine);
    int *matched = malloc((size_t)p.n * sizeof *matched), *fold = malloc((size_t)p.n * sizeof *fold);
    ck_assert(mine && matched && fold);
    const char *cursor = scores;
    for (int64_t i = 0; i < p.n; i++) {
        int row[2];
        for (int s = 0; s < 2; s++) {
            char path[2048];
            ck_assert_int_eq(fx_pairs_image_path(ctx, ORL, p.pair[i].name[s], p.pair[i].number[s], path, sizeof path),
                             FX_OK);
            row[s] = -1;
            for (int k = 0; k < 400 && row[s] < 0; k++)
                if (!strcmp(files[k], path))
                    row[s] = k;
            ck_assert_msg(row[s] >= 0, "%s is not in f.txt", path);
        }
        mine[i] = fx_cosine_similarity(fv + row[0] * 16, fv + row[1] * 16, 16);
        matched[i] = p.pair[i].matched;
        fold[i] = p.pair[i].fold;
        cursor = strstr(cursor, "{\"line\":");
        ck_assert_ptr_nonnull(cursor);
        ck_assert_int_eq((int)json_number(cursor, "line"), p.pair[i].line);
        double theirs = json_number(cursor, "score");
        ck_assert_msg(fabs(theirs - mine[i]) < 1e-6, "pair on line %d: verify %g, features %g", p.pair[i].line,
                      theirs, mine[i]);
        cursor++;
    }
    fx_verify_result r;
    ck_assert_int_eq(fx_verify_evaluate(ctx, mine, matched, fold, p.n, p.folds, &r), FX_OK);
    ck_assert_double_eq_tol(json_number(v, "accuracy_mean"), r.accuracy_mean, 1e-9);
    ck_assert_double_eq_tol(json_number(v, "auc"), r.auc, 1e-6);
    ck_assert_int_eq((int)json_number(v, "folds"), 4);
    ck_assert_ptr_nonnull(strstr(v, "\"occlusion\":null"));
    fx_verify_result_free(&r);
    free(v);
    char *img = read_text(png);
    ck_assert_int_eq(memcmp(img, "\x89PNG", 4), 0);
    free(img);

    /* identify with 2 gallery images per person: rank-1 as recomputed. */
    snprintf(idjson, sizeof idjson, "%s/id.json", dir);
    snprintf(args, sizeof args, "identify %s --images %s --gallery 2 --json %s", yaml, ORL, idjson);
    ck_assert_msg(fxrun(args) == 0, "%s", out);
    fx_identify_result ir;
    ck_assert_int_eq(fx_identify_evaluate(ctx, fv, 16, labels, 400, 40, 2, &ir), FX_OK);
    char *id = read_text(idjson);
    ck_assert_int_eq((int)json_number(id, "probes"), 320);
    ck_assert_double_eq_tol(json_number(id, "rank1"), ir.rank1, 1e-9);
    ck_assert_double_eq_tol(json_number(id, "rank5"), ir.rank5, 1e-9);
    fx_identify_result_free(&ir);
    free(id);

    /* --occlude: the window is recorded and the run works. */
    snprintf(args, sizeof args, "verify %s --pairs %s --images %s --occlude -q --json %s", yaml, pairs, ORL, json);
    ck_assert_msg(fxrun(args) == 0, "%s", out);
    v = read_text(json);
    ck_assert_msg(strstr(v, "\"occlusion\":{\"x\":20,\"y\":30,\"width\":32,\"height\":12,\"frame\":110"), "%.300s", v);
    free(v);

    /* Errors: each one message naming the fix, file or line. */
    snprintf(args, sizeof args, "verify %s --images %s", yaml, ORL);
    expect_fail(args, "verify needs --pairs FILE");
    char bad[512];
    snprintf(bad, sizeof bad, "%s/bad.txt", dir);
    fxtest_write_file(bad, "1 1\ns1 1 2\ns2 1 s3 1 x\n");
    snprintf(args, sizeof args, "verify %s --pairs %s --images %s", yaml, bad, ORL);
    expect_fail(args, "bad.txt:3: expected 'NAME N1 N2'");
    fxtest_write_file(bad, "1 1\nNobody 1 2\ns2 1 s3 1\n");
    expect_fail(args, "bad.txt:2");
    ck_assert_ptr_nonnull(strstr(out, "no folder for 'Nobody'"));
    fxtest_write_file(bad, "1 1\ns1 1 12\ns2 1 s3 1\n");
    expect_fail(args, "'s1' has 10 images");
    snprintf(args, sizeof args, "verify %s --pairs %s --images %s --occlude-at 100,100", yaml, pairs, ORL);
    expect_fail(args, "outside the 110x110 mean face");
    snprintf(args, sizeof args, "verify %s --pairs %s --images %s --occlude-at 1,2,3", yaml, pairs, ORL);
    expect_fail(args, "--occlude-at expects 2 comma-separated integers");
    snprintf(args, sizeof args, "features %s --images %s", yaml, ORL);
    expect_fail(args, "features needs --output");
    snprintf(args, sizeof args, "identify %s --images %s --gallery 10", yaml, ORL);
    expect_fail(args, "lower --gallery");
    snprintf(args, sizeof args, "pairs --images %s --folds 30 --output %s", ORL, bad);
    expect_fail(args, "lower --folds");
    snprintf(args, sizeof args, "features %s --images %s --output %s --feature nope", yaml, ORL, npy);
    expect_fail(args, "no value named 'nope'");
    snprintf(args, sizeof args, "features %s --images %s --output %s --checkpoint %s", yaml, ORL, npy, pairs);
    expect_fail(args, "not an fx checkpoint");

    free(mine);
    free(matched);
    free(fold);
    free(files);
    free(list);
    fx_array_free(&feats);
    fx_pairs_free(&p);
    fxtest_remove_tree(dir);
    free(dir);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_help_lists_the_face_commands)
{
    ck_assert_int_eq(fxrun("--help"), 0);
    const char *words[] = { "features", "verify", "identify", "pairs", "--pairs", "--occlude", "--occlude-at", "--roc",
                            "--json", "--gallery", "--per-fold" };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        ck_assert_msg(strstr(out, words[i]) != NULL, "--help lacks %s", words[i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("verify_cli");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_pairs_features_verify_identify_agree_on_a_trained_net);
    tcase_add_test(tc, test_help_lists_the_face_commands);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
