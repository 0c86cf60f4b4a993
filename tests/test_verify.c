/* tests/test_verify.c - the verification protocol, ROC, TAR at FAR, EER,
 * AUC and rank-k identification against hand-computed examples (the
 * arithmetic is in the comments), and pairs files: both header forms,
 * malformed lines with their line numbers, image lookup under a root, and
 * the seeded generator. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "fxtest.h"
#include "fx/verify.h"

#define EPS 1e-12

/* Three folds of 2 matched (M) + 2 mismatched (N) pairs:
 *   fold 0: M .9, M .6, N .5, N .1
 *   fold 1: M .8, M .3, N .4, N .2
 *   fold 2: M .7, M .35, N .65, N .0
 * "same" when score >= t. Sweeping t upwards over the other folds (correct
 * count starts at the 4 matched; each N passed adds 1, each M passed
 * subtracts 1; t is the midpoint to the next score):
 *   test 0, train {1, 2} sorted .0N .2N .3M .35M .4N .65N .7M .8M:
 *     counts 5 (t .1), 6 (t .25), 5, 4, 5, 6 (t .675), 5, 4 -> best 6/8,
 *     first at t = .25; fold 0 at .25: .9 .6 same, .5 same (wrong), .1
 *     different -> 3/4.
 *   test 1, train {0, 2} sorted .0N .1N .35M .5N .6M .65N .7M .9M:
 *     counts 5, 6 (t .225), 5, 6, 5, 6, 5, 4 -> t = .225; fold 1: .8 .3
 *     same, .4 same (wrong), .2 different -> 3/4.
 *   test 2, train {0, 1} sorted .1N .2N .3M .4N .5N .6M .8M .9M:
 *     counts 5, 6, 5, 6, 7 (t .55), 6, 5, 4 -> t = .55, 7/8; fold 2: .7
 *     same, .35 different (wrong), .65 same (wrong), .0 different -> 1/2.
 * mean = 2/3; std (divide by 3) = sqrt((2 (1/12)^2 + (1/6)^2) / 3)
 * = 0.1178511; sem = sqrt(0.0416667 / 2) / sqrt(3) = 1/12.
 * ROC, scores descending .9M .8M .7M .65N .6M .5N .4N .35M .3M .2N .1N .0N
 * (6 M, 6 N): (0,0) (0,1/6) (0,2/6) (0,3/6) (1/6,3/6) (1/6,4/6) (2/6,4/6)
 * (3/6,4/6) (3/6,5/6) (3/6,1) (4/6,1) (5/6,1) (1,1): 13 points.
 * AUC = (3 + 4 + 4 + 6 + 6 + 6) / 36 = 29/36 (= the share of (M, N) with
 * M > N: 6 + 6 + 6 + 5 + 3 + 3 = 29 of 36).
 * EER: FAR + TAR - 1 reaches 0 at (2/6, 4/6), threshold .5 -> EER 1/3.
 * TAR at FAR 1e-2 (and 1e-3): 6 mismatched pairs cannot resolve 1e-2
 * (resolved = 0), so only FAR 0 qualifies: TAR 3/6 at threshold .7. */
