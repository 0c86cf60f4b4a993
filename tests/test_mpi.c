/* tests/test_mpi.c - data-parallel training under `mpirun -np 2`
 * (docs/scaling.md), end to end through fxrun:
 *  - 2 ranks with global batch B train exactly as one process with batch
 *    B, step by step (every step's loss, and every final weight), on the
 *    CPU with synchronised BatchNorm and dropout (the small Fashion-MNIST
 *    CNN, and the small paper config when the faces are present), and on
 *    OpenCL (a network without BatchNorm: sync_bn is CPU only), with
 *    every gradient bucket's all-reduce started during backward;
 *  - a rank that fails names its rank and ends the job non-zero;
 *  - a rank killed mid-run ends the job non-zero with the rank named, the
 *    last checkpoint loads, and --resume continues it with 1 rank;
 *  - SIGTERM to one rank stops every rank after the same step, and rank 0
 *    writes that step's checkpoint (a graceful stop, exit 130);
 *  - 2 ranks over TCP between two network namespaces joined by a veth
 *    pair (addresses on that veth only; tests/mpi/netns_two_ranks.sh).
 * Tolerances: losses |a - b| <= 1e-4 (1 + |b|); weights |a - b| <= 1e-4 +
 * 1e-3 |b|. The ranks add in another order than the single process (BN
 * sums, gradient sums), so bit equality is not expected; the differences
 * seen are ~1e-7 relative.
 * Skips, saying why, without mpirun, without an MPI build, without the
 * data, without OpenCL, or where namespaces cannot be made. Each case
 * runs in well under a minute on 2 cores (ranks use 1 thread). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fxtest.h"
#include "small_fmnist.h"

/* In sanitizer builds, LeakSanitizer would report Open MPI's own
 * allocations (never freed by MPI_Finalize, many in components it has
 * already unloaded, so no suppression can name them); leaks in fx are
 * checked by the single-process tests, so ranks run without it. */
#define NO_MPI_LEAK_CHECK "ASAN_OPTIONS=detect_leaks=0 "
#define MPIRUN_ARGS "mpirun --oversubscribe --allow-run-as-root --bind-to none"
#define MPIRUN NO_MPI_LEAK_CHECK "nice " MPIRUN_ARGS
#define MPIRUN_TIMEOUT NO_MPI_LEAK_CHECK "timeout 120 nice " MPIRUN_ARGS

static int have_mpi(void)
{
    if (!fx_comm_mpi_available()) {
        printf("skipped: this fx was built without MPI (-DFX_MPI=OFF or no libopenmpi-dev)\n");
        return 0;
    }
    if (system("command -v mpirun >/dev/null 2>&1") != 0) {
        printf("skipped: mpirun not found (apt-get install openmpi-bin)\n");
        return 0;
    }
    return 1;
}

/* The small CNN of small_fmnist.h with dropout before the classifier. */
static void write_fmnist_config(const char *path, const char *extra_train)
{
    char text[4096];
    snprintf(text, sizeof text,
             "name: small-fmnist-dropout\n"
             "input: {image: [1, 24, 24], label: []}\n"
             "layers:\n"
             "  - {name: c1, op: conv2d, in: image, out_channels: 8, kernel: 3, pad: 1}\n"
             "  - {name: b1, op: batchnorm}\n"
             "  - {name: r1, op: relu}\n"
             "  - {name: p1, op: maxpool2d, kernel: 2}\n"
             "  - {name: c2, op: conv2d, out_channels: 16, kernel: 3, stride: 2, padding: same}\n"
             "  - {name: r2, op: elu}\n"
             "  - {name: g, op: global_avgpool}\n"
             "  - {name: d, op: dropout, rate: 0.3}\n"
             "  - {name: logits, op: linear, out_features: 10}\n"
             "losses:\n"
             "  - {op: softmax_cross_entropy, in: [logits, label]}\n"
             "data:\n"
             "  train: {idx: {images: " FMNIST "/train-images-idx3-ubyte.gz, labels: " FMNIST
             "/train-labels-idx1-ubyte.gz}, limit: 640}\n"
             "  test: {idx: {images: " FMNIST "/t10k-images-idx3-ubyte.gz, labels: " FMNIST
             "/t10k-labels-idx1-ubyte.gz}, limit: 100}\n"
             "  size: 24\n  crop: random\n  flip: true\n"
             "  normalize: {mean: [0.286], std: [0.353]}\n"
             "train: {lr: 0.01, batch: 32, epochs: 2, seed: 11, log_every: 1, predict: logits%s}\n",
             extra_train);
    fxtest_write_file(path, text);
}

