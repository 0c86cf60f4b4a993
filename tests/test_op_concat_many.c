/* tests/test_op_concat_many.c - an op with more inputs than FX_MAX_IO:
 * concat of 13 inputs (and 40 from a graph file), forward against a
 * hand-placed reference and backward (each input's gradient is its slice
 * of the output's), on the CPU and, when an OpenCL device is there, on
 * OpenCL. Kernels and shape functions get inputs as pointer + count over
 * arrays the executor keeps per node, so there is no bound but
 * FX_MAX_INPUTS. One input is read twice, so its gradient is the sum of
 * its two slices. */
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"

#define N_IN 13
#define BATCH 2
#define HW 3 /* spatial 1 x 3 */

static fx_srcpos nopos(void)
{
    fx_srcpos p = { NULL, 0, 0 };
    return p;
}

/* Input i has 1 + i % 3 channels; node input j reads graph input
 * (j == N_IN - 1 ? 0 : j): input x0 is read twice. */
static int channels(int i) { return 1 + i % 3; }
static int source(int j) { return j == N_IN - 1 ? 0 : j; }

static void check_on(fx_context *ctx, fx_backend *be)
{
    fx_graph *g = NULL;
    ck_assert_int_eq(fx_graph_create(ctx, "many", &g), FX_OK);
    char names[N_IN][16];
    const char *inputs[N_IN];
    for (int i = 0; i < N_IN - 1; i++) {
        snprintf(names[i], sizeof names[i], "x%d", i);
        fx_shape s;
        memset(&s, 0, sizeof s);
        s.ndim = 3;
        s.dim[0] = channels(i);
        s.dim[1] = 1;
        s.dim[2] = HW;
        ck_assert_int_eq(fx_graph_add_input(g, names[i], FX_F32, &s, nopos()), FX_OK);
    }
    int total_c = 0;
    for (int j = 0; j < N_IN; j++) {
        inputs[j] = names[source(j)];
        total_c += channels(source(j));
    }
    fx_node_desc d;
    memset(&d, 0, sizeof d);
    d.name = "cat";
    d.op = "concat";
    d.inputs = inputs;
    d.n_inputs = N_IN;
    ck_assert_msg(fx_graph_add_node(g, &d) == FX_OK, "%s", fx_context_error(ctx));
    for (int i = 0; i < N_IN - 1; i++)
        ck_assert_int_eq(fx_graph_require_grad(g, names[i]), FX_OK);
    ck_assert_msg(fx_graph_plan(g, BATCH, FX_MODE_TRAIN, be) == FX_OK, "%s", fx_context_error(ctx));

    float *data[N_IN];
    for (int i = 0; i < N_IN - 1; i++) {
        int64_t n = (int64_t)BATCH * channels(i) * HW;
        data[i] = fxtest_random(100 + (uint64_t)i, n);
        ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, names[i]), data[i]), FX_OK);
    }
    ck_assert_msg(fx_graph_forward(g) == FX_OK, "%s", fx_context_error(ctx));
    int64_t out_n = (int64_t)BATCH * total_c * HW;
    float *got = malloc((size_t)out_n * sizeof *got), *want = malloc((size_t)out_n * sizeof *want);
    ck_assert(got && want);
    ck_assert_int_eq(fx_tensor_download(fx_graph_value(g, "cat"), got), FX_OK);
    ck_assert_int_eq(fx_graph_value(g, "cat")->shape.dim[1], total_c);
    /* Hand placement: example b, channel block of node input j. */
    for (int b = 0; b < BATCH; b++) {
        int c0 = 0;
        for (int j = 0; j < N_IN; j++) {
            int i = source(j), c = channels(i);
            memcpy(want + ((int64_t)b * total_c + c0) * HW, data[i] + (int64_t)b * c * HW, (size_t)(c * HW) * sizeof(float));
            c0 += c;
        }
    }
    fxtest_assert_close(got, want, out_n, 0, 0, "concat of 13 inputs");

    /* Backward: seed the output's gradient with R; input i's gradient is
     * its slice of R (x0: the sum of its two slices). */
    float *r = fxtest_random(7, out_n);
    ck_assert_int_eq(fx_graph_seed_grad(g, "cat", r), FX_OK);
    ck_assert_msg(fx_graph_backward(g) == FX_OK, "%s", fx_context_error(ctx));
    for (int i = 0; i < N_IN - 1; i++) {
        int c = channels(i);
        int64_t n = (int64_t)BATCH * c * HW;
        float *gi = malloc((size_t)n * sizeof *gi), *expect = calloc((size_t)n, sizeof *expect);
        ck_assert(gi && expect);
        ck_assert_int_eq(fx_tensor_download(fx_graph_value_grad(g, names[i]), gi), FX_OK);
        for (int b = 0; b < BATCH; b++) {
            int c0 = 0;
            for (int j = 0; j < N_IN; j++) {
                int cj = channels(source(j));
                if (source(j) == i)
                    for (int k = 0; k < c * HW; k++)
                        expect[(int64_t)b * c * HW + k] += r[((int64_t)b * total_c + c0) * HW + k];
                c0 += cj;
            }
        }
        char what[64];
        snprintf(what, sizeof what, "gradient of %s on %s", names[i], be->name);
        fxtest_assert_close(gi, expect, n, 1e-6, 1e-7, what);
        free(gi);
        free(expect);
        free(data[i]);
    }
    free(r);
    free(got);
    free(want);
    fx_graph_destroy(g);
}

