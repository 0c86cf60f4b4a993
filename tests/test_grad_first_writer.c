/* tests/test_grad_first_writer.c - first-writer gradients and plan-time
 * kernel state (core/engine/executor.c, fx_kernel_info):
 *  - a value read by two nodes (a conv output feeding relu and batchnorm) gets
 *    the sum of both contributions when the first writer overwrites the
 *    gradient instead of it being zeroed: every gradient is bit-identical
 *    to the zero-then-add path (FX_GRAD_OVERWRITE=0), on the CPU and on
 *    OpenCL, although every gradient buffer is filled with NaN before the
 *    backward (so a writer that added into garbage, or a second writer
 *    that overwrote, would show); on OpenCL the step fills fewer buffers;
 *  - a re-plan at a larger batch makes the prepared state afresh: OpenCL
 *    resize_bilinear (taps and kernel handles prepared at planning, taps in
 *    the node's workspace) matches the CPU at batch 2 and then at batch 5,
 *    and a steady step uploads only its inputs (the taps went up once);
 *  - inference plans run FX_OP_INPLACE_OK ops in place: conv -> relu ->
 *    scale needs one large buffer instead of two, with the same outputs
 *    bit for bit (FX_MEMORY_REUSE=0 turns it off), on the CPU and OpenCL.
 * The OpenCL parts skip without a device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"
#include "opencl_parity.h"

static const char *two_readers_yaml =
    "name: two-readers\n"
    "input: {image: [3, 6, 6], label: []}\n"
    "layers:\n"
    "  - {name: c, op: conv2d, in: image, out_channels: 4, kernel: 3, pad: 1}\n"
    "  - {name: r, op: relu, in: c}\n"
    "  - {name: b, op: batchnorm, in: c}\n"
    "  - {name: e, op: elu, in: b}\n"
    "  - {name: s, op: scale, in: e, factor: 0.5}\n"
    "  - {name: sum, op: add, in: [r, s]}\n"
    "  - {name: d, op: dropout, in: sum, rate: 0.25}\n"
    "  - {name: f, op: flatten, in: d}\n"
    "  - {name: logits, op: linear, in: f, out_features: 5}\n"
    "losses:\n"
    "  - {op: softmax_cross_entropy, in: [logits, label]}\n";

#define BATCH 3
static const char *const grads[] = { "image", "c", "c.weight", "c.bias", "b.weight", "b.bias", "logits.weight",
                                     "logits.bias" };
#define N_GRADS ((int)(sizeof grads / sizeof grads[0]))

static fx_graph *load(fx_context *ctx, const char *text)
{
    char *dir = fxtest_tempdir();
    char path[512];
    snprintf(path, sizeof path, "%s/net.yaml", dir);
    fxtest_write_file(path, text);
    fx_graph *g = NULL;
    fx_config cfg;
    fx_status st = fx_graph_load_yaml(ctx, path, &g, &cfg);
    ck_assert_msg(st == FX_OK, "load: %s", fx_context_error(ctx));
    fxtest_remove_tree(dir);
    free(dir);
    fx_graph_set_seed(g, 7);
    return g;
}

static void poison(fx_tensor *t)
{
    ck_assert_int_eq(fx_tensor_fill(t, NAN, 0, (size_t)fx_tensor_numel(t)), FX_OK);
}

/* One training step of the two-reader net on `be`, gradient overwrite on
 * or off; returns the gradients (grads[]) in out[k] (malloc'd) and, on
 * OpenCL, the fills of the step in *fills. */
