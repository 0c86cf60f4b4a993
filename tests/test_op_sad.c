/* tests/test_op_sad.c - sad_loss: against PyTorch references
 * (tests/gen_paper_fixtures.py: sparse, dense, an all-zero channel, and
 * topk_mask -> sad_loss through `fxrun run`), hand-computed cases
 * (identical channels give 1, far-apart ones 0), the eps guard (zero
 * channels and images stay finite), gradients by finite differences on
 * sparse and dense maps of odd sizes, the same answer on every SIMD level
 * and thread count, and shape/attribute errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"

static fxtest_case sad_case(const char *attrs, fx_shape shape, const float *data)
{
    fxtest_case c;
    memset(&c, 0, sizeof c);
    c.op = "sad_loss";
    c.attrs = attrs;
    c.n_in = 1;
    c.in[0].name = "m";
    c.in[0].shape = shape;
    c.in[0].dtype = FX_F32;
    c.in[0].data = data;
    return c;
}

/* tests/data/paper/<name>.npy, made by tests/gen_paper_fixtures.py. */
static fx_array load_fixture(fx_context *ctx, const char *name) { return fxtest_load_npy(ctx, "paper", name); }

/* Loss, and dL/dm (malloc'd) for an incoming gradient `g` when dm != NULL. */
static float run_sad(fx_context *ctx, const fxtest_case *c, float g, float **dm)
{
    fx_graph *gr = fxtest_build(ctx, c);
    ck_assert_msg(fx_graph_forward(gr) == FX_OK, "%s", fx_context_error(ctx));
    float loss;
    fx_tensor_download(fx_graph_value(gr, "node"), &loss);
    if (dm) {
        ck_assert_int_eq(fx_graph_seed_grad(gr, "node", &g), FX_OK);
        ck_assert_msg(fx_graph_backward(gr) == FX_OK, "%s", fx_context_error(ctx));
        fx_tensor *t = fx_graph_value_grad(gr, "m");
        *dm = malloc(fx_tensor_bytes(t));
        ck_assert_ptr_nonnull(*dm);
        fx_tensor_download(t, *dm);
    }
    fx_graph_destroy(gr);
    return loss;
}

