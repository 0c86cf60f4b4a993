/* tests/test_opencl_paper.c - CPU vs OpenCL parity of the paper's ops
 * (topk_mask, sad_loss, fad_loss, filter_diversity, occlude; kernels
 * backends/opencl/ocl_paper.c, ocl_sad_loss.c), forward and backward, on
 * odd shapes (K = 19, 37, 65, 129: not multiples of any tile or channel
 * block; 64: exactly one), batch 1, all-zero channels and images, dense
 * maps and one dense channel among sparse ones (sad_loss), ties, k beyond the map, the paper's size once; fad_loss's kept
 * set bit-identical to the CPU's (near-tied Delta included); and the whole
 * configs/interpret-fr-small.yaml graph giving the same losses on both
 * backends from the same seed and batch.
 *
 * topk_mask and sad_loss run both of their kernel sets (FX_OPENCL_PAPER:
 * tiled for GPUs, direct for CPU devices) whatever the device.
 *
 * Tolerances (each tensor's worst error over its largest magnitude, see
 * tests/opencl_parity.h), against what PoCL (AVX-512) measured:
 *   topk_mask, occlude, fad_loss's mask and masked output: exact;
 *   sad_loss: 1e-4 (measured <= 1.5e-6 on loss and gradient: float sums
 *     in other orders; tiled: the algebra dm = c r (P A N) against the
 *     CPU's P M A A, direct: the CPU's sparse algorithm);
 *   fad_loss: 1e-6 (measured 7e-8: the same Delta; the loss sums in
 *     another order);
 *   filter_diversity: 5e-5 (measured 1.6e-6: Gram entries kept as float);
 *   the graph: each named loss within 1e-3 relative (measured <= 1e-7:
 *     rounding of conv, BN and GEMM differs per device and grows through
 *     20 layers), k5's weight gradient 1e-3 of its scale (measured 3e-6).
 * Skips (passes) without an OpenCL build or device. */
#include "opencl_parity.h"

#include <stdint.h>

OCLTEST_BACKEND_FIXTURE

/* Runs a case on both backends and asserts every kept tensor identical,
 * bit for bit (NaN included). */
static void expect_identical(const ocltest_case *c)
{
    ocltest_result ref, got;
    ocltest_run(ctx, c, NULL, &ref);
    ocltest_run(ctx, c, ocl, &got);
    ck_assert_int_eq(ref.n, got.n);
    for (int k = 0; k < ref.n; k++) {
        ck_assert_int_eq(ref.count[k], got.count[k]);
        for (int64_t i = 0; i < ref.count[k]; i++) {
            uint32_t a, b;
            memcpy(&a, &ref.data[k][i], 4);
            memcpy(&b, &got.data[k][i], 4);
            ck_assert_msg(a == b, "%s (%s): %s differs at element %lld: opencl %.9g, cpu %.9g", c->op,
                          c->attrs ? c->attrs : "", ref.what[k], (long long)i, got.data[k][i], ref.data[k][i]);
        }
    }
    ocltest_free(&ref);
    ocltest_free(&got);
}

/* Seeded data with every map's values drawn from {-3 .. 3}: heavy ties. */
static float *tied_data(int64_t n, uint64_t seed)
{
    float *x = malloc((size_t)n * sizeof(float));
    ck_assert_ptr_nonnull(x);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)((int)(fx_rng_mix(seed ^ (uint64_t)i) % 7) - 3);
    return x;
}

/* Seeded normal data of which only ~keep of every hw values are non-zero
 * (as after topk_mask); channel `zero` (< 0: none) of every image all zero. */
static float *sparse_maps(int64_t n, int64_t k, int64_t hw, int keep, int zero, uint64_t seed)
{
    float *x = fxtest_random(seed, n * k * hw);
    for (int64_t i = 0; i < n * k * hw; i++) {
        int64_t ch = i / hw % k;
        if (ch == zero || fx_rng_mix(seed + 77 + (uint64_t)i) % (uint64_t)hw >= (uint64_t)keep)
            x[i] = 0.0f;
    }
    return x;
}

/* topk_mask and sad_loss have two sets of kernels: work-groups with local
 * memory (GPUs) and barrier-free ones (CPU devices); FX_OPENCL_PAPER
 * selects one, so both run on whatever device the test has. */
static const char *const variants[] = { "tiled", "direct" };

