/* backends/cpu/sad_loss.c - CPU kernels of sad_loss (definition in
 * core/ops/sad_loss.c; the mathematics and every choice in docs/losses.md).
 *
 * The direct computation smooths each channel (S = M A^T, A the zero-padded
 * 3x3 Gaussian as an HW x HW matrix), normalises and forms the K x K Gram
 * N N^T: a dense K x HW x K product per image (2 x 59 MFLOP at K 320,
 * 24 x 24, forward and again backward). After topk_mask each channel of M
 * holds ~23 non-zeros of 576, and that is what these kernels exploit:
 *
 *   G = S S^T = M (A^T A) M^T = M T,   T = C M^T,   C = A^T A,
 *
 * where C is a 5x5 stencil (weights depend on the position only near the
 * border, where zero padding truncates the sum). So the forward is
 *   1. M's non-zeros as row lists (CSR) and M^T dense (HW x K);
 *   2. T = C M^T: per position q, a combination of <= 25 rows of M^T;
 *   3. G's upper triangle: row i = sum over i's non-zeros p of m_ip T[p, i:];
 *   4. r_i = 1 / max(sqrt(G_ii), eps), G^_ij = r_i r_j G_ij, and
 *      L_b = 2 sum_{i<j} G^_ij^2 / (K (K - 1)).
 * Every step is "dst row = sum of scaled src rows", all vectorised over K
 * (cpu_sad_combine_rows: AVX-512 / AVX2 / scalar), and step 3 costs
 * nnz x K instead of HW x K per row.
 *
 * Backward (c = 4 g / (B K (K - 1)), g the loss's incoming gradient):
 * dL/dn_i = c sum_{j != i} G^_ij n_j, through n = s / |s| and A^T gives
 *   dm = P M C,   P_ij = c r_i r_j G^_ij (i != j),
 *                 P_ii = -c r_i^2 sum_{j != i} G^_ij^2 (0 when |s_i| <= eps),
 * computed as Q^T = M^T P (per position, a combination of the rows of P of
 * the channels non-zero there: the CSC lists), then dm^T = C Q^T (the same
 * stencil), then a blocked transpose into dm. Backward recomputes steps
 * 1-4 instead of saving a K x K Gram per image (26 MB at B 64).
 *
 * Images are independent and spread over the thread pool; each thread
 * works in its own scratch (sad_scratch_floats). Per-image losses go to
 * aux and are summed in double, in order, by the calling thread, so the
 * loss does not depend on the thread count. Dense inputs give the right
 * answer too, only without the speed-up (nnz = HW). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/gemm.h"
#include "backends/cpu/sad_loss.h"

#define SAD_TAPS 25 /* the 5x5 support of C = A^T A */

/* The paper's smoothing kernel: the 3x3 Gaussian with sigma 1.5,
 * normalised to sum 1, as the authors' code writes it. */
static const double sad_gauss[3][3] = {
    { 0.0947416, 0.118318, 0.0947416 },
    { 0.118318, 0.147761, 0.118318 },
    { 0.0947416, 0.118318, 0.0947416 },
};

typedef void (*sad_combine_fn)(float *dst, int64_t len, const float *src, int64_t ld, const int32_t *idx,
                               const float *coef, int64_t count);
typedef int64_t (*sad_extract_fn)(const float *x, int64_t n, int32_t *pos, float *val);

static void sad_combine_rows_scalar(float *dst, int64_t len, const float *src, int64_t ld, const int32_t *idx,
                                    const float *coef, int64_t count)
{
    for (int64_t j = 0; j < len; j++)
        dst[j] = 0.0f;
    for (int64_t t = 0; t < count; t++) {
        const float *restrict s = src + (int64_t)idx[t] * ld;
        const float c = coef[t];
        for (int64_t j = 0; j < len; j++)
            dst[j] += c * s[j];
    }
}

static int64_t sad_extract_nonzeros_scalar(const float *x, int64_t n, int32_t *pos, float *val)
{
    int64_t c = 0;
    for (int64_t p = 0; p < n; p++) { /* branch-free: write always, advance on non-zero */
        pos[c] = (int32_t)p;
        val[c] = x[p];
        c += x[p] != 0.0f;
    }
    return c;
}

