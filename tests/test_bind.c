/* tests/test_bind.c - `bind:` ties a parameter slot of one layer to a
 * parameter of another layer (of any op): both layers read the same
 * tensor and their gradients add up in it. Errors name the layer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fxtest.h"

static fx_status load(fx_context *ctx, const char *text, fx_graph **g)
{
    char *dir = fxtest_tempdir();
    char path[512];
    snprintf(path, sizeof path, "%s/bind.yaml", dir);
    fxtest_write_file(path, text);
    fx_config cfg;
    fx_status st = fx_graph_load_yaml(ctx, path, g, &cfg);
    fxtest_remove_tree(dir);
    free(dir);
    return st;
}

START_TEST(test_bound_parameter_is_one_tensor_with_summed_gradients)
{
    fx_context *ctx = fxtest_context();
    fx_graph *g = NULL;
    fx_status st = load(ctx,
                        "input: {x: [3]}\n"
                        "layers:\n"
                        "  - {name: a, op: linear, in: x, out_features: 3}\n"
                        "  - {name: b, op: linear, in: a, out_features: 3, bind: {weight: a.weight}}\n",
                        &g);
    ck_assert_msg(st == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(fx_graph_require_grad(g, "x"), FX_OK);
    ck_assert_int_eq(fx_graph_plan(g, 2, FX_MODE_TRAIN, NULL), FX_OK);
    fx_param pa, pb, bias;
    ck_assert_ptr_nonnull(fx_graph_find_param(g, "a.weight", &pa));
    ck_assert_ptr_null(fx_graph_find_param(g, "b.weight", &pb)); /* no own weight */
    ck_assert_ptr_nonnull(fx_graph_find_param(g, "b.bias", &bias)); /* own bias */
    float x[6] = { 1, 2, 3, -1, 0, 2 };
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "x"), x), FX_OK);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    float seed[6] = { 1, 1, 1, 1, 1, 1 };
    ck_assert_int_eq(fx_graph_seed_grad(g, "b", seed), FX_OK);
    ck_assert_int_eq(fx_graph_backward(g), FX_OK);
    /* By hand: y = W (W x + ba) + bb, dL/dW = g a^T + (W^T g) x^T. */
    float w[9], ba[3], gw[9];
    ck_assert_int_eq(fx_tensor_download(pa.value, w), FX_OK);
    fx_param pba;
    ck_assert_ptr_nonnull(fx_graph_find_param(g, "a.bias", &pba));
    ck_assert_int_eq(fx_tensor_download(pba.value, ba), FX_OK);
    ck_assert_int_eq(fx_tensor_download(pa.grad, gw), FX_OK);
    float want[9] = { 0 };
    for (int n = 0; n < 2; n++) {
        float a[3], wtg[3] = { 0, 0, 0 };
        for (int o = 0; o < 3; o++) {
            a[o] = ba[o];
            for (int i = 0; i < 3; i++)
                a[o] += w[o * 3 + i] * x[n * 3 + i];
        }
        for (int i = 0; i < 3; i++)
            for (int o = 0; o < 3; o++)
                wtg[i] += w[o * 3 + i] * seed[n * 3 + o];
        for (int o = 0; o < 3; o++)
            for (int i = 0; i < 3; i++)
                want[o * 3 + i] += seed[n * 3 + o] * a[i] + wtg[o] * x[n * 3 + i];
    }
    fxtest_assert_close(gw, want, 9, 1e-5, 1e-6, "gradient of the bound weight");
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_bind_errors_name_the_layer_and_the_fix)
{
    fx_context *ctx = fxtest_context();
    fx_graph *g = NULL;
    ck_assert_int_eq(load(ctx, "input: {x: [3]}\nlayers:\n  - {name: a, op: linear, in: x, out_features: 3}\n"
                               "  - {name: b, op: linear, out_features: 3, bind: {weight: zz.weight}}\n", &g),
                     FX_ERR_INVALID);
    ck_assert_msg(strstr(fx_context_error(ctx), "zz") && strstr(fx_context_error(ctx), "bind.yaml:4:"), "%s",
                  fx_context_error(ctx));
    ck_assert_int_eq(load(ctx, "input: {x: [3]}\nlayers:\n  - {name: a, op: linear, in: x, out_features: 3}\n"
                               "  - {name: b, op: linear, out_features: 3, bind: {kernel: a.weight}}\n", &g),
                     FX_ERR_INVALID);
    ck_assert_msg(strstr(fx_context_error(ctx), "'kernel' is not a parameter of linear"), "%s", fx_context_error(ctx));
    ck_assert_int_eq(load(ctx, "input: {x: [3]}\nlayers:\n  - {name: a, op: linear, in: x, out_features: 3}\n"
                               "  - {name: b, op: linear, out_features: 4, bind: {weight: a.weight}}\n", &g),
                     FX_ERR_SHAPE);
    ck_assert_msg(strstr(fx_context_error(ctx), "a.weight"), "%s", fx_context_error(ctx));
    fx_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bind");
    TCase *tc = tcase_create("bind");
    tcase_add_test(tc, test_bound_parameter_is_one_tensor_with_summed_gradients);
    tcase_add_test(tc, test_bind_errors_name_the_layer_and_the_fix);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
