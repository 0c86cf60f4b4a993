/* core/ops/activation.c - definitions of the pointwise activations relu and
 * elu. Both keep the input shape and may run in place: their backward
 * kernels read the output only (relu: y > 0; elu: y + alpha for x <= 0),
 * so overwriting the input loses nothing. Kernels:
 * backends/cpu/activation.c. */
#include "core/ops/ops.h"

static const char *const activation_inputs[] = { "x" };

static fx_status activation_infer(fx_infer_call *call)
{
    if (call->in_dtype[0] != FX_F32)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input must be f32, got %s",
                            fx_dtype_name(call->in_dtype[0]));
    call->out[0] = call->in[0];
    return FX_OK;
}

static fx_status elu_infer(fx_infer_call *call)
{
    double alpha = fx_node_attr_float(call->node, "alpha");
    /* The backward pass recovers exp(x) as y + alpha, which needs alpha > 0. */
    if (!(alpha > 0.0))
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID, "alpha %g must be > 0", alpha);
    return activation_infer(call);
}

const fx_op_def fx_op_relu = {
    .name = "relu",
    .doc = "y = max(x, 0)",
    .min_inputs = 1,
    .max_inputs = 1,
    .input_names = activation_inputs,
    .n_outputs = 1,
    .infer = activation_infer,
    .flags = FX_OP_INPLACE_OK | FX_OP_BACKWARD_NO_INPUT,
};

static const fx_attr_spec elu_attrs[] = {
    { "alpha", FX_ATTR_FLOAT, 0, "1.0", "y = alpha * (exp(x) - 1) for x <= 0" },
};

const fx_op_def fx_op_elu = {
    .name = "elu",
    .doc = "y = x for x > 0, alpha * (exp(x) - 1) otherwise",
    .min_inputs = 1,
    .max_inputs = 1,
    .input_names = activation_inputs,
    .n_outputs = 1,
    .attrs = elu_attrs,
    .n_attrs = 1,
    .infer = elu_infer,
    .flags = FX_OP_INPLACE_OK | FX_OP_BACKWARD_NO_INPUT,
};
