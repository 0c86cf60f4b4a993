/* tests/test_memory_plan.c - buffer sharing in training plans
 * (core/engine/memory_plan.c):
 *  - training with shared buffers is bit-identical to training with a
 *    buffer per value (fx_graph_set_memory_reuse(g, 0)): every step's
 *    losses, the kept scores, every parameter and optimiser state, on a
 *    graph with every op that declares what its backward leaves unread
 *    (conv, batchnorm, elu, relu, dropout, resize, l2_normalize, concat,
 *    topk_mask, global_avgpool, scale, linear), two losses, a gradient
 *    seeded on an intermediate value (it starts late in a shared buffer)
 *    and an evaluation pass on the training plan; on the CPU and on
 *    OpenCL (skipped without a device);
 *  - a kept value and its gradient read after each step are the same;
 *  - elu runs in place over the batchnorm output only it reads;
 *  - on a deep chain the plan's peak and its buffers are well below a
 *    buffer per value and gradient, and a plan without sharing holds
 *    exactly that. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"
#include "opencl_parity.h"

#define BATCH 4
#define STEPS 4
#define CLASSES 5

static const char *net_yaml =
    "name: memplan\n"
    "input: {image: [3, 16, 16], label: []}\n"
    "layers:\n"
    "  - {name: c1, op: conv2d, in: image, out_channels: 8, kernel: 3, pad: 1}\n"
    "  - {name: b1, op: batchnorm}\n"
    "  - {name: a1, op: elu}\n"
    "  - {name: c2, op: conv2d, out_channels: 8, kernel: 3, stride: 2, padding: same}\n"
    "  - {name: b2, op: batchnorm}\n"
    "  - {name: a2, op: relu}\n"
    "  - {name: d2, op: dropout, rate: 0.3}\n"
    "  - {name: c3, op: conv2d, out_channels: 8, kernel: 1}\n"
    "  - {name: up, op: resize_bilinear, size: 16}\n"
    "  - {name: n1, op: l2_normalize, in: a1}\n"
    "  - {name: n2, op: l2_normalize, in: up}\n"
    "  - {name: hyper, op: concat, in: [n1, n2]}\n"
    "  - {name: k5, op: conv2d, out_channels: 8, kernel: 3, pad: 1}\n"
    "  - {name: mk, op: topk_mask}\n"
    "  - {name: feat, op: global_avgpool}\n"
    "  - {name: s, op: scale, factor: 2}\n"
    "  - {name: logits, op: linear, out_features: 5}\n"
    "losses:\n"
    "  - {op: softmax_cross_entropy, in: [logits, label], weight: 2}\n"
    "  - {op: sad_loss, in: mk, weight: 1}\n"
    "train: {optimizer: adam, lr: 0.01, beta1: 0.5, batch: 4}\n";

/* What one run leaves to compare, as raw bytes. */
typedef struct run_result {
    unsigned char *bytes;
    size_t size;
    fx_memory_report report;
    int elu_in_place;
} run_result;

static void append(run_result *r, const void *data, size_t n)
{
    r->bytes = realloc(r->bytes, r->size + n + 1);
    ck_assert_ptr_nonnull(r->bytes);
    memcpy(r->bytes + r->size, data, n);
    r->size += n;
}

static void append_tensor(run_result *r, const fx_tensor *t)
{
    ck_assert_ptr_nonnull(t);
    size_t n = fx_tensor_bytes(t);
    void *host = malloc(n + 1);
    ck_assert_ptr_nonnull(host);
    ck_assert_int_eq(fx_tensor_download(t, host), FX_OK);
    append(r, host, n);
    free(host);
}

static fx_graph *load(fx_context *ctx, const char *text, fx_config *cfg)
{
    char *dir = fxtest_tempdir();
    char path[512];
    snprintf(path, sizeof path, "%s/net.yaml", dir);
    fxtest_write_file(path, text);
    fx_graph *g = NULL;
    fx_status st = fx_graph_load_yaml(ctx, path, &g, cfg);
    ck_assert_msg(st == FX_OK, "loading: %s", fx_context_error(ctx));
    fxtest_remove_tree(dir);
    free(dir);
    return g;
}

/* STEPS training steps (the third with a seeded gradient on `feat`), then
 * an evaluation forward; be NULL = CPU. */
