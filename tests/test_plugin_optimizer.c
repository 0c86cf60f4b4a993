/* tests/test_plugin_optimizer.c - optimisers added by a plugin
 * (fx/optim.h): tests/plugins/optimizers.c registers "sign_sgd" and
 * "adagrad" with CPU update kernels; a graph file loads the plugin under
 * `plugins:` and picks the optimiser with `train.optimizer: NAME`, as a
 * user would. Each update is checked against a hand computation from the
 * gradients the graph produced, a few steps train the tiny graph (its
 * loss falls), and an unknown name, a badly formed name and a backend
 * without the optimiser's kernel fail with messages that say what to do. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"

#define BATCH 4

static const float inputs[BATCH * 3] = { 1.0f, -2.0f, 0.5f, 0.3f, 0.8f, -1.2f, -0.7f, 0.1f, 2.0f, 1.5f, 1.0f, -0.4f };
static const int32_t labels[BATCH] = { 0, 1, 1, 0 };

typedef struct tiny {
    fx_context *ctx;
    char *dir;
    fx_graph *g;
    fx_config cfg;
} tiny;

/* Writes net.yaml (x[3] -> linear 2 -> cross-entropy) with the given
 * optimiser and extra train: keys, loads the file's plugins, then the
 * graph, and plans it on the CPU for training. Returns the load status. */
static fx_status tiny_load(tiny *t, const char *optimizer, const char *train_extra)
{
    memset(t, 0, sizeof *t);
    t->ctx = fxtest_context();
    t->dir = fxtest_tempdir();
    char path[512], text[2048];
    snprintf(path, sizeof path, "%s/net.yaml", t->dir);
    snprintf(text, sizeof text,
             "name: tiny\n"
             "plugins: [%s/optimizers.so]\n"
             "input: {x: [3], label: []}\n"
             "params: {init: {linear: normal:0.5}}\n"
             "layers:\n"
             "  - {name: fc, op: linear, in: x, out_features: 2}\n"
             "losses:\n"
             "  - {op: softmax_cross_entropy, in: [fc, label]}\n"
             "train: {optimizer: %s, lr: 0.05, batch: %d, seed: 3%s%s}\n",
             FX_TEST_PLUGIN_DIR, optimizer, BATCH, train_extra ? ", " : "", train_extra ? train_extra : "");
    fxtest_write_file(path, text);
    /* First pass: the config alone (it names the plugins), as fxrun does. */
    fx_status st = fx_graph_load_yaml(t->ctx, path, NULL, &t->cfg);
    if (st != FX_OK)
        return st;
    for (int i = 0; i < t->cfg.n_plugins; i++)
        ck_assert_msg(fx_context_load_plugin(t->ctx, t->cfg.plugins[i], 0) == FX_OK, "%s", fx_context_error(t->ctx));
    st = fx_graph_load_yaml(t->ctx, path, &t->g, &t->cfg);
    ck_assert_msg(st == FX_OK, "%s", fx_context_error(t->ctx));
    st = fx_graph_plan(t->g, BATCH, FX_MODE_TRAIN, fx_context_cpu_backend(t->ctx));
    ck_assert_msg(st == FX_OK, "%s", fx_context_error(t->ctx));
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(t->g, "x"), inputs), FX_OK);
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(t->g, "label"), labels), FX_OK);
    return FX_OK;
}

static void tiny_free(tiny *t)
{
    fx_graph_destroy(t->g);
    fx_context_destroy(t->ctx);
    fxtest_remove_tree(t->dir);
    free(t->dir);
}

/* The learnable parameters' values and gradients, host copies. */
typedef struct snapshot {
    int n;
    float w[2][8], g[2][8];
    int64_t count[2];
} snapshot;

