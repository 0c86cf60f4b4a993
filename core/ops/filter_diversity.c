/* core/ops/filter_diversity.c - definition of filter_diversity, the
 * filter-weight diversity loss L_A of Yin et al. (docs/losses.md §4).
 *
 * The weight w [O, C, kh, kw] of a conv (dim 0, the output filters, plays
 * the batch): for each filter o, the P = kh*kw spatial weight vectors
 * v_p = w[o, :, p] in R^C are normalised, u_p = v_p / max(|v_p|, eps), and
 *   L_A = mean_o sum_{p != q} (u_p . u_q)^2 / (P (P - 1))
 * (= mean over filters of the mean squared cosine over the P(P-1)/2
 * pairs; 36 pairs for 3x3). Output: the scalar [1].
 *
 * The weight comes one of two ways:
 *   - bound: no input, and the op's parameter slot `weight` bound to the
 *     conv's parameter (`bind: {weight: k5.weight}` in YAML), so the
 *     gradient accumulates into the conv's weight gradient;
 *   - as a value: one input holding the weight (a fed tensor:
 *     `fxrun run --feed w=...`); the parameter slot is then absent.
 * Kernels: backends/cpu/filter_diversity.c. */
#include "core/ops/ops.h"

static const fx_attr_spec fd_attrs[] = {
    { "eps", FX_ATTR_FLOAT, 0, "1e-8", "lower bound of each spatial weight vector's L2 norm" },
};

static const char *const fd_inputs[] = { "weight" };

/* The slot a bound conv weight fills (absent when the weight is an input). */
static const fx_param_spec fd_params[] = {
    { "weight", 1, "zeros", "conv" },
};

static fx_status fd_infer(fx_infer_call *call)
{
    char buf[128];
    int bound = call->param[0].ndim > 0;
    if (call->n_in == 1 && bound)
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID,
                            "the weight is both an input and a bound parameter; give one: `in: <value>` or "
                            "`bind: {weight: <layer>.weight}`");
    if (call->n_in == 0 && !bound)
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID,
                            "no weight to measure: bind the conv's weight with `bind: {weight: <layer>.weight}` "
                            "(or give it as an input)");
    const fx_shape *w = call->n_in ? &call->in[0] : &call->param[0];
    if (call->n_in && call->in_dtype[0] != FX_F32)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input must be f32, got %s",
                            fx_dtype_name(call->in_dtype[0]));
    if (w->ndim != 4)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                            "weight %s must be a conv weight [out_channels, in_channels, kh, kw]",
                            fx_shape_str(w, buf, sizeof buf));
    if (w->dim[2] * w->dim[3] < 2)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                            "weight %s has a 1x1 kernel; the loss compares pairs of spatial positions, so it "
                            "needs kh*kw >= 2",
                            fx_shape_str(w, buf, sizeof buf));
    if (w->dim[2] * w->dim[3] > 64)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                            "weight %s: kernels of more than 64 positions are not supported",
                            fx_shape_str(w, buf, sizeof buf));
    double eps = fx_node_attr_float(call->node, "eps");
    if (!(eps > 0.0 && eps < 1.0))
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID, "eps %g must be in (0, 1)", eps);
    if (!bound)
        call->param[0].ndim = 0; /* the slot stays absent */
    call->out[0] = fx_shape_1d(1);
    call->n_aux = 1;
    call->aux[0] = fx_shape_1d(w->dim[0]); /* loss of each filter */
    return FX_OK;
}

const fx_op_def fx_op_filter_diversity = {
    .name = "filter_diversity",
    .doc = "L_A: mean over conv filters of the mean squared cosine between their spatial weight vectors",
    .min_inputs = 0,
    .max_inputs = 1,
    .input_names = fd_inputs,
    .n_outputs = 1,
    .attrs = fd_attrs,
    .n_attrs = 1,
    .params = fd_params,
    .n_params = 1,
    .infer = fd_infer,
    .flags = FX_OP_LOSS,
};