static run_result train_run(fx_context *ctx, fx_backend *be, int reuse, const char *keep)
{
    run_result r;
    memset(&r, 0, sizeof r);
    fx_config cfg;
    fx_graph *g = load(ctx, net_yaml, &cfg);
    fx_graph_set_memory_reuse(g, reuse);
    ck_assert_int_eq(fx_graph_keep(g, "logits"), FX_OK);
    if (keep)
        ck_assert_int_eq(fx_graph_keep(g, keep), FX_OK);
    fx_status st = fx_graph_plan(g, BATCH, FX_MODE_TRAIN, be ? be : fx_context_cpu_backend(ctx));
    ck_assert_msg(st == FX_OK, "planning: %s", fx_context_error(ctx));
    ck_assert_int_eq(fx_graph_memory_report(g, &r.report), FX_OK);
    r.elu_in_place = fx_graph_value(g, "a1")->buffer == fx_graph_value(g, "b1")->buffer;
    fx_optimizer *opt = NULL;
    ck_assert_int_eq(fx_optimizer_create(g, &cfg.train, &opt), FX_OK);
    fx_tensor *images = fx_graph_value(g, "image"), *labels = fx_graph_value(g, "label");
    for (int step = 0; step < STEPS; step++) {
        float *x = fxtest_random(40u + (uint64_t)step, fx_tensor_numel(images));
        int32_t y[BATCH];
        for (int i = 0; i < BATCH; i++)
            y[i] = (i + step) % CLASSES;
        ck_assert_int_eq(fx_tensor_upload(images, x), FX_OK);
        ck_assert_int_eq(fx_tensor_upload(labels, y), FX_OK);
        free(x);
        fx_graph_set_step(g, (uint64_t)step);
        st = fx_graph_forward(g);
        if (st == FX_OK && step == 2) {
            float *seed = fxtest_random(99, BATCH * 8);
            st = fx_graph_seed_grad(g, "feat", seed);
            free(seed);
        }
        if (st == FX_OK)
            st = fx_graph_backward(g);
        if (st == FX_OK)
            st = fx_optimizer_step(opt, cfg.train.lr);
        ck_assert_msg(st == FX_OK, "step %d: %s", step, fx_context_error(ctx));
        for (int l = 0; l < fx_graph_loss_count(g); l++) {
            float loss;
            ck_assert_int_eq(fx_graph_loss_value(g, l, &loss), FX_OK);
            append(&r, &loss, sizeof loss);
        }
        append_tensor(&r, fx_graph_value(g, "logits"));
        if (keep) {
            append_tensor(&r, fx_graph_value(g, keep));
            append_tensor(&r, fx_graph_value_grad(g, keep));
        }
    }
    fx_graph_set_training(g, 0);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    append_tensor(&r, fx_graph_value(g, "logits"));
    for (int i = 0; i < fx_graph_param_count(g); i++) {
        fx_param p = fx_graph_param_at(g, i);
        if (!p.absent)
            append_tensor(&r, p.value);
    }
    for (int i = 0; i < fx_optimizer_state_count(opt); i++)
        append_tensor(&r, fx_optimizer_state_at(opt, i, NULL));
    fx_optimizer_destroy(opt);
    fx_graph_destroy(g);
    return r;
}

static void check_same_training(fx_context *ctx, fx_backend *be)
{
    run_result shared = train_run(ctx, be, 1, NULL), own = train_run(ctx, be, 0, NULL);
    ck_assert_int_eq(shared.report.reuse, 1);
    ck_assert_int_eq(own.report.reuse, 0);
    ck_assert_int_eq(shared.size, own.size);
    for (size_t i = 0; i < shared.size; i++)
        ck_assert_msg(shared.bytes[i] == own.bytes[i],
                      "training with shared buffers differs from a buffer each at byte %zu of %zu", i, shared.size);
    ck_assert_msg(shared.elu_in_place, "elu did not run in place over the batchnorm output only it reads");
    ck_assert(!own.elu_in_place);
    ck_assert_int_eq(own.report.shared, 0);
    ck_assert_int_eq(own.report.values, own.report.naive);
    ck_assert_msg(shared.report.values < own.report.values, "sharing holds %lld bytes, a buffer each %lld",
                  (long long)shared.report.values, (long long)own.report.values);
    free(shared.bytes);
    free(own.bytes);
}

START_TEST(test_memory_plan_training_bit_identical_to_own_buffers_cpu)
{
    fx_context *ctx = fxtest_context();
    check_same_training(ctx, NULL);
    fx_context_destroy(ctx);
}
END_TEST

/* A kept value (fx_graph_keep: --fetch, explain) and its gradient stay
 * readable after the step, even the batchnorm output elu would otherwise
 * overwrite in place. */
