/* tests/test_backend_ops.c - the op x backend matrix (in the spirit of
 * ggml's test-backend-ops): every kernel registered for every backend
 * that can be created here is run on a table of cases and compared with
 * the CPU backend, forward and backward.
 *
 * The backends are the ones the backend table lists (the CPU, OpenCL when
 * a device exists - PoCL in CI -, and every plugin backend: the example
 * plugins `ref` and `prelu`, and the test plugin adding the sign_sgd and
 * adagrad optimisers, tests/plugins/optimizers.c, are loaded first); the
 * kernels are found by asking the registry, op by op and optimiser by
 * optimiser, whether the backend has one. Nothing here lists which
 * kernels to expect: an op kernel registered for any backend (the CPU's
 * included) whose op has no case in the table, or an optimiser update
 * kernel whose optimiser has no case in optimizer_cases, fails the matrix
 * (naming it as name@backend), so a new op, optimiser or backend kernel
 * cannot go unchecked.
 *
 * A case is one op node with its inputs (shapes include the batch), built
 * once per backend in one context: the same seeded inputs, the same
 * initial parameters (the graph seed) plus a seeded perturbation (so BN's
 * gamma != 1), the same random output gradient R. Compared: every output,
 * every input and parameter gradient, and non-learnable parameters (BN's
 * running statistics), as
 *   max_i |b_i - cpu_i| <= atol + rtol * max_i |cpu_i|
 * (relative to each tensor's scale: sums run in other orders on other
 * backends). Where a backend registers a forward kernel only, the case
 * runs in inference mode there. Each optimiser update kernel runs the
 * cases of its optimiser (three steps of a linear layer planned on the
 * backend) and the parameters and optimiser state are compared the same
 * way; a kernel whose optimiser has no CPU kernel fails, there being
 * nothing to compare it with. The CPU kernels are the reference; their
 * gradients are checked by finite differences in tests/test_op_*.c, and
 * numerically specific OpenCL checks (both kernel styles, the paper ops'
 * kernel variants and edge cases, whole graphs) stay in test_opencl_*.c.
 *
 * The cases: odd sizes, stride 2 and TensorFlow SAME padding, 1x1
 * kernels, batch 1, inputs without gradients, and the paper's shapes at
 * small scale (its 3x3 stride-2 SAME convs, 24x24 maps, K = 19 and 37
 * channels for the top-k mask and SAD). Tolerances per op, with the reason
 * beside each case group. Run time: the kernels are compiled once per
 * OpenCL program (cached on disk in FX_KERNEL_CACHE_DIR, shared with the
 * other OpenCL tests), and the shapes are small. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fx/plugin.h"
#include "fxtest.h"

/* ---- the case table ------------------------------------------------------ */

typedef struct op_case {
    const char *op;
    const char *attrs;          /* "k=v k2=[1,2]" */
    int n_in;
    fxtest_input in[FX_MAX_IO]; /* data NULL: seeded normal values */
    int inference;              /* 1: inference only (the op has no backward to compare) */
    double rtol, atol;
} op_case;

#define MAX_CASES 160

typedef struct case_table {
    op_case c[MAX_CASES];
    int n;
} case_table;

static const int32_t labels[] = { 0, 4, 2, 9, 1, 3, 6, 5, 8, 7 };

static op_case *add_case(case_table *t, const char *op, const char *attrs, fx_shape shape, double rtol)
{
    ck_assert_int_lt(t->n, MAX_CASES);
    op_case *c = &t->c[t->n++];
    memset(c, 0, sizeof *c);
    c->op = op;
    c->attrs = attrs;
    c->n_in = 1;
    c->in[0].name = "x";
    c->in[0].shape = shape;
    c->in[0].dtype = FX_F32;
    c->rtol = rtol;
    c->atol = 1e-7;
    return c;
}

/* A second f32 input named `name`. */
static void second_input(op_case *c, const char *name, fx_shape shape)
{
    c->in[c->n_in] = c->in[0];
    c->in[c->n_in].name = name;
    c->in[c->n_in].shape = shape;
    c->n_in++;
}

static void label_input(op_case *c, int64_t batch)
{
    c->in[1].name = "label";
    c->in[1].shape = fx_shape_1d(batch);
    c->in[1].dtype = FX_I32;
    c->in[1].idata = labels;
    c->n_in = 2;
}

