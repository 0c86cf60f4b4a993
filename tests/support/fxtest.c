/* tests/support/fxtest.c - the shared op test harness (see fxtest.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fxtest.h"

fx_context *fxtest_context(void)
{
    fx_context_options o = fx_context_options_default();
    const char *t = getenv("FX_TEST_THREADS");
    o.threads = t ? atoi(t) : 1;
    fx_context *ctx = NULL;
    char err[512];
    if (fx_context_create(&o, &ctx, err, sizeof err) != FX_OK)
        ck_abort_msg("fx_context_create failed: %s", err);
    return ctx;
}

float *fxtest_random(uint64_t seed, int64_t n)
{
    float *x = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    ck_assert_ptr_nonnull(x);
    fx_rng r;
    fx_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++)
        x[i] = fx_rng_next_normal(&r);
    return x;
}

void fxtest_parse_attrs(const char *text, fxtest_attr_store *s)
{
    memset(s, 0, sizeof *s);
    if (!text)
        return;
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        ck_assert_int_lt(s->n, FXTEST_MAX_ATTRS);
        int k = s->n++;
        const char *eq = strchr(p, '=');
        ck_assert_msg(eq != NULL, "attribute text '%s' lacks '='", p);
        snprintf(s->keys[k], 64, "%.*s", (int)(eq - p), p);
        p = eq + 1;
        fx_attr_input *a = &s->attrs[k];
        a->key = s->keys[k];
        a->items = s->ptrs[k];
        if (*p == '[') {
            a->is_list = 1;
            p++;
            while (*p && *p != ']') {
                while (*p == ' ' || *p == ',')
                    p++;
                if (*p == ']')
                    break;
                int len = 0;
                while (p[len] && p[len] != ',' && p[len] != ']' && p[len] != ' ')
                    len++;
                snprintf(s->items[k][a->n_items], 64, "%.*s", len, p);
                s->ptrs[k][a->n_items] = s->items[k][a->n_items];
                a->n_items++;
                p += len;
            }
            if (*p == ']')
                p++;
        } else {
            int len = 0;
            while (p[len] && p[len] != ' ')
                len++;
            snprintf(s->items[k][0], 64, "%.*s", len, p);
            s->ptrs[k][0] = s->items[k][0];
            a->n_items = 1;
            p += len;
        }
    }
}

/* Builds and plans; returns status instead of aborting. */
static fx_status build_graph(fx_context *ctx, const fxtest_case *c, fx_graph **out)
{
    *out = NULL;
    fx_graph *g = NULL;
    fx_status st = fx_graph_create(ctx, "fxtest", &g);
    if (st != FX_OK)
        return st;
    const char *names[FX_MAX_IO];
    for (int i = 0; i < c->n_in && st == FX_OK; i++) {
        const fxtest_input *in = &c->in[i];
        fx_shape per = fx_shape_make(in->shape.ndim - 1, in->shape.dim + 1);
        fx_srcpos pos = { "test.yaml", 1, 1 };
        st = fx_graph_add_input(g, in->name, in->dtype, &per, pos);
        names[i] = in->name;
    }
    fxtest_attr_store store;
    fxtest_parse_attrs(c->attrs, &store);
    fx_node_desc d;
    memset(&d, 0, sizeof d);
    d.name = "node";
    d.op = c->op;
    d.inputs = names;
    d.n_inputs = c->n_in;
    d.attrs = store.attrs;
    d.n_attrs = store.n;
    d.pos = (fx_srcpos){ "test.yaml", 2, 3 };
    if (st == FX_OK)
        st = fx_graph_add_node(g, &d);
    for (int i = 0; i < c->n_in && st == FX_OK && !c->inference; i++)
        if (c->in[i].dtype == FX_F32 && !c->in[i].no_grad)
            st = fx_graph_require_grad(g, c->in[i].name);
    int64_t batch = c->n_in ? c->in[0].shape.dim[0] : 1;
    if (st == FX_OK)
        st = fx_graph_plan(g, batch, c->inference ? FX_MODE_INFER : FX_MODE_TRAIN, NULL);
    /* Inputs' batch dims may differ from in[0]'s only if the op allows;
     * the harness uses in[0]'s batch for all. */
    uint64_t seed = c->seed ? c->seed : 1;
    for (int i = 0; i < c->n_in && st == FX_OK; i++) {
        const fxtest_input *in = &c->in[i];
        fx_tensor *t = fx_graph_value(g, in->name);
        if (in->dtype == FX_I32) {
            ck_assert_msg(in->idata != NULL, "I32 input '%s' needs idata", in->name);
            st = fx_tensor_upload(t, in->idata);
        } else if (in->data) {
            st = fx_tensor_upload(t, in->data);
        } else {
            float *x = fxtest_random(seed * 7919 + (uint64_t)i, fx_tensor_numel(t));
            st = fx_tensor_upload(t, x);
            free(x);
        }
    }
    if (st == FX_OK && c->randomize_params) {
        for (int i = 0; i < fx_graph_param_count(g); i++) {
            fx_param p = fx_graph_param_at(g, i);
            if (!p.value || !p.value->buffer || !p.learnable)
                continue;
            int64_t n = fx_tensor_numel(p.value);
            float *x = fxtest_random(seed * 104729 + (uint64_t)i, n);
            float *cur = malloc((size_t)n * sizeof(float));
            ck_assert_ptr_nonnull(cur);
            fx_tensor_download(p.value, cur);
            for (int64_t j = 0; j < n; j++)
                cur[j] += 0.5f * x[j];
            fx_tensor_upload(p.value, cur);
            free(cur);
            free(x);
        }
    }
    if (st != FX_OK) {
        fx_graph_destroy(g);
        return st;
    }
    *out = g;
    return FX_OK;
}