START_TEST(test_opencl_topk_mask_matches_cpu_exactly)
{
    if (!setup_backend())
        return;
    struct { fx_shape shape; const char *attrs; int ties; } cases[] = {
        { fx_shape_4d(2, 3, 5, 7), NULL, 0 },           /* k = H = 5 */
        { fx_shape_4d(1, 19, 6, 6), "k=3", 0 },
        { fx_shape_4d(2, 2, 4, 5), "k=20", 0 },         /* k = H*W: all but the smallest */
        { fx_shape_4d(2, 37, 7, 3), "k=4", 1 },         /* ties at the threshold */
        { fx_shape_4d(3, 4, 1, 1), "k=1", 0 },          /* 1x1 maps: nothing kept */
        { fx_shape_4d(1, 3, 30, 40), "k=17", 1 },       /* more positions than work-items */
    };
    for (int v = 0; v < 2; v++) {
        setenv("FX_OPENCL_PAPER", variants[v], 1);
        for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++) {
            ocltest_case c = ocltest_unary("topk_mask", cases[s].attrs, cases[s].shape);
            float *x = cases[s].ties ? tied_data(fx_shape_numel(&cases[s].shape), 3 + s) : NULL;
            c.in[0].data = x;
            expect_identical(&c);
            free(x);
        }
        /* An all-zero channel, a NaN (kept, as the largest magnitude) and
         * +-inf; then k = 2 with two infinities (t = inf: nothing kept). */
        fx_shape sh = fx_shape_4d(1, 3, 4, 4);
        float *x = fxtest_random(5, 48);
        for (int i = 0; i < 16; i++)
            x[i] = 0.0f;
        x[17] = NAN;
        x[20] = -INFINITY;
        x[33] = INFINITY;
        x[40] = -INFINITY;
        ocltest_case c = ocltest_unary("topk_mask", "k=3", sh);
        c.in[0].data = x;
        expect_identical(&c);
        c.attrs = "k=2";
        expect_identical(&c);
        free(x);
    }
    unsetenv("FX_OPENCL_PAPER");
    teardown_backend();
}
END_TEST

START_TEST(test_opencl_sad_loss_matches_cpu)
{
    if (!setup_backend())
        return;
    /* zero_image: that image all zero (L_b = 0, no gradient); dense_ch:
     * that channel of every image fully non-zero among sparse ones (one
     * long non-zero list in the direct kernels). */
    struct { fx_shape shape; int keep, zero, zero_image, dense_ch; } cases[] = {
        { fx_shape_4d(2, 19, 5, 7), 0, -1, -1, -1 },     /* dense, odd sizes */
        { fx_shape_4d(1, 37, 6, 6), 4, -1, -1, -1 },     /* batch 1, sparse */
        { fx_shape_4d(3, 5, 4, 6), 0, 2, -1, -1 },       /* an all-zero channel */
        { fx_shape_4d(2, 70, 3, 9), 3, 11, -1, -1 },     /* two tile rows (64 + 6), sparse, zero channel */
        { fx_shape_4d(2, 2, 1, 3), 0, -1, -1, -1 },      /* K = 2 on 1x3 maps */
        { fx_shape_4d(2, 9, 17, 19), 5, -1, -1, -1 },    /* positions not a multiple of any block */
        { fx_shape_4d(2, 70, 12, 12), 0, -1, -1, -1 },   /* dense across two channel blocks (64 + 6) */
        { fx_shape_4d(3, 65, 7, 8), 6, 64, 1, -1 },      /* one past a block; a zero image; zero last channel */
        { fx_shape_4d(2, 64, 9, 9), 5, -1, -1, 40 },     /* exactly one block; one dense channel */
        { fx_shape_4d(2, 129, 4, 4), 2, 0, -1, -1 },     /* three blocks, the last with one channel */
    };
    for (int v = 0; v < 2; v++) {
        setenv("FX_OPENCL_PAPER", variants[v], 1);
        for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++) {
            const fx_shape *sh = &cases[s].shape;
            const int64_t k = sh->dim[1], hw = sh->dim[2] * sh->dim[3];
            float *x = cases[s].keep || cases[s].zero >= 0 || cases[s].zero_image >= 0 || cases[s].dense_ch >= 0
                           ? sparse_maps(sh->dim[0], k, hw, cases[s].keep ? cases[s].keep : (int)hw, cases[s].zero,
                                         11 + s)
                           : NULL;
            if (cases[s].zero_image >= 0)
                memset(x + cases[s].zero_image * k * hw, 0, (size_t)(k * hw) * sizeof(float));
            if (cases[s].dense_ch >= 0)
                for (int64_t b = 0; b < sh->dim[0]; b++)
                    for (int64_t q = 0; q < hw; q++)
                        x[(b * k + cases[s].dense_ch) * hw + q] = 0.5f + (float)((q * 7 + b) % 5);
            /* The same eps spelt two ways, so that a failure names the kernels. */
            ocltest_case c = ocltest_unary("sad_loss", variants[v][0] == 't' ? "eps=1e-8" : "eps=1.0e-8", *sh);
            c.in[0].data = x;
            c.rtol = 1e-4;
            c.atol = 1e-9;
            ocltest_parity(ctx, ocl, &c);
            free(x);
        }
    }
    unsetenv("FX_OPENCL_PAPER");
    teardown_backend();
}
END_TEST

