/* tests/test_op_outputs.c - an op's outputs reach its shape function as
 * pointer + count (fx_infer_call.n_out, out, out_dtype over arrays the
 * executor keeps per node, plugin ABI 4), not as arrays of FX_MAX_IO in
 * the struct. FX_MAX_IO stays the bound on fx_op_def.n_outputs: an op
 * with exactly FX_MAX_IO outputs plans and runs, each output with its own
 * shape and dtype; the arrays come zeroed to every call (dtype F32 by
 * default, even after the node's previous call set I32), and n_out is the
 * op's own n_outputs; an op declaring more (or none) is refused at
 * registration with a message naming the bound. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"

/* The layout no longer holds FX_MAX_IO outputs: `out` is one pointer. */
_Static_assert(sizeof(((fx_infer_call *)0)->out) == sizeof(fx_shape *), "fx_infer_call.out is a pointer");
_Static_assert(sizeof(((fx_infer_call *)0)->out_dtype) == sizeof(fx_dtype *), "fx_infer_call.out_dtype is a pointer");

#define BATCH 2
#define WIDTH 5

/* What the shape functions saw, for the test to check after planning:
 * a shape function has no other way out than its context's error. */
static fx_status expect_fresh_outputs(fx_infer_call *call, int want)
{
    if (call->n_out != want)
        return fx_node_fail(call->ctx, call->node, FX_ERR_INTERNAL, "n_out is %d, the op declares %d", call->n_out,
                            want);
    for (int k = 0; k < call->n_out; k++)
        if (call->out[k].ndim != 0 || call->out_dtype[k] != FX_F32)
            return fx_node_fail(call->ctx, call->node, FX_ERR_INTERNAL,
                                "output %d arrives with ndim %d and dtype %d, not zeroed", k, call->out[k].ndim,
                                (int)call->out_dtype[k]);
    return FX_OK;
}

/* test_fan: x [B, N] -> FX_MAX_IO outputs, output k is [B, k + 1], I32
 * for odd k (its values k * 100 + j), F32 for even k (x[b, j % N] + k). */
static fx_status fan_infer(fx_infer_call *call)
{
    fx_status st = expect_fresh_outputs(call, FX_MAX_IO);
    if (st != FX_OK)
        return st;
    if (call->in[0].ndim != 2 || call->in_dtype[0] != FX_F32)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "test_fan takes an f32 [B, N] input");
    for (int k = 0; k < call->n_out; k++) {
        call->out[k] = fx_shape_2d(call->in[0].dim[0], k + 1);
        if (k % 2)
            call->out_dtype[k] = FX_I32;
    }
    return FX_OK;
}

static fx_status fan_forward(const fx_kernel_call *call)
{
    const float *x = fx_tensor_f32(call->in[0]);
    int64_t n = call->in[0]->shape.dim[1];
    for (int k = 0; k < call->n_out; k++) {
        const fx_tensor *y = call->out[k];
        int64_t rows = y->shape.dim[0], cols = y->shape.dim[1];
        for (int64_t b = 0; b < rows; b++)
            for (int64_t j = 0; j < cols; j++) {
                if (k % 2)
                    fx_tensor_i32(y)[b * cols + j] = (int32_t)(k * 100 + j);
                else
                    fx_tensor_f32(y)[b * cols + j] = x[b * n + j % n] + (float)k;
            }
    }
    return FX_OK;
}

/* test_pair: x [B, N] -> 2 outputs, both x (n_out must be 2 here). */
static fx_status pair_infer(fx_infer_call *call)
{
    fx_status st = expect_fresh_outputs(call, 2);
    if (st != FX_OK)
        return st;
    call->out[0] = call->in[0];
    call->out[1] = call->in[0];
    return FX_OK;
}

static fx_status pair_forward(const fx_kernel_call *call)
{
    for (int k = 0; k < 2; k++)
        memcpy(fx_tensor_f32(call->out[k]), fx_tensor_f32(call->in[0]), fx_tensor_bytes(call->in[0]));
    return FX_OK;
}