static snapshot take(fx_graph *g)
{
    snapshot s;
    memset(&s, 0, sizeof s);
    for (int i = 0; i < fx_graph_param_count(g); i++) {
        fx_param p = fx_graph_param_at(g, i);
        if (!p.learnable || p.absent)
            continue;
        ck_assert_int_lt(s.n, 2);
        s.count[s.n] = fx_tensor_numel(p.value);
        ck_assert_int_le(s.count[s.n], 8);
        ck_assert_int_eq(fx_tensor_download(p.value, s.w[s.n]), FX_OK);
        ck_assert_int_eq(fx_tensor_download(p.grad, s.g[s.n]), FX_OK);
        s.n++;
    }
    ck_assert_int_eq(s.n, 2); /* fc.weight [2, 3], fc.bias [2] */
    return s;
}

static float loss_after_forward(fx_graph *g)
{
    float loss = 0;
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    ck_assert_int_eq(fx_graph_loss_total(g, &loss), FX_OK);
    return loss;
}

/* sign_sgd with weight decay 0.1: w' = w - lr * sign(g + 0.1 w), element
 * by element, and over 15 steps the loss of the (fixed) batch falls. */
START_TEST(test_sign_sgd_from_a_plugin_updates_by_the_sign_of_the_gradient)
{
    tiny t;
    ck_assert_int_eq(tiny_load(&t, "sign_sgd", "weight_decay: 0.1"), FX_OK);
    ck_assert_str_eq(t.cfg.train.optimizer, "sign_sgd");
    fx_optimizer *opt = NULL;
    ck_assert_msg(fx_optimizer_create(t.g, &t.cfg.train, &opt) == FX_OK, "%s", fx_context_error(t.ctx));
    ck_assert_int_eq(fx_optimizer_state_count(opt), 0); /* sign_sgd keeps no state */

    float first_loss = loss_after_forward(t.g);
    ck_assert_int_eq(fx_graph_backward(t.g), FX_OK);
    snapshot before = take(t.g);
    const float lr = 0.05f;
    ck_assert_int_eq(fx_optimizer_step(opt, lr), FX_OK);
    snapshot after = take(t.g);
    int moved = 0;
    for (int p = 0; p < 2; p++)
        for (int64_t i = 0; i < before.count[p]; i++) {
            double gi = (double)before.g[p][i] + 0.1 * (double)before.w[p][i];
            double expect = (double)before.w[p][i] - 0.05 * (gi > 0 ? 1.0 : gi < 0 ? -1.0 : 0.0);
            ck_assert_msg(fabs((double)after.w[p][i] - expect) <= 1e-6, "param %d element %d: %.9g, expected %.9g", p,
                          (int)i, (double)after.w[p][i], expect);
            moved += after.w[p][i] != before.w[p][i];
        }
    ck_assert_int_eq(moved, 8); /* every weight has a nonzero gradient here */

    /* Training: the loss of the batch falls. */
    for (int step = 0; step < 14; step++) {
        loss_after_forward(t.g);
        ck_assert_int_eq(fx_graph_backward(t.g), FX_OK);
        ck_assert_int_eq(fx_optimizer_step(opt, lr), FX_OK);
    }
    float last_loss = loss_after_forward(t.g);
    ck_assert_msg(last_loss < 0.7f * first_loss, "loss %g -> %g", (double)first_loss, (double)last_loss);
    ck_assert_int_eq(fx_optimizer_steps(opt), 15);
    fx_optimizer_destroy(opt);
    tiny_free(&t);
}
END_TEST

/* adagrad: one state tensor per parameter, named "<param>.sum", starting
 * at 0.1 (the definition's state_init); two steps against the formula in
 * double. */