typedef struct sad_job {
    int64_t batch, k, h, w, hw;
    float eps;
    const float *m;
    float *image_loss; /* aux: L_b */
    float *gm;         /* backward: dL/dm (accumulated) */
    float coef;        /* backward: 4 g / (B K (K - 1)) */
    float **scratch;
    sad_combine_fn combine;
    sad_extract_fn extract;
} sad_job;

/* One thread's working set, carved from its scratch. */
typedef struct sad_work {
    int32_t *st_count, *st_idx; /* stencil C: per position q, <= 25 (p, weight) */
    float *st_coef;
    int32_t *row_start, *pos;   /* CSR of M */
    float *val;
    int32_t *col_start, *col_cursor, *col_ch; /* CSC of M */
    float *col_val;
    float *mt, *tt;             /* HW x K: M^T then T (backward: Q^T then dm^T) */
    float *gram;                /* K x K: G (upper), then P */
    float *r, *rowsum;
    int32_t *big;               /* |s_i| > eps */
} sad_work;

static size_t sad_scratch_floats(int64_t k, int64_t hw)
{
    size_t n = 0;
    size_t khw = (size_t)(k * hw);
    n += cpu_floats_aligned((size_t)hw) * 2 + cpu_floats_aligned((size_t)hw * SAD_TAPS) * 2;
    n += cpu_floats_aligned((size_t)k + 1) + cpu_floats_aligned(khw + 16) * 2;
    n += cpu_floats_aligned((size_t)hw + 1) + cpu_floats_aligned(khw) * 2;
    n += cpu_floats_aligned(khw) * 2 + cpu_floats_aligned((size_t)(k * k));
    n += cpu_floats_aligned((size_t)k) * 3;
    return n;
}

static sad_work sad_carve(float *base, int64_t k, int64_t hw)
{
    sad_work w;
    size_t khw = (size_t)(k * hw);
    float *p = base;
#define SAD_TAKE(n) (p += cpu_floats_aligned(n), p - cpu_floats_aligned(n))
    w.st_count = (int32_t *)(void *)SAD_TAKE((size_t)hw);
    w.col_cursor = (int32_t *)(void *)SAD_TAKE((size_t)hw);
    w.st_idx = (int32_t *)(void *)SAD_TAKE((size_t)hw * SAD_TAPS);
    w.st_coef = SAD_TAKE((size_t)hw * SAD_TAPS);
    w.row_start = (int32_t *)(void *)SAD_TAKE((size_t)k + 1);
    w.pos = (int32_t *)(void *)SAD_TAKE(khw + 16);
    w.val = SAD_TAKE(khw + 16);
    w.col_start = (int32_t *)(void *)SAD_TAKE((size_t)hw + 1);
    w.col_ch = (int32_t *)(void *)SAD_TAKE(khw);
    w.col_val = SAD_TAKE(khw);
    w.mt = SAD_TAKE(khw);
    w.tt = SAD_TAKE(khw);
    w.gram = SAD_TAKE((size_t)(k * k));
    w.r = SAD_TAKE((size_t)k);
    w.rowsum = SAD_TAKE((size_t)k);
    w.big = (int32_t *)(void *)SAD_TAKE((size_t)k);
#undef SAD_TAKE
    return w;
}

/* C = A^T A as a table: for position q = (qy, qx) and each p within the
 * 5x5 window (and the image), C(q, p) = sum over in-image r adjacent to
 * both of g(r - p) g(r - q), in double, rounded once. */
static void sad_build_stencil(const sad_job *j, sad_work *w)
{
    for (int64_t qy = 0; qy < j->h; qy++)
        for (int64_t qx = 0; qx < j->w; qx++) {
            int64_t q = qy * j->w + qx;
            int32_t n = 0;
            for (int64_t py = qy - 2; py <= qy + 2; py++)
                for (int64_t px = qx - 2; px <= qx + 2; px++) {
                    if (py < 0 || py >= j->h || px < 0 || px >= j->w)
                        continue;
                    double c = 0.0;
                    int64_t ry0 = (py > qy ? py : qy) - 1, ry1 = (py < qy ? py : qy) + 1;
                    int64_t rx0 = (px > qx ? px : qx) - 1, rx1 = (px < qx ? px : qx) + 1;
                    for (int64_t ry = ry0 < 0 ? 0 : ry0; ry <= ry1 && ry < j->h; ry++)
                        for (int64_t rx = rx0 < 0 ? 0 : rx0; rx <= rx1 && rx < j->w; rx++)
                            c += sad_gauss[ry - py + 1][rx - px + 1] * sad_gauss[ry - qy + 1][rx - qx + 1];
                    w->st_idx[q * SAD_TAPS + n] = (int32_t)(py * j->w + px);
                    w->st_coef[q * SAD_TAPS + n] = (float)c;
                    n++;
                }
            w->st_count[q] = n;
        }
}

