/* tests/test_checkpoint.c - checkpoint files (docs/checkpoint-format.md):
 * bit-exact round trips of parameters, BN statistics and optimiser state;
 * resumed training identical to uninterrupted training; refusal of
 * truncated, tampered, foreign, newer and mismatched files without touching
 * the graph; and a failed save that leaves the previous checkpoint intact. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fxtest.h"

#define IN_FEATURES 5
#define CLASSES 3
#define BATCH 4

static fx_srcpos nopos(void)
{
    fx_srcpos p = { NULL, 0, 0 };
    return p;
}

/* x[5] -> fc1 (linear `hidden`) -> [bn1 (batchnorm)] -> fc2 (linear 3) ->
 * softmax cross-entropy. Parameters are initialised from `seed`, so two
 * graphs built with different seeds start different. */
static fx_graph *build_net(fx_context *ctx, int hidden, int with_bn, uint64_t seed)
{
    fx_graph *g = NULL;
    ck_assert_int_eq(fx_graph_create(ctx, "ckptnet", &g), FX_OK);
    fx_graph_set_seed(g, seed);
    fx_shape xs = fx_shape_1d(IN_FEATURES);
    fx_shape ls;
    memset(&ls, 0, sizeof ls);
    ck_assert_int_eq(fx_graph_add_input(g, "x", FX_F32, &xs, nopos()), FX_OK);
    ck_assert_int_eq(fx_graph_add_input(g, "label", FX_I32, &ls, nopos()), FX_OK);
    char h[16];
    snprintf(h, sizeof h, "%d", hidden);
    fxtest_add_node(g, "fc1", "linear", "x", NULL, "out_features", h);
    if (with_bn)
        fxtest_add_node(g, "bn1", "batchnorm", "fc1", NULL, NULL, NULL);
    fxtest_add_node(g, "fc2", "linear", with_bn ? "bn1" : "fc1", NULL, "out_features", "3");
    fxtest_add_node(g, "loss", "softmax_cross_entropy", "fc2", "label", NULL, NULL);
    ck_assert_int_eq(fx_graph_add_loss(g, "loss", 1.0f, nopos()), FX_OK);
    fx_status st = fx_graph_plan(g, BATCH, FX_MODE_TRAIN, fx_context_cpu_backend(ctx));
    ck_assert_msg(st == FX_OK, "planning: %s", fx_context_error(ctx));
    return g;
}

static fx_optimizer *make_optimizer(fx_graph *g, const char *kind)
{
    fx_train_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.optimizer, sizeof c.optimizer, "%s", kind);
    c.lr = 0.05f;
    c.momentum = 0.9f;
    c.beta1 = 0.5f;
    c.beta2 = 0.999f;
    c.eps = 1e-8f;
    c.weight_decay = 1e-4f;
    fx_optimizer *opt = NULL;
    fx_status st = fx_optimizer_create(g, &c, &opt);
    ck_assert_msg(st == FX_OK, "fx_optimizer_create: %s", fx_context_error(fx_graph_context(g)));
    return opt;
}

/* One training step on a fixed batch (different per step index). */
static void train_step(fx_graph *g, fx_optimizer *opt, int step)
{
    fx_context *ctx = fx_graph_context(g);
    float *x = fxtest_random(500u + (uint64_t)step, BATCH * IN_FEATURES);
    int32_t labels[BATCH];
    for (int i = 0; i < BATCH; i++)
        labels[i] = (i + step) % CLASSES;
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "x"), x), FX_OK);
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "label"), labels), FX_OK);
    free(x);
    fx_graph_set_step(g, (uint64_t)step);
    fx_status st = fx_graph_forward(g);
    if (st == FX_OK)
        st = fx_graph_backward(g);
    if (st == FX_OK)
        st = fx_optimizer_step(opt, 0.05f);
    ck_assert_msg(st == FX_OK, "training step %d: %s", step, fx_context_error(ctx));
}

/* Every tensor a checkpoint of (g, opt) holds, concatenated as raw bytes:
 * a snapshot for bit-exact comparisons. */
typedef struct snapshot {
    unsigned char *bytes;
    size_t size;
} snapshot;

