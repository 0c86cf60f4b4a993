/* tests/test_plugin.c - plugins loaded into a context (fx/plugin.h): the
 * PReLU example plugin's op through the same harness as built-in ops
 * (forward, finite-difference gradients, shape errors), the ref backend
 * plugin against the CPU backend, the search path, and every refusal -
 * not a shared object, no fx_plugin_init, no manifest, another ABI, an
 * undefined symbol, an existing op or backend name, a failing init, an
 * override without permission - each leaving the registry and the backend
 * table exactly as they were. Loading a plugin twice is a no-op. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fx/plugin.h"
#include "fxtest.h"

static char path_buf[4][1024];

static const char *example(const char *name)
{
    snprintf(path_buf[0], sizeof path_buf[0], "%s/%s.so", FX_PLUGIN_BUILD_DIR, name);
    return path_buf[0];
}

static const char *broken(const char *name)
{
    snprintf(path_buf[1], sizeof path_buf[1], "%s/%s.so", FX_TEST_PLUGIN_DIR, name);
    return path_buf[1];
}

typedef struct loaded {
    fx_context *ctx;
    fx_plugin_host *host;
} loaded;

static loaded start(void)
{
    loaded l;
    l.ctx = fxtest_context();
    ck_assert_int_eq(fx_plugin_host_create(l.ctx, &l.host), FX_OK);
    return l;
}

static void finish(loaded *l)
{
    fx_context_destroy(l->ctx);
    fx_plugin_host_destroy(l->host);
}

static void load_ok(loaded *l, const char *path, unsigned flags)
{
    fx_status st = fx_plugin_load(l->host, path, flags);
    ck_assert_msg(st == FX_OK, "loading %s failed: %s", path, fx_context_error(l->ctx));
}

/* Everything a refused plugin could have touched. */
typedef struct snapshot {
    int ops, kernels_found, backends, plugins;
    const fx_op_def *relu;
    fx_kernel_fn relu_cpu;
} snapshot;

static snapshot take(loaded *l)
{
    snapshot s;
    fx_registry *reg = fx_context_registry(l->ctx);
    s.ops = fx_registry_op_count(reg);
    s.kernels_found = 0;
    for (int i = 0; i < s.ops; i++)
        s.kernels_found += fx_registry_find_kernel(reg, fx_registry_op_at(reg, i)->name, "cpu", NULL, NULL);
    s.backends = fx_plugin_host_backend_count(l->host);
    s.plugins = fx_plugin_host_count(l->host);
    s.relu = fx_registry_find_op(reg, "relu");
    s.relu_cpu = NULL;
    ck_assert(fx_registry_find_kernel(reg, "relu", "cpu", &s.relu_cpu, NULL));
    return s;
}

static void same(const snapshot *a, const snapshot *b)
{
    ck_assert_int_eq(a->ops, b->ops);
    ck_assert_int_eq(a->kernels_found, b->kernels_found);
    ck_assert_int_eq(a->backends, b->backends);
    ck_assert_int_eq(a->plugins, b->plugins);
    ck_assert_ptr_eq(a->relu, b->relu);
    ck_assert(a->relu_cpu == b->relu_cpu);
}

static void expect_refused(loaded *l, const char *path, unsigned flags, fx_status status, const char *needle)
{
    snapshot before = take(l);
    fx_status st = fx_plugin_load(l->host, path, flags);
    ck_assert_msg(st == status, "loading %s: expected status %s, got %s (%s)", path, fx_status_name(status),
                  fx_status_name(st), fx_context_error(l->ctx));
    ck_assert_msg(strstr(fx_context_error(l->ctx), needle) != NULL, "loading %s: message lacks '%s': %s", path,
                  needle, fx_context_error(l->ctx));
    snapshot after = take(l);
    same(&before, &after);
}

/* relu's output on x = [-1, 2] in the context: 0,2 (built in) or -2,4
 * (tests/plugins/override_relu.c). */
