/* tests/test_opencl_layout.c - CPU vs OpenCL parity of concat (channels,
 * last axis, an input without gradient) and resize_bilinear (all three
 * mappings, up and down, odd sizes). Both are exact reorderings or the
 * same arithmetic in the same order: tolerance 1e-6 of the scale.
 * Skips (passes) without an OpenCL build or device. */
#include "opencl_parity.h"

OCLTEST_BACKEND_FIXTURE

START_TEST(test_opencl_concat_matches_cpu)
{
    if (!setup_backend())
        return;
    ocltest_case c = ocltest_unary("concat", NULL, fx_shape_4d(2, 3, 5, 4));
    c.n_in = 3;
    c.in[1] = c.in[0];
    c.in[1].name = "y";
    c.in[1].shape = fx_shape_4d(2, 1, 5, 4);
    c.in[2] = c.in[0];
    c.in[2].name = "z";
    c.in[2].shape = fx_shape_4d(2, 6, 5, 4);
    c.in[2].no_grad = 1;
    c.rtol = 1e-6;
    ocltest_parity(ctx, ocl, &c);
    ocltest_case d = ocltest_unary("concat", "axis=-1", fx_shape_2d(1, 7));
    d.n_in = 2;
    d.in[1] = d.in[0];
    d.in[1].name = "y";
    d.in[1].shape = fx_shape_2d(1, 2);
    d.rtol = 1e-6;
    ocltest_parity(ctx, ocl, &d);
    teardown_backend();
}
END_TEST

START_TEST(test_opencl_resize_bilinear_matches_cpu)
{
    if (!setup_backend())
        return;
    const char *attrs[] = { "size=9", "size=[4,11] mapping=align_corners", "size=[24,24] mapping=asymmetric",
                            "size=[3,2] mapping=half_pixel" };
    const fx_shape shapes[] = { fx_shape_4d(2, 3, 5, 6), fx_shape_4d(1, 2, 7, 5), fx_shape_4d(2, 2, 6, 6),
                                fx_shape_4d(3, 1, 8, 9) };
    for (int i = 0; i < 4; i++) {
        ocltest_case c = ocltest_unary("resize_bilinear", attrs[i], shapes[i]);
        c.rtol = 1e-6;
        ocltest_parity(ctx, ocl, &c);
    }
    teardown_backend();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("opencl_layout");
    TCase *tc = tcase_create("parity");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_opencl_concat_matches_cpu);
    tcase_add_test(tc, test_opencl_resize_bilinear_matches_cpu);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
