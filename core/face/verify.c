/* core/face/verify.c - the verification protocol on pair scores (fx/verify.h):
 * thresholds chosen on nine folds and tested on the tenth, the ROC over all
 * pairs, TAR at fixed FAR, EER and AUC. docs/verification.md states the
 * definitions; the tests check them on hand-computed examples.
 *
 * A pair is predicted "same" when its score >= the threshold. Every
 * threshold sweep sorts the scores once and moves the threshold across
 * groups of equal scores, so ties are never split. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/internal.h"
#include "fx/verify.h"

double fx_cosine_similarity(const float *a, const float *b, int64_t dim)
{
    double ab = 0, aa = 0, bb = 0;
    for (int64_t i = 0; i < dim; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    if (aa == 0 || bb == 0)
        return 0;
    return ab / (sqrt(aa) * sqrt(bb));
}

typedef struct scored {
    double score;
    int matched;
} scored;

static int by_score_ascending(const void *pa, const void *pb)
{
    const scored *a = pa, *b = pb;
    return (a->score > b->score) - (a->score < b->score);
}

/* The threshold maximising accuracy on s[0..n) (sorted ascending).
 * Candidates: the lowest score (all "same"), the midpoint between each pair
 * of neighbouring distinct scores, and the next double above the highest
 * (all "different"). Ties go to the lowest candidate. */
static void best_threshold(const scored *s, int64_t n, double *threshold, double *accuracy)
{
    int64_t matched = 0;
    for (int64_t i = 0; i < n; i++)
        matched += s[i].matched;
    int64_t correct = matched; /* threshold at the lowest score: every pair "same" */
    int64_t best = correct;
    double best_t = n ? s[0].score : 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j < n && s[j].score == s[i].score) {
            correct += s[j].matched ? -1 : 1; /* this group turns "different" */
            j++;
        }
        double t = j < n ? s[i].score + (s[j].score - s[i].score) / 2 : nextafter(s[i].score, INFINITY);
        if (correct > best) {
            best = correct;
            best_t = t;
        }
        i = j;
    }
    *threshold = best_t;
    *accuracy = n ? (double)best / (double)n : 0;
}

static double accuracy_at(const double *scores, const int *matched, const int *fold, int64_t n, int which,
                          double t, int64_t *count)
{
    int64_t correct = 0, total = 0;
    for (int64_t i = 0; i < n; i++) {
        if (fold[i] != which)
            continue;
        total++;
        correct += (scores[i] >= t) == (matched[i] != 0);
    }
    *count = total;
    return total ? (double)correct / (double)total : 0;
}

/* ROC from scores sorted ascending: walking the threshold down from above
 * the highest score, one point per group of equal scores. */
static fx_status build_roc(fx_context *ctx, const scored *s, int64_t n, int64_t positives, int64_t negatives,
                           fx_verify_result *r)
{
    r->roc = fx_malloc(ctx, (size_t)(n + 1) * sizeof *r->roc, "ROC points");
    if (!r->roc)
        return FX_ERR_NOMEM;
    int64_t k = 0, tp = 0, fp = 0;
    r->roc[k++] = (fx_roc_point){ nextafter(s[n - 1].score, INFINITY), 0, 0 };
    for (int64_t i = n - 1; i >= 0;) {
        int64_t j = i;
        while (j >= 0 && s[j].score == s[i].score) {
            if (s[j].matched)
                tp++;
            else
                fp++;
            j--;
        }
        r->roc[k++] = (fx_roc_point){ s[i].score, (double)fp / (double)negatives, (double)tp / (double)positives };
        i = j;
    }
    r->n_roc = k;
    return FX_OK;
}

static void tar_at(fx_verify_result *r, int slot, double target)
{
    fx_tar_at_far *o = &r->tar_at_far[slot];
    o->far_target = target;
    o->resolved = target * (double)r->mismatched >= 1.0;
    o->tar = 0;
    o->far = 0;
    o->threshold = r->roc[0].threshold;
    for (int64_t i = 0; i < r->n_roc; i++)
        if (r->roc[i].far <= target && r->roc[i].tar > o->tar) {
            o->tar = r->roc[i].tar;
            o->far = r->roc[i].far;
            o->threshold = r->roc[i].threshold;
        }
}

/* EER: g = FAR + TAR - 1 rises from -1 at (0, 0) to +1 at (1, 1) along the
 * ROC; the EER is the FAR where g crosses 0, interpolating linearly between
 * the two points around the crossing (there FAR = 1 - TAR = FRR). */
