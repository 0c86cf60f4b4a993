/* tests/test_op_fad.c - fad_loss: the loss, the masked occluded features
 * and the mask against a PyTorch reference (tests/gen_paper_fixtures.py),
 * with gradients from the loss alone and from the loss plus a gradient
 * on the masked output; ties at the border of S broken by the lower
 * index; n_keep 0 and K; finite differences; errors; and `fxrun run`
 * fetching all three outputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"

static fxtest_case fad_case(const char *attrs, fx_shape shape, const float *f, const float *fo)
{
    fxtest_case c;
    memset(&c, 0, sizeof c);
    c.op = "fad_loss";
    c.attrs = attrs;
    c.n_in = 2;
    c.in[0].name = "f";
    c.in[0].shape = shape;
    c.in[0].dtype = FX_F32;
    c.in[0].data = f;
    c.in[1] = c.in[0];
    c.in[1].name = "fo";
    c.in[1].data = fo;
    return c;
}

/* tests/data/paper/<name>.npy, made by tests/gen_paper_fixtures.py. */
static fx_array load_fixture(fx_context *ctx, const char *name) { return fxtest_load_npy(ctx, "paper", name); }

static float *download(fx_tensor *t)
{
    ck_assert_ptr_nonnull(t);
    float *h = malloc(fx_tensor_bytes(t));
    ck_assert_ptr_nonnull(h);
    fx_tensor_download(t, h);
    return h;
}

typedef struct fad_result {
    float loss;
    float *masked, *mask, *df, *dfo; /* malloc'd; df/dfo NULL without backward */
} fad_result;

/* Forward; with g0 != 0 or r1 backward with g0 on the loss and r1 on the
 * masked output. */
static fad_result run_fad(fx_context *ctx, const fxtest_case *c, float g0, const float *r1, int backward)
{
    fad_result res = { 0 };
    fx_graph *g = fxtest_build(ctx, c);
    ck_assert_msg(fx_graph_forward(g) == FX_OK, "%s", fx_context_error(ctx));
    fx_tensor_download(fx_graph_value(g, "node"), &res.loss);
    res.masked = download(fx_graph_value(g, "node:1"));
    res.mask = download(fx_graph_value(g, "node:2"));
    if (backward) {
        ck_assert_int_eq(fx_graph_seed_grad(g, "node", &g0), FX_OK);
        if (r1)
            ck_assert_int_eq(fx_graph_seed_grad(g, "node:1", r1), FX_OK);
        ck_assert_msg(fx_graph_backward(g) == FX_OK, "%s", fx_context_error(ctx));
        res.df = download(fx_graph_value_grad(g, "f"));
        res.dfo = download(fx_graph_value_grad(g, "fo"));
    }
    fx_graph_destroy(g);
    return res;
}

static void fad_result_free(fad_result *r)
{
    free(r->masked);
    free(r->mask);
    free(r->df);
    free(r->dfo);
}