START_TEST(test_sad_loss_matches_pytorch_reference)
{
    fx_context *ctx = fxtest_context();
    const char *cases[3] = { "sparse", "dense", "zero" };
    for (int v = 0; v < 3; v++) {
        char name[64];
        snprintf(name, sizeof name, "sad_%s_m", cases[v]);
        fx_array m = load_fixture(ctx, name);
        snprintf(name, sizeof name, "sad_%s_loss", cases[v]);
        fx_array want_loss = load_fixture(ctx, name);
        snprintf(name, sizeof name, "sad_%s_dm", cases[v]);
        fx_array want_dm = load_fixture(ctx, name);
        fxtest_case c = sad_case(NULL, m.shape, m.data);
        float *dm;
        float loss = run_sad(ctx, &c, 1.0f, &dm);
        snprintf(name, sizeof name, "%s: loss", cases[v]);
        fxtest_assert_close(&loss, want_loss.data, 1, 1e-5, 0, name);
        snprintf(name, sizeof name, "%s: dL/dm", cases[v]);
        fxtest_assert_close(dm, want_dm.data, fx_shape_numel(&m.shape), 1e-4, 1e-8, name);
        free(dm);
        fx_array_free(&m);
        fx_array_free(&want_loss);
        fx_array_free(&want_dm);
    }
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_sad_loss_of_identical_channels_is_one_and_of_distant_ones_zero)
{
    fx_context *ctx = fxtest_context();
    /* K = 2 on 8 x 8: one spike per channel. Same spot: cos = 1, so L = 1.
     * Spots 3+ pixels apart: the 3x3 smoothings do not overlap, L = 0. */
    float m[2 * 64] = { 0 };
    m[2 * 8 + 3] = 1.5f;
    m[64 + 2 * 8 + 3] = -0.25f;
    fxtest_case c = sad_case(NULL, fx_shape_4d(1, 2, 8, 8), m);
    float loss = run_sad(ctx, &c, 1.0f, NULL);
    ck_assert_msg(fabsf(loss - 1.0f) < 1e-6f, "identical channels: loss %g, expected 1", loss);
    m[64 + 2 * 8 + 3] = 0.0f;
    m[64 + 6 * 8 + 6] = 2.0f;
    loss = run_sad(ctx, &c, 1.0f, NULL);
    ck_assert_msg(loss == 0.0f, "separate channels: loss %g, expected 0", loss);
    /* Adjacent spikes (1 apart): smoothed overlap over a 2x3 strip;
     * cos = sum g(d) g(d + e) / sum g^2 with the 3x3 kernel. */
    m[64 + 6 * 8 + 6] = 0.0f;
    m[64 + 2 * 8 + 4] = 1.0f;
    loss = run_sad(ctx, &c, 1.0f, NULL);
    const double gk[3] = { 0.0947416, 0.118318, 0.0947416 }, gm[3] = { 0.118318, 0.147761, 0.118318 };
    double num = 0, den = 0;
    for (int y = 0; y < 3; y++) {
        const double *row = y == 1 ? gm : gk;
        num += row[0] * row[1] + row[1] * row[2];
        for (int x = 0; x < 3; x++)
            den += row[x] * row[x];
    }
    double cosv = num / den;
    ck_assert_msg(fabs(loss - cosv * cosv) < 1e-6, "neighbouring spikes: loss %g, expected %g", loss, cosv * cosv);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_sad_loss_zero_channels_and_images_stay_finite)
{
    fx_context *ctx = fxtest_context();
    const int64_t n = 3, k = 5, hw = 4 * 6;
    float *m = fxtest_random(31, n * k * hw);
    for (int64_t p = 0; p < hw; p++) {
        m[(0 * k + 2) * hw + p] = 0.0f; /* one zero channel in image 0 */
        for (int64_t i = 0; i < k; i++)
            m[(1 * k + i) * hw + p] = 0.0f; /* all of image 1 */
    }
    fxtest_case c = sad_case(NULL, fx_shape_4d(n, k, 4, 6), m);
    float *dm;
    float loss = run_sad(ctx, &c, 1.0f, &dm);
    ck_assert_msg(isfinite(loss), "loss %g", loss);
    for (int64_t i = 0; i < n * k * hw; i++)
        ck_assert_msg(isfinite(dm[i]), "gradient element %lld is %g", (long long)i, dm[i]);
    for (int64_t p = 0; p < k * hw; p++)
        ck_assert_msg(dm[1 * k * hw + p] == 0.0f, "a zero image gets gradient %g", dm[1 * k * hw + p]);
    /* Image 1 contributes 0: the loss is the mean of images 0 and 2 and 0. */
    fxtest_case c0 = sad_case(NULL, fx_shape_4d(1, k, 4, 6), m);
    fxtest_case c2 = sad_case(NULL, fx_shape_4d(1, k, 4, 6), m + 2 * k * hw);
    float l0 = run_sad(ctx, &c0, 1.0f, NULL), l2 = run_sad(ctx, &c2, 1.0f, NULL);
    ck_assert_msg(fabsf(loss - (l0 + l2) / 3.0f) < 1e-6f, "batch mean %g, images %g, 0, %g", loss, l0, l2);
    free(dm);
    free(m);
    fx_context_destroy(ctx);
}
END_TEST

/* Sparse maps like topk_mask's output: about `keep` random positions per
 * map, with magnitudes >= 0.5 (top-k survivors are the large values; a
 * lone tiny value would make a channel's norm, and so the loss, curve
 * faster than a finite difference can follow). */
static float *sparse_maps(uint64_t seed, int64_t maps, int64_t hw, int keep)
{
    float *m = fxtest_random(seed, maps * hw);
    fx_rng rng;
    fx_rng_seed(&rng, seed + 1);
    for (int64_t i = 0; i < maps; i++) {
        float *row = m + i * hw;
        for (int64_t p = 0; p < hw; p++)
            row[p] = fx_rng_below(&rng, (uint64_t)hw) >= (uint64_t)keep ? 0.0f : copysignf(0.5f + fabsf(row[p]), row[p]);
    }
    return m;
}

START_TEST(test_sad_loss_grad_matches_finite_difference)
{
    fx_context *ctx = fxtest_context();
    struct {
        int64_t n, k, h, w;
        int keep; /* non-zeros per map, 0 = dense */
    } shapes[4] = { { 2, 7, 6, 5, 5 }, { 2, 7, 6, 5, 0 }, { 1, 19, 5, 7, 6 }, { 1, 3, 1, 9, 0 } };
    for (int v = 0; v < 4; v++) {
        int64_t maps = shapes[v].n * shapes[v].k, hw = shapes[v].h * shapes[v].w;
        float *m = shapes[v].keep ? sparse_maps(40 + (uint64_t)v, maps, hw, shapes[v].keep)
                                  : fxtest_random(40 + (uint64_t)v, maps * hw);
        fxtest_case c = sad_case(NULL, fx_shape_4d(shapes[v].n, shapes[v].k, shapes[v].h, shapes[v].w), m);
        c.eps = 2e-3;
        c.rtol = 2e-2;
        c.atol = 2e-6; /* gradients are ~1e-3: a loose atol would check nothing */
        c.max_checks = 96;
        fxtest_gradcheck(ctx, &c);
        free(m);
    }
    fx_context_destroy(ctx);
}
END_TEST

