/* tests/opencl_parity.h - CPU vs OpenCL parity harness shared by the
 * tests/test_opencl_*.c executables (header-only: the test glob compiles
 * only test_*.c and support/).
 *
 * A case is one op node with inputs; it is built twice in one context,
 * planned for training (or inference) once on the CPU backend and once on
 * an OpenCL backend, given the same inputs, parameters (the same seeded
 * initialisation, plus a seeded perturbation so BN gamma != 1) and the
 * same output gradient R, and every output, input gradient, parameter
 * gradient and non-learnable parameter (BN running statistics) is compared:
 *   max_i |ocl_i - cpu_i| <= atol + rtol * max_i |cpu_i|
 * (scale-relative: GEMMs sum in a different order on each backend).
 *
 * Without OpenCL in the build, or without a device, ocltest_backend()
 * returns NULL after printing why, and tests return early (pass). */
#ifndef FX_TEST_OPENCL_PARITY_H
#define FX_TEST_OPENCL_PARITY_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"
#include "fx/opencl.h"

typedef struct ocltest_case {
    const char *op;
    const char *attrs;           /* "k=v k2=[1,2]" */
    int n_in;
    fxtest_input in[FX_MAX_IO];  /* data NULL: seeded normal values */
    int inference;
    int no_backward;
    double rtol, atol;           /* 0: 1e-5, 1e-6 */
} ocltest_case;

/* Creates the OpenCL backend from $FX_TEST_OPENCL (default "opencl"), or
 * prints why not and returns NULL. */
static inline fx_backend *ocltest_backend(fx_context *ctx)
{
    const char *spec = getenv("FX_TEST_OPENCL");
    fx_backend *be = NULL;
    if (fx_opencl_backend_create(ctx, spec ? spec : "opencl", &be) != FX_OK) {
        printf("SKIP: no OpenCL backend: %s\n", fx_context_error(ctx));
        fx_context_clear_error(ctx);
        return NULL;
    }
    return be;
}

/* The context and OpenCL backend of the current test, as file-level
 * `ctx` and `ocl` (each Check test runs in its own process):
 * setup_backend() returns 0 (after printing why) when there is no device,
 * teardown_backend() frees both. Expand once per test file. */
#define OCLTEST_BACKEND_FIXTURE                 \
    static fx_context *ctx;                     \
    static fx_backend *ocl;                     \
    static int setup_backend(void)              \
    {                                           \
        ctx = fxtest_context();                 \
        ocl = ocltest_backend(ctx);             \
        return ocl != NULL;                     \
    }                                           \
    static void teardown_backend(void)          \
    {                                           \
        if (ocl)                                \
            ocl->ops->destroy(ocl);             \
        fx_context_destroy(ctx);                \
        ocl = NULL;                             \
    }

#define OCLTEST_MAX_RESULTS 24
typedef struct ocltest_result {
    int n;
    char what[OCLTEST_MAX_RESULTS][96];
    float *data[OCLTEST_MAX_RESULTS];
    int64_t count[OCLTEST_MAX_RESULTS];
} ocltest_result;

static inline void ocltest_keep(ocltest_result *r, const char *what, fx_tensor *t)
{
    ck_assert_int_lt(r->n, OCLTEST_MAX_RESULTS);
    int k = r->n++;
    snprintf(r->what[k], sizeof r->what[k], "%s", what);
    r->count[k] = fx_tensor_numel(t);
    r->data[k] = malloc(fx_tensor_bytes(t) + 4);
    ck_assert_ptr_nonnull(r->data[k]);
    ck_assert_int_eq(fx_tensor_download(t, r->data[k]), FX_OK);
    if (t->dtype == FX_I32) /* compare indices as floats */
        for (int64_t i = 0; i < r->count[k]; i++)
            r->data[k][i] = (float)((int32_t *)(void *)r->data[k])[i];
}

static inline void ocltest_free(ocltest_result *r)
{
    for (int k = 0; k < r->n; k++)
        free(r->data[k]);
    r->n = 0;
}

/* Builds, plans on `be` (NULL = CPU), runs forward (+ backward) and keeps
 * every tensor worth comparing. */