START_TEST(test_three_fold_protocol_roc_auc_eer_match_the_hand_computation)
{
    fx_context *ctx = fxtest_context();
    const double s[12] = { .9, .6, .5, .1, .8, .3, .4, .2, .7, .35, .65, .0 };
    const int m[12] = { 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0 };
    const int f[12] = { 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2 };
    fx_verify_result r;
    ck_assert_int_eq(fx_verify_evaluate(ctx, s, m, f, 12, 3, &r), FX_OK);
    ck_assert_int_eq(r.matched, 6);
    ck_assert_int_eq(r.mismatched, 6);
    const double thr[3] = { .25, .225, .55 }, acc[3] = { .75, .75, .5 }, train[3] = { .75, .75, .875 };
    for (int k = 0; k < 3; k++) {
        ck_assert_msg(fabs(r.fold[k].threshold - thr[k]) < EPS, "fold %d threshold %.17g", k, r.fold[k].threshold);
        ck_assert_double_eq_tol(r.fold[k].accuracy, acc[k], EPS);
        ck_assert_double_eq_tol(r.fold[k].train_accuracy, train[k], EPS);
        ck_assert_int_eq(r.fold[k].pairs, 4);
    }
    ck_assert_double_eq_tol(r.accuracy_mean, 2.0 / 3.0, EPS);
    ck_assert_double_eq_tol(r.accuracy_std, sqrt((2.0 / 144 + 1.0 / 36) / 3), EPS);
    ck_assert_double_eq_tol(r.accuracy_sem, 1.0 / 12, EPS);
    ck_assert_int_eq(r.n_roc, 13);
    const double far[13] = { 0, 0, 0, 0, 1. / 6, 1. / 6, 2. / 6, 3. / 6, 3. / 6, 3. / 6, 4. / 6, 5. / 6, 1 };
    const double tar[13] = { 0, 1. / 6, 2. / 6, 3. / 6, 3. / 6, 4. / 6, 4. / 6, 4. / 6, 5. / 6, 1, 1, 1, 1 };
    for (int k = 0; k < 13; k++) {
        ck_assert_msg(fabs(r.roc[k].far - far[k]) < EPS && fabs(r.roc[k].tar - tar[k]) < EPS,
                      "ROC point %d: (%g, %g), by hand (%g, %g)", k, r.roc[k].far, r.roc[k].tar, far[k], tar[k]);
    }
    ck_assert_double_eq_tol(r.auc, 29.0 / 36, EPS);
    ck_assert_double_eq_tol(r.eer, 1.0 / 3, 1e-9);
    ck_assert_double_eq_tol(r.eer_threshold, .5, 1e-9);
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(r.tar_at_far[k].resolved, 0);
        ck_assert_double_eq_tol(r.tar_at_far[k].tar, .5, EPS);
        ck_assert_double_eq_tol(r.tar_at_far[k].far, 0, EPS);
        ck_assert_double_eq_tol(r.tar_at_far[k].threshold, .7, EPS);
    }
    fx_verify_result_free(&r);
    fx_context_destroy(ctx);
}
END_TEST

/* Ten folds of one M and one N. Folds 0-8: M .9, N .1; fold 9 inverted:
 * M .05, N .95.
 *   test f < 9, train = 8 good folds + fold 9, sorted .05M .1N x8 .9M x8
 *   .95N: counts from 9: 8 (t .075), 16 (t .5), 8, 9 -> t = .5 (16/18);
 *   fold f: .9 same, .1 different -> 1.
 *   test 9, train = 9 good folds: 9 -> 18 at t = .5; fold 9 at .5: M .05
 *   different, N .95 same -> 0.
 * mean = .9; std = sqrt((9 (.1)^2 + (.9)^2) / 10) = .3;
 * sem = sqrt(.9 / 9) / sqrt(10) = .1. */
START_TEST(test_ten_fold_protocol_chooses_each_threshold_on_the_other_nine)
{
    fx_context *ctx = fxtest_context();
    double s[20];
    int m[20], f[20];
    for (int k = 0; k < 10; k++) {
        s[2 * k] = k < 9 ? .9 : .05;
        s[2 * k + 1] = k < 9 ? .1 : .95;
        m[2 * k] = 1;
        m[2 * k + 1] = 0;
        f[2 * k] = f[2 * k + 1] = k;
    }
    fx_verify_result r;
    ck_assert_int_eq(fx_verify_evaluate(ctx, s, m, f, 20, 10, &r), FX_OK);
    for (int k = 0; k < 10; k++) {
        ck_assert_double_eq_tol(r.fold[k].threshold, .5, EPS);
        ck_assert_double_eq_tol(r.fold[k].accuracy, k < 9 ? 1 : 0, EPS);
        ck_assert_double_eq_tol(r.fold[k].train_accuracy, k < 9 ? 16.0 / 18 : 1, EPS);
    }
    ck_assert_double_eq_tol(r.accuracy_mean, .9, EPS);
    ck_assert_double_eq_tol(r.accuracy_std, .3, EPS);
    ck_assert_double_eq_tol(r.accuracy_sem, .1, EPS);
    fx_verify_result_free(&r);
    fx_context_destroy(ctx);
}
END_TEST

