/* tests/test_optimizer.c - optimisers and learning-rate schedules: SGD
 * (plain, momentum, Nesterov, weight decay) and Adam against
 * straightforward double-precision references over several steps, the
 * state tensors the optimisers keep, their configuration errors, and the
 * exact learning rate of each schedule at its key steps.
 *
 * The optimiser tests write gradients into the planned graph's gradient
 * tensors directly and call fx_optimizer_step, so they test the update
 * arithmetic alone, independent of any op's backward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"

#define IN_FEATURES 5
#define HIDDEN 4
#define CLASSES 3
#define BATCH 2

static fx_srcpos nopos(void)
{
    fx_srcpos p = { NULL, 0, 0 };
    return p;
}

/* x[5] -> fc1 (linear 4) -> bn1 (batchnorm) -> fc2 (linear 3) -> CE(label).
 * Learnable: fc1.weight, fc1.bias, bn1.weight, bn1.bias, fc2.weight,
 * fc2.bias; not learnable: bn1.running_mean, bn1.running_var. */
static fx_graph *build_net(fx_context *ctx, fx_mode mode)
{
    fx_graph *g = NULL;
    ck_assert_int_eq(fx_graph_create(ctx, "optnet", &g), FX_OK);
    fx_shape xs = fx_shape_1d(IN_FEATURES);
    fx_shape ls;
    memset(&ls, 0, sizeof ls);
    ck_assert_int_eq(fx_graph_add_input(g, "x", FX_F32, &xs, nopos()), FX_OK);
    ck_assert_int_eq(fx_graph_add_input(g, "label", FX_I32, &ls, nopos()), FX_OK);
    fxtest_add_node(g, "fc1", "linear", "x", NULL, "out_features", "4");
    fxtest_add_node(g, "bn1", "batchnorm", "fc1", NULL, NULL, NULL);
    fxtest_add_node(g, "fc2", "linear", "bn1", NULL, "out_features", "3");
    fxtest_add_node(g, "loss", "softmax_cross_entropy", "fc2", "label", NULL, NULL);
    ck_assert_int_eq(fx_graph_add_loss(g, "loss", 1.0f, nopos()), FX_OK);
    fx_status st = fx_graph_plan(g, BATCH, mode, fx_context_cpu_backend(ctx));
    ck_assert_msg(st == FX_OK, "planning: %s", fx_context_error(ctx));
    return g;
}

static fx_train_config base_config(const char *optimizer)
{
    fx_train_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.optimizer, sizeof c.optimizer, "%s", optimizer);
    c.lr = 0.1f;
    c.beta1 = 0.9f;
    c.beta2 = 0.999f;
    c.eps = 1e-8f;
    c.gamma = 0.1f;
    return c;
}

/* Host copy of a tensor (malloc'd floats). */
static float *download(const fx_tensor *t)
{
    float *h = malloc(fx_tensor_bytes(t) + 4);
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(fx_tensor_download(t, h), FX_OK);
    return h;
}

/* Gradient of step `step` for parameter `index`: seeded normal values,
 * every third element scaled down by 1e-4 so that eps matters in Adam's
 * denominator (a wrong eps correction then shows). */
static float *make_grad(int index, int step, int64_t n)
{
    float *gr = fxtest_random(1000u + (uint64_t)index * 97u + (uint64_t)step, n);
    for (int64_t i = 0; i < n; i += 3)
        gr[i] *= 1e-4f;
    return gr;
}

/* Reference state of one parameter, in double. */
typedef struct ref_param {
    int index;
    int64_t n;
    double *w, *s1, *s2; /* s1 = velocity or m, s2 = v */
} ref_param;

typedef enum ref_kind { REF_SGD, REF_ADAM } ref_kind;

