/* tests/test_opencl_conv.c - CPU vs OpenCL parity of linear and conv2d
 * (CLBlast GEMM + im2col/col2im) forward and backward: odd sizes, stride
 * 2, TensorFlow SAME padding, 1x1, no bias, batch 1. GEMMs sum in another
 * order than the CPU's, hence a scale-relative tolerance of 1e-5.
 * Skips (passes) without an OpenCL build or device. */
#include "opencl_parity.h"

OCLTEST_BACKEND_FIXTURE

START_TEST(test_opencl_linear_matches_cpu)
{
    if (!setup_backend())
        return;
    ocltest_case c = ocltest_unary("linear", "out_features=7", fx_shape_2d(5, 13));
    ocltest_parity(ctx, ocl, &c);
    c = ocltest_unary("linear", "out_features=1 bias=false", fx_shape_2d(1, 3));
    ocltest_parity(ctx, ocl, &c);
    c = ocltest_unary("linear", "out_features=10", fx_shape_4d(3, 4, 5, 5)); /* flattens */
    ocltest_parity(ctx, ocl, &c);
    c = ocltest_unary("linear", "out_features=33", fx_shape_2d(9, 70));
    c.in[0].no_grad = 1; /* grad_in NULL */
    ocltest_parity(ctx, ocl, &c);
    teardown_backend();
}
END_TEST

START_TEST(test_opencl_conv2d_matches_cpu)
{
    if (!setup_backend())
        return;
    static const struct {
        int64_t n, c, h, w;
        const char *attrs;
    } cases[] = {
        { 2, 3, 7, 9, "out_channels=4 kernel=3 pad=1" },
        { 1, 2, 8, 8, "out_channels=3 kernel=3 stride=2 padding=same" },
        { 3, 5, 6, 6, "out_channels=2 kernel=1" },
        { 2, 3, 9, 7, "out_channels=5 kernel=[3,2] stride=[2,1] pad=[1,0] bias=false" },
        { 1, 1, 5, 5, "out_channels=1 kernel=5" },
        { 4, 4, 10, 10, "out_channels=6 kernel=3 stride=2 padding=valid" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ocltest_case c = ocltest_unary("conv2d", cases[i].attrs,
                                       fx_shape_4d(cases[i].n, cases[i].c, cases[i].h, cases[i].w));
        c.rtol = 1e-5;
        ocltest_parity(ctx, ocl, &c);
    }
    teardown_backend();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("opencl_conv");
    TCase *tc = tcase_create("parity");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_opencl_linear_matches_cpu);
    tcase_add_test(tc, test_opencl_conv2d_matches_cpu);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