/* M .9 .8 .3, N .7 .2. ROC (descending .9M .8M .7N .3M .2N): (0,0)
 * (0,1/3) (0,2/3) (1/2,2/3) (1/2,1) (1,1). FAR + TAR - 1 is -1/3 at
 * (0, 2/3) and +1/6 at (1/2, 2/3): a = (1/3) / (1/2) = 2/3 of the way, so
 * EER = 2/3 * 1/2 = 1/3 (there TAR = 2/3, FRR = 1/3 = FAR), threshold
 * .8 + 2/3 (.7 - .8) = .7333. AUC = 1/2 * 2/3 + 1/2 * 1 = 5/6. One fold:
 * the best threshold on all pairs: sweep from 3 correct: .2N -> 4 (t .25),
 * .3M -> 3, .7N -> 4 (t .75), .8M, .9M -> 2 -> t = .25, accuracy 4/5. */
START_TEST(test_eer_interpolates_between_roc_points)
{
    fx_context *ctx = fxtest_context();
    const double s[5] = { .9, .8, .3, .7, .2 };
    const int m[5] = { 1, 1, 1, 0, 0 }, f[5] = { 0, 0, 0, 0, 0 };
    fx_verify_result r;
    ck_assert_int_eq(fx_verify_evaluate(ctx, s, m, f, 5, 1, &r), FX_OK);
    ck_assert_double_eq_tol(r.eer, 1.0 / 3, 1e-12);
    ck_assert_double_eq_tol(r.eer_threshold, .8 - .1 * 2 / 3, 1e-12);
    ck_assert_double_eq_tol(r.auc, 5.0 / 6, 1e-12);
    ck_assert_double_eq_tol(r.fold[0].threshold, .25, 1e-12);
    ck_assert_double_eq_tol(r.fold[0].accuracy, .8, 1e-12);
    ck_assert_double_eq_tol(r.best_accuracy, .8, 1e-12);
    fx_verify_result_free(&r);
    fx_context_destroy(ctx);
}
END_TEST

/* 200 mismatched pairs scored i/200 (0 .. .995) and 10 matched: 1.0, .998
 * (above every N), .992 .993 .994 (between the two top N), .99 (tied with
 * the N at 198/200 = .99), .987, .5, .3, .2.
 * Descending: 1.0M .998M .995N .994M .993M .992M .99(M and N) .987M .985N ...
 * FAR 1e-2 allows 2 of 200 false accepts (2/200 = .01): at t = .987 the
 * N at .995 and .99 are accepted (FAR .01) and 7 M (TAR .7); at t = .985
 * FAR = 3/200 > .01. So TAR at FAR 1e-2 = .7, threshold .987.
 * FAR 1e-3 with 200 N is not resolved (1e-3 * 200 < 1): FAR 0 only, the
 * two M above .995: TAR .2 at threshold .998. */