static int collect_learnable(fx_graph *g, ref_param *refs, int max)
{
    int n = 0;
    for (int i = 0; i < fx_graph_param_count(g); i++) {
        fx_param p = fx_graph_param_at(g, i);
        if (!p.learnable)
            continue;
        ck_assert_int_lt(n, max);
        ref_param *r = &refs[n++];
        r->index = i;
        r->n = fx_tensor_numel(p.value);
        r->w = calloc((size_t)r->n, sizeof(double));
        r->s1 = calloc((size_t)r->n, sizeof(double));
        r->s2 = calloc((size_t)r->n, sizeof(double));
        ck_assert(r->w && r->s1 && r->s2);
        float *w = download(p.value);
        for (int64_t k = 0; k < r->n; k++)
            r->w[k] = w[k];
        free(w);
    }
    return n;
}

/* Runs `steps` updates of the fx optimiser and of the textbook reference
 * with the same gradients and per-step learning rates, then compares every
 * learnable parameter (and the state tensors) with rtol/atol. */
static void run_against_reference(const fx_train_config *cfg, ref_kind kind, int steps, double rtol, double atol)
{
    fx_context *ctx = fxtest_context();
    fx_graph *g = build_net(ctx, FX_MODE_TRAIN);
    fx_optimizer *opt = NULL;
    fx_status st = fx_optimizer_create(g, cfg, &opt);
    ck_assert_msg(st == FX_OK, "fx_optimizer_create: %s", fx_context_error(ctx));
    ref_param refs[16];
    int n_refs = collect_learnable(g, refs, 16);
    ck_assert_int_eq(n_refs, 6);

    const double mu = cfg->momentum, wd = cfg->weight_decay, b1 = cfg->beta1, b2 = cfg->beta2, eps = cfg->eps;
    for (int s = 0; s < steps; s++) {
        float lr = cfg->lr * (1.0f - 0.1f * (float)s); /* changes every step, as a schedule would */
        for (int r = 0; r < n_refs; r++) {
            fx_param p = fx_graph_param_at(g, refs[r].index);
            float *gr = make_grad(r, s, refs[r].n);
            ck_assert_int_eq(fx_tensor_upload(p.grad, gr), FX_OK);
            const int t = s + 1;
            for (int64_t k = 0; k < refs[r].n; k++) {
                double gk = (double)gr[k] + wd * refs[r].w[k];
                double *w = &refs[r].w[k], *s1 = &refs[r].s1[k], *s2 = &refs[r].s2[k];
                if (kind == REF_ADAM) {
                    /* Textbook Adam (Kingma & Ba, Algorithm 1). */
                    *s1 = b1 * *s1 + (1.0 - b1) * gk;
                    *s2 = b2 * *s2 + (1.0 - b2) * gk * gk;
                    double m_hat = *s1 / (1.0 - pow(b1, t));
                    double v_hat = *s2 / (1.0 - pow(b2, t));
                    *w -= (double)lr * m_hat / (sqrt(v_hat) + eps);
                } else {
                    *s1 = mu * *s1 + gk;
                    *w -= (double)lr * (cfg->nesterov ? gk + mu * *s1 : *s1);
                }
            }
            free(gr);
        }
        st = fx_optimizer_step(opt, lr);
        ck_assert_msg(st == FX_OK, "fx_optimizer_step: %s", fx_context_error(ctx));
        ck_assert_int_eq(fx_optimizer_steps(opt), s + 1);
    }

    for (int r = 0; r < n_refs; r++) {
        fx_param p = fx_graph_param_at(g, refs[r].index);
        float *w = download(p.value);
        float *want = malloc((size_t)refs[r].n * sizeof(float));
        ck_assert_ptr_nonnull(want);
        for (int64_t k = 0; k < refs[r].n; k++)
            want[k] = (float)refs[r].w[k];
        char what[160];
        snprintf(what, sizeof what, "%s after %d steps", p.name, steps);
        fxtest_assert_close(w, want, refs[r].n, rtol, atol, what);
        free(w);
        free(want);
    }
    /* The state tensors hold the unscaled moments / velocity. */
    for (int i = 0; i < fx_optimizer_state_count(opt); i++) {
        const char *name;
        fx_tensor *t = fx_optimizer_state_at(opt, i, &name);
        int per = kind == REF_ADAM ? 2 : 1;
        ref_param *r = &refs[i / per];
        const double *ref = (i % per) ? r->s2 : r->s1;
        float *h = download(t);
        float *want = malloc((size_t)r->n * sizeof(float));
        ck_assert_ptr_nonnull(want);
        for (int64_t k = 0; k < r->n; k++)
            want[k] = (float)ref[k];
        fxtest_assert_close(h, want, r->n, 1e-4, 1e-9, name);
        free(h);
        free(want);
    }
    for (int r = 0; r < n_refs; r++) {
        free(refs[r].w);
        free(refs[r].s1);
        free(refs[r].s2);
    }
    fx_optimizer_destroy(opt);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}