fx_graph *fxtest_build(fx_context *ctx, const fxtest_case *c)
{
    fx_graph *g = NULL;
    fx_status st = build_graph(ctx, c, &g);
    if (st != FX_OK)
        ck_abort_msg("building op '%s' failed (%s): %s", c->op, fx_status_name(st), fx_context_error(ctx));
    return g;
}

void fxtest_add_node(fx_graph *g, const char *name, const char *op, const char *in0, const char *in1,
                     const char *attr_key, const char *attr_value)
{
    const char *inputs[2] = { in0, in1 };
    const char *items[1] = { attr_value };
    fx_attr_input attr = { attr_key, items, 1, 0, { NULL, 0, 0 } };
    fx_node_desc d;
    memset(&d, 0, sizeof d);
    d.name = name;
    d.op = op;
    d.inputs = inputs;
    d.n_inputs = in1 ? 2 : 1;
    d.attrs = attr_key ? &attr : NULL;
    d.n_attrs = attr_key ? 1 : 0;
    fx_status st = fx_graph_add_node(g, &d);
    ck_assert_msg(st == FX_OK, "adding node %s: %s", name, fx_context_error(fx_graph_context(g)));
}

float *fxtest_forward(fx_context *ctx, const fxtest_case *c, int k, fx_shape *shape)
{
    fx_graph *g = fxtest_build(ctx, c);
    fx_status st = fx_graph_forward(g);
    ck_assert_msg(st == FX_OK, "forward of '%s' failed: %s", c->op, fx_context_error(ctx));
    char name[32];
    if (k == 0)
        snprintf(name, sizeof name, "node");
    else
        snprintf(name, sizeof name, "node:%d", k);
    fx_tensor *t = fx_graph_value(g, name);
    ck_assert_ptr_nonnull(t);
    float *out = malloc(fx_tensor_bytes(t));
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(fx_tensor_download(t, out), FX_OK);
    if (shape)
        *shape = t->shape;
    fx_graph_destroy(g);
    return out;
}

void fxtest_expect_error(fx_context *ctx, const fxtest_case *c, fx_status status, const char *needle)
{
    fx_graph *g = NULL;
    fx_status st = build_graph(ctx, c, &g);
    if (st == FX_OK) {
        st = fx_graph_forward(g);
        fx_graph_destroy(g);
    }
    ck_assert_msg(st == status, "op '%s' (%s): expected status %s, got %s (%s)", c->op, c->attrs ? c->attrs : "",
                  fx_status_name(status), fx_status_name(st), fx_context_error(ctx));
    if (needle)
        ck_assert_msg(strstr(fx_context_error(ctx), needle) != NULL, "error message '%s' lacks '%s'",
                      fx_context_error(ctx), needle);
}