/* The network's case: B 4, K 320, 24 x 24, top-k'd maps (23 of 576). */
START_TEST(test_opencl_sad_loss_matches_cpu_at_paper_size)
{
    if (!setup_backend())
        return;
    float *x = sparse_maps(4, 320, 576, 23, 7, 21);
    for (int v = 0; v < 2; v++) {
        setenv("FX_OPENCL_PAPER", variants[v], 1);
        ocltest_case c = ocltest_unary("sad_loss", variants[v][0] == 't' ? "eps=1e-8" : "eps=1.0e-8",
                                       fx_shape_4d(4, 320, 24, 24));
        c.in[0].data = x;
        c.rtol = 1e-4;
        c.atol = 1e-12;
        ocltest_parity(ctx, ocl, &c);
    }
    unsetenv("FX_OPENCL_PAPER");
    free(x);
    teardown_backend();
}
END_TEST

/* fad_loss: outputs 1 (fo masked to S) and 2 (the mask of S)
 * bit-identical to the CPU's; the loss and the gradients to rounding. */
static void fad_check(const ocltest_case *c)
{
    ocltest_parity(ctx, ocl, c);
    ocltest_result ref, got;
    ocltest_run(ctx, c, NULL, &ref);
    ocltest_run(ctx, c, ocl, &got);
    for (int k = 1; k <= 2; k++) {
        ck_assert_int_eq(ref.count[k], got.count[k]);
        ck_assert_msg(memcmp(ref.data[k], got.data[k], (size_t)ref.count[k] * sizeof(float)) == 0,
                      "fad_loss (%s): %s is not bit-identical to the CPU's", c->attrs, ref.what[k]);
    }
    ocltest_free(&ref);
    ocltest_free(&got);
}