START_TEST(test_adam_folded_update_equals_textbook_adam_over_several_steps)
{
    fx_train_config c = base_config("adam");
    c.lr = 0.01f;
    run_against_reference(&c, REF_ADAM, 6, 1e-5, 2e-6);
}
END_TEST

START_TEST(test_adam_equals_textbook_with_large_eps_and_weight_decay)
{
    /* eps comparable to sqrt(v) of the small gradients: only the folded
     * eps_t = eps*sqrt(1-b2^t) reproduces the textbook denominators. */
    fx_train_config c = base_config("adam");
    c.lr = 0.01f;
    c.beta1 = 0.5f; /* the paper's setting */
    c.eps = 1e-3f;
    c.weight_decay = 0.01f;
    run_against_reference(&c, REF_ADAM, 6, 1e-5, 2e-6);
}
END_TEST

START_TEST(test_sgd_without_momentum_matches_reference)
{
    fx_train_config c = base_config("sgd");
    c.weight_decay = 0.05f;
    run_against_reference(&c, REF_SGD, 4, 1e-5, 1e-6);
}
END_TEST

START_TEST(test_sgd_momentum_matches_reference_over_several_steps)
{
    fx_train_config c = base_config("sgd");
    c.momentum = 0.9f;
    c.weight_decay = 1e-3f;
    run_against_reference(&c, REF_SGD, 5, 1e-5, 1e-6);
}
END_TEST

START_TEST(test_sgd_nesterov_matches_reference_over_several_steps)
{
    fx_train_config c = base_config("sgd");
    c.momentum = 0.8f;
    c.nesterov = 1;
    c.weight_decay = 1e-2f;
    run_against_reference(&c, REF_SGD, 5, 1e-5, 1e-6);
}
END_TEST