static void snap_append(snapshot *s, const fx_tensor *t)
{
    size_t n = fx_tensor_bytes(t);
    s->bytes = realloc(s->bytes, s->size + n + 1);
    ck_assert_ptr_nonnull(s->bytes);
    ck_assert_int_eq(fx_tensor_download(t, s->bytes + s->size), FX_OK);
    s->size += n;
}

static snapshot take_snapshot(fx_graph *g, fx_optimizer *opt)
{
    snapshot s = { NULL, 0 };
    for (int i = 0; i < fx_graph_param_count(g); i++)
        snap_append(&s, fx_graph_param_at(g, i).value);
    for (int i = 0; opt && i < fx_optimizer_state_count(opt); i++)
        snap_append(&s, fx_optimizer_state_at(opt, i, NULL));
    return s;
}

static void assert_same_snapshot(const snapshot *a, const snapshot *b, const char *what)
{
    ck_assert_msg(a->size == b->size, "%s: %zu vs %zu bytes", what, a->size, b->size);
    for (size_t i = 0; i < a->size; i++)
        ck_assert_msg(a->bytes[i] == b->bytes[i], "%s: first difference at byte %zu", what, i);
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return b;
}

static void write_file(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    if (n)
        ck_assert_int_eq(fwrite(b, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static void save_ok(fx_context *ctx, const char *path, fx_graph *g, fx_optimizer *opt, const fx_checkpoint_meta *m)
{
    fx_status st = fx_checkpoint_save(ctx, path, g, opt, m);
    ck_assert_msg(st == FX_OK, "save: %s", fx_context_error(ctx));
}

/* Expects loading `path` into (g, opt) to fail with `status` and a message
 * containing `needle`, and the graph and optimiser to be unchanged. */
static void expect_load_refused(fx_context *ctx, const char *path, fx_graph *g, fx_optimizer *opt,
                                fx_status status, const char *needle)
{
    snapshot before = take_snapshot(g, opt);
    int64_t steps = opt ? fx_optimizer_steps(opt) : 0;
    fx_context_clear_error(ctx);
    fx_status st = fx_checkpoint_load(ctx, path, g, opt, NULL);
    ck_assert_msg(st == status, "loading %s: status %s, expected %s (%s)", path, fx_status_name(st),
                  fx_status_name(status), fx_context_error(ctx));
    ck_assert_msg(!needle || strstr(fx_context_error(ctx), needle), "message '%s' lacks '%s'",
                  fx_context_error(ctx), needle);
    snapshot after = take_snapshot(g, opt);
    assert_same_snapshot(&before, &after, "graph after a refused load");
    if (opt)
        ck_assert_int_eq(fx_optimizer_steps(opt), steps);
    free(before.bytes);
    free(after.bytes);
}

START_TEST(test_round_trip_restores_params_bn_stats_and_adam_state_bit_exactly)
{
    char *dir = fxtest_tempdir(), path[128];
    snprintf(path, sizeof path, "%s/model.fxckpt", dir);
    fx_context *ctx = fxtest_context();
    fx_graph *a = build_net(ctx, 6, 1, 11);
    fx_optimizer *oa = make_optimizer(a, "adam");
    for (int s = 0; s < 2; s++)
        train_step(a, oa, s);
    fx_checkpoint_meta meta = { 3, 2, 12345, "", 16 };
    snprintf(meta.graph_name, sizeof meta.graph_name, "my-net");
    save_ok(ctx, path, a, oa, &meta);
    ck_assert_int_eq(count_files(dir), 1); /* no temporary file left */

    fx_graph *b = build_net(ctx, 6, 1, 99);
    fx_optimizer *ob = make_optimizer(b, "adam");
    snapshot sa = take_snapshot(a, oa), sb = take_snapshot(b, ob);
    ck_assert_int_eq(sa.size, sb.size);
    ck_assert_msg(memcmp(sa.bytes, sb.bytes, sa.size) != 0, "the two graphs must start different");
    fx_checkpoint_meta got;
    memset(&got, 0xab, sizeof got);
    fx_status st = fx_checkpoint_load(ctx, path, b, ob, &got);
    ck_assert_msg(st == FX_OK, "load: %s", fx_context_error(ctx));
    free(sb.bytes);
    sb = take_snapshot(b, ob);
    assert_same_snapshot(&sa, &sb, "loaded graph");
    ck_assert_int_eq(fx_optimizer_steps(ob), 2);
    ck_assert_int_eq(got.epoch, 3);
    ck_assert_int_eq(got.batch, 16);
    ck_assert_int_eq(got.step, 2);
    ck_assert_uint_eq(got.seed, 12345);
    ck_assert_str_eq(got.graph_name, "my-net");

    /* without meta the graph's own name is stored */
    save_ok(ctx, path, a, oa, NULL);
    ck_assert_int_eq(fx_checkpoint_load(ctx, path, b, ob, &got), FX_OK);
    ck_assert_str_eq(got.graph_name, "ckptnet");
    ck_assert_int_eq(got.epoch, 0);

    free(sa.bytes);
    free(sb.bytes);
    fx_optimizer_destroy(oa);
    fx_optimizer_destroy(ob);
    fx_graph_destroy(a);
    fx_graph_destroy(b);
    fx_context_destroy(ctx);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* Two steps + save + load into a fresh graph + one step == three steps. */
static void check_resume_is_identical(const char *kind)
{
    char *dir = fxtest_tempdir(), path[128];
    snprintf(path, sizeof path, "%s/resume.fxckpt", dir);
    fx_context *ctx = fxtest_context();

    fx_graph *straight = build_net(ctx, 6, 1, 7);
    fx_optimizer *os = make_optimizer(straight, kind);
    for (int s = 0; s < 3; s++)
        train_step(straight, os, s);

    fx_graph *first = build_net(ctx, 6, 1, 7);
    fx_optimizer *of = make_optimizer(first, kind);
    for (int s = 0; s < 2; s++)
        train_step(first, of, s);
    save_ok(ctx, path, first, of, NULL);
    fx_optimizer_destroy(of);
    fx_graph_destroy(first);

    fx_graph *resumed = build_net(ctx, 6, 1, 555);
    fx_optimizer *orr = make_optimizer(resumed, kind);
    fx_status st = fx_checkpoint_load(ctx, path, resumed, orr, NULL);
    ck_assert_msg(st == FX_OK, "load: %s", fx_context_error(ctx));
    train_step(resumed, orr, 2);

    snapshot a = take_snapshot(straight, os), b = take_snapshot(resumed, orr);
    assert_same_snapshot(&a, &b, kind);
    ck_assert_int_eq(fx_optimizer_steps(orr), 3);
    free(a.bytes);
    free(b.bytes);
    fx_optimizer_destroy(os);
    fx_optimizer_destroy(orr);
    fx_graph_destroy(straight);
    fx_graph_destroy(resumed);
    fx_context_destroy(ctx);
    fxtest_remove_tree(dir);
    free(dir);
}

START_TEST(test_resumed_adam_training_equals_uninterrupted_training)
{
    check_resume_is_identical("adam");
}
END_TEST

START_TEST(test_resumed_sgd_momentum_training_equals_uninterrupted_training)
{
    check_resume_is_identical("sgd");
}
END_TEST

/* A trained graph saved to dir/name; returns the file's bytes. */
typedef struct fixture {
    char *dir; /* fxtest_tempdir */
    char path[128], bad[128];
    fx_context *ctx;
    fx_graph *g;
    fx_optimizer *opt;
    unsigned char *file;
    size_t size;
} fixture;

static void fixture_open(fixture *f)
{
    f->dir = fxtest_tempdir();
    snprintf(f->path, sizeof f->path, "%s/good.fxckpt", f->dir);
    snprintf(f->bad, sizeof f->bad, "%s/bad.fxckpt", f->dir);
    f->ctx = fxtest_context();
    fx_graph *src = build_net(f->ctx, 6, 1, 3);
    fx_optimizer *os = make_optimizer(src, "adam");
    train_step(src, os, 0);
    save_ok(f->ctx, f->path, src, os, NULL);
    fx_optimizer_destroy(os);
    fx_graph_destroy(src);
    f->file = read_file(f->path, &f->size);
    /* the graph the bad files are loaded into: different values */
    f->g = build_net(f->ctx, 6, 1, 4);
    f->opt = make_optimizer(f->g, "adam");
    train_step(f->g, f->opt, 5);
}

static void fixture_close(fixture *f)
{
    free(f->file);
    fx_optimizer_destroy(f->opt);
    fx_graph_destroy(f->g);
    fx_context_destroy(f->ctx);
    fxtest_remove_tree(f->dir);
    free(f->dir);
}

START_TEST(test_truncated_file_is_refused_at_every_length_and_changes_nothing)
{
    fixture f;
    fixture_open(&f);
    size_t lengths[] = { 0, 3, 8, 12, 23, 24, 40, 70, f.size / 2, f.size - 13, f.size - 12, f.size - 4,
                         f.size - 1 };
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        write_file(f.bad, f.file, lengths[i]);
        char needle[96];
        if (lengths[i] >= 24)
            snprintf(needle, sizeof needle, "truncated: expected %zu bytes, file has %zu", f.size, lengths[i]);
        else
            snprintf(needle, sizeof needle, "truncated: expected at least 24 bytes, file has %zu", lengths[i]);
        expect_load_refused(f.ctx, f.bad, f.g, f.opt, FX_ERR_CORRUPT, needle);
    }
    /* the intact file still loads */
    ck_assert_int_eq(fx_checkpoint_load(f.ctx, f.path, f.g, f.opt, NULL), FX_OK);
    fixture_close(&f);
}
END_TEST

START_TEST(test_any_flipped_byte_is_refused_and_changes_nothing)
{
    fixture f;
    fixture_open(&f);
    snapshot before = take_snapshot(f.g, f.opt);
    unsigned char *copy = malloc(f.size);
    ck_assert_ptr_nonnull(copy);
    for (size_t i = 0; i < f.size; i++) {
        memcpy(copy, f.file, f.size);
        copy[i] ^= (unsigned char)(1u << (i % 8));
        write_file(f.bad, copy, f.size);
        fx_context_clear_error(f.ctx);
        fx_status st = fx_checkpoint_load(f.ctx, f.bad, f.g, f.opt, NULL);
        const char *msg = fx_context_error(f.ctx);
        if (i < 8) {
            ck_assert_msg(st == FX_ERR_PARSE, "byte %zu (magic): %s", i, msg);
        } else if (i < 12) {
            ck_assert_msg(st == FX_ERR_UNSUPPORTED || st == FX_ERR_CORRUPT, "byte %zu (version): %s", i, msg);
        } else if (i >= 16 && i < 24) {
            ck_assert_msg(st == FX_ERR_CORRUPT, "byte %zu (file size): %s", i, msg);
        } else {
            ck_assert_msg(st == FX_ERR_CORRUPT && strstr(msg, "checksum mismatch"),
                          "byte %zu of %zu: status %s, message '%s'", i, f.size, fx_status_name(st), msg);
        }
    }
    snapshot after = take_snapshot(f.g, f.opt);
    assert_same_snapshot(&before, &after, "graph after tampered loads");
    free(copy);
    free(before.bytes);
    free(after.bytes);
    fixture_close(&f);
}
END_TEST

START_TEST(test_foreign_file_is_not_a_checkpoint)
{
    fixture f;
    fixture_open(&f);
    memcpy(f.file, "GARBAGE!", 8);
    write_file(f.bad, f.file, f.size);
    expect_load_refused(f.ctx, f.bad, f.g, f.opt, FX_ERR_PARSE, "is not an fx checkpoint");
    const unsigned char text[] = "name: tiny\nlayers: []\n";
    write_file(f.bad, text, sizeof text - 1);
    expect_load_refused(f.ctx, f.bad, f.g, f.opt, FX_ERR_PARSE, "is not an fx checkpoint");
    snprintf(f.bad, sizeof f.bad, "%s/does-not-exist.fxckpt", f.dir);
    expect_load_refused(f.ctx, f.bad, f.g, f.opt, FX_ERR_IO, "does-not-exist.fxckpt");
    fixture_close(&f);
}
END_TEST

START_TEST(test_newer_format_version_asks_to_upgrade_fx)
{
    fixture f;
    fixture_open(&f);
    f.file[8] = 2; /* u32 version, little-endian */
    write_file(f.bad, f.file, f.size);
    expect_load_refused(f.ctx, f.bad, f.g, f.opt, FX_ERR_UNSUPPORTED,
                        "checkpoint format 2 is newer than this fx supports (1); upgrade fx");
    fixture_close(&f);
}
END_TEST

START_TEST(test_graph_with_another_shape_is_refused_naming_tensor_and_both_shapes)
{
    fixture f;
    fixture_open(&f);
    fx_graph *wide = build_net(f.ctx, 7, 1, 4);
    fx_optimizer *ow = make_optimizer(wide, "adam");
    expect_load_refused(f.ctx, f.path, wide, ow, FX_ERR_SHAPE,
                        "tensor 'fc1.weight' is [6, 5] in the checkpoint but [7, 5] in the graph");
    const char *msg = fx_context_error(f.ctx);
    ck_assert_ptr_nonnull(strstr(msg, "nothing was loaded"));
    ck_assert_ptr_nonnull(strstr(msg, "'fc2.weight' is [3, 6] in the checkpoint but [3, 7]"));
    /* weights only (no optimiser) is refused the same way */
    expect_load_refused(f.ctx, f.path, wide, NULL, FX_ERR_SHAPE, "'bn1.running_mean' is [6] in the checkpoint but [7]");
    fx_optimizer_destroy(ow);
    fx_graph_destroy(wide);
    fixture_close(&f);
}
END_TEST

START_TEST(test_missing_and_extra_tensors_are_named)
{
    fixture f;
    fixture_open(&f);
    /* the checkpoint has BN, this graph has none */
    fx_graph *plain = build_net(f.ctx, 6, 0, 4);
    expect_load_refused(f.ctx, f.path, plain, NULL, FX_ERR_INVALID,
                        "checkpoint tensor 'bn1.weight' [6] is not in the graph");
    /* the graph has BN, the checkpoint has none */
    char path2[160];
    snprintf(path2, sizeof path2, "%s/plain.fxckpt", f.dir);
    save_ok(f.ctx, path2, plain, NULL, NULL);
    expect_load_refused(f.ctx, path2, f.g, NULL, FX_ERR_INVALID,
                        "tensor 'bn1.running_var' [6] of the graph is missing from the checkpoint");
    fx_graph_destroy(plain);
    fixture_close(&f);
}
END_TEST

START_TEST(test_optimizer_state_must_match_to_resume_but_is_optional_for_weights)
{
    fixture f;
    fixture_open(&f);
    /* a checkpoint with Adam state loads into a graph without optimiser */
    fx_graph *eval = build_net(f.ctx, 6, 1, 8);
    ck_assert_int_eq(fx_checkpoint_load(f.ctx, f.path, eval, NULL, NULL), FX_OK);
    /* but not into an SGD run */
    fx_optimizer *sgd = make_optimizer(eval, "sgd");
    expect_load_refused(f.ctx, f.path, eval, sgd, FX_ERR_INVALID, "written by optimiser 'adam' but this run uses 'sgd'");
    /* a weights-only checkpoint cannot resume an optimiser */
    char path2[160];
    snprintf(path2, sizeof path2, "%s/weights.fxckpt", f.dir);
    save_ok(f.ctx, path2, eval, NULL, NULL);
    expect_load_refused(f.ctx, path2, eval, sgd, FX_ERR_INVALID, "holds no optimiser state");
    fx_optimizer_destroy(sgd);
    fx_graph_destroy(eval);
    fixture_close(&f);
}
END_TEST

START_TEST(test_failed_write_leaves_previous_checkpoint_intact)
{
    fixture f;
    fixture_open(&f);
    save_ok(f.ctx, f.path, f.g, f.opt, NULL);
    size_t old_size;
    unsigned char *old = read_file(f.path, &old_size);
    train_step(f.g, f.opt, 6); /* the next save would hold different values */

    /* Simulate a full disk: writes past 200 bytes fail with EFBIG. Check
     * runs each test in its own process, so the limit dies with it; it is
     * restored anyway for CK_FORK=no. */
    struct rlimit saved, small;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
    small = saved;
    small.rlim_cur = 200;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    fx_context_clear_error(f.ctx);
    fx_status st = fx_checkpoint_save(f.ctx, f.path, f.g, f.opt, NULL);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, old_handler);
    ck_assert_msg(st == FX_ERR_IO, "status %s: %s", fx_status_name(st), fx_context_error(f.ctx));
    ck_assert_ptr_nonnull(strstr(fx_context_error(f.ctx), "the previous checkpoint is unchanged"));

    size_t now_size;
    unsigned char *now = read_file(f.path, &now_size);
    ck_assert_int_eq(now_size, old_size);
    ck_assert_int_eq(memcmp(now, old, old_size), 0);
    ck_assert_int_eq(count_files(f.dir), 1); /* the temporary file was removed */
    free(now);

    /* a folder that does not exist: nothing is created */
    char missing[200];
    snprintf(missing, sizeof missing, "%s/no/such/folder/model.fxckpt", f.dir);
    fx_context_clear_error(f.ctx);
    ck_assert_int_eq(fx_checkpoint_save(f.ctx, missing, f.g, f.opt, NULL), FX_ERR_IO);
    ck_assert_ptr_nonnull(strstr(fx_context_error(f.ctx), missing));
    ck_assert_int_eq(count_files(f.dir), 1);

    /* the target is a folder: the rename fails, the temporary file goes */
    char folder[200];
    snprintf(folder, sizeof folder, "%s/taken", f.dir);
    ck_assert_int_eq(mkdir(folder, 0755), 0);
    ck_assert_int_eq(fx_checkpoint_save(f.ctx, folder, f.g, f.opt, NULL), FX_ERR_IO);
    ck_assert_int_eq(count_files(f.dir), 2);

    /* and the old checkpoint still loads */
    ck_assert_int_eq(fx_checkpoint_load(f.ctx, f.path, f.g, f.opt, NULL), FX_OK);
    free(old);
    fixture_close(&f);
}
END_TEST

START_TEST(test_save_refuses_optimizer_of_another_graph)
{
    fixture f;
    fixture_open(&f);
    fx_graph *other = build_net(f.ctx, 6, 1, 4);
    expect_load_refused(f.ctx, f.path, other, f.opt, FX_ERR_INVALID, "belongs to another graph");
    fx_context_clear_error(f.ctx);
    ck_assert_int_eq(fx_checkpoint_save(f.ctx, f.bad, other, f.opt, NULL), FX_ERR_INVALID);
    ck_assert_int_eq(access(f.bad, F_OK), -1);
    fx_graph_destroy(other);
    fixture_close(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("checkpoint");
    tcase_add_test(tc, test_round_trip_restores_params_bn_stats_and_adam_state_bit_exactly);
    tcase_add_test(tc, test_resumed_adam_training_equals_uninterrupted_training);
    tcase_add_test(tc, test_resumed_sgd_momentum_training_equals_uninterrupted_training);
    tcase_add_test(tc, test_truncated_file_is_refused_at_every_length_and_changes_nothing);
    tcase_add_test(tc, test_any_flipped_byte_is_refused_and_changes_nothing);
    tcase_add_test(tc, test_foreign_file_is_not_a_checkpoint);
    tcase_add_test(tc, test_newer_format_version_asks_to_upgrade_fx);
    tcase_add_test(tc, test_graph_with_another_shape_is_refused_naming_tensor_and_both_shapes);
    tcase_add_test(tc, test_missing_and_extra_tensors_are_named);
    tcase_add_test(tc, test_optimizer_state_must_match_to_resume_but_is_optional_for_weights);
    tcase_add_test(tc, test_failed_write_leaves_previous_checkpoint_intact);
    tcase_add_test(tc, test_save_refuses_optimizer_of_another_graph);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
