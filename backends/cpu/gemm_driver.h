/* backends/cpu/gemm_driver.h - the blocked GEMM driver, a template
 * included once by each SIMD variant (gemm_avx512.c, gemm_avx2.c) so the
 * packing loops are compiled for that instruction set with the tile sizes
 * as constants. Not a public header: include it only from those files.
 *
 * Before including, define:
 *   GEMM_MR, GEMM_NR        micro-tile rows / columns
 *   GEMM_MC, GEMM_KC, GEMM_NC  cache blocks (MC a multiple of MR, NC of NR)
 *   GEMM_MICROKERNEL        static void f(int64_t kc, const float *a,
 *                           const float *b, float *c, int64_t ldc,
 *                           float alpha, float beta, int mr, int nr):
 *                           C[mr, nr] = alpha * sum_k a[k][i] b[k][j] +
 *                           beta * C (C not read when beta == 0), from
 *                           packed panels a (kc x MR) and b (kc x NR)
 *   GEMM_DRIVER, GEMM_WORK_FLOATS  names of the two functions to define.
 *
 * Scheme (as in BLIS/GotoBLAS): for each NC block of columns and KC block
 * of the inner dimension, B is packed into NR-wide panels (one L1-resident
 * micro-panel per micro-kernel sweep); for each MC block of rows, A is
 * packed into MR-tall panels (the L2-resident block); the micro-kernel then
 * runs over all MR x NR tiles. Packing also absorbs the transposes, so one
 * micro-kernel serves NN, NT and TN products. Padding rows/columns of the
 * panels are zero, so edge tiles compute garbage-free values and the
 * micro-kernel only has to mask its stores. */
#include <string.h>

static int64_t gemm_min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t gemm_round_up(int64_t a, int64_t m) { return (a + m - 1) / m * m; }

/* Packs rows [0, mc) x inner [0, kc) of op(A) (already offset to the block)
 * into MR-tall panels: panel p holds, for each k, MR consecutive values. */
static void gemm_pack_a(int trans, const float *a, int64_t lda, int64_t mc, int64_t kc, float *dst)
{
    for (int64_t i0 = 0; i0 < mc; i0 += GEMM_MR) {
        int64_t mr = gemm_min64(GEMM_MR, mc - i0);
        if (trans) {
            /* op(A)[i][k] = a[k * lda + i]: rows of MR values are contiguous. */
            for (int64_t k = 0; k < kc; k++) {
                const float *src = a + k * lda + i0;
                float *d = dst + k * GEMM_MR;
                int64_t i = 0;
                for (; i < mr; i++)
                    d[i] = src[i];
                for (; i < GEMM_MR; i++)
                    d[i] = 0.0f;
            }
        } else {
            for (int64_t i = 0; i < mr; i++) {
                const float *src = a + (i0 + i) * lda;
                for (int64_t k = 0; k < kc; k++)
                    dst[k * GEMM_MR + i] = src[k];
            }
            for (int64_t i = mr; i < GEMM_MR; i++)
                for (int64_t k = 0; k < kc; k++)
                    dst[k * GEMM_MR + i] = 0.0f;
        }
        dst += kc * GEMM_MR;
    }
}

/* Packs inner [0, kc) x columns [0, nc) of op(B) into NR-wide panels. */
static void gemm_pack_b(int trans, const float *b, int64_t ldb, int64_t kc, int64_t nc, float *dst)
{
    for (int64_t j0 = 0; j0 < nc; j0 += GEMM_NR) {
        int64_t nr = gemm_min64(GEMM_NR, nc - j0);
        if (!trans) {
            for (int64_t k = 0; k < kc; k++) {
                const float *src = b + k * ldb + j0;
                float *d = dst + k * GEMM_NR;
                if (nr == GEMM_NR) {
                    memcpy(d, src, sizeof(float) * GEMM_NR);
                } else {
                    int64_t j = 0;
                    for (; j < nr; j++)
                        d[j] = src[j];
                    for (; j < GEMM_NR; j++)
                        d[j] = 0.0f;
                }
            }
        } else {
            /* op(B)[k][j] = b[j * ldb + k]: read each source row once. */
            for (int64_t j = 0; j < nr; j++) {
                const float *src = b + (j0 + j) * ldb;
                for (int64_t k = 0; k < kc; k++)
                    dst[k * GEMM_NR + j] = src[k];
            }
            for (int64_t j = nr; j < GEMM_NR; j++)
                for (int64_t k = 0; k < kc; k++)
                    dst[k * GEMM_NR + j] = 0.0f;
        }
        dst += kc * GEMM_NR;
    }
}

size_t GEMM_WORK_FLOATS(int64_t m, int64_t n, int64_t k)
{
    if (m <= 0 || n <= 0 || k <= 0)
        return 0;
    int64_t mc = gemm_round_up(gemm_min64(m, GEMM_MC), GEMM_MR);
    int64_t nc = gemm_round_up(gemm_min64(n, GEMM_NC), GEMM_NR);
    int64_t kc = gemm_min64(k, GEMM_KC);
    /* + 16 + 16: room to align both buffers to 64 bytes. */
    return (size_t)(mc * kc + kc * nc + 32);
}

static float *gemm_align64(float *p)
{
    uintptr_t u = (uintptr_t)p;
    return (float *)(void *)((u + 63u) & ~(uintptr_t)63u);
}

void GEMM_DRIVER(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                 int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc, float *work)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0 || alpha == 0.0f) {
        for (int64_t i = 0; i < m; i++) {
            float *row = c + i * ldc;
            for (int64_t j = 0; j < n; j++)
                row[j] = beta == 0.0f ? 0.0f : beta * row[j];
        }
        return;
    }
    int64_t mc_max = gemm_round_up(gemm_min64(m, GEMM_MC), GEMM_MR);
    int64_t kc_max = gemm_min64(k, GEMM_KC);
    float *pack_a = gemm_align64(work);
    float *pack_b = gemm_align64(pack_a + mc_max * kc_max);

    for (int64_t jc = 0; jc < n; jc += GEMM_NC) {
        int64_t nc = gemm_min64(GEMM_NC, n - jc);
        for (int64_t pc = 0; pc < k; pc += GEMM_KC) {
            int64_t kc = gemm_min64(GEMM_KC, k - pc);
            /* Later K blocks add onto what the first one wrote. */
            float beta_block = pc == 0 ? beta : 1.0f;
            const float *b_block = trans_b ? b + jc * ldb + pc : b + pc * ldb + jc;
            gemm_pack_b(trans_b, b_block, ldb, kc, nc, pack_b);
            for (int64_t ic = 0; ic < m; ic += GEMM_MC) {
                int64_t mc = gemm_min64(GEMM_MC, m - ic);
                const float *a_block = trans_a ? a + pc * lda + ic : a + ic * lda + pc;
                gemm_pack_a(trans_a, a_block, lda, mc, kc, pack_a);
                for (int64_t jr = 0; jr < nc; jr += GEMM_NR) {
                    int nr = (int)gemm_min64(GEMM_NR, nc - jr);
                    const float *pb = pack_b + jr * kc;
                    for (int64_t ir = 0; ir < mc; ir += GEMM_MR) {
                        int mr = (int)gemm_min64(GEMM_MR, mc - ir);
                        GEMM_MICROKERNEL(kc, pack_a + ir * kc, pb, c + (ic + ir) * ldc + jc + jr, ldc, alpha,
                                         beta_block, mr, nr);
                    }
                }
            }
        }
    }
}