/* Every train event's "loss" in a metrics file. */
static int read_losses(const char *path, double *losses, int max)
{
    return small_fmnist_read_losses(path, losses, max);
}

static void assert_losses_match(const char *m1, const char *m2, int expect)
{
    double a[256], b[256];
    int na = read_losses(m1, a, 256), nb = read_losses(m2, b, 256);
    ck_assert_int_eq(na, expect);
    ck_assert_int_eq(nb, expect);
    for (int i = 0; i < na; i++) {
        ck_assert_msg(isfinite(a[i]) && isfinite(b[i]), "step %d: loss %g vs %g", i + 1, a[i], b[i]);
        ck_assert_msg(fabs(a[i] - b[i]) <= 1e-4 * (1 + fabs(b[i])),
                      "step %d: 2 ranks' loss %.7g differs from 1 process' %.7g", i + 1, b[i], a[i]);
    }
}

/* Loads two checkpoints of the graph in `yaml` and compares every
 * parameter and state tensor except those whose name ends with one of
 * skip[] (NULL-terminated; NULL: none). Why a test skips some: the bias of
 * a convolution followed by BatchNorm has a true gradient of 0 (BN
 * subtracts the channel mean), so backward computes rounding noise
 * (~1e-9); Adam divides that by its own running magnitude and moves the
 * bias by about lr per step with a random sign, so two summation orders
 * give unrelated biases, and the BN running mean (which contains the
 * bias) inherits the difference. The loss cannot see either, which is
 * why the step losses still agree; with SGD (the Fashion-MNIST case)
 * everything is compared. */
static int skipped(const char *name, const char *const *skip)
{
    size_t len = strlen(name);
    for (int k = 0; skip && skip[k]; k++) {
        size_t sk = strlen(skip[k]);
        if (len >= sk && !strcmp(name + len - sk, skip[k]))
            return 1;
    }
    return 0;
}

static void assert_checkpoints_match(const char *yaml, const char *c1, const char *c2, const char *const *skip)
{
    fx_context *ctx = fxtest_context();
    fx_graph *g[2] = { NULL, NULL };
    fx_config cfg;
    const char *ck[2] = { c1, c2 };
    for (int k = 0; k < 2; k++) {
        ck_assert_msg(fx_graph_load_yaml(ctx, yaml, &g[k], &cfg) == FX_OK, "%s", fx_context_error(ctx));
        ck_assert_msg(fx_graph_plan(g[k], 2, FX_MODE_TRAIN, fx_context_cpu_backend(ctx)) == FX_OK, "%s",
                      fx_context_error(ctx));
        fx_checkpoint_meta meta;
        ck_assert_msg(fx_checkpoint_load(ctx, ck[k], g[k], NULL, &meta) == FX_OK, "%s: %s", ck[k],
                      fx_context_error(ctx));
    }
    int compared = 0;
    for (int i = 0; i < fx_graph_param_count(g[0]); i++) {
        fx_param p = fx_graph_param_at(g[0], i), q = fx_graph_param_at(g[1], i);
        if (p.absent || skipped(p.name, skip))
            continue;
        int64_t n = fx_tensor_numel(p.value);
        float *a = malloc((size_t)n * sizeof(float)), *b = malloc((size_t)n * sizeof(float));
        ck_assert(a && b);
        ck_assert_int_eq(fx_tensor_download(p.value, a), FX_OK);
        ck_assert_int_eq(fx_tensor_download(q.value, b), FX_OK);
        char what[256];
        snprintf(what, sizeof what, "%s (2 ranks vs 1 process)", p.name);
        fxtest_assert_close(b, a, n, 1e-3, 1e-4, what);
        compared++;
        free(a);
        free(b);
    }
    ck_assert_int_gt(compared, 0);
    fx_graph_destroy(g[0]);
    fx_graph_destroy(g[1]);
    fx_context_destroy(ctx);
}

