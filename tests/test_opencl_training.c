/* tests/test_opencl_training.c - training on OpenCL end to end:
 *  - the small Fashion-MNIST net of test_train.c (conv, batchnorm, relu,
 *    maxpool, stride-2 SAME conv, elu, global average pool, linear),
 *    trained with the same seed on the CPU and on OpenCL through fx_train,
 *    gives the same loss curve (every step's loss within 5e-5 relative
 *    over the first 100 steps, 2e-3 over all 184);
 *  - a training step wholly on OpenCL copies only its inputs to the device
 *    and only the fetched scores and loss values back;
 *  - a second fxrun process with the same FX_KERNEL_CACHE_DIR builds no
 *    OpenCL program (every one loads from the disk cache);
 *  - fxrun bench --profile prints the OpenCL per-kernel table, fxrun train
 *    --profile on the CPU the per-layer one.
 * Skips without an OpenCL device, and the first test without Debian's
 * dataset-fashion-mnist. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fxtest.h"
#include "opencl_parity.h"
#include "small_fmnist.h"

/* The CPU and OpenCL kernels sum in different orders (GEMM blocks,
 * reductions), so the curves drift apart by float rounding that training
 * amplifies. Measured on PoCL (AVX-512, CPU-style kernels) against the CPU
 * backend, with the losses as the metrics file prints them (6 significant
 * digits): at most 6.6e-6 relative in steps 1-100 (one unit in the last
 * printed digit), then growing: 1.9e-5 by step 150, 2.2e-4 by step 184.
 * Past step 100 the per-step agreement is not a property of the code but
 * of the machine: training is chaotic at rounding scale (docs/results.md,
 * "Training parity"), and on a 2-core AVX2 machine (AMD EPYC) steps 1-100
 * agree to 3.2e-5, later steps to ~5e-5 until one discrete event (most likely a
 * pooling or activation decision flipped by a last-bit difference) moves
 * the curves 1e-3 apart within three steps (step 164; 3.4e-3 at most by
 * step 184). So steps 1-100 are held per step, and the whole curve by the
 * mean loss of each window of WINDOW steps (the curve both backends
 * learn): 5.5e-4 at most on that AVX2 machine, tolerance 2e-3 (the old
 * per-step bound, now on window means). A wrong kernel shows far above either: scaling
 * relu's output by 1.001 moves the curve by 1e-3 within 90 steps. */
#define STEPS_CLOSE 100
#define LOSS_RTOL_CLOSE 5e-5
#define LOSS_RTOL_ALL 2e-3
#define WINDOW 23

static const char *net_yaml = SMALL_FMNIST_NET_YAML;

static void write_training_config(const char *path)
{
    char text[4096];
    snprintf(text, sizeof text,
             "%s"
             "data:\n"
             "  train: {idx: {images: " FMNIST "/train-images-idx3-ubyte.gz, labels: " FMNIST
             "/train-labels-idx1-ubyte.gz}, limit: 1500}\n"
             "  normalize: {mean: [0.286], std: [0.353]}\n"
             "train: {optimizer: adam, lr: 0.005, batch: 32, epochs: 4, seed: 11, log_every: 1, predict: logits}\n",
             net_yaml);
    fxtest_write_file(path, text);
}

/* Trains the config on `ocl` (NULL: the CPU); returns the steps logged. */
static int train_on(const char *yaml, const char *metrics, int use_opencl, double *losses, int max)
{
    fx_context *ctx = fxtest_context();
    fx_backend *be = use_opencl ? ocltest_backend(ctx) : fx_context_cpu_backend(ctx);
    if (!be) {
        fx_context_destroy(ctx);
        return -1;
    }
    fx_graph *g = NULL;
    fx_config cfg;
    fx_status st = fx_graph_load_yaml(ctx, yaml, &g, &cfg);
    ck_assert_msg(st == FX_OK, "load: %s", fx_context_error(ctx));
    fx_graph_set_seed(g, cfg.train.seed);
    fx_run_options ro;
    memset(&ro, 0, sizeof ro);
    ro.backend = be;
    ro.metrics_path = metrics;
    ro.log = fopen("/dev/null", "w");
    st = fx_train(ctx, g, &cfg, &ro);
    ck_assert_msg(st == FX_OK, "train on %s: %s", be->name, fx_context_error(ctx));
    fclose(ro.log);
    fx_graph_destroy(g);
    if (use_opencl)
        be->ops->destroy(be);
    fx_context_destroy(ctx);
    return small_fmnist_read_losses(metrics, losses, max);
}

