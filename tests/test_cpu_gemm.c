/* tests/test_cpu_gemm.c - the CPU GEMM under conv2d and linear
 * (backends/cpu/gemm.h), against a direct double-precision product: every
 * transpose combination, alpha/beta (beta = 0 must not read C), sizes
 * that cross the micro-tile and cache-block edges, pre-packed A and
 * callback-packed B, on every SIMD level this machine runs (AVX-512,
 * AVX2, and the CBLAS fallback). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/gemm.h"
#include "fxtest.h"

static int simd_supported(fx_simd_level level)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (level == FX_SIMD_AVX512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (level == FX_SIMD_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return level == FX_SIMD_SCALAR;
}

static const char *level_name(fx_simd_level level)
{
    return level == FX_SIMD_AVX512 ? "AVX-512" : level == FX_SIMD_AVX2 ? "AVX2" : "CBLAS";
}

/* op(X)[i][j] for a row-major X with leading dimension ld. */
static double at(const float *x, int64_t ld, int trans, int64_t i, int64_t j)
{
    return trans ? x[j * ld + i] : x[i * ld + j];
}

typedef struct gemm_case {
    int64_t m, n, k;
    int ta, tb;
    float alpha, beta;
} gemm_case;

/* B given as a callback: the packer reads op(B) of a dense matrix. */
typedef struct dense_b {
    const float *b;
    int64_t ld;
    int trans;
} dense_b;

static void pack_dense_b(const void *self, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr, float *dst)
{
    const dense_b *s = self;
    for (int64_t q0 = j0; q0 < j0 + nc; q0 += nr) {
        for (int64_t k = 0; k < kc; k++)
            for (int64_t t = 0; t < nr; t++)
                dst[k * nr + t] = q0 + t < j0 + nc ? (float)at(s->b, s->ld, s->trans, k0 + k, q0 + t) : 0.0f;
        dst += kc * nr;
    }
}

/* mode 0: cpu_gemm; 1: pre-packed A + callback B through cpu_gemm_ex. */
static void run_case(fx_simd_level level, const gemm_case *gc, int mode, uint64_t seed)
{
    int64_t m = gc->m, n = gc->n, k = gc->k;
    int64_t lda = (gc->ta ? m : k) + 3, ldb = (gc->tb ? k : n) + 2, ldc = n + 5;
    int64_t rows_a = gc->ta ? k : m, rows_b = gc->tb ? n : k;
    float *a = fxtest_random(seed, rows_a * lda);
    float *b = fxtest_random(seed + 1, rows_b * ldb);
    float *c = fxtest_random(seed + 2, m * ldc);
    float *want = malloc(sizeof(float) * (size_t)(m * ldc));
    ck_assert_ptr_nonnull(want);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < ldc; j++) {
            if (j >= n) {
                want[i * ldc + j] = c[i * ldc + j]; /* padding must stay untouched */
                continue;
            }
            double s = 0;
            for (int64_t p = 0; p < k; p++)
                s += at(a, lda, gc->ta, i, p) * at(b, ldb, gc->tb, p, j);
            want[i * ldc + j] = (float)(gc->alpha * s + (gc->beta != 0.0f ? gc->beta * c[i * ldc + j] : 0.0));
            if (gc->beta == 0.0f)
                c[i * ldc + j] = NAN; /* beta = 0 must not read C */
        }
    size_t work_floats = cpu_gemm_work_floats(level, m, n, k);
    float *work = malloc(sizeof(float) * (work_floats + 1));
    ck_assert_ptr_nonnull(work);
    if (mode == 0) {
        cpu_gemm(level, gc->ta, gc->tb, m, n, k, gc->alpha, a, lda, b, ldb, gc->beta, c, ldc, work);
    } else {
        float *packed = malloc(sizeof(float) * (cpu_gemm_packed_a_floats(level, m, k) + 1));
        ck_assert_ptr_nonnull(packed);
        cpu_gemm_pack_a(level, gc->ta, m, k, a, lda, packed);
        dense_b db = { b, ldb, gc->tb };
        cpu_gemm_src sa = { NULL, 0, 0, packed, NULL, NULL };
        cpu_gemm_src sb = { NULL, 0, 0, NULL, pack_dense_b, &db };
        cpu_gemm_ex(level, m, n, k, gc->alpha, &sa, &sb, gc->beta, c, ldc, work);
        free(packed);
    }
    char what[160];
    snprintf(what, sizeof what, "%s %s m=%lld n=%lld k=%lld ta=%d tb=%d alpha=%g beta=%g", level_name(level),
             mode ? "packed/callback" : "dense", (long long)m, (long long)n, (long long)k, gc->ta, gc->tb,
             (double)gc->alpha, (double)gc->beta);
    fxtest_assert_close(c, want, m * ldc, 1e-4, 1e-4 * (1.0 + sqrt((double)k)), what);
    free(a);
    free(b);
    free(c);
    free(want);
    free(work);
}