static void build_cases(case_table *t)
{
    memset(t, 0, sizeof *t);
    op_case *c;
    /* conv2d, linear: GEMMs sum in another order than the CPU's: 1e-5 of
     * the scale. Odd sizes, stride 2, SAME and VALID padding, 1x1, no
     * bias, rectangular kernels, batch 1, and the paper's 3x3 stride-2
     * SAME conv and 1x1 hypercolumn conv at small width. */
    add_case(t, "conv2d", "out_channels=4 kernel=3 pad=1", fx_shape_4d(2, 3, 7, 9), 1e-5);
    add_case(t, "conv2d", "out_channels=3 kernel=3 stride=2 padding=same", fx_shape_4d(1, 2, 8, 8), 1e-5);
    add_case(t, "conv2d", "out_channels=2 kernel=1", fx_shape_4d(3, 5, 6, 6), 1e-5);
    add_case(t, "conv2d", "out_channels=5 kernel=[3,2] stride=[2,1] pad=[1,0] bias=false", fx_shape_4d(2, 3, 9, 7),
             1e-5);
    add_case(t, "conv2d", "out_channels=1 kernel=5", fx_shape_4d(1, 1, 5, 5), 1e-5);
    add_case(t, "conv2d", "out_channels=6 kernel=3 stride=2 padding=valid", fx_shape_4d(4, 4, 10, 10), 1e-5);
    add_case(t, "conv2d", "out_channels=12 kernel=3 stride=2 padding=same", fx_shape_4d(2, 8, 24, 24), 1e-5);
    add_case(t, "conv2d", "out_channels=16 kernel=1", fx_shape_4d(2, 8, 12, 12), 1e-5);
    add_case(t, "linear", "out_features=7", fx_shape_2d(5, 13), 1e-5);
    add_case(t, "linear", "out_features=1 bias=false", fx_shape_2d(1, 3), 1e-5);
    add_case(t, "linear", "out_features=10", fx_shape_4d(3, 4, 5, 5), 1e-5); /* flattens */
    c = add_case(t, "linear", "out_features=33", fx_shape_2d(9, 70), 1e-5);
    c->in[0].no_grad = 1; /* grad_in NULL */
    /* Pools: the same sums in the same order; max is exact. Overlapping
     * windows, stride 2, SAME and explicit padding, odd sizes, batch 1,
     * the 2x2 kernels on odd sizes and with SAME padding. */
    static const struct {
        int64_t n, c, h, w;
        const char *attrs;
    } pools[] = {
        { 2, 3, 8, 8, "kernel=2" },
        { 1, 2, 7, 9, "kernel=3 stride=2 pad=1" },
        { 3, 1, 6, 5, "kernel=3 stride=1" },
        { 2, 2, 9, 9, "kernel=3 stride=2 padding=same" },
        { 1, 1, 1, 1, "kernel=1" },
        { 2, 3, 10, 7, "kernel=[2,3] stride=[2,1] pad=[1,1]" },
        { 2, 3, 7, 9, "kernel=2" },
        { 1, 2, 7, 7, "kernel=2 padding=same" },
        { 2, 2, 9, 8, "kernel=3 stride=3" },
        { 1, 5, 28, 28, "kernel=2" },
    };
    for (size_t i = 0; i < sizeof pools / sizeof pools[0]; i++) {
        fx_shape sh = fx_shape_4d(pools[i].n, pools[i].c, pools[i].h, pools[i].w);
        add_case(t, "maxpool2d", pools[i].attrs, sh, 1e-7);
        add_case(t, "maxpool2d", pools[i].attrs, sh, 1e-7)->inference = 1;
        add_case(t, "avgpool2d", pools[i].attrs, sh, 1e-6);
    }
    add_case(t, "global_avgpool", NULL, fx_shape_4d(1, 1, 1, 1), 1e-6);
    add_case(t, "global_avgpool", NULL, fx_shape_4d(2, 3, 5, 7), 1e-6);
    add_case(t, "global_avgpool", NULL, fx_shape_4d(3, 4, 24, 24), 1e-6);
    /* batchnorm: per-channel sums in another order (the CPU sums planes
     * in double): 2e-5. Training (batch statistics, running averages)
     * and inference (running statistics). */
    const fx_shape bn[] = { fx_shape_4d(2, 3, 5, 7), fx_shape_4d(1, 4, 6, 6), fx_shape_2d(9, 5),
                            fx_shape_4d(5, 2, 17, 13) };
    for (int i = 0; i < 4; i++) {
        add_case(t, "batchnorm", "momentum=0.8", bn[i], 2e-5);
        add_case(t, "batchnorm", "momentum=0.8", bn[i], 2e-5)->inference = 1;
    }
    add_case(t, "l2_normalize", NULL, fx_shape_4d(2, 5, 3, 7), 1e-5);
    add_case(t, "l2_normalize", NULL, fx_shape_2d(3, 33), 1e-5);
    add_case(t, "l2_normalize", "axis=-1", fx_shape_4d(1, 2, 3, 9), 1e-5);
    /* Reorderings and arithmetic in the same order: 1e-6. */
    c = add_case(t, "concat", NULL, fx_shape_4d(2, 3, 5, 4), 1e-6);
    second_input(c, "y", fx_shape_4d(2, 1, 5, 4));
    second_input(c, "z", fx_shape_4d(2, 6, 5, 4));
    c->in[2].no_grad = 1;
    c = add_case(t, "concat", "axis=-1", fx_shape_2d(1, 7), 1e-6);
    second_input(c, "y", fx_shape_2d(1, 2));
    add_case(t, "resize_bilinear", "size=9", fx_shape_4d(2, 3, 5, 6), 1e-6);
    add_case(t, "resize_bilinear", "size=[4,11] mapping=align_corners", fx_shape_4d(1, 2, 7, 5), 1e-6);
    add_case(t, "resize_bilinear", "size=[24,24] mapping=asymmetric", fx_shape_4d(2, 2, 6, 6), 1e-6);
    add_case(t, "resize_bilinear", "size=[3,2] mapping=half_pixel", fx_shape_4d(3, 1, 8, 9), 1e-6);
    add_case(t, "resize_bilinear", "size=24 mapping=asymmetric", fx_shape_4d(1, 3, 12, 12), 1e-6); /* 12 -> 24 */
    /* Elementwise: one rounding per element; exp in elu: 2e-6. */
    const fx_shape flat[] = { fx_shape_4d(1, 1, 1, 1), fx_shape_4d(2, 3, 5, 7), fx_shape_4d(3, 4, 17, 9) };
    for (int i = 0; i < 3; i++) {
        add_case(t, "relu", NULL, flat[i], 1e-6);
        add_case(t, "elu", NULL, flat[i], 2e-6);
        add_case(t, "elu", "alpha=0.5", flat[i], 2e-6);
        add_case(t, "scale", "factor=-1.5 offset=0.25", flat[i], 1e-6);
        const char *binary[] = { "add", "mul" };
        for (int o = 0; o < 2; o++) {
            c = add_case(t, binary[o], NULL, flat[i], 1e-6);
            second_input(c, "y", flat[i]);
            c = add_case(t, binary[o], NULL, flat[i], 1e-6);
            second_input(c, "y", flat[i]);
            c->in[1].no_grad = 1; /* grad_in[1] NULL */
        }
    }
    add_case(t, "flatten", NULL, fx_shape_4d(3, 4, 5, 7), 1e-7);
    add_case(t, "flatten", NULL, fx_shape_4d(1, 1, 3, 1), 1e-7);
    add_case(t, "reshape", "shape=[10,14]", fx_shape_4d(2, 4, 5, 7), 1e-7);
    /* dropout: the mask is a function of (seed, step, node, element) on
     * every backend: exact. */
    const char *rates[] = { "rate=0.4", "rate=0", "rate=0.9" };
    for (int i = 0; i < 3; i++) {
        c = add_case(t, "dropout", rates[i], fx_shape_2d(5, 333), 1e-7);
        c->atol = 1e-12;
        c = add_case(t, "dropout", rates[i], fx_shape_2d(5, 333), 1e-7);
        c->atol = 1e-12;
        c->inference = 1;
    }
    /* softmax_cross_entropy: log-sum-exp in another order: 1e-5. */
    const int64_t ce[][2] = { { 1, 5 }, { 7, 10 }, { 3, 1000 } };
    for (int i = 0; i < 3; i++) {
        label_input(add_case(t, "softmax_cross_entropy", NULL, fx_shape_2d(ce[i][0], ce[i][1]), 1e-5), ce[i][0]);
        label_input(add_case(t, "softmax_cross_entropy", "label_smoothing=0.1", fx_shape_2d(ce[i][0], ce[i][1]), 1e-5),
                    ce[i][0]);
    }
    /* The paper's ops at small scale (the paper: K = 320 channels on
     * 24x24 maps, k = 24; here K = 19 and 37, not multiples of any tile
     * or channel block). topk_mask is a selection: exact. sad_loss: float
     * sums in other orders, 1e-4 (measured <= 1.5e-6 on PoCL, see
     * test_opencl_paper.c). fad_loss: the same kept set; the loss sums in
     * another order: 1e-6. filter_diversity: Gram entries as float, 5e-5.
     * occlude: painting, exact. */
    add_case(t, "topk_mask", NULL, fx_shape_4d(2, 19, 24, 24), 0)->atol = 0;
    add_case(t, "topk_mask", "k=3", fx_shape_4d(1, 5, 7, 9), 0)->atol = 0;
    add_case(t, "sad_loss", NULL, fx_shape_4d(2, 19, 24, 24), 1e-4);
    add_case(t, "sad_loss", NULL, fx_shape_4d(1, 37, 6, 6), 1e-4);
    c = add_case(t, "fad_loss", "n_keep=13", fx_shape_2d(4, 19), 1e-6);
    second_input(c, "fo", fx_shape_2d(4, 19));
    c->atol = 1e-9;
    c = add_case(t, "fad_loss", "n_keep=5 scale=0.5", fx_shape_2d(1, 37), 1e-6);
    second_input(c, "fo", fx_shape_2d(1, 37));
    c->atol = 1e-9;
    const fx_shape fd[] = { fx_shape_4d(6, 5, 3, 3), fx_shape_4d(19, 7, 2, 2), fx_shape_4d(3, 37, 1, 5) };
    for (int i = 0; i < 3; i++) {
        c = add_case(t, "filter_diversity", NULL, fd[i], 5e-5);
        c->in[0].name = "weight";
        c->atol = 1e-9;
    }
    add_case(t, "occlude", "window=[6,16]", fx_shape_4d(2, 3, 48, 48), 0)->atol = 0;
    add_case(t, "occlude", "window=[3,5] frame=17 x_range=[0,16] y_range=[0,16]", fx_shape_4d(1, 1, 17, 23), 0)->atol =
        0;
    /* prelu (plugins/prelu): one rounding per element. */
    add_case(t, "prelu", NULL, fx_shape_4d(2, 3, 5, 7), 1e-6);
    add_case(t, "prelu", "shared=true", fx_shape_4d(1, 4, 3, 3), 1e-6);
    add_case(t, "prelu", NULL, fx_shape_2d(3, 9), 1e-6);
}