START_TEST(test_concat_of_more_inputs_than_fx_max_io_on_cpu)
{
    ck_assert_int_gt(N_IN, FX_MAX_IO);
    fx_context *ctx = fxtest_context();
    check_on(ctx, fx_context_cpu_backend(ctx));
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_concat_of_more_inputs_than_fx_max_io_on_opencl)
{
    if (!fxtest_have_opencl()) {
        printf("skipped: no OpenCL device (the OpenCL half of the many-input concat)\n");
        return;
    }
    fx_context *ctx = fxtest_context();
    fx_backend *be = NULL;
    ck_assert_msg(fx_context_create_backend(ctx, "opencl", &be) == FX_OK, "%s", fx_context_error(ctx));
    check_on(ctx, be);
    fx_context_release_backend(ctx, be);
    fx_context_destroy(ctx);
}
END_TEST

/* From a graph file: `in:` lists 40 values. */
START_TEST(test_a_graph_file_concat_may_list_forty_inputs)
{
    fx_context *ctx = fxtest_context();
    char *dir = fxtest_tempdir();
    char path[512], text[4096];
    snprintf(path, sizeof path, "%s/many.yaml", dir);
    size_t used = (size_t)snprintf(text, sizeof text, "name: many\ninput: {x: [1, 1, 2]}\nlayers:\n"
                                                      "  - {name: cat, op: concat, in: [x");
    for (int i = 1; i < 40; i++)
        used += (size_t)snprintf(text + used, sizeof text - used, ", x");
    snprintf(text + used, sizeof text - used, "]}\n");
    fxtest_write_file(path, text);
    fx_graph *g = NULL;
    fx_config cfg;
    ck_assert_msg(fx_graph_load_yaml(ctx, path, &g, &cfg) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(fx_graph_keep(g, "cat"), FX_OK);
    ck_assert_msg(fx_graph_plan(g, 1, FX_MODE_INFER, fx_context_cpu_backend(ctx)) == FX_OK, "%s",
                  fx_context_error(ctx));
    const float x[2] = { 1.5f, -2.0f };
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "x"), x), FX_OK);
    ck_assert_msg(fx_graph_forward(g) == FX_OK, "%s", fx_context_error(ctx));
    fx_tensor *cat = fx_graph_value(g, "cat");
    ck_assert_int_eq(cat->shape.dim[1], 40);
    float out[80];
    ck_assert_int_eq(fx_tensor_download(cat, out), FX_OK);
    for (int i = 0; i < 40; i++)
        ck_assert(out[2 * i] == 1.5f && out[2 * i + 1] == -2.0f);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("op_concat_many");
    TCase *tc = tcase_create("concat_many");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_concat_of_more_inputs_than_fx_max_io_on_cpu);
    tcase_add_test(tc, test_concat_of_more_inputs_than_fx_max_io_on_opencl);
    tcase_add_test(tc, test_a_graph_file_concat_may_list_forty_inputs);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