START_TEST(test_adagrad_from_a_plugin_keeps_its_state_and_matches_the_formula)
{
    tiny t;
    ck_assert_int_eq(tiny_load(&t, "adagrad", "eps: 1.0e-3"), FX_OK);
    fx_optimizer *opt = NULL;
    ck_assert_msg(fx_optimizer_create(t.g, &t.cfg.train, &opt) == FX_OK, "%s", fx_context_error(t.ctx));
    ck_assert_int_eq(fx_optimizer_state_count(opt), 2);
    const char *name = NULL;
    fx_tensor *sum0 = fx_optimizer_state_at(opt, 0, &name);
    ck_assert_ptr_nonnull(sum0);
    ck_assert_str_eq(name, "fc.weight.sum");
    float init[6];
    ck_assert_int_eq(fx_tensor_download(sum0, init), FX_OK);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(init[i], 0.1f);

    double sum[2][8];
    for (int p = 0; p < 2; p++)
        for (int i = 0; i < 8; i++)
            sum[p][i] = 0.1f;
    const float lr = 0.05f;
    for (int step = 0; step < 2; step++) {
        loss_after_forward(t.g);
        ck_assert_int_eq(fx_graph_backward(t.g), FX_OK);
        snapshot before = take(t.g);
        ck_assert_int_eq(fx_optimizer_step(opt, lr), FX_OK);
        snapshot after = take(t.g);
        for (int p = 0; p < 2; p++)
            for (int64_t i = 0; i < before.count[p]; i++) {
                double gi = before.g[p][i];
                sum[p][i] += gi * gi;
                double expect = before.w[p][i] - (double)lr * gi / (sqrt(sum[p][i]) + 1e-3);
                ck_assert_msg(fabs(after.w[p][i] - expect) <= 1e-6 + 1e-6 * fabs(expect),
                              "step %d param %d element %d: %.9g, expected %.9g", step, p, (int)i,
                              (double)after.w[p][i], expect);
            }
    }
    fx_optimizer_destroy(opt);
    tiny_free(&t);
}
END_TEST

/* A name nobody registered: the graph file loads (plugins may add names),
 * creating the optimiser fails and lists what is registered, the
 * plugin's optimisers among them. */
START_TEST(test_an_unknown_optimiser_lists_the_registered_names)
{
    tiny t;
    ck_assert_int_eq(tiny_load(&t, "rmsprop", NULL), FX_OK);
    fx_optimizer *opt = (fx_optimizer *)&t; /* must be reset to NULL */
    ck_assert_int_eq(fx_optimizer_create(t.g, &t.cfg.train, &opt), FX_ERR_INVALID);
    ck_assert_ptr_null(opt);
    const char *msg = fx_context_error(t.ctx);
    ck_assert_msg(strstr(msg, "unknown optimiser 'rmsprop' in train.optimizer"), "%s", msg);
    ck_assert_msg(strstr(msg, "sgd, adam, sign_sgd, adagrad"), "%s", msg);
    ck_assert_msg(strstr(msg, "--plugin"), "%s", msg);
    tiny_free(&t);
}
END_TEST

/* A name that cannot be an optimiser's is refused where it is written. */
START_TEST(test_a_malformed_optimiser_name_is_refused_at_its_line)
{
    tiny t;
    ck_assert_int_eq(tiny_load(&t, "\"Adam W\"", NULL), FX_ERR_INVALID);
    const char *msg = fx_context_error(t.ctx);
    ck_assert_msg(strstr(msg, "net.yaml:9:") && strstr(msg, "train.optimizer") && strstr(msg, "a-z, 0-9"), "%s", msg);
    fx_context_destroy(t.ctx);
    fxtest_remove_tree(t.dir);
    free(t.dir);
}
END_TEST

/* The plugin brings CPU kernels only: on the ref backend (which has
 * kernels for linear and cross-entropy, and for sgd and adam) sign_sgd
 * fails when the optimiser is created, naming the backend. */
START_TEST(test_an_optimiser_without_a_kernel_for_the_backend_fails_at_creation)
{
    tiny t;
    ck_assert_int_eq(tiny_load(&t, "sign_sgd", NULL), FX_OK);
    ck_assert_msg(fx_context_load_plugin(t.ctx, FX_PLUGIN_BUILD_DIR "/ref.so", 0) == FX_OK, "%s",
                  fx_context_error(t.ctx));
    fx_backend *ref = NULL;
    ck_assert_int_eq(fx_context_create_backend(t.ctx, "ref", &ref), FX_OK);
    ck_assert_msg(fx_graph_plan(t.g, BATCH, FX_MODE_TRAIN, ref) == FX_OK, "%s", fx_context_error(t.ctx));
    fx_optimizer *opt = NULL;
    ck_assert_int_eq(fx_optimizer_create(t.g, &t.cfg.train, &opt), FX_ERR_UNSUPPORTED);
    const char *msg = fx_context_error(t.ctx);
    ck_assert_msg(strstr(msg, "optimiser 'sign_sgd' has no update kernel for backend 'ref'") &&
                      strstr(msg, "kernels for: cpu"),
                  "%s", msg);
    /* fx's own optimisers have ref kernels (plugins/ref). */
    snprintf(t.cfg.train.optimizer, sizeof t.cfg.train.optimizer, "adam");
    ck_assert_msg(fx_optimizer_create(t.g, &t.cfg.train, &opt) == FX_OK, "%s", fx_context_error(t.ctx));
    fx_optimizer_destroy(opt);
    fx_graph_destroy(t.g);
    t.g = NULL;
    fx_context_release_backend(t.ctx, ref);
    tiny_free(&t);
}
END_TEST

