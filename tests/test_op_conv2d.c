/* tests/test_op_conv2d.c - conv2d: forward against a naive direct
 * convolution written here, the TensorFlow SAME geometry, shape errors,
 * finite-difference gradients over the geometry variants, and agreement
 * between thread counts and SIMD paths (AVX-512, AVX2, CBLAS). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"

/* Direct convolution: y[n][o][oy][ox] = b[o] + sum_{c,i,j}
 * w[o][c][i][j] * x[n][c][oy*sh - pt + i][ox*sw - pl + j] (0 outside). */
typedef struct conv_ref {
    int n, c, h, w, o, kh, kw, sh, sw, pt, pl, oh, ow;
} conv_ref;

static void conv_reference(const conv_ref *r, const float *x, const float *w, const float *b, float *y)
{
    for (int n = 0; n < r->n; n++)
        for (int o = 0; o < r->o; o++)
            for (int oy = 0; oy < r->oh; oy++)
                for (int ox = 0; ox < r->ow; ox++) {
                    double s = b ? b[o] : 0.0;
                    for (int c = 0; c < r->c; c++)
                        for (int i = 0; i < r->kh; i++)
                            for (int j = 0; j < r->kw; j++) {
                                int iy = oy * r->sh - r->pt + i, ix = ox * r->sw - r->pl + j;
                                if (iy < 0 || iy >= r->h || ix < 0 || ix >= r->w)
                                    continue;
                                s += (double)w[((o * r->c + c) * r->kh + i) * r->kw + j] *
                                     x[((n * r->c + c) * r->h + iy) * r->w + ix];
                            }
                    y[((n * r->o + o) * r->oh + oy) * r->ow + ox] = (float)s;
                }
}

static float *download_param(fx_graph *g, const char *name)
{
    fx_param p;
    if (!fx_graph_find_param(g, name, &p) || !p.value || !p.value->buffer)
        return NULL;
    float *v = malloc(fx_tensor_bytes(p.value));
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(fx_tensor_download(p.value, v), FX_OK);
    return v;
}

static fxtest_case conv_case(const char *attrs, int n, int c, int h, int w)
{
    fxtest_case k;
    memset(&k, 0, sizeof k);
    k.op = "conv2d";
    k.attrs = attrs;
    k.n_in = 1;
    k.in[0].name = "x";
    k.in[0].shape = fx_shape_4d(n, c, h, w);
    k.in[0].dtype = FX_F32;
    k.seed = 3;
    k.randomize_params = 1; /* non-zero bias */
    return k;
}

/* Runs the op and compares with conv_reference for the geometry `r`
 * (the test states the expected padding itself). */
static void expect_forward_matches(fx_context *ctx, const char *attrs, conv_ref r, int bias)
{
    fxtest_case k = conv_case(attrs, r.n, r.c, r.h, r.w);
    fx_graph *g = fxtest_build(ctx, &k);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    fx_tensor *yt = fx_graph_value(g, "node");
    ck_assert_ptr_nonnull(yt);
    char buf[64];
    fx_shape want = fx_shape_4d(r.n, r.o, r.oh, r.ow);
    ck_assert_msg(fx_shape_equal(&yt->shape, &want), "%s: output shape %s, expected [%d, %d, %d, %d]", attrs,
                  fx_shape_str(&yt->shape, buf, sizeof buf), r.n, r.o, r.oh, r.ow);
    float *x = malloc(sizeof(float) * (size_t)(r.n * r.c * r.h * r.w));
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(fx_tensor_download(fx_graph_value(g, "x"), x), FX_OK);
    float *w = download_param(g, "node.weight");
    ck_assert_ptr_nonnull(w);
    float *b = download_param(g, "node.bias");
    if (bias)
        ck_assert_ptr_nonnull(b);
    else
        ck_assert_ptr_null(b);
    int64_t ny = fx_tensor_numel(yt);
    float *y = malloc(sizeof(float) * (size_t)ny);
    float *ref = malloc(sizeof(float) * (size_t)ny);
    ck_assert(y && ref);
    ck_assert_int_eq(fx_tensor_download(yt, y), FX_OK);
    conv_reference(&r, x, w, b, ref);
    fxtest_assert_close(y, ref, ny, 1e-4, 1e-4, attrs);
    free(x);
    free(w);
    free(b);
    free(y);
    free(ref);
    fx_graph_destroy(g);
}