/* Trains `yaml` for `steps` steps in one process and on 2 ranks and
 * compares losses step by step and the final weights. */
static void check_parity(const char *dir, const char *yaml, const char *args, int steps, const char *const *skip)
{
    char cmd[8192], out[16384], m1[512], m2[512], c1[512], c2[512];
    snprintf(m1, sizeof m1, "%s/one.jsonl", dir);
    snprintf(m2, sizeof m2, "%s/two.jsonl", dir);
    snprintf(c1, sizeof c1, "%s/one.fxck", dir);
    snprintf(c2, sizeof c2, "%s/two.fxck", dir);
    snprintf(cmd, sizeof cmd, "nice %s train %s --steps %d --threads 1 --metrics %s --checkpoint %s %s", fxtest_fxrun(),
             yaml, steps, m1, c1, args);
    int rc = fxtest_run(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "one process failed (%d):\n%s", rc, out);
    snprintf(cmd, sizeof cmd, MPIRUN " -np 2 %s train %s --steps %d --threads 1 --metrics %s --checkpoint %s %s",
             fxtest_fxrun(), yaml, steps, m2, c2, args);
    rc = fxtest_run(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "2 ranks failed (%d):\n%s", rc, out);
    ck_assert_msg(strstr(out, "data parallel over 2 ranks"), "no data-parallel banner:\n%s", out);
    /* Rank 0 alone reports: one banner, one done line. */
    const char *first = strstr(out, "done:");
    ck_assert_msg(first && !strstr(first + 1, "done:"), "expected one done line (rank 0 only):\n%s", out);
    /* Overlap: every bucket's all-reduce started while backward ran (as
     * soon as its gradients were final), not after it. */
    const char *ov = strstr(out, "buckets started during backward");
    long long early = -1, total = -1;
    while (ov && ov > out && ov[-1] != ';')
        ov--;
    ck_assert_msg(ov && sscanf(ov, " %lld of %lld", &early, &total) == 2, "no overlap figure:\n%s", out);
    ck_assert_msg(total >= steps && early == total, "%lld of %lld buckets started during backward:\n%s", early,
                  total, out);
    assert_losses_match(m1, m2, steps);
    assert_checkpoints_match(yaml, c1, c2, skip);
}