START_TEST(test_tar_at_far_takes_the_best_threshold_within_the_far)
{
    fx_context *ctx = fxtest_context();
    double s[210];
    int m[210], f[210];
    for (int i = 0; i < 200; i++) {
        s[i] = i / 200.0;
        m[i] = 0;
        f[i] = 0;
    }
    const double ms[10] = { 1.0, .998, .992, .993, .994, .99, .987, .5, .3, .2 };
    for (int i = 0; i < 10; i++) {
        s[200 + i] = ms[i];
        m[200 + i] = 1;
        f[200 + i] = 0;
    }
    fx_verify_result r;
    ck_assert_int_eq(fx_verify_evaluate(ctx, s, m, f, 210, 1, &r), FX_OK);
    ck_assert_int_eq(r.tar_at_far[0].resolved, 1);
    ck_assert_double_eq_tol(r.tar_at_far[0].tar, .7, 1e-12);
    ck_assert_double_eq_tol(r.tar_at_far[0].far, .01, 1e-12);
    ck_assert_double_eq_tol(r.tar_at_far[0].threshold, .987, 1e-12);
    ck_assert_int_eq(r.tar_at_far[1].resolved, 0);
    ck_assert_double_eq_tol(r.tar_at_far[1].tar, .2, 1e-12);
    ck_assert_double_eq_tol(r.tar_at_far[1].threshold, .998, 1e-12);
    fx_verify_result_free(&r);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_protocol_refuses_one_sided_or_bad_input)
{
    fx_context *ctx = fxtest_context();
    fx_verify_result r;
    const double s[2] = { .5, .4 };
    const int m[2] = { 1, 1 }, f[2] = { 0, 1 };
    ck_assert_int_eq(fx_verify_evaluate(ctx, s, m, f, 2, 2, &r), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "matched and mismatched"));
    const int m2[2] = { 1, 0 };
    const double bad[2] = { NAN, .4 };
    ck_assert_int_eq(fx_verify_evaluate(ctx, bad, m2, f, 2, 2, &r), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "non-finite"));
    const int f3[2] = { 0, 3 };
    ck_assert_int_eq(fx_verify_evaluate(ctx, s, m2, f3, 2, 2, &r), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "fold 3"));
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_cosine_similarity_by_hand)
{
    const float a[3] = { 1, 2, 2 }, b[3] = { 2, 0, 0 }, z[3] = { 0, 0, 0 };
    /* a.b = 2, |a| = 3, |b| = 2 -> 1/3 */
    ck_assert_double_eq_tol(fx_cosine_similarity(a, b, 3), 1.0 / 3, 1e-12);
    ck_assert_double_eq_tol(fx_cosine_similarity(a, a, 3), 1, 1e-12);
    ck_assert_double_eq(fx_cosine_similarity(a, z, 3), 0);
}
END_TEST

/* Identities 0, 1, 2 with gallery (1,0), (0,1), (-1,0) (the first image of
 * each, in order) and probes (.9,.1) of 0, (.6,.8) of 1, (.8,.6) of 2.
 * Probe 0: cosines .994 (id 0), .110, -.994: rank 1. Probe 1: .6, .8, -.6:
 * rank 1. Probe 2: .8, .6, -.8 (its own): two others higher: rank 3.
 * CMC: 2/3, 2/3, 1; rank-5 = 1 (3 identities). */
START_TEST(test_identification_ranks_by_hand)
{
    fx_context *ctx = fxtest_context();
    const float feats[12] = { 1, 0, 0, 1, -1, 0, .9f, .1f, .6f, .8f, .8f, .6f };
    const int32_t labels[6] = { 0, 1, 2, 0, 1, 2 };
    fx_identify_result r;
    ck_assert_int_eq(fx_identify_evaluate(ctx, feats, 2, labels, 6, 3, 1, &r), FX_OK);
    ck_assert_int_eq(r.gallery, 3);
    ck_assert_int_eq(r.probes, 3);
    ck_assert_int_eq(r.identities, 3);
    ck_assert_int_eq(r.max_rank, 3);
    ck_assert_double_eq_tol(r.cmc[0], 2.0 / 3, 1e-12);
    ck_assert_double_eq_tol(r.cmc[1], 2.0 / 3, 1e-12);
    ck_assert_double_eq_tol(r.cmc[2], 1, 1e-12);
    ck_assert_double_eq_tol(r.rank1, 2.0 / 3, 1e-12);
    ck_assert_double_eq_tol(r.rank5, 1, 1e-12);
    fx_identify_result_free(&r);
    /* A gallery of 2 per identity leaves no probes: refused with the fix. */
    ck_assert_int_eq(fx_identify_evaluate(ctx, feats, 2, labels, 6, 3, 2, &r), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "lower --gallery"));
    fx_context_destroy(ctx);
}
END_TEST

/* ---- pairs files ---------------------------------------------------------- */