/* dst (HW x K) = C src (HW x K). */
static void sad_apply_stencil(const sad_job *j, const sad_work *w, const float *src, float *dst)
{
    for (int64_t q = 0; q < j->hw; q++)
        j->combine(dst + q * j->k, j->k, src, j->k, w->st_idx + q * SAD_TAPS, w->st_coef + q * SAD_TAPS,
                   w->st_count[q]);
}

/* Steps 1-4 for image b: CSR lists, T, G's upper triangle, norms.
 * Returns L_b. */
static double sad_image_forward(const sad_job *j, sad_work *w, int64_t b)
{
    const int64_t k = j->k, hw = j->hw;
    const float *m = j->m + b * k * hw;
    int64_t nnz = 0;
    for (int64_t i = 0; i < k; i++) {
        w->row_start[i] = (int32_t)nnz;
        nnz += j->extract(m + i * hw, hw, w->pos + nnz, w->val + nnz);
    }
    w->row_start[k] = (int32_t)nnz;
    memset(w->mt, 0, (size_t)(hw * k) * sizeof(float));
    for (int64_t i = 0; i < k; i++)
        for (int32_t t = w->row_start[i]; t < w->row_start[i + 1]; t++)
            w->mt[(int64_t)w->pos[t] * k + i] = w->val[t];
    sad_apply_stencil(j, w, w->mt, w->tt);
    for (int64_t i = 0; i < k; i++) {
        int32_t s = w->row_start[i];
        j->combine(w->gram + i * k + i, k - i, w->tt + i, k, w->pos + s, w->val + s, w->row_start[i + 1] - s);
    }
    for (int64_t i = 0; i < k; i++) {
        float gii = w->gram[i * k + i];
        float norm = sqrtf(gii > 0.0f ? gii : 0.0f); /* rounding can leave m^T C m a hair below 0 */
        w->big[i] = norm > j->eps;
        w->r[i] = 1.0f / (w->big[i] ? norm : j->eps);
    }
    double sum = 0.0;
    for (int64_t i = 0; i < k; i++) {
        const float *restrict g = w->gram + i * k;
        const float ri = w->r[i];
        double row = 0.0;
        for (int64_t jj = i + 1; jj < k; jj++) {
            float c = ri * w->r[jj] * g[jj];
            row += (double)c * c;
        }
        sum += row;
    }
    return 2.0 * sum / ((double)k * (double)(k - 1));
}

static void sad_forward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const sad_job *j = arg;
    sad_work w = sad_carve(j->scratch[thread], j->k, j->hw);
    sad_build_stencil(j, &w);
    for (int64_t b = begin; b < end; b++)
        j->image_loss[b] = (float)sad_image_forward(j, &w, b);
}