static void relu_gives(fx_context *ctx, float y0, float y1)
{
    const float x[2] = { -1.0f, 2.0f };
    fxtest_case c;
    memset(&c, 0, sizeof c);
    c.op = "relu";
    c.n_in = 1;
    c.in[0].name = "x";
    c.in[0].shape = fx_shape_2d(1, 2);
    c.in[0].dtype = FX_F32;
    c.in[0].data = x;
    c.inference = 1;
    fx_shape s;
    float *y = fxtest_forward(ctx, &c, 0, &s);
    ck_assert_float_eq(y[0], y0);
    ck_assert_float_eq(y[1], y1);
    free(y);
}

/* ---- the PReLU plugin's op ---------------------------------------------- */

START_TEST(test_prelu_plugin_registers_its_op_and_cpu_kernel)
{
    loaded l = start();
    fx_registry *reg = fx_context_registry(l.ctx);
    ck_assert_ptr_null(fx_registry_find_op(reg, "prelu"));
    load_ok(&l, example("prelu"), 0);
    const fx_op_def *op = fx_registry_find_op(reg, "prelu");
    ck_assert_ptr_nonnull(op);
    ck_assert_int_eq(op->n_params, 1);
    ck_assert_str_eq(op->params[0].init, "constant:0.25");
    ck_assert(fx_registry_find_kernel(reg, "prelu", "cpu", NULL, NULL));
    ck_assert_int_eq(fx_plugin_host_count(l.host), 1);
    const fx_plugin_summary *s = fx_plugin_host_at(l.host, 0);
    ck_assert_str_eq(s->name, "prelu");
    ck_assert_int_eq(s->n_ops, 1);
    ck_assert_str_eq(s->ops[0], "prelu");
    int has_cpu = 0;
    for (int i = 0; i < s->n_kernels; i++)
        has_cpu |= !strcmp(s->kernels[i], "prelu@cpu");
    ck_assert(has_cpu);
    ck_assert_ptr_nonnull(strstr(s->path, "prelu.so"));
    /* Its OpenCL program is a backend resource of "opencl", registered
     * without loading the OpenCL module (core/ knows no OpenCL). */
    ck_assert_int_eq(s->n_backend_resources, 1);
    ck_assert_str_eq(s->backend_resources[0], "opencl:prelu.cl");
    const fx_opencl_program *prog = fx_context_find_backend_resource(l.ctx, "opencl", "prelu.cl");
    ck_assert_ptr_nonnull(prog);
    ck_assert_str_eq(prog->name, "prelu.cl");
    ck_assert_ptr_null(fx_context_find_backend_resource(l.ctx, "opencl", "prelu"));
    ck_assert_ptr_null(fx_context_find_backend_resource(l.ctx, "cpu", "prelu.cl"));
    ck_assert_ptr_null(fx_context_find_backend(l.ctx, "opencl"));
    finish(&l);
}
END_TEST

static fxtest_case prelu_case(const char *attrs, fx_shape shape, const float *data)
{
    fxtest_case c;
    memset(&c, 0, sizeof c);
    c.op = "prelu";
    c.attrs = attrs;
    c.n_in = 1;
    c.in[0].name = "x";
    c.in[0].shape = shape;
    c.in[0].dtype = FX_F32;
    c.in[0].data = data;
    return c;
}

START_TEST(test_prelu_forward_scales_negatives_by_the_initial_slope)
{
    loaded l = start();
    load_ok(&l, example("prelu"), 0);
    const float x[8] = { -2.0f, 3.0f, -0.5f, 0.0f, 1.0f, -4.0f, 7.5f, -1e-3f };
    const float want[8] = { -0.5f, 3.0f, -0.125f, 0.0f, 1.0f, -1.0f, 7.5f, -2.5e-4f };
    for (int shared = 0; shared < 2; shared++) {
        fxtest_case c = prelu_case(shared ? "shared=true" : NULL, fx_shape_4d(2, 2, 2, 1), x);
        fx_shape s;
        float *y = fxtest_forward(l.ctx, &c, 0, &s);
        ck_assert(fx_shape_equal(&s, &c.in[0].shape));
        fxtest_assert_close(y, want, 8, 1e-6, 0, "prelu forward");
        free(y);
    }
    finish(&l);
}
END_TEST

