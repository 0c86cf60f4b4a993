/* core/ops/softmax_cross_entropy.c - definition of the softmax
 * cross-entropy loss: logits [N, C] (f32) and label [N] (i32 class
 * indices) give a scalar [1]:
 *   loss = mean_n  -sum_c q_nc * log softmax(logits_n)_c
 * with q = (1 - s) * onehot(label) + s / C for label_smoothing s (0 = plain
 * cross-entropy). A label outside [0, C) is a run-time error from the
 * kernel, naming the batch index. The per-row log-sum-exp is saved for
 * backward (so backward needs one exp per logit and no max pass), and the
 * per-example losses for the batch mean. Kernels: backends/cpu/softmax_cross_entropy.c. */
#include "core/ops/ops.h"

static const fx_attr_spec ce_attrs[] = {
    { "label_smoothing", FX_ATTR_FLOAT, 0, "0", "target = (1 - s) * onehot + s / C, s in [0, 1)" },
};

static const char *const ce_inputs[] = { "logits", "label" };

static fx_status ce_infer(fx_infer_call *call)
{
    const fx_shape *logits = &call->in[0], *label = &call->in[1];
    char b1[128], b2[128];
    if (call->in_dtype[0] != FX_F32)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "logits must be f32, got %s",
                            fx_dtype_name(call->in_dtype[0]));
    if (call->in_dtype[1] != FX_I32)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                            "label must be i32 class indices, got %s (declare the input as a label: [])",
                            fx_dtype_name(call->in_dtype[1]));
    if (logits->ndim != 2 || logits->dim[1] < 1)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                            "logits %s must be [N, classes]; flatten or pool feature maps first",
                            fx_shape_str(logits, b1, sizeof b1));
    if (label->ndim != 1 || label->dim[0] != logits->dim[0])
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                            "label %s must be [N] with the batch of logits %s",
                            fx_shape_str(label, b2, sizeof b2), fx_shape_str(logits, b1, sizeof b1));
    double s = fx_node_attr_float(call->node, "label_smoothing");
    if (!(s >= 0.0 && s < 1.0))
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID, "label_smoothing %g must be in [0, 1)", s);
    call->out[0] = fx_shape_1d(1);
    call->n_aux = 2;
    call->aux[0] = fx_shape_1d(logits->dim[0]); /* log-sum-exp of each row */
    call->aux[1] = fx_shape_1d(logits->dim[0]); /* loss of each example */
    return FX_OK;
}

const fx_op_def fx_op_softmax_cross_entropy = {
    .name = "softmax_cross_entropy",
    .doc = "mean over the batch of -log softmax(logits)[label] (optional label_smoothing)",
    .min_inputs = 2,
    .max_inputs = 2,
    .input_names = ce_inputs,
    .n_outputs = 1,
    .attrs = ce_attrs,
    .n_attrs = 1,
    .infer = ce_infer,
    .flags = FX_OP_LOSS,
};
