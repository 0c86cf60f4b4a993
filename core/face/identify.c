/* core/face/identify.c - closed-set identification on features (fx/verify.h):
 * a gallery of the first images of each identity, every other image a
 * probe ranked against all gallery identities by cosine similarity; the
 * cumulative match characteristic (rank-1, rank-5, ...). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/internal.h"
#include "fx/verify.h"

/* Copies row i of feats scaled to unit length (all-zero rows stay zero, so
 * their cosine with anything is 0, as fx_cosine_similarity says). */
static void unit_row(const float *row, int64_t dim, float *out)
{
    double ss = 0;
    for (int64_t d = 0; d < dim; d++)
        ss += (double)row[d] * row[d];
    double inv = ss > 0 ? 1.0 / sqrt(ss) : 0;
    for (int64_t d = 0; d < dim; d++)
        out[d] = (float)(row[d] * inv);
}

fx_status fx_identify_evaluate(fx_context *ctx, const float *feats, int64_t dim, const int32_t *labels, int64_t n,
                               int n_labels, int gallery_per_id, fx_identify_result *out)
{
    memset(out, 0, sizeof *out);
    if (!feats || !labels || dim <= 0 || n <= 0 || n_labels <= 0 || gallery_per_id < 1)
        return fx_fail(ctx, FX_ERR_INVALID, "fx_identify_evaluate: features, labels and a gallery size >= 1 are "
                                            "required");
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= n_labels)
            return fx_fail(ctx, FX_ERR_INVALID, "image %lld has label %d, outside 0..%d", (long long)i, labels[i],
                           n_labels - 1);
    int *seen = fx_calloc(ctx, (size_t)n_labels, sizeof *seen, "identity counts");
    char *is_gallery = fx_calloc(ctx, (size_t)n, 1, "gallery flags");
    float *unit = fx_malloc(ctx, (size_t)(n * dim) * sizeof(float), "normalised features");
    double *best = fx_malloc(ctx, (size_t)n_labels * sizeof(double), "identity scores");
    fx_status st = seen && is_gallery && unit && best ? FX_OK : FX_ERR_NOMEM;
    if (st == FX_OK) {
        for (int64_t i = 0; i < n; i++) {
            if (seen[labels[i]]++ < gallery_per_id) {
                is_gallery[i] = 1;
                out->gallery++;
            }
            unit_row(feats + i * dim, dim, unit + i * dim);
        }
        for (int c = 0; c < n_labels; c++)
            out->identities += seen[c] > 0;
        out->max_rank = out->identities;
        out->cmc = fx_calloc(ctx, (size_t)(out->max_rank > 0 ? out->max_rank : 1), sizeof(double), "CMC");
        if (!out->cmc)
            st = FX_ERR_NOMEM;
    }
    int64_t *hits = NULL;
    if (st == FX_OK) {
        hits = fx_calloc(ctx, (size_t)out->max_rank + 1, sizeof *hits, "rank counts");
        if (!hits)
            st = FX_ERR_NOMEM;
    }
    for (int64_t p = 0; p < n && st == FX_OK; p++) {
        if (is_gallery[p])
            continue;
        for (int c = 0; c < n_labels; c++)
            best[c] = -INFINITY;
        const float *q = unit + p * dim;
        for (int64_t g = 0; g < n; g++) {
            if (!is_gallery[g])
                continue;
            const float *r = unit + g * dim;
            double s = 0;
            for (int64_t d = 0; d < dim; d++)
                s += (double)q[d] * r[d];
            if (s > best[labels[g]])
                best[labels[g]] = s;
        }
        double mine = best[labels[p]];
        int rank = 1;
        for (int c = 0; c < n_labels; c++)
            if (c != labels[p] && best[c] != -INFINITY && best[c] >= mine)
                rank++;
        hits[rank]++;
        out->probes++;
    }
    if (st == FX_OK && out->probes == 0)
        st = fx_fail(ctx, FX_ERR_INVALID,
                     "no probe images: every identity has at most %d image%s, all in the gallery; lower --gallery "
                     "or use identities with more images",
                     gallery_per_id, gallery_per_id == 1 ? "" : "s");
    if (st == FX_OK) {
        int64_t cum = 0;
        for (int k = 1; k <= out->max_rank; k++) {
            cum += hits[k];
            out->cmc[k - 1] = (double)cum / (double)out->probes;
        }
        out->rank1 = out->cmc[0];
        out->rank5 = out->max_rank >= 5 ? out->cmc[4] : 1.0;
    }
    free(hits);
    free(seen);
    free(is_gallery);
    free(unit);
    free(best);
    if (st != FX_OK)
        fx_identify_result_free(out);
    return st;
}

void fx_identify_result_free(fx_identify_result *r)
{
    if (!r)
        return;
    free(r->cmc);
    r->cmc = NULL;
}