/* Normal data pushed away from 0 so the finite difference never crosses
 * the kink. */
static float *away_from_zero(uint64_t seed, int64_t n)
{
    float *x = fxtest_random(seed, n);
    for (int64_t i = 0; i < n; i++)
        x[i] += x[i] >= 0 ? 0.05f : -0.05f;
    return x;
}

START_TEST(test_prelu_grad_matches_finite_difference)
{
    loaded l = start();
    load_ok(&l, example("prelu"), 0);
    const struct {
        const char *attrs;
        fx_shape shape;
    } cases[] = {
        { NULL, fx_shape_4d(3, 4, 5, 3) },         /* per channel, maps */
        { "shared=true", fx_shape_4d(2, 3, 4, 4) }, /* one slope */
        { NULL, fx_shape_2d(6, 7) },               /* [N, F] after a linear */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float *x = away_from_zero(11 + i, fx_shape_numel(&cases[i].shape));
        fxtest_case c = prelu_case(cases[i].attrs, cases[i].shape, x);
        c.randomize_params = 1; /* slopes other than 0.25, some negative */
        c.max_checks = 150;
        fxtest_gradcheck(l.ctx, &c);
        free(x);
    }
    finish(&l);
}
END_TEST

START_TEST(test_prelu_rejects_an_input_without_channels)
{
    loaded l = start();
    load_ok(&l, example("prelu"), 0);
    fxtest_case c = prelu_case(NULL, fx_shape_1d(5), NULL);
    fxtest_expect_error(l.ctx, &c, FX_ERR_SHAPE, "must be [N, C, ...]");
    finish(&l);
}
END_TEST

/* ---- loading twice, finding by name ------------------------------------- */

START_TEST(test_loading_the_same_plugin_twice_is_a_no_op)
{
    loaded l = start();
    load_ok(&l, example("prelu"), 0);
    snapshot once = take(&l);
    load_ok(&l, example("prelu"), 0);
    /* Another path to the same file, and a copy elsewhere (same manifest
     * name): neither registers anything again. */
    char *dir = fxtest_tempdir();
    char link_path[1024], copy_path[1024], cmd[3072], out[512];
    snprintf(link_path, sizeof link_path, "%s/link.so", dir);
    snprintf(copy_path, sizeof copy_path, "%s/copy.so", dir);
    ck_assert_int_eq(symlink(example("prelu"), link_path), 0);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", example("prelu"), copy_path);
    ck_assert_int_eq(fxtest_run(cmd, out, sizeof out), 0);
    load_ok(&l, link_path, 0);
    load_ok(&l, copy_path, 0);
    snapshot again = take(&l);
    same(&once, &again);
    ck_assert_int_eq(fx_plugin_host_count(l.host), 1);
    finish(&l);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_plugin_names_are_searched_in_fx_plugin_path)
{
    loaded l = start();
    unsetenv("FX_PLUGIN_PATH");
    snapshot before = take(&l);
    /* Not next to this test executable, and no FX_PLUGIN_PATH. */
    ck_assert_int_eq(fx_plugin_load(l.host, "prelu", 0), FX_ERR_IO);
    ck_assert_ptr_nonnull(strstr(fx_context_error(l.ctx), "plugin 'prelu' not found"));
    ck_assert_ptr_nonnull(strstr(fx_context_error(l.ctx), "FX_PLUGIN_PATH"));
    snapshot after = take(&l);
    same(&before, &after);
    /* Empty entries and a missing folder are skipped. */
    char value[2048];
    snprintf(value, sizeof value, "::/nonexistent/fx-plugins:%s:", FX_PLUGIN_BUILD_DIR);
    setenv("FX_PLUGIN_PATH", value, 1);
    char found[1024];
    ck_assert_int_eq(fx_plugin_find(l.host, "ref", found, sizeof found), FX_OK);
    ck_assert_str_eq(found, example("ref"));
    load_ok(&l, "prelu", 0);       /* prelu.so */
    load_ok(&l, "ref.so", 0);      /* the file name itself */
    ck_assert_int_eq(fx_plugin_host_count(l.host), 2);
    ck_assert_ptr_nonnull(fx_registry_find_op(fx_context_registry(l.ctx), "prelu"));
    unsetenv("FX_PLUGIN_PATH");
    finish(&l);
}
END_TEST