/* L = sum(out0 * R) in double. */
static double objective(fx_graph *g, const float *r, int64_t n)
{
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    fx_tensor *t = fx_graph_value(g, "node");
    float *out = malloc((size_t)n * sizeof(float));
    ck_assert_ptr_nonnull(out);
    fx_tensor_download(t, out);
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)out[i] * r[i];
    free(out);
    return s;
}

static void check_tensor(fx_graph *g, const fxtest_case *c, fx_tensor *value, const float *analytic,
                         const float *r, int64_t n_out, const char *what)
{
    int64_t n = fx_tensor_numel(value);
    double eps = c->eps > 0 ? c->eps : 1e-2;
    double rtol = c->rtol > 0 ? c->rtol : 2e-2;
    double atol = c->atol > 0 ? c->atol : 1e-3;
    int max_checks = c->max_checks > 0 ? c->max_checks : 64;
    float *x = malloc((size_t)n * sizeof(float));
    ck_assert_ptr_nonnull(x);
    fx_tensor_download(value, x);
    fx_rng rng;
    fx_rng_seed(&rng, (c->seed ? c->seed : 1) + 17);
    int checks = n < max_checks ? (int)n : max_checks;
    double worst = 0;
    int64_t worst_i = -1;
    double worst_a = 0, worst_n = 0;
    for (int k = 0; k < checks; k++) {
        int64_t i = n <= max_checks ? k : (int64_t)fx_rng_below(&rng, (uint64_t)n);
        float saved = x[i];
        x[i] = saved + (float)eps;
        fx_tensor_upload(value, x);
        double lp = objective(g, r, n_out);
        x[i] = saved - (float)eps;
        fx_tensor_upload(value, x);
        double lm = objective(g, r, n_out);
        x[i] = saved;
        fx_tensor_upload(value, x);
        double num = (lp - lm) / (2 * eps);
        double ana = analytic[i];
        double err = fabs(ana - num) - (atol + rtol * fmax(fabs(ana), fabs(num)));
        if (worst_i < 0 || err > worst) {
            worst = err;
            worst_i = i;
            worst_a = ana;
            worst_n = num;
        }
    }
    free(x);
    ck_assert_msg(worst <= 0, "op '%s' (%s): gradient of %s at element %lld: analytic %.6g, numeric %.6g",
                  c->op, c->attrs ? c->attrs : "", what, (long long)worst_i, worst_a, worst_n);
}

void fxtest_gradcheck(fx_context *ctx, const fxtest_case *c)
{
    fx_graph *g = fxtest_build(ctx, c);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    fx_tensor *out = fx_graph_value(g, "node");
    int64_t n_out = fx_tensor_numel(out);
    float *r = fxtest_random((c->seed ? c->seed : 1) + 99, n_out);
    ck_assert_int_eq(fx_graph_seed_grad(g, "node", r), FX_OK);
    fx_status st = fx_graph_backward(g);
    ck_assert_msg(st == FX_OK, "backward of '%s' failed: %s", c->op, fx_context_error(ctx));
    /* Snapshot analytic gradients before finite differences rerun forward. */
    for (int i = 0; i < c->n_in; i++) {
        if (c->in[i].dtype != FX_F32 || c->in[i].no_grad)
            continue;
        fx_tensor *v = fx_graph_value(g, c->in[i].name);
        fx_tensor *gr = fx_graph_value_grad(g, c->in[i].name);
        ck_assert_msg(gr != NULL, "input '%s' has no gradient", c->in[i].name);
        float *a = malloc(fx_tensor_bytes(gr));
        ck_assert_ptr_nonnull(a);
        fx_tensor_download(gr, a);
        char what[96];
        snprintf(what, sizeof what, "input '%s'", c->in[i].name);
        check_tensor(g, c, v, a, r, n_out, what);
        free(a);
    }
    for (int i = 0; i < fx_graph_param_count(g); i++) {
        fx_param p = fx_graph_param_at(g, i);
        if (!p.learnable || !p.value || !p.value->buffer || !p.grad)
            continue;
        float *a = malloc(fx_tensor_bytes(p.grad));
        ck_assert_ptr_nonnull(a);
        fx_tensor_download(p.grad, a);
        char what[160];
        snprintf(what, sizeof what, "parameter '%s'", p.name);
        check_tensor(g, c, p.value, a, r, n_out, what);
        free(a);
    }
    free(r);
    fx_graph_destroy(g);
}