START_TEST(test_adam_first_update_moves_each_weight_by_lr)
{
    /* At t = 1 bias-corrected Adam moves every weight by lr * g/(|g| + eps):
     * lr for large gradients, whatever their scale. A missing correction
     * would move by lr * sqrt(1-b2)/(1-b1) ~ 0.32 lr instead. */
    fx_context *ctx = fxtest_context();
    fx_graph *g = build_net(ctx, FX_MODE_TRAIN);
    fx_train_config c = base_config("adam");
    c.lr = 0.5f;
    fx_optimizer *opt = NULL;
    ck_assert_int_eq(fx_optimizer_create(g, &c, &opt), FX_OK);
    fx_param p = fx_graph_param_at(g, 0);
    ck_assert_str_eq(p.name, "fc1.weight");
    int64_t n = fx_tensor_numel(p.value);
    float *before = download(p.value);
    float *gr = malloc((size_t)n * sizeof(float));
    ck_assert_ptr_nonnull(gr);
    for (int64_t k = 0; k < n; k++)
        gr[k] = (k % 2 ? 1.0f : -1.0f) * (float)(k + 1) * 10.0f;
    for (int i = 0; i < fx_graph_param_count(g); i++) {
        fx_param q = fx_graph_param_at(g, i);
        if (q.grad)
            ck_assert_int_eq(fx_tensor_zero(q.grad), FX_OK);
    }
    ck_assert_int_eq(fx_tensor_upload(p.grad, gr), FX_OK);
    ck_assert_int_eq(fx_optimizer_step(opt, c.lr), FX_OK);
    float *after = download(p.value);
    for (int64_t k = 0; k < n; k++) {
        float expect = before[k] - (gr[k] > 0 ? c.lr : -c.lr);
        ck_assert_msg(fabsf(after[k] - expect) < 1e-5f, "element %lld: %g, expected %g", (long long)k,
                      (double)after[k], (double)expect);
    }
    free(before);
    free(after);
    free(gr);
    fx_optimizer_destroy(opt);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_adam_keeps_zeroed_m_and_v_for_learnable_params_only)
{
    fx_context *ctx = fxtest_context();
    fx_graph *g = build_net(ctx, FX_MODE_TRAIN);
    fx_train_config c = base_config("adam");
    fx_optimizer *opt = NULL;
    ck_assert_int_eq(fx_optimizer_create(g, &c, &opt), FX_OK);
    static const char *const expected[] = {
        "fc1.weight.m", "fc1.weight.v", "fc1.bias.m", "fc1.bias.v", "bn1.weight.m", "bn1.weight.v",
        "bn1.bias.m",   "bn1.bias.v",   "fc2.weight.m", "fc2.weight.v", "fc2.bias.m", "fc2.bias.v",
    };
    ck_assert_int_eq(fx_optimizer_state_count(opt), 12);
    for (int i = 0; i < 12; i++) {
        const char *name = NULL;
        fx_tensor *t = fx_optimizer_state_at(opt, i, &name);
        ck_assert_ptr_nonnull(t);
        ck_assert_str_eq(name, expected[i]);
        /* shaped like its parameter, on the parameter's backend, zeroed */
        char pname[128];
        snprintf(pname, sizeof pname, "%.*s", (int)(strrchr(name, '.') - name), name);
        fx_param p;
        ck_assert_ptr_nonnull(fx_graph_find_param(g, pname, &p));
        ck_assert(fx_shape_equal(&t->shape, &p.value->shape));
        ck_assert_ptr_eq(t->buffer->backend, p.value->buffer->backend);
        float *h = download(t);
        for (int64_t k = 0; k < fx_tensor_numel(t); k++)
            ck_assert_float_eq(h[k], 0.0f);
        free(h);
    }
    ck_assert_ptr_null(fx_optimizer_state_at(opt, 12, NULL));
    ck_assert_ptr_null(fx_optimizer_state_at(opt, -1, NULL));
    ck_assert_int_eq(fx_optimizer_steps(opt), 0);
    fx_optimizer_set_steps(opt, 41);
    ck_assert_int_eq(fx_optimizer_steps(opt), 41);
    fx_optimizer_destroy(opt);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_sgd_state_is_one_velocity_per_learnable_param)
{
    fx_context *ctx = fxtest_context();
    fx_graph *g = build_net(ctx, FX_MODE_TRAIN);
    fx_train_config c = base_config("sgd");
    fx_optimizer *opt = NULL;
    ck_assert_int_eq(fx_optimizer_create(g, &c, &opt), FX_OK);
    /* plain SGD too: the backend contract passes a velocity to every update */
    ck_assert_int_eq(fx_optimizer_state_count(opt), 6);
    fx_optimizer_destroy(opt);
    c.momentum = 0.9f;
    ck_assert_int_eq(fx_optimizer_create(g, &c, &opt), FX_OK);
    ck_assert_int_eq(fx_optimizer_state_count(opt), 6);
    const char *name = NULL;
    ck_assert_ptr_nonnull(fx_optimizer_state_at(opt, 5, &name));
    ck_assert_str_eq(name, "fc2.bias.velocity");
    fx_optimizer_destroy(opt);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

static void expect_create_error(fx_context *ctx, fx_graph *g, const fx_train_config *c, fx_status status,
                                const char *needle)
{
    fx_optimizer *opt = (fx_optimizer *)(uintptr_t)1;
    fx_context_clear_error(ctx);
    fx_status st = fx_optimizer_create(g, c, &opt);
    ck_assert_int_eq(st, status);
    ck_assert_ptr_null(opt);
    ck_assert_msg(strstr(fx_context_error(ctx), needle) != NULL, "message '%s' lacks '%s'",
                  fx_context_error(ctx), needle);
}

START_TEST(test_optimizer_create_rejects_bad_settings_with_a_named_fix)
{
    fx_context *ctx = fxtest_context();
    fx_graph *g = build_net(ctx, FX_MODE_TRAIN);
    fx_train_config c = base_config("rmsprop");
    expect_create_error(ctx, g, &c, FX_ERR_INVALID, "unknown optimiser 'rmsprop'");
    c = base_config("sgd");
    c.nesterov = 1;
    expect_create_error(ctx, g, &c, FX_ERR_INVALID, "nesterov needs a momentum > 0");
    c = base_config("sgd");
    c.momentum = 1.0f;
    expect_create_error(ctx, g, &c, FX_ERR_INVALID, "momentum must be in [0, 1)");
    c = base_config("adam");
    c.beta2 = 1.5f;
    expect_create_error(ctx, g, &c, FX_ERR_INVALID, "beta2");
    c = base_config("adam");
    c.eps = 0.0f;
    expect_create_error(ctx, g, &c, FX_ERR_INVALID, "eps");
    c = base_config("adam");
    c.weight_decay = -1.0f;
    expect_create_error(ctx, g, &c, FX_ERR_INVALID, "weight_decay");

    /* a valid optimiser refuses a nonsensical learning rate */
    c = base_config("adam");
    fx_optimizer *opt = NULL;
    ck_assert_int_eq(fx_optimizer_create(g, &c, &opt), FX_OK);
    ck_assert_int_eq(fx_optimizer_step(opt, NAN), FX_ERR_INVALID);
    ck_assert_int_eq(fx_optimizer_step(opt, -1.0f), FX_ERR_INVALID);
    ck_assert_int_eq(fx_optimizer_steps(opt), 0);
    fx_optimizer_destroy(opt);
    fx_graph_destroy(g);

    /* a graph planned for inference has no gradients to apply */
    g = build_net(ctx, FX_MODE_INFER);
    c = base_config("sgd");
    expect_create_error(ctx, g, &c, FX_ERR_INVALID, "training mode");
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

/* ---- schedules ------------------------------------------------------- */

static void expect_lr(const fx_train_config *c, int64_t step, int64_t spe, int64_t total, double want)
{
    float got = fx_lr_at(c, step, spe, total);
    ck_assert_msg(fabs((double)got - want) <= 1e-7 * fabs(want) + 1e-12,
                  "schedule %d at step %lld: got %.9g, expected %.9g", (int)c->schedule, (long long)step,
                  (double)got, want);
}

START_TEST(test_constant_schedule_keeps_lr)
{
    fx_train_config c = base_config("sgd");
    c.lr = 0.05f;
    expect_lr(&c, 0, 10, 100, 0.05f);
    expect_lr(&c, 99, 10, 100, 0.05f);
    expect_lr(&c, 1000000, 10, 100, 0.05f);
}
END_TEST

START_TEST(test_warmup_ramps_linearly_from_lr_over_warmup_to_lr)
{
    fx_train_config c = base_config("sgd");
    c.lr = 0.1f;
    c.warmup_steps = 4;
    expect_lr(&c, 0, 10, 100, 0.1f * 0.25);
    expect_lr(&c, 1, 10, 100, 0.1f * 0.5);
    expect_lr(&c, 2, 10, 100, 0.1f * 0.75);
    expect_lr(&c, 3, 10, 100, 0.1f);
    expect_lr(&c, 4, 10, 100, 0.1f);
    expect_lr(&c, 50, 10, 100, 0.1f);
}
END_TEST

START_TEST(test_step_schedule_multiplies_by_gamma_every_step_epochs)
{
    fx_train_config c = base_config("sgd");
    c.schedule = FX_SCHEDULE_STEP;
    c.lr = 0.1f;
    c.gamma = 0.5f;
    c.step_epochs = 2;
    /* 10 steps per epoch: steps 0-19 are epochs 0-1 */
    expect_lr(&c, 0, 10, 1000, 0.1f);
    expect_lr(&c, 19, 10, 1000, 0.1f);
    expect_lr(&c, 20, 10, 1000, 0.1f * 0.5);
    expect_lr(&c, 39, 10, 1000, 0.1f * 0.5);
    expect_lr(&c, 40, 10, 1000, 0.1f * 0.25);
    expect_lr(&c, 65, 10, 1000, 0.1f * 0.125);
    /* no epoch length known: no decay */
    expect_lr(&c, 65, 0, 1000, 0.1f);
}
END_TEST

START_TEST(test_cosine_schedule_goes_from_lr_to_min_lr_after_warmup)
{
    fx_train_config c = base_config("adam");
    c.schedule = FX_SCHEDULE_COSINE;
    c.lr = 0.1f;
    c.min_lr = 0.001f;
    c.warmup_steps = 10;
    const double lr = c.lr, lo = c.min_lr;
    expect_lr(&c, 0, 7, 110, lr / 10);       /* warm-up at full cosine factor */
    expect_lr(&c, 4, 7, 110, lr * 5 / 10);
    expect_lr(&c, 9, 7, 110, lr);
    expect_lr(&c, 10, 7, 110, lr);            /* cosine starts */
    expect_lr(&c, 35, 7, 110, lo + (lr - lo) * 0.5 * (1 + cos(M_PI / 4)));
    expect_lr(&c, 60, 7, 110, (lr + lo) / 2); /* half way */
    expect_lr(&c, 85, 7, 110, lo + (lr - lo) * 0.5 * (1 + cos(3 * M_PI / 4)));
    expect_lr(&c, 110, 7, 110, lo);
    expect_lr(&c, 500, 7, 110, lo);           /* stays at the floor */
    c.warmup_steps = 0;
    expect_lr(&c, 0, 7, 100, lr);
    expect_lr(&c, 50, 7, 100, (lr + lo) / 2);
    expect_lr(&c, 100, 7, 100, lo);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("optimizer");
    TCase *tc = tcase_create("optimizer");
    tcase_add_test(tc, test_adam_folded_update_equals_textbook_adam_over_several_steps);
    tcase_add_test(tc, test_adam_equals_textbook_with_large_eps_and_weight_decay);
    tcase_add_test(tc, test_sgd_without_momentum_matches_reference);
    tcase_add_test(tc, test_sgd_momentum_matches_reference_over_several_steps);
    tcase_add_test(tc, test_sgd_nesterov_matches_reference_over_several_steps);
    tcase_add_test(tc, test_adam_first_update_moves_each_weight_by_lr);
    tcase_add_test(tc, test_adam_keeps_zeroed_m_and_v_for_learnable_params_only);
    tcase_add_test(tc, test_sgd_state_is_one_velocity_per_learnable_param);
    tcase_add_test(tc, test_optimizer_create_rejects_bad_settings_with_a_named_fix);
    suite_add_tcase(s, tc);
    TCase *ts = tcase_create("schedule");
    tcase_add_test(ts, test_constant_schedule_keeps_lr);
    tcase_add_test(ts, test_warmup_ramps_linearly_from_lr_over_warmup_to_lr);
    tcase_add_test(ts, test_step_schedule_multiplies_by_gamma_every_step_epochs);
    tcase_add_test(ts, test_cosine_schedule_goes_from_lr_to_min_lr_after_warmup);
    suite_add_tcase(s, ts);
    return fxtest_run_suite(s);
}