START_TEST(test_opencl_fad_loss_matches_cpu_with_identical_kept_set)
{
    if (!setup_backend())
        return;
    /* Random features: the paper's size, K = 19 and 37, batch 1, 4-D. */
    fad_check(&(ocltest_case){ .op = "fad_loss", .attrs = "n_keep=260", .n_in = 2, .rtol = 1e-6, .atol = 1e-9,
                               .in = { { "f", fx_shape_2d(64, 320), FX_F32, NULL, NULL, 0 },
                                       { "fo", fx_shape_2d(64, 320), FX_F32, NULL, NULL, 0 } } });
    const char *attrs[] = { "n_keep=7", "n_keep=0", "n_keep=19 scale=0.5" };
    for (int a = 0; a < 3; a++) {
        float *f = fxtest_random(31 + a, 5 * 19), *fo = fxtest_random(41 + a, 5 * 19);
        fad_check(&(ocltest_case){ .op = "fad_loss", .attrs = attrs[a], .n_in = 2, .rtol = 1e-6, .atol = 1e-9,
                                   .in = { { "f", fx_shape_2d(5, 19), FX_F32, f, NULL, 0 },
                                           { "fo", fx_shape_2d(5, 19), FX_F32, fo, NULL, 0 } } });
        free(f);
        free(fo);
    }
    fad_check(&(ocltest_case){ .op = "fad_loss", .attrs = "n_keep=30", .n_in = 2, .rtol = 1e-6, .atol = 1e-9,
                               .in = { { "f", fx_shape_2d(1, 37), FX_F32, NULL, NULL, 0 },
                                       { "fo", fx_shape_2d(1, 37), FX_F32, NULL, NULL, 0 } } });
    fad_check(&(ocltest_case){ .op = "fad_loss", .attrs = "n_keep=20", .n_in = 2, .rtol = 1e-6, .atol = 1e-9,
                               .in = { { "f", fx_shape_4d(3, 7, 2, 3), FX_F32, NULL, NULL, 0 },
                                       { "fo", fx_shape_4d(3, 7, 2, 3), FX_F32, NULL, NULL, 0 } } });

    /* Exact ties at the border of S: Delta = 3 1 2 1 5 1 4 2 1 3; the four
     * 1s tie, n_keep 3 takes the three of lowest index (1, 3, 5). f = fo
     * at one filter (sign(0) = 0 in the gradient). */
    float tf[20], tfo[20];
    const float delta[10] = { 3, 1, 2, 1, 5, 1, 4, 2, 1, 3 };
    for (int b = 0; b < 2; b++)
        for (int k = 0; k < 10; k++) {
            tf[b * 10 + k] = (b ? -1.0f : 1.0f) * delta[k] + 0.25f * (float)k;
            tfo[b * 10 + k] = 0.25f * (float)k;
        }
    tf[2] = tfo[2];
    fad_check(&(ocltest_case){ .op = "fad_loss", .attrs = "n_keep=3", .n_in = 2, .rtol = 1e-6, .atol = 1e-9,
                               .in = { { "f", fx_shape_2d(2, 10), FX_F32, tf, NULL, 0 },
                                       { "fo", fx_shape_2d(2, 10), FX_F32, tfo, NULL, 0 } } });

    /* A NaN feature: its Delta is NaN and sorts after every number, so
     * n_keep 9 of 10 leaves it out (loss finite, masked output 0 there). */
    tf[13] = NAN;
    fad_check(&(ocltest_case){ .op = "fad_loss", .attrs = "n_keep=9", .n_in = 2, .rtol = 1e-6, .atol = 1e-9,
                               .in = { { "f", fx_shape_2d(2, 10), FX_F32, tf, NULL, 0 },
                                       { "fo", fx_shape_2d(2, 10), FX_F32, tfo, NULL, 0 } } });

    /* Near ties: every |f - fo| is 1 + a few ulps, so the Delta differ in
     * their last bits (and some tie after rounding); a backend that summed
     * in another order, or divided less accurately, would pick another S. */
    enum { NB = 48, NK = 320 };
    float *f = fxtest_random(51, NB * NK), *fo = malloc(NB * NK * sizeof(float));
    ck_assert_ptr_nonnull(fo);
    for (int i = 0; i < NB * NK; i++) {
        uint64_t h = fx_rng_mix(99 + (uint64_t)i);
        float d = 1.0f + (float)(h % 5) * 1.1920929e-7f;
        fo[i] = f[i] + ((h >> 8) & 1 ? d : -d);
    }
    fad_check(&(ocltest_case){ .op = "fad_loss", .attrs = "n_keep=160", .n_in = 2, .rtol = 1e-6, .atol = 1e-9,
                               .in = { { "f", fx_shape_2d(NB, NK), FX_F32, f, NULL, 0 },
                                       { "fo", fx_shape_2d(NB, NK), FX_F32, fo, NULL, 0 } } });
    free(f);
    free(fo);
    teardown_backend();
}
END_TEST

START_TEST(test_opencl_filter_diversity_matches_cpu)
{
    if (!setup_backend())
        return;
    const fx_shape shapes[] = { fx_shape_4d(6, 5, 3, 3), fx_shape_4d(19, 7, 2, 2), fx_shape_4d(3, 37, 1, 5),
                                fx_shape_4d(2, 3, 8, 8), fx_shape_4d(320, 576, 3, 3) };
    for (int s = 0; s < 5; s++) {
        ocltest_case c = ocltest_unary("filter_diversity", NULL, shapes[s]);
        c.in[0].name = "weight";
        c.rtol = 5e-5;
        c.atol = 1e-9;
        ocltest_parity(ctx, ocl, &c);
    }
    /* Zero spatial vectors (the eps guard): position 4 of every filter,
     * and one whole filter. */
    float *w = fxtest_random(61, 4 * 6 * 9);
    for (int o = 0; o < 4; o++)
        for (int ch = 0; ch < 6; ch++)
            w[(o * 6 + ch) * 9 + 4] = 0.0f;
    for (int i = 0; i < 6 * 9; i++)
        w[2 * 6 * 9 + i] = 0.0f;
    ocltest_case c = ocltest_unary("filter_diversity", NULL, fx_shape_4d(4, 6, 3, 3));
    c.in[0].name = "weight";
    c.in[0].data = w;
    c.rtol = 5e-5;
    c.atol = 1e-9;
    ocltest_parity(ctx, ocl, &c);
    free(w);
    teardown_backend();
}
END_TEST

