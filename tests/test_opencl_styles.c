/* tests/test_opencl_styles.c - CPU vs OpenCL parity of the ops whose
 * OpenCL kernels come in two styles, in both, whatever the device
 * (FX_OPENCL_STYLE): CPU style (the default on CPU devices: fx's own GEMM
 * kernels, clkernels/gemm.cl, per-plane im2col, vector col2im, a
 * work-item per channel for sums and batchnorm statistics, per-plane
 * batchnorm, 16-wide elu) and GPU style (CLBlast, per-element im2col and
 * col2im, work-group reductions, a work-item per element). The other
 * tests/test_opencl_*.c run the device's default style.
 * The sizes put every block edge of gemm.cl under test: rows not a
 * multiple of the 8-row block, matrices narrower than a 32-column block
 * (guarded loads), wider ones whose last block is shifted left, reduction
 * lengths with and without a vector tail, batch 1, stride 2, 1x1 convs
 * (no im2col; dx straight from the GEMM) and stride-1 "same" convs (the
 * vector col2im). Skips (passes) without an OpenCL build or device. */
#include <stdlib.h>

#include "opencl_parity.h"

static fx_context *ctx;
static fx_backend *ocl;

/* style: the kernel variants (cpu: fx's GEMM, per-plane im2col, vector
 * col2im, per-channel sums; gpu: CLBlast and per-element kernels). */
static int setup_backend(const char *style)
{
    setenv("FX_OPENCL_STYLE", style, 1);
    ctx = fxtest_context();
    ocl = ocltest_backend(ctx);
    unsetenv("FX_OPENCL_STYLE");
    return ocl != NULL;
}

static void teardown_backend(void)
{
    if (ocl)
        ocl->ops->destroy(ocl);
    fx_context_destroy(ctx);
    ocl = NULL;
}

static const struct {
    int64_t n, c, h, w;
    const char *attrs;
} conv_cases[] = {
    { 3, 7, 15, 13, "out_channels=19 kernel=3 pad=1" },           /* same, odd; 195 columns */
    { 1, 1, 28, 28, "out_channels=32 kernel=5 pad=2" },           /* batch 1, fashion-mnist c1 */
    { 2, 32, 14, 14, "out_channels=64 kernel=5 pad=2" },          /* c2: K 800, P 196 */
    { 2, 5, 11, 9, "out_channels=9 kernel=3 stride=2 pad=1" },    /* stride 2: 6x5 outputs */
    { 2, 6, 9, 9, "out_channels=10 kernel=3 stride=2 padding=same" },
    { 3, 24, 6, 7, "out_channels=17 kernel=1" },                  /* 1x1 direct */
    { 2, 4, 4, 4, "out_channels=3 kernel=3 pad=1 bias=false" },   /* 16 columns, < one block */
    { 1, 3, 10, 12, "out_channels=8 kernel=[3,5] pad=[1,2]" },    /* same, non-square */
    { 2, 3, 9, 9, "out_channels=4 kernel=3" },                    /* valid: rows col2im */
};

static void run_conv(void)
{
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++) {
        ocltest_case c = ocltest_unary("conv2d", conv_cases[i].attrs,
                                       fx_shape_4d(conv_cases[i].n, conv_cases[i].c, conv_cases[i].h, conv_cases[i].w));
        c.rtol = 1e-5;
        ocltest_parity(ctx, ocl, &c);
    }
}