START_TEST(test_fad_loss_matches_pytorch_reference)
{
    fx_context *ctx = fxtest_context();
    fx_array f = load_fixture(ctx, "fad_f"), fo = load_fixture(ctx, "fad_fo"), r1 = load_fixture(ctx, "fad_r1");
    fx_array keep = load_fixture(ctx, "fad_n_keep");
    char attrs[64];
    snprintf(attrs, sizeof attrs, "n_keep=%d", ((int32_t *)keep.data)[0]);
    fxtest_case c = fad_case(attrs, f.shape, f.data, fo.data);
    const int64_t n = fx_shape_numel(&f.shape);
    const char *want_names[7] = { "fad_loss", "fad_masked", "fad_mask", "fad_loss_df", "fad_loss_dfo",
                                  "fad_both_df", "fad_both_dfo" };
    fx_array want[7];
    for (int i = 0; i < 7; i++)
        want[i] = load_fixture(ctx, want_names[i]);
    fad_result a = run_fad(ctx, &c, 1.0f, NULL, 1);
    fxtest_assert_close(&a.loss, want[0].data, 1, 1e-6, 0, "loss");
    fxtest_assert_close(a.masked, want[1].data, n, 0, 0, "fo masked to S");
    fxtest_assert_close(a.mask, want[2].data, 10, 0, 0, "mask of S");
    fxtest_assert_close(a.df, want[3].data, n, 1e-6, 0, "dL/df");
    fxtest_assert_close(a.dfo, want[4].data, n, 1e-6, 0, "dL/dfo");
    fad_result b = run_fad(ctx, &c, 1.0f, r1.data, 1);
    fxtest_assert_close(b.df, want[5].data, n, 1e-6, 0, "df with a gradient on the masked output");
    fxtest_assert_close(b.dfo, want[6].data, n, 1e-6, 0, "dfo with a gradient on the masked output");
    fad_result_free(&a);
    fad_result_free(&b);
    for (int i = 0; i < 7; i++)
        fx_array_free(&want[i]);
    fx_array_free(&f), fx_array_free(&fo), fx_array_free(&r1), fx_array_free(&keep);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_fad_loss_breaks_ties_by_the_lower_index)
{
    /* Columns 1 and 3 change by exactly the same amount; with n_keep 2 the
     * set is {0 (smallest), 1}: the tie goes to the lower index. */
    fx_context *ctx = fxtest_context();
    float f[2 * 4] = { 0, 0, 0, 0, 1, 1, 1, 1 };
    float fo[2 * 4] = { 0.1f, 0.5f, 2, 0.5f, 1, 1.25f, 1, 1.25f };
    fxtest_case c = fad_case("n_keep=2", fx_shape_2d(2, 4), f, fo);
    fad_result r = run_fad(ctx, &c, 1.0f, NULL, 0);
    float want_mask[4] = { 1, 1, 0, 0 };
    fxtest_assert_close(r.mask, want_mask, 4, 0, 0, "mask");
    /* Delta = (0.05, 0.375, 1, 0.375); L = 0.1 * (0.05 + 0.375). */
    float want = 0.1f * (0.05f + 0.375f);
    fxtest_assert_close(&r.loss, &want, 1, 1e-6, 0, "loss");
    float want_masked[8] = { 0.1f, 0.5f, 0, 0, 1, 1.25f, 0, 0 };
    fxtest_assert_close(r.masked, want_masked, 8, 0, 0, "masked");
    fad_result_free(&r);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_fad_loss_n_keep_zero_and_all)
{
    fx_context *ctx = fxtest_context();
    float *f = fxtest_random(3, 3 * 6), *fo = fxtest_random(4, 3 * 6);
    fxtest_case c = fad_case("n_keep=0", fx_shape_2d(3, 6), f, fo);
    fad_result r = run_fad(ctx, &c, 1.0f, NULL, 1);
    ck_assert(r.loss == 0.0f);
    for (int i = 0; i < 18; i++)
        ck_assert(r.masked[i] == 0.0f && r.df[i] == 0.0f && r.dfo[i] == 0.0f);
    fad_result_free(&r);
    c = fad_case("n_keep=6 scale=2", fx_shape_2d(3, 6), f, fo);
    r = run_fad(ctx, &c, 1.0f, NULL, 1);
    double sum = 0;
    for (int i = 0; i < 18; i++) {
        sum += fabs((double)f[i] - fo[i]);
        ck_assert(r.masked[i] == fo[i]);
        float s = f[i] > fo[i] ? 1.0f : -1.0f;
        ck_assert_msg(fabsf(r.df[i] - 2.0f / 3.0f * s) < 1e-6f, "df[%d] = %g", i, r.df[i]);
        ck_assert_msg(fabsf(r.dfo[i] + 2.0f / 3.0f * s) < 1e-6f, "dfo[%d] = %g", i, r.dfo[i]);
    }
    float want = (float)(2.0 * sum / 3.0);
    fxtest_assert_close(&r.loss, &want, 1, 1e-6, 0, "loss with every filter kept");
    fad_result_free(&r);
    free(f);
    free(fo);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_fad_loss_grad_matches_finite_difference)
{
    /* |f - fo| >= 0.3 everywhere and the Deltas well apart, so no FD step
     * crosses a kink of |.| or changes S. */
    fx_context *ctx = fxtest_context();
    const int n = 4, k = 9;
    float f[4 * 9], fo[4 * 9];
    float *noise = fxtest_random(12, n * k);
    for (int b = 0; b < n; b++)
        for (int j = 0; j < k; j++) {
            f[b * k + j] = noise[b * k + j];
            float d = 0.3f + 0.25f * (float)((j * 5) % k);
            fo[b * k + j] = f[b * k + j] + ((b + j) % 2 ? d : -d);
        }
    fxtest_case c = fad_case("n_keep=5", fx_shape_2d(n, k), f, fo);
    c.eps = 1e-2;
    c.max_checks = n * k;
    fxtest_gradcheck(ctx, &c);
    free(noise);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_fad_loss_flattens_trailing_dims)
{
    /* [N, K, 1, 1] (a pooled map) is the same as [N, K]. */
    fx_context *ctx = fxtest_context();
    float *f = fxtest_random(7, 2 * 5), *fo = fxtest_random(8, 2 * 5);
    fxtest_case c2 = fad_case("n_keep=3", fx_shape_2d(2, 5), f, fo);
    fxtest_case c4 = fad_case("n_keep=3", fx_shape_4d(2, 5, 1, 1), f, fo);
    fad_result a = run_fad(ctx, &c2, 1.0f, NULL, 0), b = run_fad(ctx, &c4, 1.0f, NULL, 0);
    ck_assert(a.loss == b.loss);
    fxtest_assert_close(b.mask, a.mask, 5, 0, 0, "mask");
    fxtest_assert_close(b.masked, a.masked, 10, 0, 0, "masked");
    fad_result_free(&a);
    fad_result_free(&b);
    free(f);
    free(fo);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_fad_loss_rejects_bad_input)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = fad_case("n_keep=11", fx_shape_2d(2, 10), NULL, NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "n_keep 11 must be in [0, 10]");
    c = fad_case("n_keep=-1", fx_shape_2d(2, 10), NULL, NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "n_keep -1");
    c = fad_case("n_keep=3", fx_shape_2d(2, 10), NULL, NULL);
    c.in[1].shape = fx_shape_2d(2, 9);
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "same shape");
    c = fad_case("n_keep=1", fx_shape_1d(4), NULL, NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "[N, K]");
    fx_context_destroy(ctx);
}
END_TEST