/* The optimiser cases, keyed by the registered optimiser's name (fx/optim.h:
 * optimisers are registry entries like ops, with an update kernel per
 * backend). Every update kernel of every backend is run on the cases of
 * its optimiser and compared with the CPU's kernel on the same cases; an
 * update kernel whose optimiser has no case here fails
 * test_every_registered_kernel_has_a_case, as an op kernel does. Plain
 * SGD, momentum with weight decay, Nesterov; Adam with the paper's beta1
 * and weight decay, and with a large eps. sign_sgd and adagrad come from
 * the test plugin tests/plugins/optimizers.c, loaded by the matrix (CPU
 * kernels only: their cases run, with nothing to compare, until another
 * backend adds a kernel). Elementwise formulas on gradients that agree to
 * GEMM rounding: 1e-5 of the scale. */
typedef struct optimizer_case {
    const char *optimizer; /* the registered name the case is for */
    const char *label;
    float lr, momentum, weight_decay, beta1, beta2, eps;
    int nesterov;
} optimizer_case;

static const optimizer_case optimizer_cases[] = {
    { "sgd", "sgd", 0.1f, 0.0f, 0.0f, 0, 0, 0, 0 },
    { "sgd", "sgd momentum=0.9 weight_decay=1e-3", 0.1f, 0.9f, 1e-3f, 0, 0, 0, 0 },
    { "sgd", "sgd momentum=0.9 nesterov", 0.05f, 0.9f, 0.0f, 0, 0, 0, 1 },
    { "adam", "adam beta1=0.5 weight_decay=1e-3", 1e-2f, 0, 1e-3f, 0.5f, 0.999f, 1e-8f, 0 },
    { "adam", "adam beta1=0.9 beta2=0.99 eps=1e-3", 1e-2f, 0, 0.0f, 0.9f, 0.99f, 1e-3f, 0 },
    { "sign_sgd", "sign_sgd", 1e-2f, 0, 0.0f, 0, 0, 0, 0 },
    { "sign_sgd", "sign_sgd weight_decay=0.1", 1e-2f, 0, 0.1f, 0, 0, 0, 0 },
    { "adagrad", "adagrad eps=1e-3", 0.1f, 0, 0.0f, 0, 0, 1e-3f, 0 },
    { "adagrad", "adagrad eps=1e-8 weight_decay=1e-2", 0.1f, 0, 1e-2f, 0, 0, 1e-8f, 0 },
};
#define N_OPTIMIZER_CASES ((int)(sizeof optimizer_cases / sizeof optimizer_cases[0]))