float *fxtest_forward_backward_all(int threads, const fxtest_case *c, uint64_t grad_seed, int64_t *count)
{
    fx_context_options o = fx_context_options_default();
    o.threads = threads;
    fx_context *ctx = NULL;
    char err[256];
    ck_assert_int_eq(fx_context_create(&o, &ctx, err, sizeof err), FX_OK);
    fx_graph *g = fxtest_build(ctx, c);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    fx_tensor *y = fx_graph_value(g, "node");
    float *r = fxtest_random(grad_seed, fx_tensor_numel(y));
    ck_assert_int_eq(fx_graph_seed_grad(g, "node", r), FX_OK);
    ck_assert_int_eq(fx_graph_backward(g), FX_OK);
    fx_tensor *parts[1 + FX_MAX_IO + 64];
    int n = 0;
    parts[n++] = y;
    for (int i = 0; i < c->n_in; i++)
        if (c->in[i].dtype == FX_F32 && !c->in[i].no_grad)
            parts[n++] = fx_graph_value_grad(g, c->in[i].name);
    for (int i = 0; i < fx_graph_param_count(g) && n < (int)(sizeof parts / sizeof parts[0]); i++) {
        fx_param p = fx_graph_param_at(g, i);
        if (p.learnable && !p.absent)
            parts[n++] = p.grad;
    }
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_ptr_nonnull(parts[i]);
        total += fx_tensor_numel(parts[i]);
    }
    float *all = malloc(sizeof(float) * (size_t)total);
    ck_assert_ptr_nonnull(all);
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(fx_tensor_download(parts[i], all + at), FX_OK);
        at += fx_tensor_numel(parts[i]);
    }
    *count = total;
    free(r);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
    return all;
}

void fxtest_assert_close(const float *a, const float *b, int64_t n, double rtol, double atol, const char *what)
{
    int64_t worst = -1;
    double worst_err = 0;
    for (int64_t i = 0; i < n; i++) {
        double err = fabs((double)a[i] - b[i]) - (atol + rtol * fabs((double)b[i]));
        if (!(err <= 0) && (worst < 0 || err > worst_err || isnan(err))) {
            worst = i;
            worst_err = isnan(err) ? INFINITY : err;
        }
    }
    ck_assert_msg(worst < 0, "%s: element %lld is %.7g, expected %.7g (rtol %g, atol %g)", what, (long long)worst,
                  worst >= 0 ? a[worst] : 0, worst >= 0 ? b[worst] : 0, rtol, atol);
}

fx_array fxtest_load_npy(fx_context *ctx, const char *folder, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/%s/%s.npy", FX_SOURCE_DIR, folder, name);
    fx_array a;
    ck_assert_msg(fx_npy_read(ctx, path, &a) == FX_OK, "%s", fx_context_error(ctx));
    return a;
}

int fxtest_have_opencl(void)
{
    fx_context *ctx = fxtest_context();
    fx_backend *be = NULL;
    int have = fx_opencl_backend_create(ctx, "opencl", &be) == FX_OK;
    if (have)
        be->ops->destroy(be);
    else
        printf("SKIP: no OpenCL backend: %s\n", fx_context_error(ctx));
    fx_context_destroy(ctx);
    return have;
}

int fxtest_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

void fxtest_perturb_params(fx_graph *g)
{
    for (int i = 0; i < fx_graph_param_count(g); i++) {
        fx_param p = fx_graph_param_at(g, i);
        if (!p.value || !p.value->buffer || !p.learnable)
            continue;
        int64_t n = fx_tensor_numel(p.value);
        float *x = fxtest_random(104729 + (uint64_t)i, n);
        float *cur = malloc((size_t)n * sizeof(float) + 4);
        ck_assert_ptr_nonnull(cur);
        ck_assert_int_eq(fx_tensor_download(p.value, cur), FX_OK);
        for (int64_t j = 0; j < n; j++)
            cur[j] += 0.5f * x[j];
        ck_assert_int_eq(fx_tensor_upload(p.value, cur), FX_OK);
        free(cur);
        free(x);
    }
}