START_TEST(test_two_ranks_equal_one_process_fmnist_cpu)
{
    if (!have_mpi())
        return;
    if (!small_fmnist_have_data()) {
        printf("skipped: " FMNIST " not installed (apt-get install dataset-fashion-mnist)\n");
        return;
    }
    char *dir = fxtest_tempdir();
    char yaml[512];
    snprintf(yaml, sizeof yaml, "%s/net.yaml", dir);
    write_fmnist_config(yaml, ", optimizer: sgd, momentum: 0.9, sync_bn: true");
    /* 640 / 32 = 20 steps per epoch: 24 steps cross an epoch boundary
     * (reshuffle, test-set evaluation on both ranks). */
    check_parity(dir, yaml, "", 24, NULL);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* The small paper config (configs/interpret-fr-base-small.yaml: 15 conv +
 * BN layers, hypercolumns, top-k, dropout; 1.2 M parameters) for 3 steps
 * at global batch 8, with synchronised BatchNorm. The copy changes only
 * paths and adds log_every and sync_bn. */
START_TEST(test_two_ranks_equal_one_process_paper_small_cpu)
{
    if (!have_mpi())
        return;
    const char *data = FX_SOURCE_DIR "/../shared/data/cfp-nonlfw";
    struct stat sb;
    if (stat(data, &sb) != 0) {
        printf("skipped: %s not present (the faces of ../shared/data)\n", data);
        return;
    }
    FILE *f = fopen(FX_SOURCE_DIR "/configs/interpret-fr-base-small.yaml", "r");
    ck_assert_ptr_nonnull(f);
    static char text[16384], copy[20000];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    /* Three textual edits; each must apply, else the config changed and
     * this test needs updating. */
    const char *from[3] = { "include: interpret-fr/blocks.yaml", "imagefolder: ../../shared/data/cfp-nonlfw",
                            "train: {" };
    char to[3][1024];
    snprintf(to[0], sizeof to[0], "include: %s/configs/interpret-fr/blocks.yaml", FX_SOURCE_DIR);
    snprintf(to[1], sizeof to[1], "imagefolder: %s", data);
    snprintf(to[2], sizeof to[2], "train: {log_every: 1, sync_bn: true, ");
    copy[0] = 0;
    const char *p = text;
    for (int k = 0; k < 3; k++) {
        const char *hit = strstr(p, from[k]);
        ck_assert_msg(hit != NULL, "configs/interpret-fr-base-small.yaml no longer has '%s'", from[k]);
        strncat(copy, p, (size_t)(hit - p));
        strcat(copy, to[k]);
        p = hit + strlen(from[k]);
    }
    strcat(copy, p);
    char *dir = fxtest_tempdir();
    char yaml[512];
    snprintf(yaml, sizeof yaml, "%s/paper.yaml", dir);
    fxtest_write_file(yaml, copy);
    /* Every conv of the paper network feeds a BatchNorm (blocks.yaml). */
    static const char *const skip[] = { "conv.bias", "c53.bias", "k5.bias", "bn.running_mean", NULL };
    check_parity(dir, yaml, "--batch 8", 3, skip);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* OpenCL: gradients staged through the host; dropout drawn by global
 * example index on the device. No BatchNorm (sync_bn is CPU only). */
START_TEST(test_two_ranks_equal_one_process_opencl)
{
    if (!have_mpi() || !fxtest_have_opencl())
        return;
    if (!small_fmnist_have_data()) {
        printf("skipped: " FMNIST " not installed (apt-get install dataset-fashion-mnist)\n");
        return;
    }
    char *dir = fxtest_tempdir();
    char yaml[512];
    snprintf(yaml, sizeof yaml, "%s/net.yaml", dir);
    char text[4096];
    snprintf(text, sizeof text,
             "name: fmnist-no-bn\n"
             "input: {image: [1, 28, 28], label: []}\n"
             "layers:\n"
             "  - {name: c1, op: conv2d, in: image, out_channels: 8, kernel: 3, pad: 1}\n"
             "  - {name: r1, op: relu}\n"
             "  - {name: p1, op: maxpool2d, kernel: 2}\n"
             "  - {name: f1, op: linear, out_features: 32}\n"
             "  - {name: r2, op: relu}\n"
             "  - {name: d, op: dropout, rate: 0.3}\n"
             "  - {name: logits, op: linear, out_features: 10}\n"
             "losses:\n"
             "  - {op: softmax_cross_entropy, in: [logits, label]}\n"
             "data:\n"
             "  train: {idx: {images: " FMNIST "/train-images-idx3-ubyte.gz, labels: " FMNIST
             "/train-labels-idx1-ubyte.gz}, limit: 320}\n"
             "train: {optimizer: adam, lr: 0.01, batch: 32, epochs: 1, seed: 3, log_every: 1, predict: logits}\n");
    fxtest_write_file(yaml, text);
    check_parity(dir, yaml, "--backend opencl", 6, NULL);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_a_failing_rank_names_itself_and_ends_the_job)
{
    if (!have_mpi())
        return;
    if (!small_fmnist_have_data()) {
        printf("skipped: " FMNIST " not installed (apt-get install dataset-fashion-mnist)\n");
        return;
    }
    char *dir = fxtest_tempdir();
    char good[512], bad[512], cmd[8192], out[16384];
    snprintf(good, sizeof good, "%s/good.yaml", dir);
    snprintf(bad, sizeof bad, "%s/bad.yaml", dir);
    write_fmnist_config(good, "");
    fxtest_write_file(bad, "name: bad\ninput: {image: [1, 28, 28], label: []}\nlayers:\n"
                           "  - {name: c1, op: conv2d, in: image, out_channels: 8, kernel: 3}\n"
                           "  - {name: pool, op: global_avgpool}\n"
                           "  - {name: logits, op: linear, out_features: 10}\n"
                           "losses:\n  - {op: softmax_cross_entropy, in: [logits, label]}\n"
                           "data:\n  train: {imagefolder: /nonexistent/fx-test-faces}\n");
    /* Rank 1 is given a file whose data does not exist; rank 0 waits for
     * it in the first collective. */
    snprintf(cmd, sizeof cmd,
             MPIRUN_TIMEOUT " -np 2 sh -c 'if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then exec %s train %s --threads 1; "
             "else exec %s train %s --threads 1; fi'",
             fxtest_fxrun(), bad, fxtest_fxrun(), good);
    int rc = fxtest_run(cmd, out, sizeof out);
    ck_assert_msg(rc != 0 && rc != 124, "expected the job to fail (not hang), got %d:\n%s", rc, out);
    ck_assert_msg(strstr(out, "fxrun: rank 1 of 2:") && strstr(out, "fx-test-faces"),
                  "the error should name rank 1 and the missing folder:\n%s", out);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* Reads a small integer file; -1 when absent or empty. */
static long read_number(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    if (fscanf(f, "%ld", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

START_TEST(test_a_killed_rank_ends_the_job_and_the_checkpoint_survives)
{
    if (!have_mpi())
        return;
    if (!small_fmnist_have_data()) {
        printf("skipped: " FMNIST " not installed (apt-get install dataset-fashion-mnist)\n");
        return;
    }
    char *dir = fxtest_tempdir();
    char yaml[512], ckpt[512], cmd[8192], path[600], out[16384];
    snprintf(yaml, sizeof yaml, "%s/net.yaml", dir);
    snprintf(ckpt, sizeof ckpt, "%s/run.fxck", dir);
    write_fmnist_config(yaml, ", checkpoint_every: 2");
    /* Long enough to be killed mid-run; each rank records its pid. */
    snprintf(cmd, sizeof cmd,
             "(" MPIRUN_TIMEOUT " -np 2 sh -c 'echo $$ > %s/pid.$OMPI_COMM_WORLD_RANK; exec %s train %s --threads 1 "
             "--epochs 1000 --checkpoint %s' > %s/out.txt 2>&1; echo $? > %s/rc) </dev/null >/dev/null 2>&1 &",
             dir, fxtest_fxrun(), yaml, ckpt, dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(path, sizeof path, "%s/pid.1", dir);
    long pid = -1;
    struct stat sb;
    for (int i = 0; i < 600 && (pid <= 0 || stat(ckpt, &sb) != 0); i++) {
        usleep(100000);
        pid = read_number(path);
    }
    ck_assert_msg(pid > 0 && stat(ckpt, &sb) == 0, "rank 1 never started or no checkpoint was written");
    usleep(300000); /* mid-run, past a checkpoint */
    ck_assert_int_eq(kill((pid_t)pid, SIGKILL), 0);
    snprintf(path, sizeof path, "%s/rc", dir);
    long rc = -1;
    for (int i = 0; i < 600 && rc < 0; i++) {
        usleep(100000);
        rc = read_number(path);
    }
    snprintf(path, sizeof path, "cat %s/out.txt", dir);
    fxtest_run(path, out, sizeof out);
    ck_assert_msg(rc > 0 && rc != 124, "the job should end non-zero by itself after rank 1 died, got %ld:\n%s", rc, out);
    ck_assert_msg(strstr(out, "rank 1"), "mpirun's message should name rank 1:\n%s", out);
    /* The last checkpoint is whole: it loads, and training resumes from
     * it with a different number of ranks (1). */
    fx_context *ctx = fxtest_context();
    fx_graph *g = NULL;
    fx_config cfg;
    ck_assert(fx_graph_load_yaml(ctx, yaml, &g, &cfg) == FX_OK);
    ck_assert(fx_graph_plan(g, 32, FX_MODE_TRAIN, fx_context_cpu_backend(ctx)) == FX_OK);
    fx_checkpoint_meta meta;
    ck_assert_msg(fx_checkpoint_load(ctx, ckpt, g, NULL, &meta) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_gt(meta.step, 0);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
    snprintf(cmd, sizeof cmd, "nice %s train %s --threads 1 --checkpoint %s --resume --steps %lld", fxtest_fxrun(), yaml,
             ckpt, (long long)meta.step + 2);
    int rrc = fxtest_run(cmd, out, sizeof out);
    ck_assert_msg(rrc == 0 && strstr(out, "resumed from"), "resume with 1 rank failed (%d):\n%s", rrc, out);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* SIGTERM to one rank (as a batch scheduler's pre-emption would send):
 * every rank stops after the same step, rank 0 writes the checkpoint of
 * that step, the job ends 130 without MPI_Abort. */
START_TEST(test_a_signal_on_one_rank_stops_every_rank_at_the_same_step)
{
    if (!have_mpi())
        return;
    if (!small_fmnist_have_data()) {
        printf("skipped: " FMNIST " not installed (apt-get install dataset-fashion-mnist)\n");
        return;
    }
    char *dir = fxtest_tempdir();
    char yaml[512], ckpt[512], cmd[8192], path[600], out[16384];
    snprintf(yaml, sizeof yaml, "%s/net.yaml", dir);
    snprintf(ckpt, sizeof ckpt, "%s/run.fxck", dir);
    write_fmnist_config(yaml, ", checkpoint_every: 2");
    snprintf(cmd, sizeof cmd,
             "(" MPIRUN_TIMEOUT " -np 2 sh -c 'echo $$ > %s/pid.$OMPI_COMM_WORLD_RANK; exec %s train %s --threads 1 "
             "--epochs 1000 --checkpoint %s' > %s/out.txt 2>&1; echo $? > %s/rc) </dev/null >/dev/null 2>&1 &",
             dir, fxtest_fxrun(), yaml, ckpt, dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(path, sizeof path, "%s/pid.1", dir);
    long pid = -1;
    struct stat sb;
    for (int i = 0; i < 600 && (pid <= 0 || stat(ckpt, &sb) != 0); i++) {
        usleep(100000);
        pid = read_number(path);
    }
    ck_assert_msg(pid > 0 && stat(ckpt, &sb) == 0, "rank 1 never started or no checkpoint was written");
    ck_assert_int_eq(kill((pid_t)pid, SIGTERM), 0);
    snprintf(path, sizeof path, "%s/rc", dir);
    long rc = -1;
    for (int i = 0; i < 600 && rc < 0; i++) {
        usleep(100000);
        rc = read_number(path);
    }
    snprintf(path, sizeof path, "cat %s/out.txt", dir);
    fxtest_run(path, out, sizeof out);
    ck_assert_msg(rc == 130, "the job should end 130 (stopped) after SIGTERM to rank 1, got %ld:\n%s", rc, out);
    ck_assert_msg(!strstr(out, "MPI_Abort"), "a graceful stop must not abort:\n%s", out);
    const char *line = strstr(out, "stopped by a signal after step ");
    long long stopped = -1;
    ck_assert_msg(line && sscanf(line, "stopped by a signal after step %lld", &stopped) == 1, "no stop line:\n%s",
                  out);
    ck_assert_msg(!strstr(line + 1, "stopped by a signal"), "rank 0 alone reports the stop:\n%s", out);
    /* The checkpoint is the agreed step's. */
    fx_context *ctx = fxtest_context();
    fx_graph *g = NULL;
    fx_config cfg;
    ck_assert(fx_graph_load_yaml(ctx, yaml, &g, &cfg) == FX_OK);
    ck_assert(fx_graph_plan(g, 32, FX_MODE_TRAIN, fx_context_cpu_backend(ctx)) == FX_OK);
    fx_checkpoint_meta meta;
    ck_assert_msg(fx_checkpoint_load(ctx, ckpt, g, NULL, &meta) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(meta.step, stopped);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* Two "hosts": rank 1 in another network namespace, reached over TCP on
 * a veth pair (tests/mpi/netns_two_ranks.sh); the result equals one
 * process's, step by step. */
START_TEST(test_two_ranks_over_tcp_between_network_namespaces)
{
    if (!have_mpi())
        return;
    if (!small_fmnist_have_data()) {
        printf("skipped: " FMNIST " not installed (apt-get install dataset-fashion-mnist)\n");
        return;
    }
    char *dir = fxtest_tempdir();
    char yaml[512], m1[512], m2[512], cmd[8192], out[16384];
    snprintf(yaml, sizeof yaml, "%s/net.yaml", dir);
    snprintf(m1, sizeof m1, "%s/one.jsonl", dir);
    snprintf(m2, sizeof m2, "%s/two.jsonl", dir);
    write_fmnist_config(yaml, ", optimizer: sgd, momentum: 0.9, sync_bn: true");
    snprintf(cmd, sizeof cmd, NO_MPI_LEAK_CHECK "sh %s/tests/mpi/netns_two_ranks.sh %s %s train %s --steps 6 --threads 1 --metrics %s",
             FX_SOURCE_DIR, dir, fxtest_fxrun(), yaml, m2);
    int rc = fxtest_run(cmd, out, sizeof out);
    if (rc == 77) {
        printf("skipped: %s", out);
        fxtest_remove_tree(dir);
        free(dir);
        return;
    }
    ck_assert_msg(rc == 0, "2 ranks over the veth pair failed (%d):\n%s", rc, out);
    ck_assert_msg(strstr(out, "rank 1 in 10.231.") && strstr(out, "rank 0 in 10.231."),
                  "each rank should report its namespace's veth address:\n%s", out);
    snprintf(cmd, sizeof cmd, "nice %s train %s --steps 6 --threads 1 --metrics %s", fxtest_fxrun(), yaml, m1);
    rc = fxtest_run(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "one process failed (%d):\n%s", rc, out);
    assert_losses_match(m1, m2, 6);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mpi");
    TCase *tc = tcase_create("mpi");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_two_ranks_equal_one_process_fmnist_cpu);
    tcase_add_test(tc, test_two_ranks_equal_one_process_paper_small_cpu);
    tcase_add_test(tc, test_two_ranks_equal_one_process_opencl);
    tcase_add_test(tc, test_a_failing_rank_names_itself_and_ends_the_job);
    tcase_add_test(tc, test_a_killed_rank_ends_the_job_and_the_checkpoint_survives);
    tcase_add_test(tc, test_a_signal_on_one_rank_stops_every_rank_at_the_same_step);
    tcase_add_test(tc, test_two_ranks_over_tcp_between_network_namespaces);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