static void equal_error_rate(fx_verify_result *r)
{
    const fx_roc_point *p = r->roc;
    for (int64_t i = 1; i < r->n_roc; i++) {
        double g1 = p[i].far + p[i].tar - 1;
        if (g1 < 0)
            continue;
        double g0 = p[i - 1].far + p[i - 1].tar - 1;
        double a = g1 > g0 ? -g0 / (g1 - g0) : 1;
        r->eer = p[i - 1].far + a * (p[i].far - p[i - 1].far);
        r->eer_threshold = p[i - 1].threshold + a * (p[i].threshold - p[i - 1].threshold);
        return;
    }
    r->eer = NAN;
    r->eer_threshold = NAN;
}

fx_status fx_verify_evaluate(fx_context *ctx, const double *scores, const int *matched, const int *fold, int64_t n,
                             int folds, fx_verify_result *out)
{
    memset(out, 0, sizeof *out);
    if (!scores || !matched || !fold || n <= 0 || folds < 1)
        return fx_fail(ctx, FX_ERR_INVALID, "fx_verify_evaluate: scores, labels, folds and at least one pair are "
                                            "required");
    for (int64_t i = 0; i < n; i++) {
        if (fold[i] < 0 || fold[i] >= folds)
            return fx_fail(ctx, FX_ERR_INVALID, "pair %lld is in fold %d, outside 0..%d", (long long)i, fold[i],
                           folds - 1);
        if (!isfinite(scores[i]))
            return fx_fail(ctx, FX_ERR_INVALID, "pair %lld has a non-finite score (%g); the features hold NaN or "
                                                "infinity (check the checkpoint)", (long long)i, scores[i]);
        out->matched += matched[i] != 0;
    }
    out->pairs = n;
    out->mismatched = n - out->matched;
    if (out->matched == 0 || out->mismatched == 0)
        return fx_fail(ctx, FX_ERR_INVALID, "verification needs matched and mismatched pairs; got %lld matched and "
                                            "%lld mismatched", (long long)out->matched, (long long)out->mismatched);
    out->folds = folds;
    scored *all = fx_malloc(ctx, (size_t)n * sizeof *all, "pair scores");
    scored *train = fx_malloc(ctx, (size_t)n * sizeof *train, "training pair scores");
    out->fold = fx_calloc(ctx, (size_t)folds, sizeof *out->fold, "verification folds");
    fx_status st = all && train && out->fold ? FX_OK : FX_ERR_NOMEM;
    if (st == FX_OK) {
        for (int64_t i = 0; i < n; i++)
            all[i] = (scored){ scores[i], matched[i] != 0 };
        qsort(all, (size_t)n, sizeof *all, by_score_ascending);
        best_threshold(all, n, &out->best_threshold, &out->best_accuracy);
    }
    for (int f = 0; f < folds && st == FX_OK; f++) {
        fx_verify_fold *vf = &out->fold[f];
        if (folds == 1) {
            vf->threshold = out->best_threshold;
            vf->train_accuracy = out->best_accuracy;
        } else {
            int64_t m = 0;
            for (int64_t i = 0; i < n; i++)
                if (fold[i] != f)
                    train[m++] = (scored){ scores[i], matched[i] != 0 };
            qsort(train, (size_t)m, sizeof *train, by_score_ascending);
            best_threshold(train, m, &vf->threshold, &vf->train_accuracy);
        }
        vf->accuracy = accuracy_at(scores, matched, fold, n, f, vf->threshold, &vf->pairs);
        if (vf->pairs == 0)
            st = fx_fail(ctx, FX_ERR_INVALID, "fold %d has no pairs; every fold needs pairs", f + 1);
    }
    if (st == FX_OK) {
        double sum = 0, sq = 0;
        for (int f = 0; f < folds; f++)
            sum += out->fold[f].accuracy;
        out->accuracy_mean = sum / folds;
        for (int f = 0; f < folds; f++)
            sq += (out->fold[f].accuracy - out->accuracy_mean) * (out->fold[f].accuracy - out->accuracy_mean);
        out->accuracy_std = sqrt(sq / folds);
        out->accuracy_sem = folds > 1 ? sqrt(sq / (folds - 1)) / sqrt((double)folds) : NAN;
        st = build_roc(ctx, all, n, out->matched, out->mismatched, out);
    }
    if (st == FX_OK) {
        tar_at(out, 0, 1e-2);
        tar_at(out, 1, 1e-3);
        equal_error_rate(out);
        out->auc = 0;
        for (int64_t i = 1; i < out->n_roc; i++)
            out->auc += (out->roc[i].far - out->roc[i - 1].far) * (out->roc[i].tar + out->roc[i - 1].tar) / 2;
    }
    free(all);
    free(train);
    if (st != FX_OK)
        fx_verify_result_free(out);
    return st;
}

void fx_verify_result_free(fx_verify_result *r)
{
    if (!r)
        return;
    free(r->fold);
    free(r->roc);
    r->fold = NULL;
    r->roc = NULL;
    r->n_roc = 0;
}