/* Runs fad_loss through `fxrun run --backend BACKEND` on the fixtures. */
static void fxrun_fad(const char *backend)
{
    char *dir = fxtest_tempdir();
    fx_context *ctx = fxtest_context();
    fx_array keep = load_fixture(ctx, "fad_n_keep");
    char yaml[512], text[1024], cmd[4096], out[8192], path[600];
    snprintf(yaml, sizeof yaml, "%s/fad.yaml", dir);
    snprintf(text, sizeof text,
             "name: fad\n"
             "input: {f: [10], fo: [10]}\n"
             "layers:\n"
             "  - {name: clean, op: scale, factor: 1, in: f}\n"
             "losses:\n"
             "  - {name: fad, op: fad_loss, in: [clean, fo], n_keep: %d, scale: 0.1}\n",
             ((int32_t *)keep.data)[0]);
    fxtest_write_file(yaml, text);
    const char *d = FX_SOURCE_DIR "/tests/data/paper";
    snprintf(cmd, sizeof cmd,
             "%s run %s --backend %s --feed f=%s/fad_f.npy --feed fo=%s/fad_fo.npy --fetch fad:1=%s/masked.npy "
             "--fetch fad:2=%s/mask.npy --grad f=%s/df.npy --grad fo=%s/dfo.npy",
             fxtest_fxrun(), yaml, backend, d, d, dir, dir, dir, dir);
    int rc = fxtest_run(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "fxrun --backend %s failed (%d):\n%s", backend, rc, out);
    fx_array want_loss = load_fixture(ctx, "fad_loss");
    const char *at = strstr(out, "loss fad = ");
    ck_assert_msg(at != NULL, "no loss line:\n%s", out);
    float loss = (float)atof(at + strlen("loss fad = "));
    fxtest_assert_close(&loss, want_loss.data, 1, 1e-6, 0, "fxrun loss");
    const char *files[4] = { "masked", "mask", "df", "dfo" };
    const char *refs[4] = { "fad_masked", "fad_mask", "fad_loss_df", "fad_loss_dfo" };
    for (int i = 0; i < 4; i++) {
        fx_array got, want = load_fixture(ctx, refs[i]);
        snprintf(path, sizeof path, "%s/%s.npy", dir, files[i]);
        ck_assert_msg(fx_npy_read(ctx, path, &got) == FX_OK, "%s", fx_context_error(ctx));
        ck_assert_msg(fx_shape_equal(&got.shape, &want.shape), "%s has the wrong shape", files[i]);
        fxtest_assert_close(got.data, want.data, fx_shape_numel(&got.shape), 1e-6, 0, files[i]);
        fx_array_free(&got);
        fx_array_free(&want);
    }
    fx_array_free(&want_loss);
    fx_array_free(&keep);
    fx_context_destroy(ctx);
    fxtest_remove_tree(dir);
    free(dir);
}

START_TEST(test_fxrun_fad_outputs_and_gradients_match_pytorch)
{
    fxrun_fad("cpu");
}
END_TEST

/* The same through the fused OpenCL kernels, when a device exists. */
START_TEST(test_fxrun_fad_matches_pytorch_on_opencl)
{
    if (!fxtest_have_opencl())
        return;
    fxrun_fad("opencl");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fad_loss");
    TCase *tc = tcase_create("fad_loss");
    tcase_add_test(tc, test_fad_loss_matches_pytorch_reference);
    tcase_add_test(tc, test_fad_loss_breaks_ties_by_the_lower_index);
    tcase_add_test(tc, test_fad_loss_n_keep_zero_and_all);
    tcase_add_test(tc, test_fad_loss_grad_matches_finite_difference);
    tcase_add_test(tc, test_fad_loss_flattens_trailing_dims);
    tcase_add_test(tc, test_fad_loss_rejects_bad_input);
    tcase_add_test(tc, test_fxrun_fad_outputs_and_gradients_match_pytorch);
    tcase_add_test(tc, test_fxrun_fad_matches_pytorch_on_opencl);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
