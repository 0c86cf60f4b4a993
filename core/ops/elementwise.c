/* core/ops/elementwise.c - definitions of the elementwise ops add (a + b),
 * mul (a * b) and scale (factor * x + offset). add and mul take two inputs
 * of exactly the same shape: there is no broadcasting, so a shape mistake
 * is reported instead of silently repeated. Kernels:
 * backends/cpu/elementwise.c. */
#include "core/ops/ops.h"

static const char *const binary_inputs[] = { "a", "b" };
static const char *const unary_inputs[] = { "x" };

static fx_status binary_infer(fx_infer_call *call)
{
    char b1[128], b2[128];
    for (int i = 0; i < 2; i++)
        if (call->in_dtype[i] != FX_F32)
            return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input %d must be f32, got %s", i,
                                fx_dtype_name(call->in_dtype[i]));
    if (!fx_shape_equal(&call->in[0], &call->in[1]))
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                            "inputs have different shapes %s and %s; %s needs equal shapes (no broadcasting)",
                            fx_shape_str(&call->in[0], b1, sizeof b1), fx_shape_str(&call->in[1], b2, sizeof b2),
                            fx_node_op_name(call->node));
    call->out[0] = call->in[0];
    return FX_OK;
}

static fx_status scale_infer(fx_infer_call *call)
{
    if (call->in_dtype[0] != FX_F32)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input must be f32, got %s",
                            fx_dtype_name(call->in_dtype[0]));
    call->out[0] = call->in[0];
    return FX_OK;
}

/* add's backward needs neither input, so it may overwrite input a. mul's
 * backward reads both inputs, so it may not. */
const fx_op_def fx_op_add = {
    .name = "add",
    .doc = "y = a + b (same shapes)",
    .min_inputs = 2,
    .max_inputs = 2,
    .input_names = binary_inputs,
    .n_outputs = 1,
    .infer = binary_infer,
    .flags = FX_OP_INPLACE_OK | FX_OP_BACKWARD_NO_INPUT | FX_OP_BACKWARD_NO_OUTPUT,
};

const fx_op_def fx_op_mul = {
    .name = "mul",
    .doc = "y = a * b elementwise (same shapes)",
    .min_inputs = 2,
    .max_inputs = 2,
    .input_names = binary_inputs,
    .n_outputs = 1,
    .infer = binary_infer,
    .flags = FX_OP_BACKWARD_NO_OUTPUT,
};

static const fx_attr_spec scale_attrs[] = {
    { "factor", FX_ATTR_FLOAT, 1, NULL, "multiplier" },
    { "offset", FX_ATTR_FLOAT, 0, "0", "added after the multiplication" },
};

const fx_op_def fx_op_scale = {
    .name = "scale",
    .doc = "y = factor * x + offset",
    .min_inputs = 1,
    .max_inputs = 1,
    .input_names = unary_inputs,
    .n_outputs = 1,
    .attrs = scale_attrs,
    .n_attrs = 2,
    .infer = scale_infer,
    .flags = FX_OP_INPLACE_OK | FX_OP_BACKWARD_NO_INPUT | FX_OP_BACKWARD_NO_OUTPUT,
};