static void run_linear(void)
{
    static const struct {
        int64_t n, in;
        const char *attrs;
    } cases[] = {
        { 33, 100, "out_features=37" },  /* every edge: 33 rows, 100 = 6*16 + 4 */
        { 1, 3136, "out_features=256" }, /* batch 1, fashion-mnist f1 */
        { 64, 256, "out_features=10" },
        { 7, 5, "out_features=3 bias=false" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ocltest_case c = ocltest_unary("linear", cases[i].attrs, fx_shape_2d(cases[i].n, cases[i].in));
        c.rtol = 1e-5;
        ocltest_parity(ctx, ocl, &c);
    }
}

START_TEST(test_opencl_conv2d_cpu_style_matches_cpu)
{
    if (!setup_backend("cpu"))
        return;
    run_conv();
    teardown_backend();
}
END_TEST

START_TEST(test_opencl_linear_cpu_style_matches_cpu)
{
    if (!setup_backend("cpu"))
        return;
    run_linear();
    teardown_backend();
}
END_TEST

START_TEST(test_opencl_conv2d_gpu_style_with_clblast_matches_cpu)
{
    if (!setup_backend("gpu"))
        return;
    run_conv();
    teardown_backend();
}
END_TEST

START_TEST(test_opencl_linear_gpu_style_with_clblast_matches_cpu)
{
    if (!setup_backend("gpu"))
        return;
    run_linear();
    teardown_backend();
}
END_TEST

static void run_batchnorm_elu(void)
{
    const fx_shape shapes[] = { fx_shape_4d(2, 3, 5, 7), fx_shape_2d(9, 5), fx_shape_4d(3, 2, 17, 13) };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        ocltest_case c = ocltest_unary("batchnorm", "momentum=0.8", shapes[s]);
        c.rtol = 1e-5;
        ocltest_parity(ctx, ocl, &c);
        c.inference = 1;
        ocltest_parity(ctx, ocl, &c);
        c = ocltest_unary("elu", "alpha=0.7", shapes[s]);
        c.rtol = 1e-6;
        ocltest_parity(ctx, ocl, &c);
    }
}

START_TEST(test_opencl_batchnorm_elu_cpu_style_match_cpu)
{
    if (!setup_backend("cpu"))
        return;
    run_batchnorm_elu();
    teardown_backend();
}
END_TEST

START_TEST(test_opencl_batchnorm_elu_gpu_style_match_cpu)
{
    if (!setup_backend("gpu"))
        return;
    run_batchnorm_elu();
    teardown_backend();
}
END_TEST

/* The style's GEMM can be swapped on its own: fx's kernels with the GPU
 * style's other kernels. */
START_TEST(test_opencl_conv2d_gpu_style_with_fx_gemm_matches_cpu)
{
    setenv("FX_OPENCL_GEMM", "fx", 1);
    int ok = setup_backend("gpu");
    unsetenv("FX_OPENCL_GEMM");
    if (!ok)
        return;
    run_conv();
    teardown_backend();
}
END_TEST

static void expect_refused(const char *var, const char *value)
{
    setenv(var, value, 1);
    fx_context *c = fxtest_context();
    fx_backend *be = NULL;
    fx_status st = fx_opencl_backend_create(c, "opencl", &be);
    unsetenv(var);
    if (st == FX_ERR_UNSUPPORTED) { /* no OpenCL here */
        fx_context_destroy(c);
        return;
    }
    ck_assert_int_eq(st, FX_ERR_INVALID);
    ck_assert_ptr_null(be);
    char needle[64];
    snprintf(needle, sizeof needle, "%s='%s'", var, value);
    ck_assert_msg(strstr(fx_context_error(c), needle) != NULL, "%s", fx_context_error(c));
    fx_context_destroy(c);
}

START_TEST(test_opencl_unknown_gemm_or_style_name_is_refused)
{
    expect_refused("FX_OPENCL_GEMM", "cublas");
    expect_refused("FX_OPENCL_STYLE", "fpga");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("opencl_styles");
    TCase *tc = tcase_create("parity");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_opencl_conv2d_cpu_style_matches_cpu);
    tcase_add_test(tc, test_opencl_linear_cpu_style_matches_cpu);
    tcase_add_test(tc, test_opencl_conv2d_gpu_style_with_clblast_matches_cpu);
    tcase_add_test(tc, test_opencl_linear_gpu_style_with_clblast_matches_cpu);
    tcase_add_test(tc, test_opencl_conv2d_gpu_style_with_fx_gemm_matches_cpu);
    tcase_add_test(tc, test_opencl_batchnorm_elu_cpu_style_match_cpu);
    tcase_add_test(tc, test_opencl_batchnorm_elu_gpu_style_match_cpu);
    tcase_add_test(tc, test_opencl_unknown_gemm_or_style_name_is_refused);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