static const fx_op_def fan_op = { .name = "test_fan", .doc = "FX_MAX_IO outputs", .min_inputs = 1, .max_inputs = 1,
                                  .n_outputs = FX_MAX_IO, .infer = fan_infer, .flags = FX_OP_NO_BACKWARD };
static const fx_op_def pair_op = { .name = "test_pair", .doc = "two outputs", .min_inputs = 1, .max_inputs = 1,
                                   .n_outputs = 2, .infer = pair_infer, .flags = FX_OP_NO_BACKWARD };

static fx_context *context_with_ops(void)
{
    fx_context *ctx = fxtest_context();
    fx_registry *reg = fx_context_registry(ctx);
    ck_assert_msg(fx_registry_add_op(reg, &fan_op) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_msg(fx_registry_add_op(reg, &pair_op) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(fx_registry_add_kernel(reg, "test_fan", "cpu", fan_forward, NULL), FX_OK);
    ck_assert_int_eq(fx_registry_add_kernel(reg, "test_pair", "cpu", pair_forward, NULL), FX_OK);
    return ctx;
}

/* x -> fan (FX_MAX_IO outputs) -> pair(fan:6) -> fan(pair:1): the second
 * fan node sees freshly zeroed arrays although the first one's call set
 * I32 in the same positions. Checks every output's shape, dtype and
 * values at `batch`. */
static void check_fan(fx_graph *g, int64_t batch)
{
    fx_context *ctx = fx_graph_context(g);
    ck_assert_msg(fx_graph_plan(g, batch, FX_MODE_INFER, fx_context_cpu_backend(ctx)) == FX_OK, "%s",
                  fx_context_error(ctx));
    float *x = fxtest_random(3, batch * WIDTH);
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "x"), x), FX_OK);
    ck_assert_msg(fx_graph_forward(g) == FX_OK, "%s", fx_context_error(ctx));
    const char *nodes[] = { "fan", "fan2" };
    for (int n = 0; n < 2; n++) {
        /* fan2 reads pair:1 = fan:6 = x[b, j % WIDTH] + 6, 7 columns */
        int64_t in_cols = n ? FX_MAX_IO - 1 : WIDTH;
        float *in = malloc((size_t)(batch * in_cols) * sizeof *in);
        ck_assert_ptr_nonnull(in);
        for (int64_t b = 0; b < batch; b++)
            for (int64_t j = 0; j < in_cols; j++)
                in[b * in_cols + j] = n ? x[b * WIDTH + j % WIDTH] + 6.0f : x[b * WIDTH + j];
        for (int k = 0; k < FX_MAX_IO; k++) {
            char name[32];
            snprintf(name, sizeof name, k ? "%s:%d" : "%s", nodes[n], k);
            fx_tensor *t = fx_graph_value(g, name);
            ck_assert_msg(t != NULL, "no value %s", name);
            ck_assert_int_eq(t->shape.ndim, 2);
            ck_assert_int_eq(t->shape.dim[0], batch);
            ck_assert_int_eq(t->shape.dim[1], k + 1);
            ck_assert_int_eq(t->dtype, k % 2 ? FX_I32 : FX_F32);
            union {
                float f[BATCH * 4 * FX_MAX_IO];
                int32_t i[BATCH * 4 * FX_MAX_IO];
            } got;
            ck_assert_int_le(fx_tensor_numel(t), BATCH * 4 * FX_MAX_IO);
            ck_assert_int_eq(fx_tensor_download(t, &got), FX_OK);
            for (int64_t b = 0; b < batch; b++)
                for (int64_t j = 0; j <= k; j++) {
                    if (k % 2)
                        ck_assert_int_eq(got.i[b * (k + 1) + j], k * 100 + j);
                    else
                        ck_assert_msg(got.f[b * (k + 1) + j] == in[b * in_cols + j % in_cols] + (float)k,
                                      "%s[%lld, %lld] = %g", name, (long long)b, (long long)j,
                                      (double)got.f[b * (k + 1) + j]);
                }
        }
        free(in);
    }
    free(x);
}