START_TEST(test_conv2d_forward_matches_direct_convolution)
{
    fx_context *ctx = fxtest_context();
    /* n c h w o kh kw sh sw pt pl oh ow */
    expect_forward_matches(ctx, "out_channels=4 kernel=3 pad=1", (conv_ref){ 2, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, 8, 8 },
                           1);
    expect_forward_matches(ctx, "out_channels=5 kernel=3 stride=2 padding=valid",
                           (conv_ref){ 2, 2, 9, 7, 5, 3, 3, 2, 2, 0, 0, 4, 3 }, 1);
    expect_forward_matches(ctx, "out_channels=3 kernel=[3,2] pad=[1,0] bias=false",
                           (conv_ref){ 1, 2, 7, 5, 3, 3, 2, 1, 1, 1, 0, 7, 4 }, 0);
    expect_forward_matches(ctx, "out_channels=6 kernel=1", (conv_ref){ 3, 5, 4, 6, 6, 1, 1, 1, 1, 0, 0, 4, 6 }, 1);
    expect_forward_matches(ctx, "out_channels=2 kernel=5 pad=2 stride=[1,2]",
                           (conv_ref){ 2, 1, 6, 9, 2, 5, 5, 1, 2, 2, 2, 6, 5 }, 1);
    /* The Fashion-MNIST net's shapes: 5x5 to 32, then to 64 channels. */
    expect_forward_matches(ctx, "out_channels=32 kernel=5 pad=2",
                           (conv_ref){ 2, 1, 28, 28, 32, 5, 5, 1, 1, 2, 2, 28, 28 }, 1);
    expect_forward_matches(ctx, "out_channels=64 kernel=5 pad=2",
                           (conv_ref){ 2, 32, 14, 14, 64, 5, 5, 1, 1, 2, 2, 14, 14 }, 1);
    fx_context_destroy(ctx);
}
END_TEST

/* Sizes past every GEMM cache block (K > 256, O > 128, OH*OW > 1024). */
START_TEST(test_conv2d_forward_large_matches_direct_convolution)
{
    fx_context *ctx = fxtest_context();
    expect_forward_matches(ctx, "out_channels=136 kernel=3 padding=same",
                           (conv_ref){ 1, 40, 33, 35, 136, 3, 3, 1, 1, 1, 1, 33, 35 }, 1);
    fx_context_destroy(ctx);
}
END_TEST

/* TensorFlow SAME with stride 2 pads 0 before and 1 after (3x3 on an even
 * size) - checked against the reference with that padding, and by hand:
 * with x = 1 and w = 1, the first output sees a full 3x3 window (9 per
 * channel) and the last only 2x2 (4 per channel). */