/* ---- refusals ----------------------------------------------------------- */

START_TEST(test_a_text_file_named_so_is_refused)
{
    loaded l = start();
    char *dir = fxtest_tempdir();
    char path[1024];
    snprintf(path, sizeof path, "%s/notes.so", dir);
    fxtest_write_file(path, "this is not a shared object\n");
    expect_refused(&l, path, 0, FX_ERR_INVALID, "is not a shared object");
    snprintf(path, sizeof path, "%s/empty.so", dir);
    fxtest_write_file(path, "");
    expect_refused(&l, path, 0, FX_ERR_INVALID, "is not a shared object");
    expect_refused(&l, dir, 0, FX_ERR_INVALID, "is a folder");
    snprintf(path, sizeof path, "%s/missing.so", dir);
    expect_refused(&l, path, 0, FX_ERR_IO, "cannot open");
    finish(&l);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_a_plugin_without_fx_plugin_init_is_refused)
{
    loaded l = start();
    expect_refused(&l, broken("no_init"), 0, FX_ERR_INVALID, "does not export the function fx_plugin_init");
    finish(&l);
}
END_TEST

START_TEST(test_a_plugin_without_manifest_is_refused_before_its_init_runs)
{
    loaded l = start();
    expect_refused(&l, broken("no_manifest"), 0, FX_ERR_INVALID, "does not export fx_plugin_abi");
    ck_assert_ptr_null(fx_registry_find_op(fx_context_registry(l.ctx), "no_manifest_op"));
    finish(&l);
}
END_TEST

START_TEST(test_a_plugin_built_for_another_abi_is_refused_before_its_init_runs)
{
    loaded l = start();
    char needle[128];
    snprintf(needle, sizeof needle, "built for fx plugin ABI version %d, but this fx (%s) has ABI version %d",
             FX_PLUGIN_ABI_VERSION + 1, FX_VERSION_STRING, FX_PLUGIN_ABI_VERSION);
    expect_refused(&l, broken("wrong_abi"), 0, FX_ERR_UNSUPPORTED, needle);
    ck_assert_ptr_null(fx_registry_find_op(fx_context_registry(l.ctx), "wrong_abi_op"));
    ck_assert_ptr_nonnull(strstr(fx_context_error(l.ctx), "rebuild the plugin"));
    finish(&l);
}
END_TEST

/* A plugin built against the previous ABI (before fx_backend had its
 * size and the optimiser slots left fx_backend_ops) is refused by its
 * manifest, before any of its code runs. */
START_TEST(test_a_plugin_built_for_the_previous_abi_is_refused)
{
    loaded l = start();
    char needle[128];
    snprintf(needle, sizeof needle, "built for fx plugin ABI version %d, but this fx (%s) has ABI version %d",
             FX_PLUGIN_ABI_VERSION - 1, FX_VERSION_STRING, FX_PLUGIN_ABI_VERSION);
    expect_refused(&l, broken("old_abi"), 0, FX_ERR_UNSUPPORTED, needle);
    ck_assert_ptr_null(fx_registry_find_op(fx_context_registry(l.ctx), "old_abi_op"));
    ck_assert_ptr_nonnull(strstr(fx_context_error(l.ctx), "rebuild the plugin"));
    finish(&l);
}
END_TEST