static int optimizer_cases_of(const char *optimizer)
{
    int n = 0;
    for (int i = 0; i < N_OPTIMIZER_CASES; i++)
        n += strcmp(optimizer_cases[i].optimizer, optimizer) == 0;
    return n;
}

/* ---- running a case on one backend ---------------------------------------- */

#define MAX_RESULTS 24

typedef struct results {
    int n;
    char what[MAX_RESULTS][96];
    float *data[MAX_RESULTS];
    int64_t count[MAX_RESULTS];
} results;

static void keep(results *r, const char *what, fx_tensor *t)
{
    ck_assert_ptr_nonnull(t);
    ck_assert_int_lt(r->n, MAX_RESULTS);
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

static void free_results(results *r)
{
    for (int k = 0; k < r->n; k++)
        free(r->data[k]);
    r->n = 0;
}

static const char *case_name(const op_case *c, char *buf, size_t size)
{
    char shape[64];
    fx_shape_str(&c->in[0].shape, shape, sizeof shape);
    snprintf(buf, size, "%s(%s) on %s%s", c->op, c->attrs ? c->attrs : "", shape, c->inference ? ", inference" : "");
    return buf;
}

/* Builds the case's one-node graph, plans it on `be`, runs forward (and,
 * when `backward`, backward from the seeded output gradient) and keeps
 * every tensor worth comparing. */
static void run_case(fx_context *ctx, const op_case *c, fx_backend *be, int backward, results *r)
{
    char name[256];
    memset(r, 0, sizeof *r);
    fx_graph *g = NULL;
    ck_assert_int_eq(fx_graph_create(ctx, "matrix", &g), FX_OK);
    const char *names[FX_MAX_IO];
    for (int i = 0; i < c->n_in; i++) {
        fx_shape per = fx_shape_make(c->in[i].shape.ndim - 1, c->in[i].shape.dim + 1);
        fx_srcpos pos = { "matrix.yaml", 1, 1 };
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
    d.pos = (fx_srcpos){ "matrix.yaml", 2, 3 };
    fx_status st = fx_graph_add_node(g, &d);
    ck_assert_msg(st == FX_OK, "%s: %s", case_name(c, name, sizeof name), fx_context_error(ctx));
    if (!backward)
        ck_assert_int_eq(fx_graph_keep(g, "node"), FX_OK);
    for (int i = 0; i < c->n_in && backward; i++)
        if (c->in[i].dtype == FX_F32 && !c->in[i].no_grad)
            ck_assert_int_eq(fx_graph_require_grad(g, c->in[i].name), FX_OK);
    st = fx_graph_plan(g, c->in[0].shape.dim[0], backward ? FX_MODE_TRAIN : FX_MODE_INFER, be);
    ck_assert_msg(st == FX_OK, "%s: planning on %s: %s", case_name(c, name, sizeof name), be->name,
                  fx_context_error(ctx));
    for (int i = 0; i < c->n_in; i++) {
        fx_tensor *t = fx_graph_value(g, c->in[i].name);
        if (c->in[i].dtype == FX_I32) {
            st = fx_tensor_upload(t, c->in[i].idata);
        } else {
            float *x = fxtest_random(7919 + (uint64_t)i, fx_tensor_numel(t));
            st = fx_tensor_upload(t, x);
            free(x);
        }
        ck_assert_int_eq(st, FX_OK);
    }
    fxtest_perturb_params(g);
    st = fx_graph_forward(g);
    ck_assert_msg(st == FX_OK, "%s: forward on %s: %s", case_name(c, name, sizeof name), be->name,
                  fx_context_error(ctx));
    const fx_op_def *def = fx_registry_find_op(fx_context_registry(ctx), c->op);
    for (int k = 0; k < def->n_outputs; k++) {
        char value[32], what[64];
        snprintf(value, sizeof value, k ? "node:%d" : "node", k);
        snprintf(what, sizeof what, "output %d", k);
        keep(r, what, fx_graph_value(g, value));
    }
    if (backward) {
        fx_tensor *out = fx_graph_value(g, "node");
        float *rr = fxtest_random(99, fx_tensor_numel(out));
        ck_assert_int_eq(fx_graph_seed_grad(g, "node", rr), FX_OK);
        free(rr);
        st = fx_graph_backward(g);
        ck_assert_msg(st == FX_OK, "%s: backward on %s: %s", case_name(c, name, sizeof name), be->name,
                      fx_context_error(ctx));
        for (int i = 0; i < c->n_in; i++) {
            if (c->in[i].dtype != FX_F32 || c->in[i].no_grad)
                continue;
            char what[96];
            snprintf(what, sizeof what, "gradient of input '%s'", c->in[i].name);
            keep(r, what, fx_graph_value_grad(g, c->in[i].name));
        }
    }
    for (int i = 0; i < fx_graph_param_count(g); i++) {
        fx_param p = fx_graph_param_at(g, i);
        if (!p.value || !p.value->buffer)
            continue;
        char what[96];
        if (p.learnable && p.grad && backward) {
            snprintf(what, sizeof what, "gradient of %s", p.name);
            keep(r, what, p.grad);
        } else if (!p.learnable) {
            snprintf(what, sizeof what, "state %s", p.name);
            keep(r, what, p.value);
        }
    }
    fx_graph_destroy(g);
}

/* Compares `got` (backend be) with the CPU's `ref`; returns the worst
 * error relative to each tensor's scale. */
static double compare(const op_case *c, const char *backend, const results *ref, const results *got)
{
    char name[256];
    ck_assert_int_eq(ref->n, got->n);
    double worst_rel = 0;
    for (int k = 0; k < ref->n; k++) {
        ck_assert_int_eq(ref->count[k], got->count[k]);
        double scale = 0, worst = 0;
        int64_t worst_i = 0;
        for (int64_t i = 0; i < ref->count[k]; i++)
            scale = fmax(scale, fabs(ref->data[k][i]));
        for (int64_t i = 0; i < ref->count[k]; i++) {
            double e = fabs((double)got->data[k][i] - ref->data[k][i]);
            if (!(e <= worst) || isnan(e)) {
                worst = isnan(e) ? INFINITY : e;
                worst_i = i;
            }
        }
        ck_assert_msg(worst <= c->atol + c->rtol * scale,
                      "%s: %s differs at element %lld: %s %.8g, cpu %.8g (scale %.4g, rtol %g, atol %g)",
                      case_name(c, name, sizeof name), ref->what[k], (long long)worst_i, backend,
                      got->data[k][worst_i], ref->data[k][worst_i], scale, c->rtol, c->atol);
        double rel = scale > 0 ? worst / scale : worst;
        worst_rel = fmax(worst_rel, rel);
    }
    return worst_rel;
}

/* ---- the matrix ------------------------------------------------------------ */

/* The plugins the matrix loads, so that their kernels are checked: the
 * example plugins (plugins/: the `ref` backend, the `prelu` op) and the
 * test plugin that adds the sign_sgd and adagrad optimisers
 * (tests/plugins/optimizers.c). Their folders are the build tree's, or
 * $FX_TEST_PLUGIN_BUILD_DIR for all three where the test runs outside it
 * (the bundle of tools/gpu-bundle.sh). */
static const struct {
    const char *name;
    int test_plugin; /* 1: tests/plugins/, 0: plugins/ */
} matrix_plugins[] = { { "ref", 0 }, { "prelu", 0 }, { "optimizers", 1 } };
#define N_MATRIX_PLUGINS ((int)(sizeof matrix_plugins / sizeof matrix_plugins[0]))

static void matrix_plugin_path(int i, char *path, size_t size)
{
    const char *env = getenv("FX_TEST_PLUGIN_BUILD_DIR");
    const char *dir = env && *env ? env : matrix_plugins[i].test_plugin ? FX_TEST_PLUGIN_DIR : FX_PLUGIN_BUILD_DIR;
    snprintf(path, size, "%s/%s.so", dir, matrix_plugins[i].name);
}

/* Loads matrix_plugins, then every backend module (the OpenCL backend,
 * libfx-opencl.so: loaded on first use otherwise, so not yet in the
 * table); `log` gets the modules' notes (NULL: none). */
static fx_status matrix_load_plugins(fx_context *ctx, fx_plugin_host *host, FILE *log)
{
    for (int i = 0; i < N_MATRIX_PLUGINS; i++) {
        char path[1024];
        matrix_plugin_path(i, path, sizeof path);
        fx_status st = fx_plugin_load(host, path, 0);
        if (st != FX_OK)
            return st;
    }
    fx_context_load_all_backends(ctx, log);
    return FX_OK;
}

typedef struct matrix {
    fx_context *ctx;
    fx_plugin_host *host;
    case_table cases;
} matrix;

static void matrix_open(matrix *m)
{
    m->ctx = fxtest_context();
    ck_assert_int_eq(fx_plugin_host_create(m->ctx, &m->host), FX_OK);
    ck_assert_msg(matrix_load_plugins(m->ctx, m->host, stdout) == FX_OK, "%s", fx_context_error(m->ctx));
    build_cases(&m->cases);
}

static void matrix_close(matrix *m)
{
    fx_context_destroy(m->ctx);
    fx_plugin_host_destroy(m->host);
}

static int cases_of(const matrix *m, const char *op)
{
    int n = 0;
    for (int i = 0; i < m->cases.n; i++)
        n += strcmp(m->cases.c[i].op, op) == 0;
    return n;
}

/* Every kernel of every backend in the table has a case: an op kernel or
 * an optimiser update kernel without one fails here, naming it as
 * name@backend (whether or not its backend can be created on this
 * machine). And every case names an op or optimiser that exists. */
START_TEST(test_every_registered_kernel_has_a_case)
{
    matrix m;
    matrix_open(&m);
    const fx_registry *reg = fx_context_registry(m.ctx);
    char missing[4096] = "", missing_optimizers[1024] = "";
    int n_missing = 0, n_kernels = 0, n_missing_optimizers = 0, n_optimizer_kernels = 0;
    for (int b = 0; b < fx_plugin_host_backend_count(m.host); b++) {
        const char *backend, *doc, *plugin;
        ck_assert(fx_plugin_host_backend_at(m.host, b, &backend, &doc, &plugin));
        for (int o = 0; o < fx_registry_op_count(reg); o++) {
            const fx_op_def *def = fx_registry_op_at(reg, o);
            fx_kernel_fn fwd = NULL, bwd = NULL;
            if (!fx_registry_find_kernel(reg, def->name, backend, &fwd, &bwd))
                continue;
            n_kernels++;
            if (cases_of(&m, def->name) == 0) {
                n_missing++;
                size_t used = strlen(missing);
                snprintf(missing + used, sizeof missing - used, " %s@%s", def->name, backend);
            }
        }
        for (int o = 0; o < fx_registry_optimizer_count(reg); o++) {
            const fx_optimizer_def *def = fx_registry_optimizer_at(reg, o);
            if (!fx_registry_find_optimizer_kernel(reg, def->name, backend, NULL))
                continue;
            n_optimizer_kernels++;
            if (optimizer_cases_of(def->name) == 0) {
                n_missing_optimizers++;
                size_t used = strlen(missing_optimizers);
                snprintf(missing_optimizers + used, sizeof missing_optimizers - used, " %s@%s", def->name, backend);
            }
        }
    }
    ck_assert_msg(n_missing == 0, "%d registered kernel%s without a case in tests/test_backend_ops.c:%s", n_missing,
                  n_missing == 1 ? "" : "s", missing);
    ck_assert_msg(n_missing_optimizers == 0,
                  "%d registered optimiser update kernel%s without a case in optimizer_cases "
                  "(tests/test_backend_ops.c):%s",
                  n_missing_optimizers, n_missing_optimizers == 1 ? "" : "s", missing_optimizers);
    ck_assert_int_gt(n_kernels, 20);
    /* sgd and adam on cpu and ref at least, and the test plugin's two. */
    ck_assert_int_ge(n_optimizer_kernels, 6);
    for (int i = 0; i < m.cases.n; i++)
        ck_assert_msg(fx_registry_find_op(reg, m.cases.c[i].op) != NULL, "case for unknown op '%s'", m.cases.c[i].op);
    for (int i = 0; i < N_OPTIMIZER_CASES; i++)
        ck_assert_msg(fx_registry_find_optimizer(reg, optimizer_cases[i].optimizer) != NULL,
                      "optimiser case '%s' for unknown optimiser '%s'", optimizer_cases[i].label,
                      optimizer_cases[i].optimizer);
    matrix_close(&m);
}
END_TEST

/* ---- optimiser updates ------------------------------------------------------ */

/* Each optimiser case plans a linear layer on the backend and takes three
 * steps (forward, the seeded output gradient, backward, update), then
 * keeps the parameters and the optimiser's state tensors. Through the
 * public optimiser API: fx_optimizer_create looks the kernel up on the
 * parameters' backend and initialises the state there, so what is
 * compared is the backend's kernel and state against the CPU's. */
static void optimizer_run(fx_context *ctx, fx_backend *be, const optimizer_case *oc, results *r)
{
    memset(r, 0, sizeof *r);
    fx_graph *g = NULL;
    ck_assert_int_eq(fx_graph_create(ctx, "matrix-optimizer", &g), FX_OK);
    fx_shape per = fx_shape_1d(7);
    fx_srcpos pos = { "matrix.yaml", 1, 1 };
    ck_assert_int_eq(fx_graph_add_input(g, "x", FX_F32, &per, pos), FX_OK);
    fxtest_add_node(g, "node", "linear", "x", NULL, "out_features", "5");
    ck_assert_msg(fx_graph_plan(g, 3, FX_MODE_TRAIN, be) == FX_OK, "%s", fx_context_error(ctx));
    fx_train_config tc;
    memset(&tc, 0, sizeof tc);
    snprintf(tc.optimizer, sizeof tc.optimizer, "%s", oc->optimizer);
    tc.lr = oc->lr;
    tc.momentum = oc->momentum;
    tc.weight_decay = oc->weight_decay;
    tc.beta1 = oc->beta1;
    tc.beta2 = oc->beta2;
    tc.eps = oc->eps;
    tc.nesterov = oc->nesterov;
    fx_optimizer *opt = NULL;
    ck_assert_msg(fx_optimizer_create(g, &tc, &opt) == FX_OK, "%s on %s: %s", oc->label, be->name,
                  fx_context_error(ctx));
    for (int step = 0; step < 3; step++) {
        float *x = fxtest_random(31 + (uint64_t)step, 3 * 7), *rr = fxtest_random(57 + (uint64_t)step, 3 * 5);
        ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "x"), x), FX_OK);
        ck_assert_int_eq(fx_graph_forward(g), FX_OK);
        ck_assert_int_eq(fx_graph_seed_grad(g, "node", rr), FX_OK);
        ck_assert_msg(fx_graph_backward(g) == FX_OK, "%s", fx_context_error(ctx));
        ck_assert_msg(fx_optimizer_step(opt, oc->lr) == FX_OK, "%s on %s: %s", oc->label, be->name,
                      fx_context_error(ctx));
        free(x);
        free(rr);
    }
    for (int i = 0; i < fx_graph_param_count(g); i++) {
        fx_param p = fx_graph_param_at(g, i);
        if (p.value && p.value->buffer)
            keep(r, p.name, p.value);
    }
    for (int i = 0; i < fx_optimizer_state_count(opt); i++) {
        const char *name = NULL;
        fx_tensor *t = fx_optimizer_state_at(opt, i, &name);
        char what[96];
        snprintf(what, sizeof what, "state %s", name ? name : "?");
        keep(r, what, t);
    }
    fx_optimizer_destroy(opt);
    fx_graph_destroy(g);
}