/* `fxrun plugins` shows what the plugin registered (the summary). */
START_TEST(test_the_plugin_summary_lists_its_optimisers)
{
    fx_context *ctx = fxtest_context();
    ck_assert_int_eq(fx_context_load_plugin(ctx, FX_TEST_PLUGIN_DIR "/optimizers.so", 0), FX_OK);
    const fx_plugin_summary *s = fx_context_plugin_at(ctx, fx_context_plugin_count(ctx) - 1);
    ck_assert_int_eq(s->n_optimizers, 2);
    ck_assert_str_eq(s->optimizers[0], "sign_sgd");
    ck_assert_str_eq(s->optimizers[1], "adagrad");
    ck_assert_int_eq(s->n_optimizer_kernels, 2);
    ck_assert_str_eq(s->optimizer_kernels[0], "sign_sgd@cpu");
    ck_assert_ptr_nonnull(fx_registry_find_optimizer(fx_context_registry(ctx), "adagrad"));
    fx_context_destroy(ctx);
}
END_TEST

/* Bad definitions are refused with the fix (the registration calls a
 * plugin makes). */
static fx_status no_update(fx_backend *be, fx_tensor *w, const fx_tensor *g, fx_tensor *const *state, int n_state,
                           const fx_optim_hparams *hp)
{
    return FX_OK;
}

START_TEST(test_bad_optimiser_definitions_are_refused)
{
    fx_context *ctx = fxtest_context();
    fx_registry *reg = fx_context_registry(ctx);
    fx_optimizer_def d = { .struct_size = sizeof d, .name = "adam" };
    ck_assert_int_eq(fx_registry_add_optimizer(reg, &d), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "already registered"));
    d.name = "Bad Name";
    ck_assert_int_eq(fx_registry_add_optimizer(reg, &d), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "a-z, 0-9"));
    d.name = "stateful";
    d.n_state = 1; /* without state_names */
    ck_assert_int_eq(fx_registry_add_optimizer(reg, &d), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "state 0 needs a name"));
    d.n_state = 0;
    d.struct_size = 0;
    ck_assert_int_eq(fx_registry_add_optimizer(reg, &d), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "struct_size"));
    ck_assert_int_eq(fx_registry_add_optimizer_kernel(reg, "nosuch", "cpu", no_update), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "register the optimiser first"));
    ck_assert_int_eq(fx_registry_add_optimizer_kernel(reg, "sgd", "cpu", no_update), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "already has an update kernel"));
    ck_assert_int_eq(fx_registry_optimizer_count(reg), 2);
    fx_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plugin_optimizer");
    TCase *tc = tcase_create("optimizer");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sign_sgd_from_a_plugin_updates_by_the_sign_of_the_gradient);
    tcase_add_test(tc, test_adagrad_from_a_plugin_keeps_its_state_and_matches_the_formula);
    tcase_add_test(tc, test_an_unknown_optimiser_lists_the_registered_names);
    tcase_add_test(tc, test_a_malformed_optimiser_name_is_refused_at_its_line);
    tcase_add_test(tc, test_an_optimiser_without_a_kernel_for_the_backend_fails_at_creation);
    tcase_add_test(tc, test_the_plugin_summary_lists_its_optimisers);
    tcase_add_test(tc, test_bad_optimiser_definitions_are_refused);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