static void sad_backward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const sad_job *j = arg;
    const int64_t k = j->k, hw = j->hw;
    sad_work w = sad_carve(j->scratch[thread], k, hw);
    sad_build_stencil(j, &w);
    for (int64_t b = begin; b < end; b++) {
        sad_image_forward(j, &w, b);
        /* P from G^ (in place: row i's upper part is read before the
         * lower triangle, which G never used, is written). */
        float *restrict gram = w.gram;
        for (int64_t i = 0; i < k; i++)
            w.rowsum[i] = 0.0f;
        for (int64_t i = 0; i < k; i++) {
            const float ri = w.r[i];
            float rs = 0.0f;
            for (int64_t jj = i + 1; jj < k; jj++) {
                float gh = ri * w.r[jj] * gram[i * k + jj];
                float sq = gh * gh;
                rs += sq;
                w.rowsum[jj] += sq;
                float p = j->coef * ri * w.r[jj] * gh;
                gram[i * k + jj] = p;
                gram[jj * k + i] = p;
            }
            w.rowsum[i] += rs;
        }
        for (int64_t i = 0; i < k; i++)
            gram[i * k + i] = w.big[i] ? -j->coef * w.r[i] * w.r[i] * w.rowsum[i] : 0.0f;
        /* CSC of M: for each position, the channels non-zero there. */
        for (int64_t p = 0; p <= hw; p++)
            w.col_start[p] = 0;
        int32_t nnz = w.row_start[k];
        for (int32_t t = 0; t < nnz; t++)
            w.col_start[w.pos[t] + 1]++;
        for (int64_t p = 0; p < hw; p++) {
            w.col_start[p + 1] += w.col_start[p];
            w.col_cursor[p] = w.col_start[p];
        }
        for (int64_t i = 0; i < k; i++)
            for (int32_t t = w.row_start[i]; t < w.row_start[i + 1]; t++) {
                int32_t slot = w.col_cursor[w.pos[t]]++;
                w.col_ch[slot] = (int32_t)i;
                w.col_val[slot] = w.val[t];
            }
        /* Q^T = M^T P into mt, then dm^T = C Q^T into tt. */
        for (int64_t p = 0; p < hw; p++) {
            int32_t s = w.col_start[p];
            j->combine(w.mt + p * k, k, gram, k, w.col_ch + s, w.col_val + s, w.col_start[p + 1] - s);
        }
        sad_apply_stencil(j, &w, w.mt, w.tt);
        /* dm[i, q] += dm^T[q, i], in 16 x 16 tiles. */
        float *restrict gm = j->gm + b * k * hw;
        const float *restrict dmt = w.tt;
        for (int64_t q0 = 0; q0 < hw; q0 += 16) {
            int64_t q1 = q0 + 16 < hw ? q0 + 16 : hw;
            for (int64_t i0 = 0; i0 < k; i0 += 16) {
                int64_t i1 = i0 + 16 < k ? i0 + 16 : k;
                for (int64_t i = i0; i < i1; i++)
                    for (int64_t q = q0; q < q1; q++)
                        gm[i * hw + q] += dmt[q * k + i];
            }
        }
    }
}

static fx_status sad_setup(const fx_kernel_call *call, sad_job *j)
{
    const fx_shape *s = &call->in[0]->shape;
    j->batch = s->dim[0];
    j->k = s->dim[1];
    j->h = s->dim[2];
    j->w = s->dim[3];
    j->hw = j->h * j->w;
    j->eps = (float)fx_node_attr_float(call->node, "eps");
    j->m = fx_tensor_f32(call->in[0]);
    if (call->n_aux < 1 || !call->aux[0]->buffer)
        return fx_node_fail(call->ctx, call->node, FX_ERR_INTERNAL, "the per-image loss buffer was not allocated");
    j->image_loss = fx_tensor_f32(call->aux[0]);
    fx_simd_level simd = fx_cpu_simd_level(call->backend);
    j->combine = simd >= FX_SIMD_AVX512 ? cpu_sad_combine_rows_avx512
                 : simd >= FX_SIMD_AVX2 ? cpu_sad_combine_rows_avx2
                                        : sad_combine_rows_scalar;
    j->extract = simd >= FX_SIMD_AVX512 ? cpu_sad_extract_nonzeros_avx512 : sad_extract_nonzeros_scalar;
    j->scratch = cpu_scratch_per_thread(call->backend, sad_scratch_floats(j->k, j->hw));
    return j->scratch ? FX_OK : FX_ERR_NOMEM;
}

fx_status cpu_sad_loss_forward(const fx_kernel_call *call)
{
    sad_job j = { 0 };
    fx_status st = sad_setup(call, &j);
    if (st != FX_OK)
        return st;
    fx_cpu_parallel_for(call->backend, j.batch, 1, sad_forward_range, &j);
    free(j.scratch);
    double total = 0.0;
    for (int64_t b = 0; b < j.batch; b++)
        total += j.image_loss[b];
    fx_tensor_f32(call->out[0])[0] = (float)(total / (double)j.batch);
    return FX_OK;
}

fx_status cpu_sad_loss_backward(const fx_kernel_call *call)
{
    if (!call->grad_in[0] || !call->grad_out[0])
        return FX_OK;
    sad_job j = { 0 };
    fx_status st = sad_setup(call, &j);
    if (st != FX_OK)
        return st;
    double g = fx_tensor_f32(call->grad_out[0])[0];
    j.coef = (float)(4.0 * g / ((double)j.batch * (double)j.k * (double)(j.k - 1)));
    j.gm = fx_tensor_f32(call->grad_in[0]);
    fx_cpu_parallel_for(call->backend, j.batch, 1, sad_backward_range, &j);
    free(j.scratch);
    return FX_OK;
}
