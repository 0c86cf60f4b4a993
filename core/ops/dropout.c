/* core/ops/dropout.c - definition of the dropout op (inverted scaling).
 *
 * In training, element i is kept iff fx_rng_uniform(seed, i) >= rate and
 * kept elements are scaled by 1 / (1 - rate); otherwise (inference, or
 * rate 0) the op is the identity. The mask is not stored: backward draws
 * it again from the same (seed, i), which costs a hash per element but no
 * memory, and is what the OpenCL kernels do too (fx/rng.h is stateless).
 * Kernels: backends/cpu/dropout.c. */
#include "core/ops/ops.h"

static const fx_attr_spec dropout_attrs[] = {
    { "rate", FX_ATTR_FLOAT, 0, "0.5", "probability of dropping an element, in [0, 1)" },
};

static const char *const dropout_inputs[] = { "x" };

static fx_status dropout_infer(fx_infer_call *call)
{
    double rate = fx_node_attr_float(call->node, "rate");
    if (!(rate >= 0.0 && rate < 1.0))
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID,
                            "rate %g must be in [0, 1) (the probability of dropping; keep 0.6 is rate 0.4)",
                            rate);
    if (call->in_dtype[0] != FX_F32)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input must be f32, got %s",
                            fx_dtype_name(call->in_dtype[0]));
    call->out[0] = call->in[0];
    return FX_OK;
}

const fx_op_def fx_op_dropout = {
    .name = "dropout",
    .doc = "training: drop with probability rate, scale kept by 1/(1-rate); inference: identity",
    .min_inputs = 1,
    .max_inputs = 1,
    .input_names = dropout_inputs,
    .n_outputs = 1,
    .attrs = dropout_attrs,
    .n_attrs = 1,
    .infer = dropout_infer,
    .flags = FX_OP_INPLACE_OK | FX_OP_BACKWARD_NO_INPUT | FX_OP_BACKWARD_NO_OUTPUT,
};