static void two_reader_step(fx_context *ctx, fx_backend *be, int overwrite, float **out, int64_t *count,
                            uint64_t *fills)
{
    if (overwrite)
        unsetenv("FX_GRAD_OVERWRITE");
    else
        setenv("FX_GRAD_OVERWRITE", "0", 1);
    fx_graph *g = load(ctx, two_readers_yaml);
    ck_assert_int_eq(fx_graph_require_grad(g, "image"), FX_OK);
    ck_assert_int_eq(fx_graph_keep(g, "c"), FX_OK);
    ck_assert_msg(fx_graph_plan(g, BATCH, FX_MODE_TRAIN, be) == FX_OK, "%s", fx_context_error(ctx));
    unsetenv("FX_GRAD_OVERWRITE");
    fx_tensor *images = fx_graph_value(g, "image"), *labels = fx_graph_value(g, "label");
    float *x = fxtest_random(21, fx_tensor_numel(images));
    int32_t y[BATCH] = { 4, 0, 2 };
    ck_assert_int_eq(fx_tensor_upload(images, x), FX_OK);
    ck_assert_int_eq(fx_tensor_upload(labels, y), FX_OK);
    fx_graph_set_step(g, 3);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    for (int k = 0; k < N_GRADS; k++) {
        fx_tensor *t = fx_graph_value_grad(g, grads[k]);
        ck_assert_msg(t != NULL, "no gradient of %s", grads[k]);
        poison(t);
    }
    fx_opencl_counters before, after;
    int ocl = fx_opencl_get_counters(be, &before) == FX_OK;
    fx_context_clear_error(ctx);
    ck_assert_msg(fx_graph_backward(g) == FX_OK, "%s", fx_context_error(ctx));
    if (ocl) {
        ck_assert_int_eq(fx_opencl_get_counters(be, &after), FX_OK);
        *fills = after.fill_calls - before.fill_calls;
    }
    for (int k = 0; k < N_GRADS; k++) {
        fx_tensor *t = fx_graph_value_grad(g, grads[k]);
        count[k] = fx_tensor_numel(t);
        out[k] = malloc((size_t)count[k] * sizeof(float));
        ck_assert_ptr_nonnull(out[k]);
        ck_assert_int_eq(fx_tensor_download(t, out[k]), FX_OK);
        for (int64_t i = 0; i < count[k]; i++)
            ck_assert_msg(isfinite(out[k][i]), "gradient of %s [%lld] is %g (garbage was added)", grads[k],
                          (long long)i, (double)out[k][i]);
    }
    free(x);
    fx_graph_destroy(g);
}

static void check_two_readers(fx_context *ctx, fx_backend *be, float **cpu_ref)
{
    float *on[N_GRADS], *off[N_GRADS];
    int64_t n_on[N_GRADS], n_off[N_GRADS];
    uint64_t fills_on = 0, fills_off = 0;
    two_reader_step(ctx, be, 1, on, n_on, &fills_on);
    two_reader_step(ctx, be, 0, off, n_off, &fills_off);
    for (int k = 0; k < N_GRADS; k++) {
        ck_assert_int_eq(n_on[k], n_off[k]);
        ck_assert_msg(memcmp(on[k], off[k], (size_t)n_on[k] * sizeof(float)) == 0,
                      "%s: gradient of %s differs with the first writer overwriting", be->name, grads[k]);
        if (cpu_ref) /* OpenCL against the CPU: float rounding of different sums */
            fxtest_assert_close(on[k], cpu_ref[k], n_on[k], 1e-4, 1e-5, grads[k]);
    }
    if (strcmp(be->name, "cpu") != 0) {
        printf("opencl backward fills: %llu with first writers, %llu zeroing everything\n",
               (unsigned long long)fills_on, (unsigned long long)fills_off);
        ck_assert_uint_lt(fills_on, fills_off);
    }
    for (int k = 0; k < N_GRADS; k++) {
        free(off[k]);
        free(on[k]);
    }
}

START_TEST(test_two_readers_cpu_first_writer_is_bit_identical)
{
    fx_context *ctx = fxtest_context();
    check_two_readers(ctx, fx_context_cpu_backend(ctx), NULL);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_two_readers_opencl_first_writer_is_bit_identical_and_matches_cpu)
{
    fx_context *ctx = fxtest_context();
    fx_backend *be = ocltest_backend(ctx);
    if (!be) {
        fx_context_destroy(ctx);
        return;
    }
    float *ref[N_GRADS];
    int64_t n[N_GRADS];
    uint64_t fills = 0;
    two_reader_step(ctx, fx_context_cpu_backend(ctx), 1, ref, n, &fills);
    check_two_readers(ctx, be, ref);
    for (int k = 0; k < N_GRADS; k++)
        free(ref[k]);
    fx_context_release_backend(ctx, be);
    fx_context_destroy(ctx);
}
END_TEST