static float sad_with(const char *simd, int threads, const fxtest_case *c, float **dm)
{
    if (simd)
        setenv("FX_SIMD", simd, 1);
    else
        unsetenv("FX_SIMD");
    fx_context_options o = fx_context_options_default();
    o.threads = threads;
    fx_context *ctx = NULL;
    char err[256];
    ck_assert_msg(fx_context_create(&o, &ctx, err, sizeof err) == FX_OK, "%s", err);
    float loss = run_sad(ctx, c, 0.5f, dm);
    fx_context_destroy(ctx);
    unsetenv("FX_SIMD");
    return loss;
}

START_TEST(test_sad_loss_same_on_every_simd_level_and_thread_count)
{
    /* K 37 (not a multiple of 16: partial tiles and vectors), batch 5 over
     * 2 threads; top-k sparse 24 x 24 maps (the row-list path) and dense
     * 12 x 12 maps (the GEMM path). Threads must not change a bit (images
     * are independent, the batch sum has a fixed order); SIMD levels
     * differ only by rounding (FMA or not, another GEMM kernel). */
    for (int dense = 0; dense < 2; dense++) {
        const int64_t n = 5, k = 37, side = dense ? 12 : 24, hw = side * side;
        float *m = dense ? fxtest_random(51, n * k * hw) : sparse_maps(50, n * k, hw, 23);
        fxtest_case c = sad_case(NULL, fx_shape_4d(n, k, side, side), m);
        float *d0, *d1, *d2, *d3;
        float l0 = sad_with(NULL, 1, &c, &d0), l1 = sad_with(NULL, 2, &c, &d1);
        float l2 = sad_with("scalar", 2, &c, &d2), l3 = sad_with("avx2", 1, &c, &d3);
        ck_assert_msg(l0 == l1, "%s: loss on 1 thread %.9g, on 2 %.9g", dense ? "dense" : "sparse", l0, l1);
        fxtest_assert_close(d1, d0, n * k * hw, 0, 0, "dm, 2 threads vs 1");
        fxtest_assert_close(&l2, &l0, 1, 1e-5, 0, "loss, scalar vs best SIMD");
        fxtest_assert_close(&l3, &l0, 1, 1e-5, 0, "loss, avx2 vs best SIMD");
        fxtest_assert_close(d2, d0, n * k * hw, 1e-3, 1e-10, "dm, scalar vs best SIMD");
        fxtest_assert_close(d3, d0, n * k * hw, 1e-3, 1e-10, "dm, avx2 vs best SIMD");
        free(d0), free(d1), free(d2), free(d3);
        free(m);
    }
}
END_TEST

START_TEST(test_sad_loss_sparse_and_dense_paths_agree)
{
    /* The same maps with about half the positions zero: once just below the
     * density at which the GEMM path takes over, and once with a few more
     * non-zeros (tiny values) that push it over; the answers agree to
     * rounding. */
    fx_context *ctx = fxtest_context();
    const int64_t n = 2, k = 9, hw = 8 * 8;
    float *a = sparse_maps(70, n * k, hw, 28), *b = malloc((size_t)(n * k * hw) * sizeof(float));
    ck_assert_ptr_nonnull(b);
    int64_t nnz = 0;
    for (int64_t i = 0; i < n * k * hw; i++)
        nnz += a[i] != 0.0f;
    ck_assert_msg(nnz <= n * k * hw / 2, "the sparse input has %lld non-zeros", (long long)nnz);
    for (int64_t i = 0; i < n * k * hw; i++)
        b[i] = a[i] != 0.0f ? a[i] : 1e-12f; /* all non-zero, same maps to float precision */
    fxtest_case ca = sad_case(NULL, fx_shape_4d(n, k, 8, 8), a), cb = sad_case(NULL, fx_shape_4d(n, k, 8, 8), b);
    float *da, *db;
    float la = run_sad(ctx, &ca, 1.0f, &da), lb = run_sad(ctx, &cb, 1.0f, &db);
    fxtest_assert_close(&lb, &la, 1, 1e-5, 0, "loss, GEMM path vs row lists");
    fxtest_assert_close(db, da, n * k * hw, 1e-4, 1e-9, "dm, GEMM path vs row lists");
    free(da), free(db), free(a), free(b);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_sad_loss_gradient_scales_with_the_loss_weight)
{
    fx_context *ctx = fxtest_context();
    float *m = sparse_maps(60, 2 * 6, 30, 5);
    fxtest_case c = sad_case(NULL, fx_shape_4d(2, 6, 5, 6), m);
    float *d1, *d3;
    run_sad(ctx, &c, 1.0f, &d1);
    run_sad(ctx, &c, -3.0f, &d3);
    for (int i = 0; i < 2 * 6 * 30; i++)
        d1[i] *= -3.0f;
    fxtest_assert_close(d3, d1, 2 * 6 * 30, 1e-4, 1e-9, "dm for weight -3");
    free(d1);
    free(d3);
    free(m);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_sad_loss_rejects_bad_input)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = sad_case(NULL, fx_shape_4d(2, 1, 4, 4), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "K >= 2");
    c = sad_case(NULL, fx_shape_make(3, (int64_t[]){ 2, 3, 16 }), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "[N, K, H, W]");
    c = sad_case("eps=0", fx_shape_4d(2, 3, 4, 4), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "eps");
    fx_context_destroy(ctx);
}
END_TEST