START_TEST(test_opencl_occlude_paints_the_cpu_window)
{
    if (!setup_backend())
        return;
    struct { fx_shape shape; const char *attrs; } cases[] = {
        { fx_shape_4d(2, 3, 48, 48), "window=[6,16]" },
        { fx_shape_4d(1, 3, 96, 96), "fit=crop value=0.5" },
        { fx_shape_4d(3, 2, 20, 30), "window=[12,24] frame=30 x_range=[20,29] y_range=[15,18]" }, /* clipped */
        { fx_shape_4d(2, 1, 17, 23), "window=[3,5] frame=17 x_range=[0,16] y_range=[0,16]" },
    };
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++) {
        ocltest_case c = ocltest_unary("occlude", cases[s].attrs, cases[s].shape);
        expect_identical(&c);
    }
    teardown_backend();
}
END_TEST

/* With landmarks: the mesh-warped quadrilateral per image (and the plain
 * window for an image with NaN points) paints the same pixels on both
 * backends, forward and backward. */
START_TEST(test_opencl_occlude_with_landmarks_paints_the_cpu_quadrilaterals)
{
    if (!setup_backend())
        return;
    const int n = 3;
    float *lm = malloc((size_t)n * 136 * sizeof(float));
    ck_assert_ptr_nonnull(lm);
    ck_assert_int_eq(fx_face_template68(ctx, 48, lm), FX_OK);
    float *noise = fxtest_random(21, (int64_t)n * 136);
    for (int b = 1; b < n; b++)
        for (int k = 0; k < 136; k++)
            lm[b * 136 + k] = b == 2 && k == 7 ? NAN : 0.9f * lm[k] + 2.0f + 0.8f * noise[b * 136 + k];
    for (int k = 0; k < 136; k++) /* image 0: rotated by about 10 degrees about (24, 24) */
        lm[k] = k % 2 ? 24 + 0.17f * (lm[k - 1] - 24) + 0.98f * (lm[k] - 24) : lm[k];
    ocltest_case c = ocltest_unary("occlude", "window=[12,32] frame=48 x_range=[4,14] y_range=[6,30] value=-1",
                                   fx_shape_4d(n, 3, 48, 48));
    c.n_in = 2;
    c.in[1].name = "landmarks";
    c.in[1].shape = fx_shape_make(3, (int64_t[]){n, 68, 2});
    c.in[1].dtype = FX_F32;
    c.in[1].data = lm;
    c.in[1].no_grad = 1;
    expect_identical(&c);
    free(noise);
    free(lm);
    teardown_backend();
}
END_TEST

/* Loads configs/interpret-fr-small.yaml and plans it for training on
 * `be` (NULL: the CPU) with batch `batch`, the given seed and input. */
static fx_graph *load_small_net(fx_backend *be, int batch, const float *image, const int32_t *label)
{
    fx_graph *g = NULL;
    fx_config cfg;
    fx_status st = fx_graph_load_yaml(ctx, FX_SOURCE_DIR "/configs/interpret-fr-small.yaml", &g, &cfg);
    ck_assert_msg(st == FX_OK, "%s", fx_context_error(ctx));
    fx_graph_set_seed(g, 1234);
    st = fx_graph_plan(g, batch, FX_MODE_TRAIN, be ? be : fx_context_cpu_backend(ctx));
    ck_assert_msg(st == FX_OK, "planning on %s: %s", be ? be->name : "cpu", fx_context_error(ctx));
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "image"), image), FX_OK);
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "label"), label), FX_OK);
    return g;
}

/* The paper's whole loss (2 CE + 2 CE occluded + 100 L_A + SAD x2 + FAD)
 * on the small network, CPU vs OpenCL: same seed (parameters, dropout
 * masks, the occlusion window), same batch; every named loss of the first
 * step within 1e-3 relative, and the backward pass runs. */
