/* tests/test_opencl_pool.c - CPU vs OpenCL parity of maxpool2d (values,
 * argmax and routed gradients), avgpool2d and global_avgpool: overlapping
 * windows, stride 2, SAME and explicit padding, odd sizes, batch 1; the
 * loop-free 2x2 forward and the scatter backward of non-overlapping
 * windows.
 * Skips (passes) without an OpenCL build or device. */
#include "opencl_parity.h"

OCLTEST_BACKEND_FIXTURE

static const struct {
    int64_t n, c, h, w;
    const char *attrs;
} pool_cases[] = {
    { 2, 3, 8, 8, "kernel=2" },
    { 1, 2, 7, 9, "kernel=3 stride=2 pad=1" },
    { 3, 1, 6, 5, "kernel=3 stride=1" },
    { 2, 2, 9, 9, "kernel=3 stride=2 padding=same" },
    { 1, 1, 1, 1, "kernel=1" },
    { 2, 3, 10, 7, "kernel=[2,3] stride=[2,1] pad=[1,1]" },
    /* The loop-free 2x2 kernel on odd sizes (last row and column unused),
     * 2x2 with SAME padding (generic forward, scatter backward), and
     * non-overlapping 3x3 windows (scatter backward). */
    { 2, 3, 7, 9, "kernel=2" },
    { 1, 2, 7, 7, "kernel=2 padding=same" },
    { 2, 2, 9, 8, "kernel=3 stride=3" },
    { 1, 5, 28, 28, "kernel=2" },
};

static void run_pool(const char *op, double rtol, int inference)
{
    for (size_t i = 0; i < sizeof pool_cases / sizeof pool_cases[0]; i++) {
        ocltest_case c = ocltest_unary(op, pool_cases[i].attrs,
                                       fx_shape_4d(pool_cases[i].n, pool_cases[i].c, pool_cases[i].h, pool_cases[i].w));
        c.rtol = rtol;
        c.inference = inference;
        ocltest_parity(ctx, ocl, &c);
    }
}

START_TEST(test_opencl_maxpool2d_matches_cpu)
{
    if (!setup_backend())
        return;
    run_pool("maxpool2d", 1e-7, 0);
    run_pool("maxpool2d", 1e-7, 1);
    teardown_backend();
}
END_TEST

START_TEST(test_opencl_avgpool2d_matches_cpu)
{
    if (!setup_backend())
        return;
    run_pool("avgpool2d", 1e-6, 0);
    teardown_backend();
}
END_TEST

START_TEST(test_opencl_global_avgpool_matches_cpu)
{
    if (!setup_backend())
        return;
    const int64_t shapes[][4] = { { 1, 1, 1, 1 }, { 2, 3, 5, 7 }, { 3, 4, 24, 24 } };
    for (int s = 0; s < 3; s++) {
        ocltest_case c = ocltest_unary("global_avgpool", NULL,
                                       fx_shape_4d(shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3]));
        c.rtol = 1e-6;
        ocltest_parity(ctx, ocl, &c);
    }
    teardown_backend();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("opencl_pool");
    TCase *tc = tcase_create("parity");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_opencl_maxpool2d_matches_cpu);
    tcase_add_test(tc, test_opencl_avgpool2d_matches_cpu);
    tcase_add_test(tc, test_opencl_global_avgpool_matches_cpu);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