/* Runs the composition through `fxrun run --backend BACKEND`. */
static void fxrun_topk_then_sad(const char *backend)
{
    /* The paper's composition as a user runs it: dense maps fed from
     * .npy, topk_mask, sad_loss as the graph's loss, gradient to the input. */
    char *dir = fxtest_tempdir();
    char yaml[512], cmd[4096], out[8192], path[600];
    snprintf(yaml, sizeof yaml, "%s/sad.yaml", dir);
    fxtest_write_file(yaml, "name: sad\n"
                            "input: {x: [7, 6, 5]}\n"
                            "layers:\n"
                            "  - {name: k5_masked, op: topk_mask, in: x}\n"
                            "losses:\n"
                            "  - {name: sad, op: sad_loss, in: k5_masked}\n");
    snprintf(cmd, sizeof cmd, "%s run %s --backend %s --feed x=%s/tests/data/paper/topk_sad_x.npy --grad x=%s/dx.npy",
             fxtest_fxrun(), yaml, backend, FX_SOURCE_DIR, dir);
    int rc = fxtest_run(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "fxrun --backend %s failed (%d):\n%s", backend, rc, out);
    fx_context *ctx = fxtest_context();
    fx_array want_loss = load_fixture(ctx, "topk_sad_loss"), want_dx = load_fixture(ctx, "topk_sad_dx");
    const char *at = strstr(out, "loss sad = ");
    ck_assert_msg(at != NULL, "no loss line:\n%s", out);
    float loss = (float)atof(at + strlen("loss sad = "));
    fxtest_assert_close(&loss, want_loss.data, 1, 1e-5, 0, "fxrun loss");
    fx_array dx;
    snprintf(path, sizeof path, "%s/dx.npy", dir);
    ck_assert_int_eq(fx_npy_read(ctx, path, &dx), FX_OK);
    ck_assert(fx_shape_equal(&dx.shape, &want_dx.shape));
    fxtest_assert_close(dx.data, want_dx.data, fx_shape_numel(&dx.shape), 1e-4, 1e-8, "fxrun dL/dx");
    fx_array_free(&dx);
    fx_array_free(&want_loss);
    fx_array_free(&want_dx);
    fx_context_destroy(ctx);
    fxtest_remove_tree(dir);
    free(dir);
}

START_TEST(test_fxrun_topk_then_sad_matches_pytorch)
{
    fxrun_topk_then_sad("cpu");
}
END_TEST

/* The same on OpenCL (the fused kernels), when a device exists. */
START_TEST(test_fxrun_topk_then_sad_matches_pytorch_on_opencl)
{
    if (!fxtest_have_opencl())
        return;
    fxrun_topk_then_sad("opencl");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sad_loss");
    TCase *tc = tcase_create("sad_loss");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_sad_loss_matches_pytorch_reference);
    tcase_add_test(tc, test_sad_loss_of_identical_channels_is_one_and_of_distant_ones_zero);
    tcase_add_test(tc, test_sad_loss_zero_channels_and_images_stay_finite);
    tcase_add_test(tc, test_sad_loss_grad_matches_finite_difference);
    tcase_add_test(tc, test_sad_loss_same_on_every_simd_level_and_thread_count);
    tcase_add_test(tc, test_sad_loss_sparse_and_dense_paths_agree);
    tcase_add_test(tc, test_sad_loss_gradient_scales_with_the_loss_weight);
    tcase_add_test(tc, test_sad_loss_rejects_bad_input);
    tcase_add_test(tc, test_fxrun_topk_then_sad_matches_pytorch);
    tcase_add_test(tc, test_fxrun_topk_then_sad_matches_pytorch_on_opencl);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