START_TEST(test_conv2d_same_padding_is_asymmetric_for_stride_2)
{
    fx_context *ctx = fxtest_context();
    expect_forward_matches(ctx, "out_channels=3 kernel=3 stride=2 padding=same",
                           (conv_ref){ 2, 2, 8, 6, 3, 3, 3, 2, 2, 0, 0, 4, 3 }, 1);
    /* Odd size 7, stride 2: out 4, total pad (4-1)*2+3-7 = 2: 1 before, 1 after. */
    expect_forward_matches(ctx, "out_channels=2 kernel=3 stride=2 padding=same",
                           (conv_ref){ 1, 1, 7, 7, 2, 3, 3, 2, 2, 1, 1, 4, 4 }, 1);
    /* Stride 1: symmetric for odd kernels. */
    expect_forward_matches(ctx, "out_channels=2 kernel=[5,3] padding=same",
                           (conv_ref){ 1, 2, 6, 5, 2, 5, 3, 1, 1, 2, 1, 6, 5 }, 1);

    fxtest_case k = conv_case("out_channels=1 kernel=3 stride=2 padding=same bias=false", 1, 2, 6, 6);
    k.randomize_params = 0;
    fx_graph *g = fxtest_build(ctx, &k);
    float ones[72];
    for (int i = 0; i < 72; i++)
        ones[i] = 1.0f;
    fx_param p;
    ck_assert_ptr_nonnull(fx_graph_find_param(g, "node.weight", &p));
    ck_assert_int_eq(fx_tensor_numel(p.value), 18);
    ck_assert_int_eq(fx_tensor_upload(p.value, ones), FX_OK);
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "x"), ones), FX_OK);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    float y[9];
    fx_tensor *yt = fx_graph_value(g, "node");
    ck_assert_int_eq(fx_tensor_numel(yt), 9);
    ck_assert_int_eq(fx_tensor_download(yt, y), FX_OK);
    const float want[9] = { 18, 18, 12, 18, 18, 12, 12, 12, 8 };
    fxtest_assert_close(y, want, 9, 0, 1e-5, "SAME stride 2 window sums");
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_conv2d_rejects_bad_shapes_and_attributes)
{
    fx_context *ctx = fxtest_context();
    fxtest_case k = conv_case("out_channels=4 kernel=3", 2, 3, 8, 8);
    k.in[0].shape = fx_shape_2d(2, 10);
    fxtest_expect_error(ctx, &k, FX_ERR_SHAPE, "4-D");

    k = conv_case("out_channels=4 kernel=5 padding=valid", 1, 1, 4, 8);
    fxtest_expect_error(ctx, &k, FX_ERR_SHAPE, "does not fit");
    k = conv_case("out_channels=4 kernel=[3,9] pad=1", 1, 1, 8, 6);
    fxtest_expect_error(ctx, &k, FX_ERR_SHAPE, "does not fit");
    k = conv_case("out_channels=0 kernel=3", 1, 1, 8, 8);
    fxtest_expect_error(ctx, &k, FX_ERR_INVALID, "out_channels");
    k = conv_case("out_channels=2 kernel=3 stride=0", 1, 1, 8, 8);
    fxtest_expect_error(ctx, &k, FX_ERR_SHAPE, "stride");
    k = conv_case("out_channels=2 kernel=0", 1, 1, 8, 8);
    fxtest_expect_error(ctx, &k, FX_ERR_SHAPE, "kernel size");
    k = conv_case("out_channels=2 kernel=3 pad=-1", 1, 1, 8, 8);
    fxtest_expect_error(ctx, &k, FX_ERR_SHAPE, "pad");
    k = conv_case("out_channels=2 kernel=3 pad=1 padding=same", 1, 1, 8, 8);
    fxtest_expect_error(ctx, &k, FX_ERR_INVALID, "padding: explicit");
    k = conv_case("out_channels=2 kernel=3 padding=full", 1, 1, 8, 8);
    fxtest_expect_error(ctx, &k, FX_ERR_INVALID, "unknown padding");
    k = conv_case("out_channels=2 kernel=[3,3,3]", 1, 1, 8, 8);
    fxtest_expect_error(ctx, &k, FX_ERR_INVALID, "kernel takes");
    fx_context_destroy(ctx);
}
END_TEST

static void gradcheck(const char *attrs, int n, int c, int h, int w)
{
    fx_context *ctx = fxtest_context();
    fxtest_case k = conv_case(attrs, n, c, h, w);
    k.max_checks = 48;
    /* conv is linear in x and W: central differences are exact up to
     * float rounding, so the tolerance can be tight. */
    k.rtol = 2e-3;
    k.atol = 2e-3;
    fxtest_gradcheck(ctx, &k);
    fx_context_destroy(ctx);
}

START_TEST(test_conv2d_grad_matches_finite_difference_stride_1_explicit_pad)
{
    gradcheck("out_channels=3 kernel=3 pad=1", 2, 2, 6, 6);
}
END_TEST

START_TEST(test_conv2d_grad_matches_finite_difference_stride_2_same)
{
    gradcheck("out_channels=3 kernel=3 stride=2 padding=same", 2, 2, 8, 6);
    gradcheck("out_channels=2 kernel=3 stride=2 padding=same", 1, 3, 7, 7);
}
END_TEST

START_TEST(test_conv2d_grad_matches_finite_difference_valid_odd_sizes)
{
    gradcheck("out_channels=3 kernel=3 padding=valid", 2, 2, 7, 5);
    gradcheck("out_channels=2 kernel=[3,2] stride=[2,1] pad=[0,1]", 2, 3, 7, 5);
}
END_TEST