/* Runs the cases of every optimiser with an update kernel on `be` there
 * and on the CPU (on the CPU itself: the cases run, nothing to compare);
 * one line per case. */
static void check_optimizers(fx_context *ctx, fx_backend *be)
{
    const fx_registry *reg = fx_context_registry(ctx);
    fx_backend *cpu = fx_context_cpu_backend(ctx);
    int n_kernels = 0;
    for (int o = 0; o < fx_registry_optimizer_count(reg); o++) {
        const fx_optimizer_def *def = fx_registry_optimizer_at(reg, o);
        if (fx_registry_find_optimizer_kernel(reg, def->name, be->name, NULL))
            n_kernels++;
    }
    if (n_kernels == 0) {
        printf("matrix %-8s optimizers: the backend registers no update kernel\n", be->name);
        return;
    }
    fx_kernel_fn fwd = NULL, bwd = NULL;
    ck_assert_msg(fx_registry_find_kernel(reg, "linear", be->name, &fwd, &bwd) && bwd,
                  "backend %s registers %d optimiser update kernel%s but no linear forward+backward kernel: "
                  "the matrix trains a linear layer on the backend to check them; give the backend a linear "
                  "kernel or teach tests/test_backend_ops.c another way",
                  be->name, n_kernels, n_kernels == 1 ? "" : "s");
    for (int o = 0; o < fx_registry_optimizer_count(reg); o++) {
        const fx_optimizer_def *def = fx_registry_optimizer_at(reg, o);
        if (!fx_registry_find_optimizer_kernel(reg, def->name, be->name, NULL))
            continue;
        ck_assert_msg(fx_registry_find_optimizer_kernel(reg, def->name, cpu->name, NULL),
                      "optimiser %s has an update kernel on %s but none on the CPU to compare with: register "
                      "a CPU kernel for it (fx_registry_add_optimizer_kernel(reg, \"%s\", \"cpu\", ...))",
                      def->name, be->name, def->name);
        int ran = 0;
        for (int i = 0; i < N_OPTIMIZER_CASES; i++) {
            const optimizer_case *oc = &optimizer_cases[i];
            if (strcmp(oc->optimizer, def->name) != 0)
                continue;
            results ref, got;
            double worst = 0;
            optimizer_run(ctx, cpu, oc, &ref);
            if (be != cpu) {
                optimizer_run(ctx, be, oc, &got);
                op_case c;
                memset(&c, 0, sizeof c);
                c.op = "optimizer";
                c.attrs = oc->label;
                c.in[0].shape = fx_shape_2d(3, 7);
                c.rtol = 1e-5;
                c.atol = 1e-7;
                worst = compare(&c, be->name, &ref, &got);
                free_results(&got);
            }
            free_results(&ref);
            printf("matrix %-8s optimizer %-36s worst error/scale %.2g\n", be->name, oc->label, worst);
            ran++;
        }
        ck_assert_msg(ran > 0, "optimiser kernel %s@%s: no case", def->name, be->name);
    }
}

