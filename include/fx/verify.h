/* fx/verify.h - face verification and identification on features:
 * LFW-style pairs files (read, write, generate, image lookup), the
 * 10-fold verification protocol, ROC, TAR at FAR, EER, AUC, and
 * closed-set identification (rank-k). The exact definitions are in
 * docs/verification.md; the commands are `fxrun verify`, `pairs` and
 * `identify`. */
#ifndef FX_VERIFY_H
#define FX_VERIFY_H

#include <stdint.h>
#include "fx/context.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FX_PAIR_NAME_MAX 256

/* ---- pairs files -------------------------------------------------------- */

/* One line of a pairs file: a matched pair "NAME N1 N2" (name[1] ==
 * name[0]) or a mismatched pair "NAME1 N1 NAME2 N2". Image numbers are
 * 1-based (see fx_pairs_image_path). */
typedef struct fx_pair {
    char name[2][FX_PAIR_NAME_MAX];
    int number[2];
    int matched;
    int fold;  /* 0-based: line order, 2 * per_fold pairs per fold */
    int line;  /* 1-based line in the file; 0 for generated pairs */
} fx_pair;

typedef struct fx_pairs {
    int folds;       /* header "FOLDS PER_FOLD"; a single number N means 1 fold */
    int per_fold;    /* matched pairs per fold (as many mismatched) */
    int64_t n;       /* folds * 2 * per_fold */
    fx_pair *pair;   /* [n], malloc'd; free with fx_pairs_free */
} fx_pairs;

/* Parses LFW pairs.txt text. First line "FOLDS PER_FOLD" (View 2: "10
 * 300") or "N" (View 1: one fold of N matched + N mismatched pairs); then
 * per fold PER_FOLD matched and PER_FOLD mismatched lines, in any order
 * within the fold. Blank lines are skipped. Errors name `source`:line and
 * the expected form. */
fx_status fx_pairs_parse(fx_context *ctx, const char *text, const char *source, fx_pairs *out);
fx_status fx_pairs_read(fx_context *ctx, const char *path, fx_pairs *out);
/* Writes the LFW format ("FOLDS PER_FOLD" header; in each fold the matched
 * then the mismatched pairs) atomically. */
fx_status fx_pairs_write(fx_context *ctx, const char *path, const fx_pairs *p);
void fx_pairs_free(fx_pairs *p);

/* The file of image `number` of identity `name` under root:
 * root/name/name_%04d.<ext> (LFW's naming) when such a file exists (ext:
 * jpg, jpeg, png, pgm, ppm, pnm, either case), else the number-th image
 * (1-based, file names in byte order, image extensions only, dot files
 * skipped) of the folder root/name. Fails naming what exists. */
fx_status fx_pairs_image_path(fx_context *ctx, const char *root, const char *name, int number, char *out,
                              size_t size);

/* Draws a balanced pairs set from an ImageFolder root, seeded: identities
 * (sub-folders with at least one image; only those named in people[0..n)
 * when people is not NULL, e.g. a data.split's held-out part) are shuffled and dealt round-robin
 * to `folds` folds, so no person is in two folds (as in LFW View 2); each
 * fold gets per_fold matched pairs (two different images of one person
 * with at least two) and per_fold mismatched pairs (one image each of two
 * people of the fold), without repeating a pair. Fails, saying what to
 * lower, when the root has too few people or images. */
fx_status fx_pairs_generate(fx_context *ctx, const char *root, const char *const *people, int n_people, int folds,
                            int per_fold, uint64_t seed, fx_pairs *out);

/* ---- verification protocol ---------------------------------------------- */

/* Cosine similarity a.b / (|a| |b|); 0 when either vector is all zeros. */
double fx_cosine_similarity(const float *a, const float *b, int64_t dim);

typedef struct fx_verify_fold {
    int64_t pairs;       /* pairs of this (test) fold */
    double threshold;    /* chosen on the other folds: "same" when score >= threshold */
    double train_accuracy; /* on the other folds at that threshold */
    double accuracy;     /* on this fold */
} fx_verify_fold;

typedef struct fx_roc_point {
    double threshold;    /* "same" when score >= threshold */
    double far;          /* false accepts / mismatched pairs */
    double tar;          /* true accepts / matched pairs */
} fx_roc_point;

typedef struct fx_tar_at_far {
    double far_target;   /* e.g. 1e-2 */
    double tar;          /* the highest TAR over thresholds whose FAR <= far_target */
    double far;          /* the FAR at that threshold */
    double threshold;
    int resolved;        /* 0 when far_target < 1 / mismatched pairs: only FAR 0 qualifies */
} fx_tar_at_far;

typedef struct fx_verify_result {
    int64_t pairs, matched, mismatched;
    int folds;
    fx_verify_fold *fold;      /* [folds], malloc'd */
    double accuracy_mean;      /* mean of the folds' accuracies */
    double accuracy_std;       /* their standard deviation (divide by folds) */
    double accuracy_sem;       /* standard error: sample std (folds - 1) / sqrt(folds), LFW's README */
    double best_threshold;     /* maximising accuracy over all pairs (for reference) */
    double best_accuracy;      /* that accuracy (optimistic: chosen on the test data) */
    fx_roc_point *roc;         /* [n_roc], FAR increasing, (0, 0) first and (1, 1) last */
    int64_t n_roc;
    fx_tar_at_far tar_at_far[2]; /* FAR 1e-2, 1e-3 */
    double eer;                /* where the interpolated ROC meets FAR = 1 - TAR */
    double eer_threshold;      /* a threshold at that point (interpolated) */
    double auc;                /* area under the ROC (trapezoids) */
} fx_verify_result;

/* Runs the protocol on scores (higher = more alike) of n pairs with
 * matched[i] in {0, 1} and fold[i] in [0, folds). With folds >= 2 each
 * fold's threshold is chosen on the others; with 1 fold the fold's
 * accuracy is the best-threshold accuracy (optimistic; said in the docs).
 * Needs at least one matched and one mismatched pair. Free with
 * fx_verify_result_free. */
fx_status fx_verify_evaluate(fx_context *ctx, const double *scores, const int *matched, const int *fold, int64_t n,
                             int folds, fx_verify_result *out);
void fx_verify_result_free(fx_verify_result *r);

/* ---- closed-set identification ------------------------------------------ */

typedef struct fx_identify_result {
    int64_t gallery;     /* gallery images */
    int64_t probes;      /* probe images scored */
    int identities;      /* identities in the gallery */
    int max_rank;        /* length of cmc */
    double *cmc;         /* cmc[k-1] = share of probes whose identity ranks k or better; malloc'd */
    double rank1, rank5; /* cmc[0], cmc[4] (1 when fewer than 5 identities) */
} fx_identify_result;

/* feats [n, dim] with labels [n] (0 <= label < n_labels), in data set
 * order: the first `gallery_per_id` images of each identity form the
 * gallery, the rest are probes. An identity's score for a probe is the
 * highest cosine similarity to its gallery images; a probe's rank is 1 +
 * the number of other identities scoring at least as high (ties count
 * against it). Identities without probes still compete as distractors. */
fx_status fx_identify_evaluate(fx_context *ctx, const float *feats, int64_t dim, const int32_t *labels, int64_t n,
                               int n_labels, int gallery_per_id, fx_identify_result *out);
void fx_identify_result_free(fx_identify_result *r);

#ifdef __cplusplus
}
#endif
#endif
