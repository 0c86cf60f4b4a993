/* backends/cpu/sad_loss.c - CPU kernels of sad_loss (definition in
 * core/ops/sad_loss.c; the mathematics and every choice in docs/losses.md).
 *
 * The direct computation smooths each channel (S = M A, A the zero-padded
 * 3x3 Gaussian as an HW x HW matrix, symmetric because the kernel is),
 * normalises and forms the K x K Gram N N^T: a dense K x HW x K product per
 * image (2 x 59 MFLOP at K 320, 24 x 24), forward and again backward.
 * After topk_mask each channel of M holds ~23 non-zeros of 576, and these
 * kernels exploit it through
 *
 *   G = S S^T = M A A M^T = M T,   T = A S^T   (HW x K),
 *
 * so the Gram costs nnz x K per row instead of HW x K. Per image:
 *   1. the non-zeros of M as row lists (CSR);
 *   2. M^T (HW x K) and S^T = A M^T: per position q, a combination of its
 *      <= 9 neighbours' rows; |s_i|^2 from the columns of S^T;
 *   3. T = A S^T: per position q, a combination of <= 9 rows of S^T;
 *   4. G's upper triangle: row i = sum over i's non-zeros p of m_ip T[p, i:];
 *   5. r_i = 1 / max(|s_i|, eps), G^_ij = r_i r_j G_ij, and
 *      L_b = 2 sum_{i<j} G^_ij^2 / (K (K - 1)).
 * Steps 3 and 4 are "dst row = sum of scaled src rows", vectorised over K
 * (cpu_sad_combine_rows: AVX-512 / AVX2 / scalar).
 *
 * Backward (c = 4 g / (B K (K - 1)), g the loss's incoming gradient):
 * dL/dn_i = c sum_{j != i} G^_ij n_j; through n = s / |s| and the
 * smoothing this is
 *   dm = P M A A,   P_ij = c r_i r_j G^_ij (i != j),
 *                   P_ii = -c r_i^2 sum_{j != i} G^_ij^2 (0 when |s_i| <= eps),
 * computed as Q^T = M^T P (per position, a combination of the rows of P of
 * the channels non-zero there: the CSC lists), then A (A Q^T) with the
 * same 3x3 stencil, then a transpose added into dm. Backward recomputes
 * steps 1-5 rather than keep a K x K Gram per image (26 MB at B 64).
 *
 * Images are independent and spread over the thread pool; each thread
 * works in its own scratch (sad_scratch_floats). Per-image losses go to
 * aux and are summed in double, in order, by the calling thread, so the
 * loss does not depend on the thread count. An image whose maps are mostly
 * non-zero (more than half: not a top-k'd input) forms G = M T and
 * Q^T = M^T P with cpu_gemm instead of the lists; the rest is shared. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/gemm.h"
#include "backends/cpu/sad_loss.h"

#define SAD_TAPS 9  /* the 3x3 smoothing kernel */
#define SAD_COLS 64 /* stencil column block (a multiple of every SIMD width) */
#define SAD_LANES 16 /* partial sums of the row reductions */
#define SAD_DENSE_DIV 2 /* an image with more than K*HW/2 non-zeros takes the GEMM path */

/* The paper's smoothing kernel: the 3x3 Gaussian with sigma 1.5,
 * normalised to sum 1, as the authors' code writes it. Symmetric, so the
 * correlation that smooths is also its own adjoint. */
static const float sad_gauss[3][3] = {
    { 0.0947416f, 0.118318f, 0.0947416f },
    { 0.118318f, 0.147761f, 0.118318f },
    { 0.0947416f, 0.118318f, 0.0947416f },
};

typedef void (*sad_combine_fn)(float *dst, int64_t len, const float *src, int64_t ld, const int32_t *idx,
                               const float *coef, int64_t count);
typedef int64_t (*sad_extract_fn)(const float *x, int64_t n, int32_t *pos, float *val);
typedef void (*sad_transpose_add_fn)(float *dst, int64_t ld_dst, const float *src, int64_t ld_src, int64_t rows,
                                     int64_t cols);

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

/* dst[i * ld_dst + q] += src[q * ld_src + i], i < rows, q < cols, in
 * 16 x 16 tiles. */
