/* tests/test_grad_final.c - the executor's "parameter gradient final"
 * report (fx_graph_set_grad_final), which data-parallel training uses to
 * start each bucket's all-reduce during backward (core/train/data_parallel.c):
 *  - every parameter with a gradient is reported exactly once per
 *    backward, and what its gradient holds when reported is bit for bit
 *    what it holds after backward (nothing writes it later), on a
 *    branching graph with shared gradient buffers (core/engine/memory_plan.c);
 *  - the first report is the last layer's (reports come as backward
 *    finishes layers, not at its end);
 *  - an error from the callback ends backward with that status;
 *  - without a callback, backward is unchanged (the other tests). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"

#define BATCH 4
#define MAX_PARAMS 64

static const char *net_yaml =
    "name: gradfinal\n"
    "input: {image: [3, 12, 12], label: []}\n"
    "layers:\n"
    "  - {name: c1, op: conv2d, in: image, out_channels: 6, kernel: 3, pad: 1}\n"
    "  - {name: b1, op: batchnorm}\n"
    "  - {name: a1, op: relu}\n"
    "  - {name: c2, op: conv2d, out_channels: 6, kernel: 3, pad: 1}\n"
    "  - {name: n1, op: l2_normalize, in: a1}\n"
    "  - {name: n2, op: l2_normalize, in: c2}\n"
    "  - {name: hyper, op: concat, in: [n1, n2]}\n"
    "  - {name: feat, op: global_avgpool}\n"
    "  - {name: logits, op: linear, out_features: 5}\n"
    "losses:\n"
    "  - {op: softmax_cross_entropy, in: [logits, label]}\n"
    "train: {optimizer: sgd, lr: 0.01, batch: 4}\n";

typedef struct reports {
    fx_graph *g;
    int count[MAX_PARAMS];
    float *at_report[MAX_PARAMS]; /* the gradient when reported */
    int order[MAX_PARAMS], n;
    int fail_at;                  /* return an error at this report; -1 = never */
} reports;

static fx_status on_final(void *user, int param)
{
    reports *r = user;
    ck_assert_int_lt(param, MAX_PARAMS);
    if (r->n == r->fail_at)
        return FX_ERR_INVALID;
    fx_param p = fx_graph_param_at(r->g, param);
    ck_assert_ptr_nonnull(p.grad);
    int64_t n = fx_tensor_numel(p.grad);
    free(r->at_report[param]);
    r->at_report[param] = malloc((size_t)n * sizeof(float));
    ck_assert_ptr_nonnull(r->at_report[param]);
    ck_assert_int_eq(fx_tensor_download(p.grad, r->at_report[param]), FX_OK);
    r->count[param]++;
    r->order[r->n++] = param;
    return FX_OK;
}

static fx_graph *load_planned(fx_context *ctx)
{
    char *dir = fxtest_tempdir();
    char path[512];
    snprintf(path, sizeof path, "%s/net.yaml", dir);
    fxtest_write_file(path, net_yaml);
    fx_graph *g = NULL;
    fx_config cfg;
    ck_assert_msg(fx_graph_load_yaml(ctx, path, &g, &cfg) == FX_OK, "%s", fx_context_error(ctx));
    fxtest_remove_tree(dir);
    free(dir);
    ck_assert_msg(fx_graph_plan(g, BATCH, FX_MODE_TRAIN, fx_context_cpu_backend(ctx)) == FX_OK, "%s",
                  fx_context_error(ctx));
    ck_assert_int_le(fx_graph_param_count(g), MAX_PARAMS);
    float *x = fxtest_random(7, fx_tensor_numel(fx_graph_value(g, "image")));
    int32_t y[BATCH] = { 0, 1, 2, 3 };
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "image"), x), FX_OK);
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "label"), y), FX_OK);
    free(x);
    return g;
}

START_TEST(test_each_gradient_is_reported_once_and_already_final)
{
    fx_context *ctx = fxtest_context();
    fx_graph *g = load_planned(ctx);
    reports r;
    memset(&r, 0, sizeof r);
    r.g = g;
    r.fail_at = -1;
    fx_graph_set_grad_final(g, on_final, &r);
    for (int pass = 1; pass <= 2; pass++) { /* once per backward */
        ck_assert_int_eq(fx_graph_forward(g), FX_OK);
        ck_assert_msg(fx_graph_backward(g) == FX_OK, "%s", fx_context_error(ctx));
        int with_grad = 0;
        for (int i = 0; i < fx_graph_param_count(g); i++) {
            fx_param p = fx_graph_param_at(g, i);
            if (!p.grad) {
                ck_assert_msg(r.count[i] == 0, "%s has no gradient but was reported", p.name);
                continue;
            }
            with_grad++;
            ck_assert_msg(r.count[i] == pass, "%s reported %d times in %d backward passes", p.name, r.count[i], pass);
            int64_t n = fx_tensor_numel(p.grad);
            float *now = malloc((size_t)n * sizeof(float));
            ck_assert_ptr_nonnull(now);
            ck_assert_int_eq(fx_tensor_download(p.grad, now), FX_OK);
            ck_assert_msg(memcmp(now, r.at_report[i], (size_t)n * sizeof(float)) == 0,
                          "%s changed after it was reported final", p.name);
            free(now);
        }
        ck_assert_int_gt(with_grad, 4);
        ck_assert_int_eq(r.n, with_grad * pass);
        const char *first = fx_graph_param_at(g, r.order[0]).name;
        ck_assert_msg(!strncmp(first, "logits", 6), "the first report should be the last layer's, got %s", first);
        ck_assert_msg(!strncmp(fx_graph_param_at(g, r.order[r.n - 1]).name, "c1", 2),
                      "the last report should be the first layer's, got %s",
                      fx_graph_param_at(g, r.order[r.n - 1]).name);
    }
    fx_graph_set_grad_final(g, NULL, NULL); /* no callback: nothing more reported */
    int before = r.n;
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    ck_assert_int_eq(fx_graph_backward(g), FX_OK);
    ck_assert_int_eq(r.n, before);
    for (int i = 0; i < MAX_PARAMS; i++)
        free(r.at_report[i]);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_a_failing_callback_ends_backward_with_its_status)
{
    fx_context *ctx = fxtest_context();
    fx_graph *g = load_planned(ctx);
    reports r;
    memset(&r, 0, sizeof r);
    r.g = g;
    r.fail_at = 1;
    fx_graph_set_grad_final(g, on_final, &r);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    ck_assert_int_eq(fx_graph_backward(g), FX_ERR_INVALID);
    ck_assert_int_eq(r.n, 1); /* stopped at the failing report */
    free(r.at_report[r.order[0]]);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("grad_final");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_each_gradient_is_reported_once_and_already_final);
    tcase_add_test(tc, test_a_failing_callback_ends_backward_with_its_status);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