START_TEST(test_opencl_small_interpret_fr_gives_the_cpu_losses)
{
    if (!setup_backend())
        return;
    enum { BATCH = 4, PIXELS = BATCH * 3 * 48 * 48 };
    float *image = malloc(PIXELS * sizeof(float));
    ck_assert_ptr_nonnull(image);
    for (int i = 0; i < PIXELS; i++)
        image[i] = 2.0f * fx_rng_uniform(2024, (uint64_t)i) - 1.0f;
    const int32_t label[BATCH] = { 3, 17, 250, 3 };
    fx_graph *cpu = load_small_net(NULL, BATCH, image, label);
    fx_graph *gpu = load_small_net(ocl, BATCH, image, label);
    ck_assert_int_eq(fx_graph_fallback_count(gpu), 0);
    ck_assert_msg(fx_graph_forward(cpu) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_msg(fx_graph_forward(gpu) == FX_OK, "%s", fx_context_error(ctx));
    int n = fx_graph_loss_count(cpu);
    ck_assert_int_eq(n, 6);
    ck_assert_int_eq(fx_graph_loss_count(gpu), n);
    for (int i = 0; i < n; i++) {
        float a, b;
        ck_assert_int_eq(fx_graph_loss_value(cpu, i, &a), FX_OK);
        ck_assert_int_eq(fx_graph_loss_value(gpu, i, &b), FX_OK);
        double rel = fabs((double)b - a) / fmax(fabs(a), 1e-30);
        if (getenv("FX_TEST_VERBOSE"))
            printf("loss %-28s cpu %.8g opencl %.8g rel %.2g\n", fx_graph_loss_name(cpu, i), a, b, rel);
        ck_assert_msg(isfinite(a) && a > 0, "loss %s is %g on the CPU", fx_graph_loss_name(cpu, i), a);
        ck_assert_msg(rel <= 1e-3, "loss %s: opencl %.8g, cpu %.8g (relative difference %.3g > 1e-3)",
                      fx_graph_loss_name(cpu, i), b, a, rel);
    }
    ck_assert_msg(fx_graph_backward(cpu) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_msg(fx_graph_backward(gpu) == FX_OK, "%s", fx_context_error(ctx));
    /* k5's weight gradient gathers every loss (L_A directly; CE, SAD, FAD
     * through the top-k mask). */
    fx_param pc, pg;
    ck_assert_ptr_nonnull(fx_graph_find_param(cpu, "clean.k5.weight", &pc));
    ck_assert_ptr_nonnull(fx_graph_find_param(gpu, "clean.k5.weight", &pg));
    int64_t m = fx_tensor_numel(pc.grad);
    float *gc = malloc((size_t)m * sizeof(float)), *gg = malloc((size_t)m * sizeof(float));
    ck_assert(gc && gg);
    ck_assert_int_eq(fx_tensor_download(pc.grad, gc), FX_OK);
    ck_assert_int_eq(fx_tensor_download(pg.grad, gg), FX_OK);
    double scale = 0, worst = 0;
    for (int64_t i = 0; i < m; i++) {
        scale = fmax(scale, fabs(gc[i]));
        worst = fmax(worst, fabs((double)gg[i] - gc[i]));
    }
    if (getenv("FX_TEST_VERBOSE"))
        printf("k5 weight gradient: worst error / scale = %.3g\n", worst / scale);
    ck_assert_msg(scale > 0 && worst <= 1e-3 * scale, "k5 weight gradient: worst error %.3g, scale %.3g", worst,
                  scale);
    free(gc);
    free(gg);
    fx_graph_destroy(cpu);
    fx_graph_destroy(gpu);
    free(image);
    teardown_backend();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("opencl_paper");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_opencl_topk_mask_matches_cpu_exactly);
    tcase_add_test(tc, test_opencl_sad_loss_matches_cpu);
    tcase_add_test(tc, test_opencl_sad_loss_matches_cpu_at_paper_size);
    tcase_add_test(tc, test_opencl_fad_loss_matches_cpu_with_identical_kept_set);
    tcase_add_test(tc, test_opencl_filter_diversity_matches_cpu);
    tcase_add_test(tc, test_opencl_occlude_paints_the_cpu_window);
    tcase_add_test(tc, test_opencl_occlude_with_landmarks_paints_the_cpu_quadrilaterals);
    tcase_add_test(tc, test_opencl_small_interpret_fr_gives_the_cpu_losses);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
