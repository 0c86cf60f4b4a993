/* core/ops/fad_loss.c - definition of fad_loss, the feature activation
 * diversity loss of Yin et al. (exact statement: docs/losses.md §3).
 *
 * Inputs f and fo [N, K] (or [N, ...], flattened to K per example): the
 * features of the clean and the occluded images. With
 *   Delta_k = mean_b |f_bk - fo_bk|
 * S is the set of the n_keep filters with the smallest Delta (ties: the
 * lower index first), and
 *   output 0: L = scale * sum_{k in S} Delta_k              [1]
 *   output 1: fo masked to S (fo where k in S, else 0)      shape of fo
 *   output 2: the mask of S as 0/1 floats                   [1, K]
 * Output 1 feeds the occluded branch's classifier. Gradients: output 0
 * gives scale * g / N * sign(f - fo) (sign(0) = 0) to f and the negative to
 * fo on S; output 1 passes its gradient to fo on S; the selection itself
 * has no gradient. The mask is saved (aux [K]) for backward. Kernels:
 * backends/cpu/fad_loss.c. */
#include <math.h>

#include "core/ops/ops.h"

static const fx_attr_spec fad_attrs[] = {
    { "n_keep", FX_ATTR_INT, 0, "260", "size of the non-occluded set S: the filters with the smallest mean change" },
    { "scale", FX_ATTR_FLOAT, 0, "0.1", "factor of the loss (inside L_FAD, as in the paper)" },
};

static const char *const fad_inputs[] = { "f", "fo" };

static fx_status fad_infer(fx_infer_call *call)
{
    const fx_shape *f = &call->in[0], *fo = &call->in[1];
    char b1[128], b2[128];
    for (int i = 0; i < 2; i++)
        if (call->in_dtype[i] != FX_F32)
            return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input %s must be f32, got %s",
                                fad_inputs[i], fx_dtype_name(call->in_dtype[i]));
    if (!fx_shape_equal(f, fo))
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                            "f %s and fo %s must have the same shape (clean and occluded features of one batch)",
                            fx_shape_str(f, b1, sizeof b1), fx_shape_str(fo, b2, sizeof b2));
    if (f->ndim < 2)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "f %s must be features [N, K]",
                            fx_shape_str(f, b1, sizeof b1));
    int64_t k = fx_shape_numel(f) / f->dim[0];
    int64_t keep = fx_node_attr_int(call->node, "n_keep");
    if (keep < 0 || keep > k)
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID,
                            "n_keep %lld must be in [0, %lld], the number of features per example of f %s",
                            (long long)keep, (long long)k, fx_shape_str(f, b1, sizeof b1));
    double scale = fx_node_attr_float(call->node, "scale");
    if (!isfinite(scale))
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID, "scale %g must be finite", scale);
    call->out[0] = fx_shape_1d(1);
    call->out[1] = *fo;
    call->out[2] = fx_shape_2d(1, k);
    call->n_aux = 1;
    call->aux[0] = fx_shape_1d(k); /* the mask of S, 0/1 */
    return FX_OK;
}

const fx_op_def fx_op_fad_loss = {
    .name = "fad_loss",
    .doc = "feature activation diversity: scale * sum of the n_keep smallest mean |f - fo|; "
           "also fo masked to those filters, and the mask",
    .min_inputs = 2,
    .max_inputs = 2,
    .input_names = fad_inputs,
    .n_outputs = 3,
    .attrs = fad_attrs,
    .n_attrs = 2,
    .infer = fad_infer,
    .flags = FX_OP_LOSS,
};