static const char *resize_yaml =
    "name: resize-replan\n"
    "input: {image: [2, 5, 7], label: []}\n"
    "layers:\n"
    "  - {name: up, op: resize_bilinear, in: image, size: [9, 12], mapping: asymmetric}\n"
    "  - {name: f, op: flatten, in: up}\n"
    "  - {name: logits, op: linear, in: f, out_features: 3}\n"
    "losses:\n"
    "  - {op: softmax_cross_entropy, in: [logits, label]}\n";

/* One step at `batch`: the resized maps and the image gradient. */
static void resize_step(fx_graph *g, int batch, float **up, float **gx, int64_t *n_up, int64_t *n_gx)
{
    fx_tensor *images = fx_graph_value(g, "image"), *labels = fx_graph_value(g, "label");
    float *x = fxtest_random(40 + (uint64_t)batch, fx_tensor_numel(images));
    int32_t y[8];
    for (int i = 0; i < batch; i++)
        y[i] = i % 3;
    ck_assert_int_eq(fx_tensor_upload(images, x), FX_OK);
    ck_assert_int_eq(fx_tensor_upload(labels, y), FX_OK);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    ck_assert_int_eq(fx_graph_backward(g), FX_OK);
    fx_tensor *u = fx_graph_value(g, "up"), *d = fx_graph_value_grad(g, "image");
    *n_up = fx_tensor_numel(u);
    *n_gx = fx_tensor_numel(d);
    *up = malloc((size_t)*n_up * sizeof(float));
    *gx = malloc((size_t)*n_gx * sizeof(float));
    ck_assert_int_eq(fx_tensor_download(u, *up), FX_OK);
    ck_assert_int_eq(fx_tensor_download(d, *gx), FX_OK);
    free(x);
}

START_TEST(test_replan_at_a_larger_batch_remakes_the_prepared_state)
{
    fx_context *ctx = fxtest_context();
    fx_backend *be = ocltest_backend(ctx);
    if (!be) {
        fx_context_destroy(ctx);
        return;
    }
    fx_graph *gc = load(ctx, resize_yaml), *go = load(ctx, resize_yaml);
    const int batches[] = { 2, 5 };
    for (int b = 0; b < 2; b++) {
        int batch = batches[b];
        fx_graph *gs[2] = { gc, go };
        float *up[2], *gx[2];
        int64_t n_up[2], n_gx[2];
        for (int k = 0; k < 2; k++) {
            ck_assert_int_eq(fx_graph_require_grad(gs[k], "image"), FX_OK);
            ck_assert_int_eq(fx_graph_keep(gs[k], "up"), FX_OK);
            ck_assert_msg(fx_graph_plan(gs[k], batch, FX_MODE_TRAIN, k ? be : fx_context_cpu_backend(ctx)) == FX_OK,
                          "%s", fx_context_error(ctx));
            resize_step(gs[k], batch, &up[k], &gx[k], &n_up[k], &n_gx[k]);
        }
        ck_assert_int_eq(n_up[0], (int64_t)batch * 2 * 9 * 12);
        ck_assert_int_eq(n_up[1], n_up[0]);
        ck_assert_int_eq(n_gx[1], n_gx[0]);
        fxtest_assert_close(up[1], up[0], n_up[0], 1e-6, 1e-6, "resized maps, OpenCL vs CPU");
        fxtest_assert_close(gx[1], gx[0], n_gx[0], 1e-5, 1e-6, "image gradient, OpenCL vs CPU");
        for (int k = 0; k < 2; k++) {
            free(up[k]);
            free(gx[k]);
        }
    }
    /* A steady step at batch 5: only the image and the labels go up. */
    ck_assert_int_eq(fx_opencl_profile_reset(be), FX_OK);
    float *up, *gx;
    int64_t n_up, n_gx;
    resize_step(go, 5, &up, &gx, &n_up, &n_gx);
    fx_opencl_counters c;
    ck_assert_int_eq(fx_opencl_get_counters(be, &c), FX_OK);
    ck_assert_uint_eq(c.write_calls, 2);
    free(up);
    free(gx);
    fx_graph_destroy(gc);
    fx_graph_destroy(go);
    fx_context_release_backend(ctx, be);
    fx_context_destroy(ctx);
}
END_TEST