START_TEST(test_opencl_training_follows_the_cpu_loss_curve)
{
    if (!small_fmnist_have_data()) {
        printf("SKIP: " FMNIST " not installed (apt-get install dataset-fashion-mnist)\n");
        return;
    }
    char *dir = fxtest_tempdir();
    char yaml[512], m_cpu[512], m_ocl[512];
    snprintf(yaml, sizeof yaml, "%s/net.yaml", dir);
    snprintf(m_cpu, sizeof m_cpu, "%s/cpu.jsonl", dir);
    snprintf(m_ocl, sizeof m_ocl, "%s/opencl.jsonl", dir);
    write_training_config(yaml);
    static double cpu[512], ocl[512];
    int n_ocl = train_on(yaml, m_ocl, 1, ocl, 512);
    if (n_ocl < 0) {
        fxtest_remove_tree(dir);
        free(dir);
        return;
    }
    int n_cpu = train_on(yaml, m_cpu, 0, cpu, 512);
    /* 1500 images / batch 32 = 46 steps per epoch (last partial batch
     * dropped), 4 epochs. */
    ck_assert_int_eq(n_cpu, 184);
    ck_assert_int_eq(n_ocl, n_cpu);
    double worst = 0, worst_close = 0;
    int worst_step = 0, worst_close_step = 0;
    for (int s = 0; s < STEPS_CLOSE && s < n_cpu; s++) {
        double rel = fabs(ocl[s] - cpu[s]) / fabs(cpu[s]);
        if (rel > worst_close) {
            worst_close = rel;
            worst_close_step = s + 1;
        }
    }
    /* Window means of the whole curve (the last window may be shorter). */
    for (int w = 0; w < n_cpu; w += WINDOW) {
        double sc = 0, so = 0;
        int end = w + WINDOW < n_cpu ? w + WINDOW : n_cpu;
        for (int s = w; s < end; s++) {
            sc += cpu[s];
            so += ocl[s];
        }
        double rel = fabs(so - sc) / fabs(sc);
        if (rel > worst) {
            worst = rel;
            worst_step = w + 1;
        }
    }
    printf("CPU vs OpenCL loss: largest relative difference %.3g in steps 1-%d (step %d; tolerance %.0e), "
           "%.3g between %d-step window means of all %d (window from step %d; tolerance %.0e); last losses %.4f vs %.4f\n",
           worst_close, STEPS_CLOSE, worst_close_step, LOSS_RTOL_CLOSE, worst, WINDOW, n_cpu, worst_step, LOSS_RTOL_ALL,
           cpu[n_cpu - 1], ocl[n_ocl - 1]);
    ck_assert_msg(worst_close <= LOSS_RTOL_CLOSE,
                  "step %d: OpenCL loss %.6f, CPU %.6f (relative difference %.3g > %.0e)", worst_close_step,
                  ocl[worst_close_step - 1], cpu[worst_close_step - 1], worst_close, LOSS_RTOL_CLOSE);
    ck_assert_msg(worst <= LOSS_RTOL_ALL,
                  "steps %d-%d: mean OpenCL loss and mean CPU loss differ by %.3g relative (> %.0e)", worst_step,
                  worst_step + WINDOW - 1, worst, LOSS_RTOL_ALL);
    /* Both learn: the last steps' loss is well below the first. */
    ck_assert_msg(ocl[n_ocl - 1] < 0.7 * ocl[0], "OpenCL loss did not fall: %.4f -> %.4f", ocl[0], ocl[n_ocl - 1]);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_opencl_training_step_copies_only_inputs_and_fetched_outputs)
{
    fx_context *ctx = fxtest_context();
    fx_backend *be = ocltest_backend(ctx);
    if (!be) {
        fx_context_destroy(ctx);
        return;
    }
    char *dir = fxtest_tempdir();
    char yaml[512];
    snprintf(yaml, sizeof yaml, "%s/net.yaml", dir);
    char text[2048];
    snprintf(text, sizeof text, "%strain: {optimizer: adam, lr: 0.001, batch: 16}\n", net_yaml);
    fxtest_write_file(yaml, text);
    fx_graph *g = NULL;
    fx_config cfg;
    ck_assert_int_eq(fx_graph_load_yaml(ctx, yaml, &g, &cfg), FX_OK);
    ck_assert_int_eq(fx_graph_keep(g, "logits"), FX_OK);
    ck_assert_msg(fx_graph_plan(g, 16, FX_MODE_TRAIN, be) == FX_OK, "%s", fx_context_error(ctx));
    fx_optimizer *opt = NULL;
    ck_assert_int_eq(fx_optimizer_create(g, &cfg.train, &opt), FX_OK);
    fx_tensor *images = fx_graph_value(g, "image"), *labels = fx_graph_value(g, "label");
    fx_tensor *scores = fx_graph_value(g, "logits");
    float *x = fxtest_random(3, fx_tensor_numel(images));
    int32_t y[16];
    float s[160];
    for (int i = 0; i < 16; i++)
        y[i] = i % 10;
    size_t inputs = fx_tensor_bytes(images) + fx_tensor_bytes(labels);
    const int steps = 3;
    for (int step = 0; step <= steps; step++) {
        if (step == 1) /* after the first step: planning and initialisation copies are done */
            ck_assert_int_eq(fx_opencl_profile_reset(be), FX_OK);
        float loss = 0;
        fx_graph_set_step(g, (uint64_t)step);
        ck_assert_int_eq(fx_tensor_upload(images, x), FX_OK);
        ck_assert_int_eq(fx_tensor_upload(labels, y), FX_OK);
        ck_assert_int_eq(fx_graph_forward(g), FX_OK);
        ck_assert_int_eq(fx_graph_backward(g), FX_OK);
        ck_assert_int_eq(fx_optimizer_step(opt, 1e-3f), FX_OK);
        ck_assert_int_eq(fx_graph_loss_total(g, &loss), FX_OK);
        ck_assert_int_eq(fx_tensor_download(scores, s), FX_OK);
    }
    uint64_t to_device = 0, to_host = 0;
    ck_assert_int_eq(fx_opencl_transfer_bytes(be, &to_device, &to_host), FX_OK);
    /* Inputs and labels each step, plus at most a few loss seeds; back:
     * the scores and the loss values. A parameter or activation copy
     * (hundreds of KiB here) would blow these bounds. */
    printf("per training step: %.0f bytes to the device (inputs %zu), %.0f bytes back (scores %zu)\n",
           (double)to_device / steps, inputs, (double)to_host / steps, fx_tensor_bytes(scores));
    ck_assert_uint_ge(to_device, (uint64_t)steps * inputs);
    ck_assert_uint_le(to_device, (uint64_t)steps * (inputs + 256));
    ck_assert_uint_ge(to_host, (uint64_t)steps * fx_tensor_bytes(scores));
    ck_assert_uint_le(to_host, (uint64_t)steps * (fx_tensor_bytes(scores) + 256));
    free(x);
    fx_optimizer_destroy(opt);
    fx_graph_destroy(g);
    be->ops->destroy(be);
    fx_context_destroy(ctx);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* Runs fxrun bench -v and returns the "programs built B, loaded L" counts
 * the OpenCL backend prints at verbose level. */
static void bench_programs(const char *yaml, const char *cache, int *built, int *loaded)
{
    char cmd[2048], out[1 << 16];
    snprintf(cmd, sizeof cmd, "FX_KERNEL_CACHE_DIR=%s %s bench %s --backend opencl --steps 1 --batch 4 -v", cache,
             fxtest_fxrun(), yaml);
    int rc = fxtest_run(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "%s failed (%d):\n%s", cmd, rc, out);
    const char *p = strstr(out, "opencl: programs built ");
    ck_assert_msg(p != NULL, "no 'programs built' line in:\n%s", out);
    ck_assert_int_eq(sscanf(p, "opencl: programs built %d, loaded %d from cache", built, loaded), 2);
}

START_TEST(test_second_fxrun_builds_no_opencl_program)
{
    fx_context *ctx = fxtest_context();
    fx_backend *be = ocltest_backend(ctx);
    if (be)
        be->ops->destroy(be); /* only probing for a device: fxrun makes its own */
    fx_context_destroy(ctx);
    if (!be)
        return;
    char *dir = fxtest_tempdir();
    char yaml[512], cache[512];
    snprintf(yaml, sizeof yaml, "%s/net.yaml", dir);
    snprintf(cache, sizeof cache, "%s/kernels", dir);
    char text[2048];
    snprintf(text, sizeof text, "%strain: {optimizer: adam, lr: 0.001, batch: 4}\n", net_yaml);
    fxtest_write_file(yaml, text);
    int built = -1, loaded = -1;
    bench_programs(yaml, cache, &built, &loaded);
    ck_assert_int_gt(built, 0); /* an empty cache: everything from source */
    ck_assert_int_eq(loaded, 0);
    int built2 = -1, loaded2 = -1;
    bench_programs(yaml, cache, &built2, &loaded2);
    ck_assert_int_eq(built2, 0);
    ck_assert_int_eq(loaded2, built);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* fxrun bench --profile on OpenCL prints the per-kernel table and the
 * transfers of the timed steps. */
START_TEST(test_fxrun_bench_profile_prints_the_kernel_table)
{
    fx_context *ctx = fxtest_context();
    fx_backend *be = ocltest_backend(ctx);
    if (be)
        be->ops->destroy(be); /* only probing for a device: fxrun makes its own */
    fx_context_destroy(ctx);
    if (!be)
        return;
    char *dir = fxtest_tempdir();
    char yaml[512], text[2048], cmd[2048], out[1 << 16];
    snprintf(yaml, sizeof yaml, "%s/net.yaml", dir);
    snprintf(text, sizeof text, "%strain: {optimizer: adam, lr: 0.001, batch: 4}\n", net_yaml);
    fxtest_write_file(yaml, text);
    snprintf(cmd, sizeof cmd, "%s bench %s --backend opencl --steps 2 --profile", fxtest_fxrun(), yaml);
    int rc = fxtest_run(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "%s failed (%d):\n%s", cmd, rc, out);
    const char *needles[] = { "opencl profile on", "(2 steps; times from OpenCL events)", "gemm_", "bn_",
                              "all kernels", "host->device", "device->host" };
    for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
        ck_assert_msg(strstr(out, needles[i]) != NULL, "no '%s' in:\n%s", needles[i], out);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* fxrun train --profile on the CPU prints the per-layer table. */
START_TEST(test_fxrun_train_profile_on_cpu_prints_the_layer_table)
{
    if (!small_fmnist_have_data()) {
        printf("SKIP: " FMNIST " not installed\n");
        return;
    }
    char *dir = fxtest_tempdir();
    char yaml[512], cmd[2048], out[1 << 16];
    snprintf(yaml, sizeof yaml, "%s/net.yaml", dir);
    write_training_config(yaml);
    snprintf(cmd, sizeof cmd, "%s train %s --backend cpu --steps 3 --profile", fxtest_fxrun(), yaml);
    int rc = fxtest_run(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "%s failed (%d):\n%s", cmd, rc, out);
    ck_assert_msg(strstr(out, "profile (per layer") != NULL, "no per-layer profile in:\n%s", out);
    ck_assert_msg(strstr(out, "c2 ") != NULL && strstr(out, "conv2d") != NULL, "no c2 row in:\n%s", out);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("opencl_training");
    TCase *tc = tcase_create("training");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_opencl_training_follows_the_cpu_loss_curve);
    tcase_add_test(tc, test_opencl_training_step_copies_only_inputs_and_fetched_outputs);
    tcase_add_test(tc, test_second_fxrun_builds_no_opencl_program);
    tcase_add_test(tc, test_fxrun_bench_profile_prints_the_kernel_table);
    tcase_add_test(tc, test_fxrun_train_profile_on_cpu_prints_the_layer_table);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