static void sad_transpose_add_scalar(float *dst, int64_t ld_dst, const float *src, int64_t ld_src, int64_t rows,
                                     int64_t cols)
{
    for (int64_t q0 = 0; q0 < cols; q0 += 16) {
        int64_t q1 = q0 + 16 < cols ? q0 + 16 : cols;
        for (int64_t i0 = 0; i0 < rows; i0 += 16) {
            int64_t i1 = i0 + 16 < rows ? i0 + 16 : rows;
            for (int64_t i = i0; i < i1; i++)
                for (int64_t q = q0; q < q1; q++)
                    dst[i * ld_dst + q] += src[q * ld_src + i];
        }
    }
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
    sad_transpose_add_fn transpose_add;
    fx_simd_level simd;
} sad_job;

/* One thread's working set, carved from its scratch. */
typedef struct sad_work {
    int32_t *st_count, *st_idx; /* 3x3 stencil: per position, its <= 9 in-image neighbours */
    float *st_coef;
    int32_t *row_start, *pos;   /* CSR of M */
    float *val;
    int32_t *col_start, *col_cursor, *col_ch; /* CSC of M */
    float *col_val;
    float *buf0, *buf1;         /* HW x K: S^T, T (backward: Q^T, A Q^T, A A Q^T) */
    float *gram;                /* K x K: G (upper), then P */
    float *r, *rowsum;
    int32_t *big;               /* |s_i| > eps */
    float *gemm_work;           /* dense images: cpu_gemm's workspace */
    int dense;                  /* this image takes the GEMM path */
} sad_work;

/* cpu_gemm workspace for the two dense products (K x HW x K, HW x K x K). */
static size_t sad_gemm_floats(fx_simd_level simd, int64_t k, int64_t hw)
{
    size_t a = cpu_gemm_work_floats(simd, k, k, hw), b = cpu_gemm_work_floats(simd, hw, k, k);
    return a > b ? a : b;
}

static size_t sad_scratch_floats(fx_simd_level simd, int64_t k, int64_t hw)
{
    size_t khw = (size_t)(k * hw), n = cpu_floats_aligned(sad_gemm_floats(simd, k, hw));
    n += cpu_floats_aligned((size_t)hw) * 2 + cpu_floats_aligned((size_t)hw * SAD_TAPS) * 2;
    n += cpu_floats_aligned((size_t)k + 1) + cpu_floats_aligned(khw + 16) * 2;
    n += cpu_floats_aligned((size_t)hw + 1) + cpu_floats_aligned(khw) * 2;
    n += cpu_floats_aligned(khw) * 2 + cpu_floats_aligned((size_t)(k * k));
    n += cpu_floats_aligned((size_t)k) * 3;
    return n;
}

static sad_work sad_carve(float *base, fx_simd_level simd, int64_t k, int64_t hw)
{
    sad_work w;
    size_t khw = (size_t)(k * hw);
    float *p = base;
#define SAD_TAKE(n) (p += cpu_floats_aligned(n), p - cpu_floats_aligned(n))
    w.gemm_work = SAD_TAKE(sad_gemm_floats(simd, k, hw));
    w.dense = 0;
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
    w.buf0 = SAD_TAKE(khw);
    w.buf1 = SAD_TAKE(khw);
    w.gram = SAD_TAKE((size_t)(k * k));
    w.r = SAD_TAKE((size_t)k);
    w.rowsum = SAD_TAKE((size_t)k);
    w.big = (int32_t *)(void *)SAD_TAKE((size_t)k);
#undef SAD_TAKE
    return w;
}

/* The smoothing as a table: for position q, its in-image neighbours p and
 * the weights g(p - q) (out-of-image taps are the zero padding). */
static void sad_build_stencil(const sad_job *j, sad_work *w)
{
    for (int64_t qy = 0; qy < j->h; qy++)
        for (int64_t qx = 0; qx < j->w; qx++) {
            int64_t q = qy * j->w + qx;
            int32_t n = 0;
            for (int64_t dy = -1; dy <= 1; dy++)
                for (int64_t dx = -1; dx <= 1; dx++) {
                    int64_t py = qy + dy, px = qx + dx;
                    if (py < 0 || py >= j->h || px < 0 || px >= j->w)
                        continue;
                    w->st_idx[q * SAD_TAPS + n] = (int32_t)(py * j->w + px);
                    w->st_coef[q * SAD_TAPS + n] = sad_gauss[dy + 1][dx + 1];
                    n++;
                }
            w->st_count[q] = n;
        }
}

