/* tests/test_opencl_normalize.c - CPU vs OpenCL parity of batchnorm
 * (training: batch statistics, running averages, gamma/beta and input
 * gradients; inference with running statistics) and l2_normalize, on NCHW
 * maps and [N, C] vectors, odd sizes. Per-channel sums reduce in another
 * order than the CPU's (which sums planes in double): tolerance 2e-5 of
 * each tensor's scale. Skips (passes) without an OpenCL build or device. */
#include "opencl_parity.h"

OCLTEST_BACKEND_FIXTURE

START_TEST(test_opencl_batchnorm_matches_cpu)
{
    if (!setup_backend())
        return;
    const fx_shape shapes[] = { fx_shape_4d(2, 3, 5, 7), fx_shape_4d(1, 4, 6, 6), fx_shape_2d(9, 5),
                                fx_shape_4d(5, 2, 17, 13) };
    for (int s = 0; s < 4; s++) {
        ocltest_case c = ocltest_unary("batchnorm", "momentum=0.8", shapes[s]);
        c.rtol = 2e-5;
        ocltest_parity(ctx, ocl, &c);
        c.inference = 1;
        ocltest_parity(ctx, ocl, &c);
    }
    teardown_backend();
}
END_TEST

START_TEST(test_opencl_l2_normalize_matches_cpu)
{
    if (!setup_backend())
        return;
    ocltest_case c = ocltest_unary("l2_normalize", NULL, fx_shape_4d(2, 5, 3, 7));
    ocltest_parity(ctx, ocl, &c);
    c = ocltest_unary("l2_normalize", NULL, fx_shape_2d(3, 33));
    ocltest_parity(ctx, ocl, &c);
    c = ocltest_unary("l2_normalize", "axis=-1", fx_shape_4d(1, 2, 3, 9));
    ocltest_parity(ctx, ocl, &c);
    teardown_backend();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("opencl_normalize");
    TCase *tc = tcase_create("parity");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_opencl_batchnorm_matches_cpu);
    tcase_add_test(tc, test_opencl_l2_normalize_matches_cpu);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