START_TEST(test_gemm_matches_direct_product_on_every_simd_level)
{
    /* Edges of the 8x32 / 6x16 tiles, and of the KC = 256, MC = 120/128,
     * NC = 1024 blocks. */
    const gemm_case cases[] = {
        { 1, 1, 1, 0, 0, 1.0f, 0.0f },       { 7, 33, 5, 0, 0, 1.0f, 1.0f },
        { 8, 32, 17, 1, 0, 1.0f, 0.5f },     { 13, 45, 300, 0, 1, 2.0f, 0.0f },
        { 130, 70, 40, 1, 1, 1.0f, 1.0f },   { 9, 1030, 3, 0, 0, 1.0f, 0.0f },
        { 64, 196, 800, 0, 0, 1.0f, 1.0f },  { 64, 800, 196, 0, 1, 1.0f, 1.0f },
        { 800, 196, 64, 1, 0, 1.0f, 0.0f },  { 3, 5, 0, 0, 0, 1.0f, 0.5f },
        { 250, 17, 513, 1, 1, -1.0f, 0.0f },
    };
    const fx_simd_level levels[] = { FX_SIMD_AVX512, FX_SIMD_AVX2, FX_SIMD_SCALAR };
    for (int l = 0; l < 3; l++) {
        if (!simd_supported(levels[l]))
            continue;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            for (int mode = 0; mode < 2; mode++)
                run_case(levels[l], &cases[i], mode, 100 + i);
    }
}
END_TEST

/* cpu_gemm_pack_b_rows lays rows out as one panel of op(B) = rows^T. */
START_TEST(test_gemm_pack_b_rows_transposes_into_one_panel)
{
    const fx_simd_level levels[] = { FX_SIMD_AVX512, FX_SIMD_AVX2, FX_SIMD_SCALAR };
    const int nrs[] = { 32, 16, 11 }; /* the panel width each level packs with */
    for (int l = 0; l < 3; l++) {
        if (!simd_supported(levels[l]))
            continue;
        int nr = nrs[l];
        int64_t nc = nr - 3, kc = 19, ld = 23;
        float *rows = fxtest_random(7, nc * ld);
        float *dst = malloc(sizeof(float) * (size_t)(kc * nr));
        ck_assert_ptr_nonnull(dst);
        cpu_gemm_pack_b_rows(levels[l], rows, ld, kc, nc, nr, dst);
        for (int64_t k = 0; k < kc; k++)
            for (int64_t j = 0; j < nr; j++)
                ck_assert_msg(dst[k * nr + j] == (j < nc ? rows[j * ld + k] : 0.0f), "%s: element k=%lld j=%lld",
                              level_name(levels[l]), (long long)k, (long long)j);
        free(rows);
        free(dst);
    }
}
END_TEST

static Suite *gemm_suite(void)
{
    Suite *s = suite_create("cpu_gemm");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_gemm_matches_direct_product_on_every_simd_level);
    tcase_add_test(tc, test_gemm_pack_b_rows_transposes_into_one_panel);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return fxtest_run_suite(gemm_suite()); }