START_TEST(test_memory_plan_kept_value_and_gradient_survive_the_step)
{
    fx_context *ctx = fxtest_context();
    run_result shared = train_run(ctx, NULL, 1, "b1"), own = train_run(ctx, NULL, 0, "b1");
    ck_assert(!shared.elu_in_place);
    ck_assert_int_eq(shared.size, own.size);
    ck_assert_msg(memcmp(shared.bytes, own.bytes, shared.size) == 0, "a kept value differs with shared buffers");
    free(shared.bytes);
    free(own.bytes);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_memory_plan_training_bit_identical_to_own_buffers_opencl)
{
    fx_context *ctx = fxtest_context();
    fx_backend *be = ocltest_backend(ctx);
    if (be) {
        check_same_training(ctx, be);
        be->ops->destroy(be);
    }
    fx_context_destroy(ctx);
}
END_TEST

/* Eight conv -> batchnorm -> elu blocks at 32x32: a buffer per value and
 * gradient holds 3 maps + 3 gradients per block; liveness keeps the
 * conv output and elu output of every block for backward (batchnorm
 * reads its input, elu its output, conv its input), and only the
 * gradients of a block or two at a time. */
START_TEST(test_memory_plan_peak_below_a_buffer_each_on_a_deep_chain)
{
    fx_context *ctx = fxtest_context();
    char text[4096];
    int n = snprintf(text, sizeof text,
                     "name: chain\ninput: {image: [8, 32, 32], label: []}\n"
                     "blocks:\n  cbe:\n    layers:\n"
                     "      - {name: conv, op: conv2d, out_channels: 8, kernel: 3, pad: 1}\n"
                     "      - {name: bn, op: batchnorm}\n      - {name: act, op: elu}\n"
                     "layers:\n  - {name: b0, use: cbe, in: image}\n");
    for (int b = 1; b < 8; b++)
        n += snprintf(text + n, sizeof text - (size_t)n, "  - {name: b%d, use: cbe}\n", b);
    snprintf(text + n, sizeof text - (size_t)n,
             "  - {name: g, op: global_avgpool}\n  - {name: logits, op: linear, out_features: 4}\n"
             "losses:\n  - {op: softmax_cross_entropy, in: [logits, label]}\n");
    fx_config cfg;
    fx_graph *g = load(ctx, text, &cfg);
    ck_assert_msg(fx_graph_plan(g, 8, FX_MODE_TRAIN, fx_context_cpu_backend(ctx)) == FX_OK, "%s",
                  fx_context_error(ctx));
    fx_memory_report r;
    ck_assert_int_eq(fx_graph_memory_report(g, &r), FX_OK);
    const int64_t map = 8 * 8 * 32 * 32 * 4; /* bytes of one [8, 8, 32, 32] map */
    /* A buffer each: the input, 24 maps and 24 gradients, and the small tail. */
    ck_assert_int_ge(r.naive, 49 * map);
    /* Live at the peak (the start of backward): 16 saved maps, the input,
     * a gradient or two. */
    ck_assert_msg(r.peak_activations <= 18 * map, "peak activations %lld bytes = %.2f maps",
                  (long long)r.peak_activations, (double)r.peak_activations / (double)map);
    ck_assert_msg(r.peak_gradients <= 3 * map, "peak gradients %.2f maps", (double)r.peak_gradients / (double)map);
    ck_assert_msg(r.values <= 21 * map, "the plan holds %.2f maps", (double)r.values / (double)map);
    ck_assert_int_le(r.peak_activations + r.peak_gradients, r.values);
    fx_graph_destroy(g);
    /* Without sharing: exactly a buffer each. */
    g = load(ctx, text, &cfg);
    fx_graph_set_memory_reuse(g, 0);
    ck_assert_int_eq(fx_graph_plan(g, 8, FX_MODE_TRAIN, fx_context_cpu_backend(ctx)), FX_OK);
    fx_memory_report own;
    ck_assert_int_eq(fx_graph_memory_report(g, &own), FX_OK);
    ck_assert_int_eq(own.values, own.naive);
    ck_assert_int_eq(own.naive, r.naive);
    ck_assert_int_eq(own.shared_buffers, 0);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("memory_plan");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_memory_plan_training_bit_identical_to_own_buffers_cpu);
    tcase_add_test(tc, test_memory_plan_kept_value_and_gradient_survive_the_step);
    tcase_add_test(tc, test_memory_plan_training_bit_identical_to_own_buffers_opencl);
    tcase_add_test(tc, test_memory_plan_peak_below_a_buffer_each_on_a_deep_chain);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