START_TEST(test_pairs_parse_both_header_forms)
{
    fx_context *ctx = fxtest_context();
    fx_pairs p;
    /* View 2 style: 2 folds of 1 + 1, tabs, CRLF, a trailing blank line. */
    ck_assert_msg(fx_pairs_parse(ctx, "2\t1\r\nAbel_Pacheco\t1\t4\r\nAbel_Pacheco\t2\tAl_Gore\t3\r\n"
                                      "Bo 2 1\nCy 1 Di 12\n\n",
                                 "p.txt", &p) == FX_OK,
                  "%s", fx_context_error(ctx));
    ck_assert_int_eq(p.folds, 2);
    ck_assert_int_eq(p.per_fold, 1);
    ck_assert_int_eq(p.n, 4);
    ck_assert_int_eq(p.pair[0].matched, 1);
    ck_assert_str_eq(p.pair[0].name[1], "Abel_Pacheco");
    ck_assert_int_eq(p.pair[0].number[1], 4);
    ck_assert_int_eq(p.pair[1].matched, 0);
    ck_assert_str_eq(p.pair[1].name[1], "Al_Gore");
    ck_assert_int_eq(p.pair[1].number[1], 3);
    ck_assert_int_eq(p.pair[2].fold, 1);
    ck_assert_int_eq(p.pair[3].line, 5);
    ck_assert_int_eq(p.pair[3].number[1], 12);
    fx_pairs_free(&p);
    /* View 1 style: one count. */
    ck_assert_int_eq(fx_pairs_parse(ctx, "2\nA 1 2\nA 1 3\nA 2 B 1\nC 1 B 2\n", "v1.txt", &p), FX_OK);
    ck_assert_int_eq(p.folds, 1);
    ck_assert_int_eq(p.per_fold, 2);
    ck_assert_int_eq(p.n, 4);
    fx_pairs_free(&p);
    fx_context_destroy(ctx);
}
END_TEST

static void expect_parse_error(fx_context *ctx, const char *text, const char *needle)
{
    fx_pairs p;
    fx_status st = fx_pairs_parse(ctx, text, "pairs.txt", &p);
    ck_assert_msg(st != FX_OK, "parsed:\n%s", text);
    ck_assert_msg(strstr(fx_context_error(ctx), needle) != NULL, "error '%s' lacks '%s'", fx_context_error(ctx),
                  needle);
    ck_assert_ptr_null(p.pair);
}

START_TEST(test_pairs_malformed_lines_name_the_line_and_the_form)
{
    fx_context *ctx = fxtest_context();
    expect_parse_error(ctx, "", "empty pairs file");
    expect_parse_error(ctx, "ten 300\n", "pairs.txt:1: the first line must be 'FOLDS PAIRS_PER_FOLD'");
    expect_parse_error(ctx, "1 1\nA 1 2\nB 1\n", "pairs.txt:3: expected 'NAME N1 N2'");
    expect_parse_error(ctx, "1 1\nA 1 2\nB 1 C 2 D\n", "pairs.txt:3: expected 'NAME N1 N2'");
    expect_parse_error(ctx, "1 1\nA one 2\nB 1 C 2\n", "pairs.txt:2: image number 'one'");
    expect_parse_error(ctx, "1 1\nA 0 2\nB 1 C 2\n", "pairs.txt:2: image number '0'");
    expect_parse_error(ctx, "1 1\nA 2 2\nB 1 C 2\n", "pairs.txt:2: a matched pair of image 2 with itself");
    expect_parse_error(ctx, "1 1\nA 1 2\nB 1 B 2\n", "pairs.txt:3: a mismatched pair names 'B' twice");
    expect_parse_error(ctx, "1 1\nA 1 2\nA 1 3\n", "pairs.txt:3: fold 1 has more than 1 matched pairs");
    expect_parse_error(ctx, "2 1\nA 1 B 2\nC 1 D 2\n", "pairs.txt:3: fold 1 has more than 1 mismatched pairs");
    expect_parse_error(ctx, "1 1\nA 1 2\nB 1 C 2\nD 1 2\n", "pairs.txt:4: more pairs than the header's");
    expect_parse_error(ctx, "2 1\nA 1 2\nB 1 C 2\nD 1 2\n", "the file ends after 3 pairs");
    fx_context_destroy(ctx);
}
END_TEST