START_TEST(test_a_plugin_with_an_undefined_symbol_is_refused)
{
    loaded l = start();
    expect_refused(&l, broken("undefined_symbol"), 0, FX_ERR_INVALID, "fx_function_that_does_not_exist");
    ck_assert_ptr_nonnull(strstr(fx_context_error(l.ctx), "cannot be loaded"));
    finish(&l);
}
END_TEST

START_TEST(test_a_failing_init_leaves_nothing_registered)
{
    loaded l = start();
    expect_refused(&l, broken("init_fails"), 0, FX_ERR_UNSUPPORTED, "lacks the frobnicator");
    const char *msg = fx_context_error(l.ctx);
    ck_assert_ptr_nonnull(strstr(msg, "nothing it registered was kept"));
    fx_registry *reg = fx_context_registry(l.ctx);
    ck_assert_ptr_null(fx_registry_find_op(reg, "half_op"));
    ck_assert(!fx_registry_find_kernel(reg, "half_op", "cpu", NULL, NULL));
    ck_assert(!fx_registry_find_kernel(reg, "relu", "half", NULL, NULL));
    ck_assert_ptr_null(fx_registry_find_optimizer(reg, "half_optim"));
    ck_assert_int_eq(fx_registry_optimizer_count(reg), 2); /* sgd, adam */
    ck_assert(!fx_registry_find_optimizer_kernel(reg, "sgd", "half", NULL));
    ck_assert_ptr_null(fx_context_find_backend_resource(l.ctx, "opencl", "init_fails.cl"));
    fx_backend *be = NULL;
    ck_assert_int_eq(fx_plugin_host_create_backend(l.host, "half", &be), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(l.ctx), "unknown backend 'half'"));
    /* The registry still works: a good plugin loads after it. */
    load_ok(&l, example("prelu"), 0);
    ck_assert_int_eq(fx_plugin_host_count(l.host), 1);
    relu_gives(l.ctx, 0.0f, 2.0f);
    finish(&l);
}
END_TEST

START_TEST(test_a_plugin_that_ignores_a_failed_registration_is_refused)
{
    loaded l = start();
    expect_refused(&l, broken("ignores_failure"), 0, FX_ERR_INVALID, "returned FX_OK after a failed call");
    ck_assert_ptr_null(fx_registry_find_op(fx_context_registry(l.ctx), "half_op"));
    finish(&l);
}
END_TEST

START_TEST(test_an_existing_op_name_is_refused)
{
    loaded l = start();
    expect_refused(&l, broken("dup_op"), 0, FX_ERR_INVALID, "op 'relu' is already registered");
    ck_assert_ptr_nonnull(strstr(fx_context_error(l.ctx), "--plugin-override"));
    relu_gives(l.ctx, 0.0f, 2.0f);
    /* Allowing overrides does not make fx_registry_add_op replace ops. */
    expect_refused(&l, broken("dup_op"), FX_PLUGIN_ALLOW_OVERRIDE, FX_ERR_INVALID, "already registered");
    finish(&l);
}
END_TEST

START_TEST(test_an_existing_backend_name_is_refused)
{
    loaded l = start();
    expect_refused(&l, broken("dup_backend"), 0, FX_ERR_INVALID, "backend 'cpu' already exists");
    fx_backend *be = NULL;
    ck_assert_int_eq(fx_plugin_host_create_backend(l.host, "cpu", &be), FX_OK);
    ck_assert_ptr_eq(be, fx_context_cpu_backend(l.ctx));
    finish(&l);
}
END_TEST

