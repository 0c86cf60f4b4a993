/* core/ops/batchnorm.c - definition of the batchnorm op: per-channel
 * normalisation of x [N, C, ...] (NCHW maps or [N, C] vectors).
 *
 * Training normalises with the batch statistics (biased variance) and
 * updates the running averages with the TensorFlow momentum convention:
 *   running = momentum * running + (1 - momentum) * batch
 * (running_var takes the unbiased batch variance, as PyTorch and TF do).
 * Inference normalises with the running statistics. Two nodes that share
 * these parameters (two branches, one set of weights) each normalise with
 * their own batch and both update the running averages; nothing is cached
 * in the op between nodes. Kernels: backends/cpu/batchnorm.c. */
#include "core/ops/ops.h"

static const fx_attr_spec batchnorm_attrs[] = {
    { "momentum", FX_ATTR_FLOAT, 0, "0.9",
      "running = momentum * running + (1 - momentum) * batch (TensorFlow convention)" },
    { "eps", FX_ATTR_FLOAT, 0, "1e-5", "added to the variance before the square root" },
};

static const fx_param_spec batchnorm_params[] = {
    { "weight", 1, "ones", "bn" },            /* gamma */
    { "bias", 1, "zeros", "bn_bias" },        /* beta */
    { "running_mean", 0, "zeros", NULL },
    { "running_var", 0, "ones", NULL },
};

static const char *const batchnorm_inputs[] = { "x" };

static fx_status batchnorm_infer(fx_infer_call *call)
{
    const fx_shape *x = &call->in[0];
    char buf[128];
    if (call->in_dtype[0] != FX_F32)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input must be f32, got %s",
                            fx_dtype_name(call->in_dtype[0]));
    if (x->ndim < 2)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                            "input %s must be [N, C] or [N, C, H, W] (channels on axis 1)",
                            fx_shape_str(x, buf, sizeof buf));
    double momentum = fx_node_attr_float(call->node, "momentum");
    double eps = fx_node_attr_float(call->node, "eps");
    if (!(momentum >= 0.0 && momentum <= 1.0))
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID,
                            "momentum %g must be in [0, 1] (TensorFlow convention: 0.9 keeps 90%% of the running value)",
                            momentum);
    if (!(eps > 0.0))
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID, "eps %g must be > 0", eps);

    int64_t c = x->dim[1];
    call->out[0] = *x;
    for (int i = 0; i < 4; i++)
        call->param[i] = fx_shape_1d(c);
    /* Saved for backward: batch mean and 1/sqrt(var + eps) per channel. */
    call->n_aux = 2;
    call->aux[0] = fx_shape_1d(c);
    call->aux[1] = fx_shape_1d(c);
    return FX_OK;
}

const fx_op_def fx_op_batchnorm = {
    .name = "batchnorm",
    .doc = "batch normalisation over axis 1 (momentum 0.9 TF convention, eps 1e-5)",
    .min_inputs = 1,
    .max_inputs = 1,
    .input_names = batchnorm_inputs,
    .n_outputs = 1,
    .attrs = batchnorm_attrs,
    .n_attrs = (int)(sizeof batchnorm_attrs / sizeof batchnorm_attrs[0]),
    .params = batchnorm_params,
    .n_params = 4,
    .infer = batchnorm_infer,
    .flags = FX_OP_BACKWARD_NO_OUTPUT,
};