/* Runs every case of every op with a kernel on backend `name` there and on
 * the CPU; prints one line per op (cases, worst error / scale, time). */
static void check_backend(const char *name)
{
    matrix m;
    matrix_open(&m);
    fx_backend *be = NULL;
    if (fx_plugin_host_create_backend(m.host, name, &be) != FX_OK) {
        printf("SKIP: backend '%s' cannot be created here: %s\n", name, fx_context_error(m.ctx));
        matrix_close(&m);
        return;
    }
    fx_backend *cpu = fx_context_cpu_backend(m.ctx);
    const fx_registry *reg = fx_context_registry(m.ctx);
    int n_ops = 0, n_cases = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int o = 0; o < fx_registry_op_count(reg); o++) {
        const fx_op_def *def = fx_registry_op_at(reg, o);
        fx_kernel_fn fwd = NULL, bwd = NULL;
        if (!fx_registry_find_kernel(reg, def->name, name, &fwd, &bwd))
            continue;
        fx_kernel_fn cpu_fwd = NULL, cpu_bwd = NULL;
        ck_assert_msg(fx_registry_find_kernel(reg, def->name, "cpu", &cpu_fwd, &cpu_bwd),
                      "op %s has a kernel on %s but none on the CPU to compare with", def->name, name);
        int has_backward = bwd != NULL && cpu_bwd != NULL && !(def->flags & FX_OP_NO_BACKWARD);
        double worst = 0;
        int ran = 0;
        struct timespec s0, s1;
        clock_gettime(CLOCK_MONOTONIC, &s0);
        for (int i = 0; i < m.cases.n; i++) {
            const op_case *c = &m.cases.c[i];
            if (strcmp(c->op, def->name) != 0)
                continue;
            int backward = has_backward && !c->inference;
            results ref, got;
            run_case(m.ctx, c, cpu, backward, &ref);
            if (be != cpu) {
                run_case(m.ctx, c, be, backward, &got);
                worst = fmax(worst, compare(c, name, &ref, &got));
                free_results(&got);
            }
            free_results(&ref);
            ran++;
        }
        clock_gettime(CLOCK_MONOTONIC, &s1);
        ck_assert_msg(ran > 0, "kernel %s@%s: no case", def->name, name);
        printf("matrix %-8s %-22s %2d case%s %-18s worst error/scale %.2g  %.2f s\n", name, def->name, ran,
               ran == 1 ? " " : "s", has_backward ? "forward+backward" : "forward", worst,
               (double)(s1.tv_sec - s0.tv_sec) + 1e-9 * (double)(s1.tv_nsec - s0.tv_nsec));
        n_ops++;
        n_cases += ran;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("matrix %-8s %d kernels, %d cases, %.1f s\n", name, n_ops, n_cases,
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    ck_assert_int_gt(n_ops, 0);
    check_optimizers(m.ctx, be);
    fx_plugin_host_release_backend(m.host, be);
    matrix_close(&m);
}

/* One Check test per backend of the table, looked up by index so that a
 * backend added to the table is run without editing this file. */
START_TEST(test_backend_kernels_match_the_cpu)
{
    matrix m;
    matrix_open(&m);
    int count = fx_plugin_host_backend_count(m.host);
    char names[16][64];
    int n = 0;
    for (int b = 0; b < count && n < 16; b++) {
        const char *backend, *doc, *plugin;
        ck_assert(fx_plugin_host_backend_at(m.host, b, &backend, &doc, &plugin));
        snprintf(names[n++], sizeof names[0], "%s", backend);
    }
    matrix_close(&m);
    ck_assert_int_lt(_i, n);
    check_backend(names[_i]);
}
END_TEST

/* The number of backends in the table once the matrix's plugins are
 * loaded (the loop test below runs once per backend). */
static int count_backends(void)
{
    fx_context_options o = fx_context_options_default();
    fx_context *ctx = NULL;
    fx_plugin_host *host = NULL;
    char err[512];
    if (fx_context_create(&o, &ctx, err, sizeof err) != FX_OK) {
        fprintf(stderr, "test_backend_ops: %s\n", err);
        return -1;
    }
    int n = -1;
    if (fx_plugin_host_create(ctx, &host) == FX_OK) {
        if (matrix_load_plugins(ctx, host, NULL) == FX_OK) /* as matrix_open */
            n = fx_plugin_host_backend_count(host);
        else
            fprintf(stderr, "test_backend_ops: %s\n", fx_context_error(ctx));
    }
    fx_context_destroy(ctx);
    fx_plugin_host_destroy(host);
    return n;
}

int main(void)
{
    int backends = count_backends();
    if (backends < 1)
        return EXIT_FAILURE;
    Suite *s = suite_create("backend_ops");
    TCase *tc = tcase_create("matrix");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_every_registered_kernel_has_a_case);
    tcase_add_loop_test(tc, test_backend_kernels_match_the_cpu, 0, backends);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