START_TEST(test_an_op_with_fx_max_io_outputs_gets_them_as_pointer_and_count)
{
    fx_context *ctx = context_with_ops();
    fx_graph *g = NULL;
    ck_assert_int_eq(fx_graph_create(ctx, "outputs", &g), FX_OK);
    fx_shape per = fx_shape_1d(WIDTH);
    fx_srcpos pos = { "outputs.yaml", 1, 1 };
    ck_assert_int_eq(fx_graph_add_input(g, "x", FX_F32, &per, pos), FX_OK);
    fxtest_add_node(g, "fan", "test_fan", "x", NULL, NULL, NULL);
    fxtest_add_node(g, "pair", "test_pair", "fan:6", NULL, NULL, NULL);
    fxtest_add_node(g, "fan2", "test_fan", "pair:1", NULL, NULL, NULL);
    for (int k = 0; k < FX_MAX_IO; k++) {
        char name[32];
        snprintf(name, sizeof name, k ? "fan:%d" : "fan", k);
        ck_assert_int_eq(fx_graph_keep(g, name), FX_OK);
        snprintf(name, sizeof name, k ? "fan2:%d" : "fan2", k);
        ck_assert_int_eq(fx_graph_keep(g, name), FX_OK);
    }
    check_fan(g, BATCH);
    check_fan(g, 1); /* re-planned: shape inference runs again on the same node arrays */
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

/* Registering `d` is refused with a message containing `want`, and the op
 * stays unknown. */
static void refused(fx_context *ctx, const fx_op_def *d, const char *want)
{
    ck_assert_int_eq(fx_registry_add_op(fx_context_registry(ctx), d), FX_ERR_INVALID);
    ck_assert_msg(strstr(fx_context_error(ctx), want), "%s", fx_context_error(ctx));
    ck_assert_ptr_null(fx_registry_find_op(fx_context_registry(ctx), d->name));
}

START_TEST(test_an_op_with_more_outputs_than_fx_max_io_is_refused)
{
    fx_context *ctx = fxtest_context();
    fx_op_def d = fan_op;
    d.name = "test_too_many";
    d.n_outputs = FX_MAX_IO + 1;
    char want[128];
    snprintf(want, sizeof want, "declares %d outputs; n_outputs must be 1 to FX_MAX_IO (%d)", FX_MAX_IO + 1,
             FX_MAX_IO);
    refused(ctx, &d, want);
    d.n_outputs = 0;
    refused(ctx, &d, "declares 0 outputs");
    fx_context_destroy(ctx);
}
END_TEST

/* The other counts are refused the same way, each naming itself and its
 * bound (one check, shared with a plugin's op override). */
START_TEST(test_other_counts_out_of_range_are_refused_by_name)
{
    fx_context *ctx = fxtest_context();
    fx_op_def d = fan_op;
    d.name = "test_bad_counts";
    d.min_inputs = 3;
    d.max_inputs = 2;
    refused(ctx, &d, "op 'test_bad_counts' declares inputs 3 to 2");
    d = fan_op;
    d.name = "test_bad_counts";
    d.n_params = FX_MAX_PARAMS + 1;
    char want[128];
    snprintf(want, sizeof want, "declares %d parameters; n_params must be 0 to FX_MAX_PARAMS (%d)", FX_MAX_PARAMS + 1,
             FX_MAX_PARAMS);
    refused(ctx, &d, want);
    d = fan_op;
    d.name = "test_bad_counts";
    d.n_attrs = -1;
    refused(ctx, &d, "declares -1 attributes");
    fx_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("op_outputs");
    TCase *tc = tcase_create("outputs");
    tcase_add_test(tc, test_an_op_with_fx_max_io_outputs_gets_them_as_pointer_and_count);
    tcase_add_test(tc, test_an_op_with_more_outputs_than_fx_max_io_is_refused);
    tcase_add_test(tc, test_other_counts_out_of_range_are_refused_by_name);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