static void touch(const char *dir, const char *rel)
{
    char path[1024], cmd[1200];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
    ck_assert_int_eq(system(cmd), 0);
    *slash = '/';
    fxtest_write_file(path, "P5\n1 1\n255\nA");
}

START_TEST(test_pairs_image_lookup_lfw_names_then_byte_order)
{
    fx_context *ctx = fxtest_context();
    char *root = fxtest_tempdir();
    touch(root, "Al_Gore/Al_Gore_0001.jpg");
    touch(root, "Al_Gore/Al_Gore_0002.jpg");
    touch(root, "Al_Gore/Al_Gore_0010.png");
    touch(root, "s1/b.pgm");
    touch(root, "s1/a.pgm");
    touch(root, "s1/.hidden.pgm");
    touch(root, "s1/notes.txt");
    touch(root, "s1/C.PGM");
    char path[2048], want[2048];
    /* LFW naming wins: number 10 is Al_Gore_0010 although only 3 files exist. */
    ck_assert_int_eq(fx_pairs_image_path(ctx, root, "Al_Gore", 10, path, sizeof path), FX_OK);
    snprintf(want, sizeof want, "%s/Al_Gore/Al_Gore_0010.png", root);
    ck_assert_str_eq(path, want);
    /* Otherwise the n-th image in byte order: "C.PGM" < "a.pgm" < "b.pgm". */
    const char *order[3] = { "C.PGM", "a.pgm", "b.pgm" };
    for (int k = 1; k <= 3; k++) {
        ck_assert_int_eq(fx_pairs_image_path(ctx, root, "s1", k, path, sizeof path), FX_OK);
        snprintf(want, sizeof want, "%s/s1/%s", root, order[k - 1]);
        ck_assert_str_eq(path, want);
    }
    ck_assert_int_eq(fx_pairs_image_path(ctx, root, "s1", 4, path, sizeof path), FX_ERR_IO);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "'s1' has 3 images"));
    ck_assert_int_eq(fx_pairs_image_path(ctx, root, "Nobody", 1, path, sizeof path), FX_ERR_IO);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "no folder for 'Nobody'"));
    ck_assert_int_eq(fx_pairs_image_path(ctx, root, "../etc", 1, path, sizeof path), FX_ERR_INVALID);
    fxtest_remove_tree(root);
    free(root);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_pairs_generator_is_seeded_balanced_identity_disjoint_and_round_trips)
{
    fx_context *ctx = fxtest_context();
    char *root = fxtest_tempdir();
    /* 12 people with 3..5 images (person k has 3 + k % 3): any 4 of them
     * give at least 4 C(3, 2) = 12 matched pairs and at most 4 C(5, 2) =
     * 40, so --per-fold 3 always works and 50 never does. */
    for (int k = 0; k < 12; k++)
        for (int i = 0; i < 3 + k % 3; i++) {
            char rel[128];
            snprintf(rel, sizeof rel, "p%02d/img%d.pgm", k, i);
            touch(root, rel);
        }
    fx_pairs a, b, c;
    ck_assert_msg(fx_pairs_generate(ctx, root, NULL, 0, 3, 3, 7, &a) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(fx_pairs_generate(ctx, root, NULL, 0, 3, 3, 7, &b), FX_OK);
    ck_assert_int_eq(a.n, 18);
    for (int64_t i = 0; i < a.n; i++) {
        ck_assert_str_eq(a.pair[i].name[0], b.pair[i].name[0]);
        ck_assert_int_eq(a.pair[i].number[1], b.pair[i].number[1]);
        /* In each fold: 3 matched, then 3 mismatched. */
        ck_assert_int_eq(a.pair[i].matched, (i % 6) < 3);
        ck_assert_int_eq(a.pair[i].fold, (int)(i / 6));
        ck_assert_int_eq(a.pair[i].matched, !strcmp(a.pair[i].name[0], a.pair[i].name[1]));
        char path[2048];
        for (int s = 0; s < 2; s++)
            ck_assert_int_eq(fx_pairs_image_path(ctx, root, a.pair[i].name[s], a.pair[i].number[s], path, sizeof path),
                             FX_OK);
        /* No person appears in two folds. */
        for (int64_t j = 0; j < a.n; j++)
            if (a.pair[j].fold != a.pair[i].fold)
                for (int s = 0; s < 2; s++)
                    for (int t = 0; t < 2; t++)
                        ck_assert_str_ne(a.pair[i].name[s], a.pair[j].name[t]);
    }
    /* Written and read back: the same pairs. */
    char path[1024];
    snprintf(path, sizeof path, "%s/pairs.txt", root);
    ck_assert_int_eq(fx_pairs_write(ctx, path, &a), FX_OK);
    ck_assert_msg(fx_pairs_read(ctx, path, &c) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(c.n, a.n);
    for (int64_t i = 0; i < a.n; i++) {
        ck_assert_str_eq(c.pair[i].name[1], a.pair[i].name[1]);
        ck_assert_int_eq(c.pair[i].number[0], a.pair[i].number[0]);
        ck_assert_int_eq(c.pair[i].matched, a.pair[i].matched);
    }
    fx_pairs_free(&c);
    /* Another seed gives another set. */
    ck_assert_int_eq(fx_pairs_generate(ctx, root, NULL, 0, 3, 3, 8, &c), FX_OK);
    int differ = 0;
    for (int64_t i = 0; i < a.n; i++)
        differ += strcmp(a.pair[i].name[0], c.pair[i].name[0]) != 0 || a.pair[i].number[0] != c.pair[i].number[0];
    ck_assert_int_gt(differ, 0);
    fx_pairs_free(&a);
    fx_pairs_free(&b);
    fx_pairs_free(&c);
    /* Only the listed people (a data.split's held-out part): 6 of 12. */
    const char *only[6] = { "p00", "p02", "p04", "p06", "p08", "p10" };
    ck_assert_msg(fx_pairs_generate(ctx, root, only, 6, 2, 3, 7, &c) == FX_OK, "%s", fx_context_error(ctx));
    for (int64_t i = 0; i < c.n; i++)
        for (int s = 0; s < 2; s++) {
            int k = 0;
            while (k < 6 && strcmp(only[k], c.pair[i].name[s]) != 0)
                k++;
            ck_assert_msg(k < 6, "pair %lld names %s, not a listed person", (long long)i, c.pair[i].name[s]);
        }
    fx_pairs_free(&c);
    /* Too many folds or pairs: refused, saying what to lower. */
    ck_assert_int_eq(fx_pairs_generate(ctx, root, NULL, 0, 7, 1, 7, &a), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "lower --folds"));
    ck_assert_int_eq(fx_pairs_generate(ctx, root, NULL, 0, 3, 50, 7, &a), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "lower --per-fold"));
    fxtest_remove_tree(root);
    free(root);
    fx_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("verify");
    TCase *tc = tcase_create("protocol");
    tcase_add_test(tc, test_three_fold_protocol_roc_auc_eer_match_the_hand_computation);
    tcase_add_test(tc, test_ten_fold_protocol_chooses_each_threshold_on_the_other_nine);
    tcase_add_test(tc, test_eer_interpolates_between_roc_points);
    tcase_add_test(tc, test_tar_at_far_takes_the_best_threshold_within_the_far);
    tcase_add_test(tc, test_protocol_refuses_one_sided_or_bad_input);
    tcase_add_test(tc, test_cosine_similarity_by_hand);
    tcase_add_test(tc, test_identification_ranks_by_hand);
    suite_add_tcase(s, tc);
    TCase *tp = tcase_create("pairs");
    tcase_add_test(tp, test_pairs_parse_both_header_forms);
    tcase_add_test(tp, test_pairs_malformed_lines_name_the_line_and_the_form);
    tcase_add_test(tp, test_pairs_image_lookup_lfw_names_then_byte_order);
    tcase_add_test(tp, test_pairs_generator_is_seeded_balanced_identity_disjoint_and_round_trips);
    suite_add_tcase(s, tp);
    return fxtest_run_suite(s);
}