START_TEST(test_replacing_an_op_needs_the_users_permission)
{
    loaded l = start();
    expect_refused(&l, broken("override_relu"), 0, FX_ERR_INVALID, "asks to replace op 'relu' (a built-in op)");
    ck_assert_ptr_nonnull(strstr(fx_context_error(l.ctx), "--plugin-override"));
    relu_gives(l.ctx, 0.0f, 2.0f);
    snapshot before = take(&l);
    load_ok(&l, broken("override_relu"), FX_PLUGIN_ALLOW_OVERRIDE);
    fx_registry *reg = fx_context_registry(l.ctx);
    ck_assert_ptr_ne(fx_registry_find_op(reg, "relu"), before.relu);
    ck_assert_str_eq(fx_registry_find_op(reg, "relu")->doc, "test: y = 2x");
    ck_assert_int_eq(fx_registry_op_count(reg), before.ops); /* replaced, not added */
    relu_gives(l.ctx, -2.0f, 4.0f);
    const fx_plugin_summary *s = fx_plugin_host_at(l.host, 0);
    ck_assert_int_eq(s->n_overrides, 1);
    ck_assert_str_eq(s->overrides[0], "relu");
    ck_assert_int_eq(s->n_ops, 0);
    finish(&l);
}
END_TEST

START_TEST(test_a_failed_override_puts_the_original_op_back)
{
    loaded l = start();
    expect_refused(&l, broken("override_then_fail"), FX_PLUGIN_ALLOW_OVERRIDE, FX_ERR_INVALID,
                   "failing on purpose");
    relu_gives(l.ctx, 0.0f, 2.0f);
    /* and a later override still finds everything in place */
    load_ok(&l, broken("override_relu"), FX_PLUGIN_ALLOW_OVERRIDE);
    relu_gives(l.ctx, -2.0f, 4.0f);
    finish(&l);
}
END_TEST

START_TEST(test_plugin_only_calls_are_refused_outside_init)
{
    loaded l = start();
    fx_backend *be = NULL;
    ck_assert_int_eq(fx_plugin_host_create_backend(l.host, "nope", &be), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(l.ctx), "available: cpu"));
    ck_assert_int_eq(fx_plugin_host_create_backend(l.host, "cpu:4", &be), FX_ERR_INVALID);
    ck_assert_int_eq(fx_plugin_load(l.host, "", 0), FX_ERR_INVALID);
    finish(&l);
}
END_TEST

/* ---- the ref backend plugin against the CPU backend -------------------- */

/* %s: ", bias: false" or "" (a linear without bias gets a NULL
 * parameter in the kernels). */
static const char *ref_graph_yaml =
    "name: ref-check\n"
    "input: {x: [3, 2, 2], label: []}\n"
    "layers:\n"
    "  - {name: f, op: flatten, in: x}\n"
    "  - {name: h, op: linear, in: f, out_features: 9}\n"
    "  - {name: r, op: relu, in: h}\n"
    "  - {name: a, op: linear, in: r, out_features: 4}\n"
    "  - {name: b, op: linear, in: f, out_features: 4%s}\n"
    "  - {name: logits, op: add, in: [a, b]}\n"
    "losses:\n"
    "  - {op: softmax_cross_entropy, in: [logits, label], label_smoothing: 0.1}\n"
    "train: {optimizer: adam, lr: 0.01, weight_decay: 0.001}\n";

typedef struct planned {
    fx_graph *g;
    fx_optimizer *opt;
} planned;

static planned plan_on(fx_context *ctx, const char *path, fx_backend *be, const float *x, const int32_t *label,
                       int with_optimizer)
{
    planned p;
    p.opt = NULL;
    fx_config cfg;
    ck_assert_msg(fx_graph_load_yaml(ctx, path, &p.g, &cfg) == FX_OK, "%s", fx_context_error(ctx));
    fx_graph_set_seed(p.g, 5);
    ck_assert_int_eq(fx_graph_require_grad(p.g, "x"), FX_OK);
    ck_assert_msg(fx_graph_plan(p.g, 6, FX_MODE_TRAIN, be) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(p.g, "x"), x), FX_OK);
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(p.g, "label"), label), FX_OK);
    if (with_optimizer)
        ck_assert_msg(fx_optimizer_create(p.g, &cfg.train, &p.opt) == FX_OK, "%s", fx_context_error(ctx));
    return p;
}