/* dst (HW x K) = A src (HW x K), in column blocks of SAD_COLS: the block
 * of the 3 image rows a position reads stays in L1 while the window
 * slides, where whole K-wide rows would stream from L2. */
static void sad_smooth_rows(const sad_job *j, const sad_work *w, const float *src, float *dst)
{
    for (int64_t c0 = 0; c0 < j->k; c0 += SAD_COLS) {
        int64_t len = j->k - c0 < SAD_COLS ? j->k - c0 : SAD_COLS;
        for (int64_t q = 0; q < j->hw; q++)
            j->combine(dst + q * j->k + c0, len, src + c0, j->k, w->st_idx + q * SAD_TAPS,
                       w->st_coef + q * SAD_TAPS, w->st_count[q]);
    }
}

/* Steps 1-5 for image b: CSR lists, S^T, norms, T, G's upper triangle.
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
    /* M^T into buf1, S^T = A M^T into buf0 (a dense stencil pass beats
     * scattering each non-zero into 9 rows: measured 1.1 vs 2.3 ms at B 64,
     * K 320, 24 x 24). */
    float *restrict mt = w->buf1;
    memset(mt, 0, (size_t)(hw * k) * sizeof(float));
    for (int64_t i = 0; i < k; i++)
        for (int32_t t = w->row_start[i]; t < w->row_start[i + 1]; t++)
            mt[(int64_t)w->pos[t] * k + i] = w->val[t];
    float *restrict st = w->buf0;
    sad_smooth_rows(j, w, mt, st);
    float *restrict norm2 = w->rowsum;
    for (int64_t i = 0; i < k; i++)
        norm2[i] = 0.0f;
    for (int64_t q = 0; q < hw; q++) {
        const float *restrict row = st + q * k;
        for (int64_t i = 0; i < k; i++)
            norm2[i] += row[i] * row[i];
    }
    for (int64_t i = 0; i < k; i++) {
        float norm = sqrtf(norm2[i]);
        w->big[i] = norm > j->eps;
        w->r[i] = 1.0f / (w->big[i] ? norm : j->eps);
    }
    sad_smooth_rows(j, w, st, w->buf1); /* T = A S^T */
    /* G = M T: from the row lists, or, when M is mostly non-zero, as one
     * GEMM (register-blocked, ~3x the throughput of row combinations that
     * stream all of T for every row). */
    w->dense = nnz > k * hw / SAD_DENSE_DIV;
    if (w->dense) {
        cpu_gemm(j->simd, 0, 0, k, k, hw, 1.0f, m, hw, w->buf1, k, 0.0f, w->gram, k, w->gemm_work);
    } else {
        for (int64_t i = 0; i < k; i++) {
            int32_t s = w->row_start[i];
            j->combine(w->gram + i * k + i, k - i, w->buf1 + i, k, w->pos + s, w->val + s,
                       w->row_start[i + 1] - s);
        }
    }
    /* sum_{i<j} G^_ij^2: per row, SAD_LANES interleaved float partial sums
     * (a fixed order the compiler can vectorise; one chain of dependent
     * double adds cost 4 ms at B 64), then double. */
    double sum = 0.0;
    for (int64_t i = 0; i < k; i++) {
        const float *restrict g = w->gram + i * k;
        const float *restrict r = w->r;
        const float ri = w->r[i];
        float part[SAD_LANES] = { 0 };
        int64_t jj = i + 1;
        for (; jj + SAD_LANES <= k; jj += SAD_LANES)
            for (int l = 0; l < SAD_LANES; l++) {
                float c = ri * r[jj + l] * g[jj + l];
                part[l] += c * c;
            }
        for (int l = 0; jj < k; jj++, l++) {
            float c = ri * r[jj] * g[jj];
            part[l] += c * c;
        }
        double row = 0.0;
        for (int l = 0; l < SAD_LANES; l++)
            row += part[l];
        sum += row;
    }
    return 2.0 * sum / ((double)k * (double)(k - 1));
}

