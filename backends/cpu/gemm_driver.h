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
 *   GEMM_NAME(x)            pastes the variant's prefix: cpu_gemm_avx512_##x
 *                           (defines GEMM_NAME(work_floats), (packed_a_floats),
 *                           (pack_a) and (ex); see gemm.h).
 *
 * Scheme (as in BLIS/GotoBLAS): for each NC block of columns and KC block
 * of the inner dimension, B is packed into NR-wide panels (one L1-resident
 * micro-panel per micro-kernel sweep); for each MC block of rows, A is
 * packed into MR-tall panels (the L2-resident block); the micro-kernel then
 * runs over all MR x NR tiles. Packing also absorbs the transposes, so one
 * micro-kernel serves NN, NT and TN products. A may come pre-packed for
 * the whole product (layout: K blocks in order, each holding every row
 * panel, so block (pc, ic) starts at pc * round_up(m, MR) + ic * kc), and
 * B from a callback packer (implicit im2col). Padding rows/columns of the
 * panels are zero, so edge tiles compute garbage-free values and the
 * micro-kernel only has to mask its stores. */
#include <immintrin.h>
#include <string.h>

static int64_t gemm_min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t gemm_round_up(int64_t a, int64_t m) { return (a + m - 1) / m * m; }

/* dst[c * ldd + r] = src[r * lds + c] for an 8 x 8 block (AVX: both
 * variants are compiled with AVX2). Packing transposes with it instead of
 * one strided scalar store per element. */
static inline void gemm_transpose_8x8(const float *src, int64_t lds, float *dst, int64_t ldd)
{
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds);
    __m256 r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds);
    __m256 r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds);
    __m256 r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    /* s0 = column 0 | column 4 of rows 0-3, s1 = 1 | 5, s2 = 2 | 6, s3 = 3 | 7. */
    __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(dst + ldd, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(s3, s7, 0x31));
}

/* dst[k * ldd + j] = src[j * lds + k] for j < rows, k < cols. */
static void gemm_transpose(const float *src, int64_t lds, int64_t rows, int64_t cols, float *dst, int64_t ldd)
{
    int64_t j = 0;
    for (; j + 8 <= rows; j += 8) {
        int64_t k = 0;
        for (; k + 8 <= cols; k += 8)
            gemm_transpose_8x8(src + j * lds + k, lds, dst + k * ldd + j, ldd);
        for (; k < cols; k++)
            for (int64_t jj = j; jj < j + 8; jj++)
                dst[k * ldd + jj] = src[jj * lds + k];
    }
    for (; j < rows; j++)
        for (int64_t k = 0; k < cols; k++)
            dst[k * ldd + j] = src[j * lds + k];
}

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
            gemm_transpose(a + i0 * lda, lda, mr, kc, dst, GEMM_MR);
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
            /* op(B)[k][j] = b[j * ldb + k]. */
            gemm_transpose(b + j0 * ldb, ldb, nr, kc, dst, GEMM_NR);
            for (int64_t k = 0; k < kc; k++)
                for (int64_t j = nr; j < GEMM_NR; j++)
                    dst[k * GEMM_NR + j] = 0.0f;
        }
        dst += kc * GEMM_NR;
    }
}

/* One panel of op(B) = rows^T from rows [nc][kc] (nc <= NR), for
 * callback packers that build rows first (gemm.h: cpu_gemm_pack_b_rows). */
void GEMM_NAME(pack_b_rows)(const float *rows, int64_t ld, int64_t kc, int64_t nc, float *dst)
{
    gemm_pack_b(1, rows, ld, kc, nc, dst);
}

size_t GEMM_NAME(work_floats)(int64_t m, int64_t n, int64_t k)
{
    if (m <= 0 || n <= 0 || k <= 0)
        return 0;
    int64_t mc = gemm_round_up(gemm_min64(m, GEMM_MC), GEMM_MR);
    int64_t nc = gemm_round_up(gemm_min64(n, GEMM_NC), GEMM_NR);
    int64_t kc = gemm_min64(k, GEMM_KC);
    /* + 16 + 16: room to align both buffers to 64 bytes. */
    return (size_t)(mc * kc + kc * nc + 32);
}

size_t GEMM_NAME(packed_a_floats)(int64_t m, int64_t k)
{
    return m <= 0 || k <= 0 ? 0 : (size_t)(gemm_round_up(m, GEMM_MR) * k);
}

void GEMM_NAME(pack_a)(int trans_a, int64_t m, int64_t k, const float *a, int64_t lda, float *dst)
{
    int64_t m_round = gemm_round_up(m, GEMM_MR);
    for (int64_t pc = 0; pc < k; pc += GEMM_KC) {
        int64_t kc = gemm_min64(GEMM_KC, k - pc);
        for (int64_t ic = 0; ic < m; ic += GEMM_MC) {
            int64_t mc = gemm_min64(GEMM_MC, m - ic);
            const float *a_block = trans_a ? a + pc * lda + ic : a + ic * lda + pc;
            gemm_pack_a(trans_a, a_block, lda, mc, kc, dst + pc * m_round + ic * kc);
        }
    }
}

static float *gemm_align64(float *p)
{
    uintptr_t u = (uintptr_t)p;
    return (float *)(void *)((u + 63u) & ~(uintptr_t)63u);
}

void GEMM_NAME(ex)(int64_t m, int64_t n, int64_t k, float alpha, const cpu_gemm_src *a, const cpu_gemm_src *b,
                   float beta, float *c, int64_t ldc, float *work)
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
    int64_t m_round = gemm_round_up(m, GEMM_MR);
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
            if (b->pack) {
                b->pack(b->self, pc, kc, jc, nc, GEMM_NR, pack_b);
            } else {
                const float *b_block = b->trans ? b->data + jc * b->ld + pc : b->data + pc * b->ld + jc;
                gemm_pack_b(b->trans, b_block, b->ld, kc, nc, pack_b);
            }
            for (int64_t ic = 0; ic < m; ic += GEMM_MC) {
                int64_t mc = gemm_min64(GEMM_MC, m - ic);
                const float *pa;
                if (a->packed) {
                    pa = a->packed + pc * m_round + ic * kc;
                } else {
                    const float *a_block = a->trans ? a->data + pc * a->ld + ic : a->data + ic * a->ld + pc;
                    gemm_pack_a(a->trans, a_block, a->ld, mc, kc, pack_a);
                    pa = pack_a;
                }
                for (int64_t jr = 0; jr < nc; jr += GEMM_NR) {
                    int nr = (int)gemm_min64(GEMM_NR, nc - jr);
                    const float *pb = pack_b + jr * kc;
                    for (int64_t ir = 0; ir < mc; ir += GEMM_MR) {
                        int mr = (int)gemm_min64(GEMM_MR, mc - ir);
                        GEMM_MICROKERNEL(kc, pa + ir * kc, pb, c + (ic + ir) * ldc + jc + jr, ldc, alpha, beta_block,
                                         mr, nr);
                    }
                }
            }
        }
    }
}