static float *download(fx_tensor *t)
{
    float *h = malloc((size_t)fx_tensor_numel(t) * sizeof(float));
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(fx_tensor_download(t, h), FX_OK);
    return h;
}

static void compare_tensors(fx_tensor *a, fx_tensor *b, double rtol, double atol, const char *what)
{
    ck_assert_int_eq(fx_tensor_numel(a), fx_tensor_numel(b));
    float *ha = download(a), *hb = download(b);
    fxtest_assert_close(ha, hb, fx_tensor_numel(a), rtol, atol, what);
    free(ha);
    free(hb);
}

START_TEST(test_ref_backend_matches_the_cpu_backend_through_training_steps)
{
    loaded l = start();
    load_ok(&l, example("ref"), 0);
    fx_backend *ref = NULL;
    ck_assert_msg(fx_plugin_host_create_backend(l.host, "ref", &ref) == FX_OK, "%s", fx_context_error(l.ctx));
    ck_assert_str_eq(ref->name, "ref");
    char *dir = fxtest_tempdir();
    char path[1024], text[2048];
    snprintf(path, sizeof path, "%s/ref.yaml", dir);
    float *x = fxtest_random(3, 6 * 12);
    const int32_t label[6] = { 0, 3, 1, 2, 3, 0 };
    /* Without a bias: forward and backward only (fx_optimizer_create
     * refuses a graph whose linear has bias: false; a core issue). With
     * biases: three Adam steps. */
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        snprintf(text, sizeof text, ref_graph_yaml, with_bias ? "" : ", bias: false");
        fxtest_write_file(path, text);
        int steps = with_bias ? 3 : 1;
        planned cpu = plan_on(l.ctx, path, fx_context_cpu_backend(l.ctx), x, label, with_bias);
        planned oracle = plan_on(l.ctx, path, ref, x, label, with_bias);
        /* Parameters are on the ref backend's own (malloc) buffers. */
        ck_assert_ptr_eq(fx_graph_param_at(oracle.g, 0).value->buffer->backend, ref);
        planned *both[2] = { &cpu, &oracle };
        for (int step = 0; step < steps; step++) {
            float lc, lr;
            for (int k = 0; k < 2; k++) {
                ck_assert_msg(fx_graph_forward(both[k]->g) == FX_OK, "%s", fx_context_error(l.ctx));
                ck_assert_msg(fx_graph_backward(both[k]->g) == FX_OK, "%s", fx_context_error(l.ctx));
            }
            ck_assert_int_eq(fx_graph_loss_total(cpu.g, &lc), FX_OK);
            ck_assert_int_eq(fx_graph_loss_total(oracle.g, &lr), FX_OK);
            ck_assert_msg(fabsf(lc - lr) <= 1e-5f * (1.0f + fabsf(lr)), "step %d: loss cpu %g, ref %g", step, lc,
                          lr);
            compare_tensors(fx_graph_value_grad(cpu.g, "x"), fx_graph_value_grad(oracle.g, "x"), 1e-4, 1e-6, "dx");
            ck_assert_int_eq(fx_graph_param_count(cpu.g), fx_graph_param_count(oracle.g));
            for (int i = 0; i < fx_graph_param_count(cpu.g); i++) {
                fx_param pc = fx_graph_param_at(cpu.g, i), pr = fx_graph_param_at(oracle.g, i);
                ck_assert_str_eq(pc.name, pr.name);
                if (pc.absent) /* b.bias with bias: false */
                    continue;
                compare_tensors(pc.grad, pr.grad, 1e-4, 1e-6, pc.name);
                compare_tensors(pc.value, pr.value, 1e-4, 1e-6, pc.name);
            }
            if (cpu.opt) {
                ck_assert_int_eq(fx_optimizer_step(cpu.opt, 0.01f), FX_OK);
                ck_assert_int_eq(fx_optimizer_step(oracle.opt, 0.01f), FX_OK);
            }
        }
        for (int k = 0; k < 2; k++) {
            fx_optimizer_destroy(both[k]->opt);
            fx_graph_destroy(both[k]->g);
        }
    }
    fx_plugin_host_release_backend(l.host, ref);
    free(x);
    finish(&l);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_ref_backend_refuses_ops_it_has_no_kernel_for)
{
    loaded l = start();
    load_ok(&l, example("ref"), 0);
    fx_backend *ref = NULL;
    ck_assert_int_eq(fx_plugin_host_create_backend(l.host, "ref", &ref), FX_OK);
    char *dir = fxtest_tempdir();
    char path[1024];
    snprintf(path, sizeof path, "%s/conv.yaml", dir);
    fxtest_write_file(path, "input: {x: [1, 4, 4]}\nlayers: [{name: c, op: conv2d, out_channels: 2, kernel: 3}]\n");
    fx_graph *g = NULL;
    fx_config cfg;
    ck_assert_int_eq(fx_graph_load_yaml(l.ctx, path, &g, &cfg), FX_OK);
    ck_assert_int_eq(fx_graph_plan(g, 1, FX_MODE_INFER, ref), FX_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(fx_context_error(l.ctx), "no kernel for backend 'ref'"));
    fx_graph_destroy(g);
    fx_backend *other = NULL;
    ck_assert_int_eq(fx_plugin_host_create_backend(l.host, "ref:fast", &other), FX_ERR_INVALID);
    ck_assert_ptr_null(other);
    fx_plugin_host_release_backend(l.host, ref);
    finish(&l);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

static Suite *plugin_suite(void)
{
    Suite *s = suite_create("plugin");
    TCase *op = tcase_create("prelu");
    tcase_add_test(op, test_prelu_plugin_registers_its_op_and_cpu_kernel);
    tcase_add_test(op, test_prelu_forward_scales_negatives_by_the_initial_slope);
    tcase_add_test(op, test_prelu_grad_matches_finite_difference);
    tcase_add_test(op, test_prelu_rejects_an_input_without_channels);
    suite_add_tcase(s, op);
    TCase *load = tcase_create("loading");
    tcase_add_test(load, test_loading_the_same_plugin_twice_is_a_no_op);
    tcase_add_test(load, test_plugin_names_are_searched_in_fx_plugin_path);
    tcase_add_test(load, test_plugin_only_calls_are_refused_outside_init);
    suite_add_tcase(s, load);
    TCase *refuse = tcase_create("refusals");
    tcase_add_test(refuse, test_a_text_file_named_so_is_refused);
    tcase_add_test(refuse, test_a_plugin_without_fx_plugin_init_is_refused);
    tcase_add_test(refuse, test_a_plugin_without_manifest_is_refused_before_its_init_runs);
    tcase_add_test(refuse, test_a_plugin_built_for_another_abi_is_refused_before_its_init_runs);
    tcase_add_test(refuse, test_a_plugin_built_for_the_previous_abi_is_refused);
    tcase_add_test(refuse, test_a_plugin_with_an_undefined_symbol_is_refused);
    tcase_add_test(refuse, test_a_failing_init_leaves_nothing_registered);
    tcase_add_test(refuse, test_a_plugin_that_ignores_a_failed_registration_is_refused);
    tcase_add_test(refuse, test_an_existing_op_name_is_refused);
    tcase_add_test(refuse, test_an_existing_backend_name_is_refused);
    tcase_add_test(refuse, test_replacing_an_op_needs_the_users_permission);
    tcase_add_test(refuse, test_a_failed_override_puts_the_original_op_back);
    suite_add_tcase(s, refuse);
    TCase *ref = tcase_create("ref-backend");
    tcase_add_test(ref, test_ref_backend_matches_the_cpu_backend_through_training_steps);
    tcase_add_test(ref, test_ref_backend_refuses_ops_it_has_no_kernel_for);
    suite_add_tcase(s, ref);
    return s;
}

int main(void) { return fxtest_run_suite(plugin_suite()); }