static void sad_forward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const sad_job *j = arg;
    sad_work w = sad_carve(j->scratch[thread], j->simd, j->k, j->hw);
    sad_build_stencil(j, &w);
    for (int64_t b = begin; b < end; b++)
        j->image_loss[b] = (float)sad_image_forward(j, &w, b);
}

static void sad_backward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const sad_job *j = arg;
    const int64_t k = j->k, hw = j->hw;
    sad_work w = sad_carve(j->scratch[thread], j->simd, k, hw);
    sad_build_stencil(j, &w);
    for (int64_t b = begin; b < end; b++) {
        sad_image_forward(j, &w, b);
        /* P from G^, in place: the upper triangle row by row (vectorisable:
         * rowsum gets the column terms, SAD_LANES partial sums the row
         * terms), then mirrored into the lower one in 16 x 16 tiles. */
        float *restrict gram = w.gram;
        float *restrict rowsum = w.rowsum;
        const float *restrict r = w.r;
        for (int64_t i = 0; i < k; i++)
            rowsum[i] = 0.0f;
        for (int64_t i = 0; i < k; i++) {
            const float ri = r[i], cri = j->coef * r[i];
            float *restrict row = gram + i * k;
            float part[SAD_LANES] = { 0 };
            int64_t jj = i + 1;
            for (; jj + SAD_LANES <= k; jj += SAD_LANES)
                for (int l = 0; l < SAD_LANES; l++) {
                    float gh = ri * r[jj + l] * row[jj + l];
                    float sq = gh * gh;
                    part[l] += sq;
                    rowsum[jj + l] += sq;
                    row[jj + l] = cri * r[jj + l] * gh;
                }
            for (int l = 0; jj < k; jj++, l++) {
                float gh = ri * r[jj] * row[jj];
                float sq = gh * gh;
                part[l] += sq;
                rowsum[jj] += sq;
                row[jj] = cri * r[jj] * gh;
            }
            float rs = 0.0f;
            for (int l = 0; l < SAD_LANES; l++)
                rs += part[l];
            rowsum[i] += rs;
        }
        for (int64_t i0 = 0; i0 < k; i0 += 16)
            for (int64_t j0 = i0; j0 < k; j0 += 16)
                for (int64_t i = i0; i < i0 + 16 && i < k; i++)
                    for (int64_t jj = j0 > i + 1 ? j0 : i + 1; jj < j0 + 16 && jj < k; jj++)
                        gram[jj * k + i] = gram[i * k + jj];
        for (int64_t i = 0; i < k; i++)
            gram[i * k + i] = w.big[i] ? -j->coef * w.r[i] * w.r[i] * w.rowsum[i] : 0.0f;
        if (w.dense) { /* Q^T = M^T P as one GEMM, then as below */
            cpu_gemm(j->simd, 1, 0, hw, k, k, 1.0f, j->m + b * k * hw, hw, gram, k, 0.0f, w.buf0, k, w.gemm_work);
            sad_smooth_rows(j, &w, w.buf0, w.buf1);
            sad_smooth_rows(j, &w, w.buf1, w.buf0);
            j->transpose_add(j->gm + b * k * hw, hw, w.buf0, k, k, hw);
            continue;
        }
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
        /* Q^T = M^T P into buf0, A Q^T into buf1, A A Q^T = dm^T into buf0. */
        for (int64_t p = 0; p < hw; p++) {
            int32_t s = w.col_start[p];
            j->combine(w.buf0 + p * k, k, gram, k, w.col_ch + s, w.col_val + s, w.col_start[p + 1] - s);
        }
        sad_smooth_rows(j, &w, w.buf0, w.buf1);
        sad_smooth_rows(j, &w, w.buf1, w.buf0);
        j->transpose_add(j->gm + b * k * hw, hw, w.buf0, k, k, hw);
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
    j->transpose_add = simd >= FX_SIMD_AVX512 ? cpu_sad_transpose_add_avx512 : sad_transpose_add_scalar;
    j->simd = simd;
    j->scratch = cpu_scratch_per_thread(call->backend, sad_scratch_floats(simd, j->k, j->hw));
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