static const char *inplace_yaml =
    "name: inplace\n"
    "input: {image: [3, 10, 10]}\n"
    "layers:\n"
    "  - {name: c, op: conv2d, in: image, out_channels: 8, kernel: 3, pad: 1}\n"
    "  - {name: r, op: relu, in: c}\n"
    "  - {name: s, op: scale, in: r, factor: 2.0}\n"
    "  - {name: g, op: global_avgpool, in: s}\n"
    "  - {name: logits, op: linear, in: g, out_features: 4}\n";

static void inplace_run(fx_context *ctx, fx_backend *be, int reuse, float *logits, int64_t *shared)
{
    if (reuse)
        unsetenv("FX_MEMORY_REUSE");
    else
        setenv("FX_MEMORY_REUSE", "0", 1);
    fx_graph *g = load(ctx, inplace_yaml);
    ck_assert_int_eq(fx_graph_keep(g, "logits"), FX_OK);
    ck_assert_msg(fx_graph_plan(g, 2, FX_MODE_INFER, be) == FX_OK, "%s", fx_context_error(ctx));
    unsetenv("FX_MEMORY_REUSE");
    fx_tensor *images = fx_graph_value(g, "image");
    float *x = fxtest_random(77, fx_tensor_numel(images));
    ck_assert_int_eq(fx_tensor_upload(images, x), FX_OK);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    ck_assert_int_eq(fx_tensor_download(fx_graph_value(g, "logits"), logits), FX_OK);
    fx_memory_report r;
    ck_assert_int_eq(fx_graph_memory_report(g, &r), FX_OK);
    *shared = r.shared;
    free(x);
    fx_graph_destroy(g);
}

START_TEST(test_inference_runs_inplace_ops_in_place)
{
    fx_context *ctx = fxtest_context();
    fx_backend *ocl = ocltest_backend(ctx);
    fx_backend *bes[2] = { fx_context_cpu_backend(ctx), ocl };
    const int64_t map_bytes = 2 * 8 * 10 * 10 * 4; /* one [2, 8, 10, 10] map */
    for (int b = 0; b < 2 && bes[b]; b++) {
        float on[8], off[8];
        int64_t shared_on = 0, shared_off = 0;
        inplace_run(ctx, bes[b], 1, on, &shared_on);
        inplace_run(ctx, bes[b], 0, off, &shared_off);
        printf("%s inference arena: %lld bytes in place, %lld without\n", bes[b]->name, (long long)shared_on,
               (long long)shared_off);
        ck_assert_msg(memcmp(on, off, sizeof on) == 0, "%s: in-place outputs differ", bes[b]->name);
        /* In place: one map-sized buffer (conv, relu and scale in it) plus
         * the pooled features and the logits; without: two map-sized
         * buffers (the pooled features then fit in the free one). */
        ck_assert_int_lt(shared_on, 2 * map_bytes);
        ck_assert_int_ge(shared_off, 2 * map_bytes);
    }
    if (ocl)
        fx_context_release_backend(ctx, ocl);
    fx_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("grad_first_writer");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_two_readers_cpu_first_writer_is_bit_identical);
    tcase_add_test(tc, test_two_readers_opencl_first_writer_is_bit_identical_and_matches_cpu);
    tcase_add_test(tc, test_replan_at_a_larger_batch_remakes_the_prepared_state);
    tcase_add_test(tc, test_inference_runs_inplace_ops_in_place);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
