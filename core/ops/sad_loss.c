/* core/ops/sad_loss.c - definition of sad_loss, the spatial activation
 * diversity loss of Yin et al. (exact statement: docs/losses.md §2).
 *
 * m [N, K, H, W] -> a scalar [1]. Per image b: smooth each channel with
 * the fixed 3x3 Gaussian (sigma 1.5; zero "same" padding, depthwise), let
 * s_i be channel i flattened and n_i = s_i / max(|s_i|, eps), and
 *   L_b = sum_{i != j} (n_i . n_j)^2 / (K (K - 1));   L = mean_b L_b.
 * A channel with |s_i| <= eps (all zero, say) has n_i = s_i / eps ~ 0 and
 * adds (almost) nothing instead of a NaN. The per-image losses are saved
 * (aux [N]) so the batch mean is summed in a fixed order. Kernels:
 * backends/cpu/sad_loss.c. */
#include "core/ops/ops.h"

static const fx_attr_spec sad_attrs[] = {
    { "eps", FX_ATTR_FLOAT, 0, "1e-8", "lower bound of each smoothed channel's L2 norm (guards all-zero channels)" },
};

static const char *const sad_inputs[] = { "m" };

static fx_status sad_infer(fx_infer_call *call)
{
    const fx_shape *m = &call->in[0];
    char buf[128];
    if (call->in_dtype[0] != FX_F32)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input must be f32, got %s",
                            fx_dtype_name(call->in_dtype[0]));
    if (m->ndim != 4)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input %s must be feature maps [N, K, H, W]",
                            fx_shape_str(m, buf, sizeof buf));
    if (m->dim[1] < 2)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                            "input %s has %lld channel; the loss compares pairs of channels, so it needs K >= 2",
                            fx_shape_str(m, buf, sizeof buf), (long long)m->dim[1]);
    if (m->dim[1] * m->dim[2] * m->dim[3] > ((int64_t)1 << 30))
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input %s is too large per image (K*H*W > 2^30)",
                            fx_shape_str(m, buf, sizeof buf));
    double eps = fx_node_attr_float(call->node, "eps");
    if (!(eps > 0.0 && eps < 1.0))
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID, "eps %g must be in (0, 1)", eps);
    call->out[0] = fx_shape_1d(1);
    call->n_aux = 1;
    call->aux[0] = fx_shape_1d(m->dim[0]); /* L_b of each image */
    return FX_OK;
}

const fx_op_def fx_op_sad_loss = {
    .name = "sad_loss",
    .doc = "spatial activation diversity: mean over images of the mean squared cosine between "
           "Gaussian-smoothed channels (Yin et al.)",
    .min_inputs = 1,
    .max_inputs = 1,
    .input_names = sad_inputs,
    .n_outputs = 1,
    .attrs = sad_attrs,
    .n_attrs = 1,
    .infer = sad_infer,
    .flags = FX_OP_LOSS,
};