START_TEST(test_conv2d_grad_matches_finite_difference_batch_1_no_bias)
{
    gradcheck("out_channels=4 kernel=[3,2] pad=1 bias=false", 1, 2, 5, 7);
}
END_TEST

START_TEST(test_conv2d_grad_matches_finite_difference_1x1)
{
    gradcheck("out_channels=5 kernel=1", 3, 4, 3, 5);   /* direct GEMM path */
    gradcheck("out_channels=3 kernel=1 stride=2", 2, 3, 5, 5); /* im2col path */
}
END_TEST

/* Runs forward and backward with a fixed output gradient; returns output,
 * dx, dW and db concatenated (malloc'd) and their total count. */
static float *conv_run_all(int threads, const char *attrs, int n, int c, int h, int w, int64_t *count)
{
    fxtest_case k = conv_case(attrs, n, c, h, w);
    return fxtest_forward_backward_all(threads, &k, 11, count);
}

/* Batch-parallel backward keeps private dW/db sums per thread; the
 * one-image path splits the GEMM instead. Both must agree with 1 thread. */
START_TEST(test_conv2d_results_do_not_depend_on_thread_count)
{
    const char *cases[] = { "out_channels=8 kernel=3 pad=1", "out_channels=4 kernel=3 stride=2 padding=same" };
    const int batch[] = { 5, 1 };
    for (int i = 0; i < 2; i++) {
        for (int b = 0; b < 2; b++) {
            int64_t n1, n3;
            float *one = conv_run_all(1, cases[i], batch[b], 3, 9, 10, &n1);
            float *three = conv_run_all(3, cases[i], batch[b], 3, 9, 10, &n3);
            ck_assert_int_eq(n1, n3);
            fxtest_assert_close(three, one, n1, 1e-5, 1e-5, cases[i]);
            free(one);
            free(three);
        }
    }
}
END_TEST

/* Several images per GEMM (small maps) only changes which columns share
 * a GEMM: every output, dx, dW and db value is the same sum in the same
 * order as image by image (FX_CONV_GROUP=off), to the bit. With 2
 * threads the groups also decide which thread sums which images' dW and
 * db (as the thread count does), so there only y and dx are compared. */
START_TEST(test_conv2d_image_groups_are_bit_identical)
{
    const char *attrs = "out_channels=20 kernel=3 stride=2 padding=same";
    int threads[] = { 1, 2 };
    int64_t n = 7, c = 6, h = 12, w = 11, o = 20, oh = 6, ow = 6;
    for (int i = 0; i < 2; i++) {
        int64_t n0, n1;
        unsetenv("FX_CONV_GROUP");
        float *grouped = conv_run_all(threads[i], attrs, (int)n, (int)c, (int)h, (int)w, &n0);
        setenv("FX_CONV_GROUP", "off", 1);
        float *single = conv_run_all(threads[i], attrs, (int)n, (int)c, (int)h, (int)w, &n1);
        unsetenv("FX_CONV_GROUP");
        ck_assert_int_eq(n0, n1);
        int64_t y_dx = n * o * oh * ow + n * c * h * w;
        ck_assert_int_gt(n0, y_dx);
        int64_t count = threads[i] == 1 ? n0 : y_dx;
        ck_assert_msg(memcmp(grouped, single, sizeof(float) * (size_t)count) == 0,
                      "%d threads: grouped and one-image results differ", threads[i]);
        free(grouped);
        free(single);
    }
}
END_TEST

/* The AVX2 kernel and the CBLAS fallback must give what AVX-512 gives
 * (FX_SIMD forces a lower level; Check runs each test in its own process). */