static inline void ocltest_run(fx_context *ctx, const ocltest_case *c, fx_backend *be, ocltest_result *r)
{
    memset(r, 0, sizeof *r);
    fx_graph *g = NULL;
    ck_assert_int_eq(fx_graph_create(ctx, "ocltest", &g), FX_OK);
    const char *names[FX_MAX_IO];
    for (int i = 0; i < c->n_in; i++) {
        fx_shape per = fx_shape_make(c->in[i].shape.ndim - 1, c->in[i].shape.dim + 1);
        fx_srcpos pos = { "test.yaml", 1, 1 };
        ck_assert_int_eq(fx_graph_add_input(g, c->in[i].name, c->in[i].dtype, &per, pos), FX_OK);
        names[i] = c->in[i].name;
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
    fx_status st = fx_graph_add_node(g, &d);
    ck_assert_msg(st == FX_OK, "adding %s: %s", c->op, fx_context_error(ctx));
    int train = !c->inference;
    if (!train)
        ck_assert_int_eq(fx_graph_keep(g, "node"), FX_OK);
    for (int i = 0; i < c->n_in && train; i++)
        if (c->in[i].dtype == FX_F32 && !c->in[i].no_grad)
            ck_assert_int_eq(fx_graph_require_grad(g, c->in[i].name), FX_OK);
    st = fx_graph_plan(g, c->in[0].shape.dim[0], train ? FX_MODE_TRAIN : FX_MODE_INFER, be);
    ck_assert_msg(st == FX_OK, "planning %s (%s) on %s: %s", c->op, c->attrs ? c->attrs : "",
                  be ? be->name : "cpu", fx_context_error(ctx));
    for (int i = 0; i < c->n_in; i++) {
        fx_tensor *t = fx_graph_value(g, c->in[i].name);
        if (c->in[i].dtype == FX_I32) {
            st = fx_tensor_upload(t, c->in[i].idata);
        } else if (c->in[i].data) {
            st = fx_tensor_upload(t, c->in[i].data);
        } else {
            float *x = fxtest_random(7919 + (uint64_t)i, fx_tensor_numel(t));
            st = fx_tensor_upload(t, x);
            free(x);
        }
        ck_assert_int_eq(st, FX_OK);
    }
    fxtest_perturb_params(g);
    st = fx_graph_forward(g);
    ck_assert_msg(st == FX_OK, "forward of %s on %s: %s", c->op, be ? be->name : "cpu", fx_context_error(ctx));
    const fx_node *node = fx_graph_find_node(g, "node");
    ck_assert_ptr_nonnull(node);
    const fx_op_def *def = fx_registry_find_op(fx_context_registry(ctx), c->op);
    for (int k = 0; k < def->n_outputs; k++) {
        char name[32], what[64];
        snprintf(name, sizeof name, k ? "node:%d" : "node", k);
        snprintf(what, sizeof what, "output %d", k);
        ocltest_keep(r, what, fx_graph_value(g, name));
    }
    if (train && !c->no_backward) {
        fx_tensor *out = fx_graph_value(g, "node");
        float *rr = fxtest_random(99, fx_tensor_numel(out));
        ck_assert_int_eq(fx_graph_seed_grad(g, "node", rr), FX_OK);
        free(rr);
        st = fx_graph_backward(g);
        ck_assert_msg(st == FX_OK, "backward of %s on %s: %s", c->op, be ? be->name : "cpu", fx_context_error(ctx));
        for (int i = 0; i < c->n_in; i++) {
            if (c->in[i].dtype != FX_F32 || c->in[i].no_grad)
                continue;
            char what[96];
            snprintf(what, sizeof what, "gradient of input '%s'", c->in[i].name);
            ocltest_keep(r, what, fx_graph_value_grad(g, c->in[i].name));
        }
    }
    for (int i = 0; i < fx_graph_param_count(g); i++) {
        fx_param p = fx_graph_param_at(g, i);
        if (!p.value || !p.value->buffer)
            continue;
        char what[96];
        if (p.learnable && p.grad && train && !c->no_backward) {
            snprintf(what, sizeof what, "gradient of %s", p.name);
            ocltest_keep(r, what, p.grad);
        } else if (!p.learnable) {
            snprintf(what, sizeof what, "state %s", p.name);
            ocltest_keep(r, what, p.value);
        }
    }
    fx_graph_destroy(g);
}

/* Runs `c` on both backends and compares; returns the worst error
 * relative to each tensor's scale (for the report). */
static inline double ocltest_parity(fx_context *ctx, fx_backend *be, const ocltest_case *c)
{
    double rtol = c->rtol > 0 ? c->rtol : 1e-5, atol = c->atol > 0 ? c->atol : 1e-6;
    ocltest_result ref, got;
    ocltest_run(ctx, c, NULL, &ref);
    ocltest_run(ctx, c, be, &got);
    ck_assert_int_eq(ref.n, got.n);
    double worst_rel = 0;
    for (int k = 0; k < ref.n; k++) {
        ck_assert_int_eq(ref.count[k], got.count[k]);
        double scale = 0, worst = 0;
        int64_t worst_i = 0;
        for (int64_t i = 0; i < ref.count[k]; i++)
            scale = fmax(scale, fabs(ref.data[k][i]));
        for (int64_t i = 0; i < ref.count[k]; i++) {
            double e = fabs((double)got.data[k][i] - ref.data[k][i]);
            if (!(e <= worst) || isnan(e)) {
                worst = isnan(e) ? INFINITY : e;
                worst_i = i;
            }
        }
        ck_assert_msg(worst <= atol + rtol * scale,
                      "%s (%s): %s differs at element %lld: opencl %.8g, cpu %.8g (scale %.4g, rtol %g, atol %g)",
                      c->op, c->attrs ? c->attrs : "", ref.what[k], (long long)worst_i, got.data[k][worst_i],
                      ref.data[k][worst_i], scale, rtol, atol);
        double rel = scale > 0 ? worst / scale : worst;
        if (rel > worst_rel)
            worst_rel = rel;
    }
    if (getenv("FX_TEST_VERBOSE"))
        printf("parity %-22s %-40s worst error / scale = %.3g\n", c->op, c->attrs ? c->attrs : "", worst_rel);
    ocltest_free(&ref);
    ocltest_free(&got);
    return worst_rel;
}

/* Shorthand for a one-input f32 case. */
static inline ocltest_case ocltest_unary(const char *op, const char *attrs, fx_shape shape)
{
    ocltest_case c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.attrs = attrs;
    c.n_in = 1;
    c.in[0].name = "x";
    c.in[0].shape = shape;
    c.in[0].dtype = FX_F32;
    return c;
}

#endif