START_TEST(test_conv2d_simd_paths_agree)
{
    const char *attrs = "out_channels=20 kernel=3 pad=1";
    int64_t n0, n1, n2;
    unsetenv("FX_SIMD");
    float *best = conv_run_all(2, attrs, 3, 7, 11, 13, &n0);
    setenv("FX_SIMD", "avx2", 1);
    float *avx2 = conv_run_all(2, attrs, 3, 7, 11, 13, &n1);
    setenv("FX_SIMD", "scalar", 1);
    float *scalar = conv_run_all(2, attrs, 3, 7, 11, 13, &n2);
    unsetenv("FX_SIMD");
    ck_assert_int_eq(n0, n1);
    ck_assert_int_eq(n0, n2);
    fxtest_assert_close(avx2, best, n0, 1e-4, 1e-4, "AVX2 vs best");
    fxtest_assert_close(scalar, best, n0, 1e-4, 1e-4, "CBLAS vs best");
    free(best);
    free(avx2);
    free(scalar);
}
END_TEST

/* bias=false: the bias parameter is absent (ndim 0), not a zero tensor. */
START_TEST(test_conv2d_without_bias_has_no_bias_parameter)
{
    fx_context *ctx = fxtest_context();
    fxtest_case k = conv_case("out_channels=4 kernel=3 bias=false", 2, 2, 5, 5);
    fx_graph *g = fxtest_build(ctx, &k);
    fx_param p;
    ck_assert_ptr_nonnull(fx_graph_find_param(g, "node.weight", &p));
    ck_assert_int_eq(fx_tensor_numel(p.value), 4 * 2 * 3 * 3);
    if (fx_graph_find_param(g, "node.bias", &p))
        ck_assert_msg(!p.value || !p.value->buffer, "bias=false still allocates a bias tensor");
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

/* Backward against direct references in double: for dy = R (seeded),
 *   dx[n][c][iy][ix] = sum over (o, oy, ox, i, j) with oy*sh - pt + i = iy,
 *                      ox*sw - pl + j = ix of w[o][c][i][j] R[n][o][oy][ox]
 *   dW[o][c][i][j]   = sum over (n, oy, ox) of R[n][o][oy][ox] x[n][c][iy][ix]
 *   db[o]            = sum over (n, oy, ox) of R[n][o][oy][ox]
 * (a scatter written straight from the definition, so it shares nothing
 * with the kernels' phase-split im2col / col2im). */
static void expect_backward_matches(fx_context *ctx, const char *attrs, conv_ref r)
{
    fxtest_case k = conv_case(attrs, r.n, r.c, r.h, r.w);
    fx_graph *g = fxtest_build(ctx, &k);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    fx_tensor *yt = fx_graph_value(g, "node");
    int64_t ny = fx_tensor_numel(yt);
    ck_assert_int_eq(ny, (int64_t)r.n * r.o * r.oh * r.ow);
    float *dy = fxtest_random(123, ny);
    ck_assert_int_eq(fx_graph_seed_grad(g, "node", dy), FX_OK);
    ck_assert_int_eq(fx_graph_backward(g), FX_OK);
    int64_t nx = (int64_t)r.n * r.c * r.h * r.w, nw = (int64_t)r.o * r.c * r.kh * r.kw;
    float *x = malloc(sizeof(float) * (size_t)nx), *dx = malloc(sizeof(float) * (size_t)nx);
    float *dw = malloc(sizeof(float) * (size_t)nw), *db = malloc(sizeof(float) * (size_t)r.o);
    double *rdx = calloc((size_t)nx, sizeof(double)), *rdw = calloc((size_t)nw, sizeof(double));
    double *rdb = calloc((size_t)r.o, sizeof(double));
    ck_assert(x && dx && dw && db && rdx && rdw && rdb);
    ck_assert_int_eq(fx_tensor_download(fx_graph_value(g, "x"), x), FX_OK);
    ck_assert_int_eq(fx_tensor_download(fx_graph_value_grad(g, "x"), dx), FX_OK);
    float *w = download_param(g, "node.weight");
    ck_assert_ptr_nonnull(w);
    fx_param p;
    ck_assert_ptr_nonnull(fx_graph_find_param(g, "node.weight", &p));
    ck_assert_int_eq(fx_tensor_download(p.grad, dw), FX_OK);
    ck_assert_ptr_nonnull(fx_graph_find_param(g, "node.bias", &p));
    ck_assert_int_eq(fx_tensor_download(p.grad, db), FX_OK);
    for (int n = 0; n < r.n; n++)
        for (int o = 0; o < r.o; o++)
            for (int oy = 0; oy < r.oh; oy++)
                for (int ox = 0; ox < r.ow; ox++) {
                    double g0 = dy[((n * r.o + o) * r.oh + oy) * r.ow + ox];
                    rdb[o] += g0;
                    for (int c = 0; c < r.c; c++)
                        for (int i = 0; i < r.kh; i++)
                            for (int j = 0; j < r.kw; j++) {
                                int iy = oy * r.sh - r.pt + i, ix = ox * r.sw - r.pl + j;
                                if (iy < 0 || iy >= r.h || ix < 0 || ix >= r.w)
                                    continue;
                                int64_t xi = ((int64_t)(n * r.c + c) * r.h + iy) * r.w + ix;
                                int64_t wi = ((int64_t)(o * r.c + c) * r.kh + i) * r.kw + j;
                                rdx[xi] += (double)w[wi] * g0;
                                rdw[wi] += (double)x[xi] * g0;
                            }
                }
    float *fdx = malloc(sizeof(float) * (size_t)nx), *fdw = malloc(sizeof(float) * (size_t)nw);
    float *fdb = malloc(sizeof(float) * (size_t)r.o);
    ck_assert(fdx && fdw && fdb);
    for (int64_t i = 0; i < nx; i++)
        fdx[i] = (float)rdx[i];
    for (int64_t i = 0; i < nw; i++)
        fdw[i] = (float)rdw[i];
    for (int i = 0; i < r.o; i++)
        fdb[i] = (float)rdb[i];
    char what[160];
    snprintf(what, sizeof what, "%s: dx", attrs);
    fxtest_assert_close(dx, fdx, nx, 1e-4, 1e-4, what);
    snprintf(what, sizeof what, "%s: dW", attrs);
    fxtest_assert_close(dw, fdw, nw, 1e-4, 1e-4, what);
    snprintf(what, sizeof what, "%s: db", attrs);
    fxtest_assert_close(db, fdb, r.o, 1e-4, 1e-4, what);
    free(x);
    free(dx);
    free(dw);
    free(db);
    free(rdx);
    free(rdw);
    free(rdb);
    free(fdx);
    free(fdw);
    free(fdb);
    free(w);
    free(dy);
    fx_graph_destroy(g);
}

/* Strided convs run on a phase-split copy of the image (backends/cpu/
 * conv2d.c): one phase per (row, column) remainder of the stride. These
 * shapes give phases of different sizes (odd H/W), TF SAME's asymmetric
 * padding (0 before, 1 after on even maps; 1 and 1 on odd), strides 2, 3
 * and [2, 3], a kernel smaller than and equal to the stride, images
 * smaller than the stride, batch 1, sizes past the GEMM's cache blocks
 * (K = 40*9 > 256, O > 128, the 16-wide panels cut mid-row), and small
 * maps, where several images share one GEMM (with 1 thread, as here,
 * every case with fewer than 100 output pixels and 2 or more images
 * runs grouped). */
static const struct {
    const char *attrs;
    conv_ref r; /* n c h w o kh kw sh sw pt pl oh ow */
} strided_cases[] = {
    { "out_channels=3 kernel=3 stride=2 padding=same", { 2, 3, 8, 10, 3, 3, 3, 2, 2, 0, 0, 4, 5 } },
    { "out_channels=4 kernel=3 stride=2 padding=same", { 1, 2, 9, 7, 4, 3, 3, 2, 2, 1, 1, 5, 4 } },
    { "out_channels=2 kernel=3 stride=2 padding=same", { 3, 2, 6, 5, 2, 3, 3, 2, 2, 0, 1, 3, 3 } },
    { "out_channels=3 kernel=3 stride=3 pad=1", { 2, 2, 10, 8, 3, 3, 3, 3, 3, 1, 1, 4, 3 } },
    { "out_channels=2 kernel=3 stride=[2,3] pad=[1,2]", { 2, 3, 7, 11, 2, 3, 3, 2, 3, 1, 2, 4, 5 } },
    { "out_channels=3 kernel=2 stride=2 padding=valid", { 2, 2, 7, 9, 3, 2, 2, 2, 2, 0, 0, 3, 4 } },
    { "out_channels=3 kernel=1 stride=2", { 2, 3, 5, 6, 3, 1, 1, 2, 2, 0, 0, 3, 3 } },
    { "out_channels=2 kernel=3 stride=2 padding=same", { 2, 2, 1, 1, 2, 3, 3, 2, 2, 1, 1, 1, 1 } },
    { "out_channels=2 kernel=3 stride=2 padding=same", { 1, 3, 2, 3, 2, 3, 3, 2, 2, 0, 1, 1, 2 } },
    { "out_channels=136 kernel=3 stride=2 padding=same", { 2, 40, 34, 37, 136, 3, 3, 2, 2, 0, 1, 17, 19 } },
    /* 81 output pixels: the kernels take 4 images per GEMM (conv_group),
     * so a batch of 5 is a group of 4 and a group of 1. */
    { "out_channels=20 kernel=3 stride=2 padding=same", { 5, 5, 18, 17, 20, 3, 3, 2, 2, 0, 1, 9, 9 } },
};

START_TEST(test_conv2d_strided_forward_matches_direct_convolution)
{
    fx_context *ctx = fxtest_context();
    for (size_t i = 0; i < sizeof strided_cases / sizeof strided_cases[0]; i++)
        expect_forward_matches(ctx, strided_cases[i].attrs, strided_cases[i].r, 1);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_conv2d_strided_backward_matches_direct_reference)
{
    fx_context *ctx = fxtest_context();
    for (size_t i = 0; i < sizeof strided_cases / sizeof strided_cases[0]; i++)
        expect_backward_matches(ctx, strided_cases[i].attrs, strided_cases[i].r);
    /* Stride 1 through the same copy (padding) and without it (valid). */
    expect_backward_matches(ctx, "out_channels=3 kernel=3 pad=1", (conv_ref){ 2, 2, 6, 7, 3, 3, 3, 1, 1, 1, 1, 6, 7 });
    expect_backward_matches(ctx, "out_channels=3 kernel=3 padding=valid",
                            (conv_ref){ 2, 2, 6, 7, 3, 3, 3, 1, 1, 0, 0, 4, 5 });
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_conv2d_grad_matches_finite_difference_strided_odd_sizes)
{
    gradcheck("out_channels=2 kernel=3 stride=2 padding=same", 1, 2, 5, 9);
    gradcheck("out_channels=2 kernel=3 stride=3 padding=same", 2, 2, 8, 7);
    gradcheck("out_channels=3 kernel=3 stride=2 padding=same", 1, 2, 1, 3);
}
END_TEST

static Suite *conv2d_suite(void)
{
    Suite *s = suite_create("conv2d");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_conv2d_forward_matches_direct_convolution);
    tcase_add_test(tc, test_conv2d_forward_large_matches_direct_convolution);
    tcase_add_test(tc, test_conv2d_same_padding_is_asymmetric_for_stride_2);
    tcase_add_test(tc, test_conv2d_rejects_bad_shapes_and_attributes);
    tcase_add_test(tc, test_conv2d_grad_matches_finite_difference_stride_1_explicit_pad);
    tcase_add_test(tc, test_conv2d_grad_matches_finite_difference_stride_2_same);
    tcase_add_test(tc, test_conv2d_strided_forward_matches_direct_convolution);
    tcase_add_test(tc, test_conv2d_strided_backward_matches_direct_reference);
    tcase_add_test(tc, test_conv2d_grad_matches_finite_difference_strided_odd_sizes);
    tcase_add_test(tc, test_conv2d_grad_matches_finite_difference_valid_odd_sizes);
    tcase_add_test(tc, test_conv2d_grad_matches_finite_difference_batch_1_no_bias);
    tcase_add_test(tc, test_conv2d_grad_matches_finite_difference_1x1);
    tcase_add_test(tc, test_conv2d_results_do_not_depend_on_thread_count);
    tcase_add_test(tc, test_conv2d_image_groups_are_bit_identical);
    tcase_add_test(tc, test_conv2d_simd_paths_agree);
    tcase_add_test(tc, test_conv2d_without_bias_has_no_bias_parameter);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return fxtest_run_suite(conv2d_suite()); }
