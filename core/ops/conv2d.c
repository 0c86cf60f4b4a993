/* core/ops/conv2d.c - the conv2d op: 2-D convolution (cross-correlation,
 * as in every framework) of an NCHW input with weight [O, C, kh, kw] and
 * an optional bias [O]. Geometry: core/ops/window2d.h. Kernels:
 * backends/cpu/conv2d.c. */
#include "core/ops/ops.h"
#include "core/ops/window2d.h"

static const char *const conv2d_inputs[] = { "x" };

static const fx_attr_spec conv2d_attrs[] = {
    { "out_channels", FX_ATTR_INT, 1, NULL, "number of output channels (filters)" },
    { "kernel", FX_ATTR_INTS, 1, NULL, "kernel size: n or [kh, kw]" },
    { "stride", FX_ATTR_INTS, 0, "1", "stride: n or [sh, sw]" },
    { "pad", FX_ATTR_INTS, 0, "0", "zero padding on both sides with padding: explicit: n or [ph, pw]" },
    { "padding", FX_ATTR_STRING, 0, "explicit",
      "explicit (use pad), same (TensorFlow SAME: out = ceil(in/stride), extra pixel after) or valid (none)" },
    { "bias", FX_ATTR_BOOL, 0, "true", "add a learnable bias per output channel" },
};

/* When bias is false the bias parameter gets shape ndim 0: "no tensor";
 * the executor then passes NULL for it to the kernels. */
static const fx_param_spec conv2d_params[] = {
    { "weight", 1, "he_normal", "conv" },
    { "bias", 1, "zeros", "conv_bias" },
};

static fx_status conv2d_infer(fx_infer_call *call)
{
    const fx_shape *x = &call->in[0];
    char buf[96];
    if (x->ndim != 4)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                            "input must be 4-D [N, C, H, W], got %s; give the input a [C, H, W] shape",
                            fx_shape_str(x, buf, sizeof buf));
    if (call->in_dtype[0] != FX_F32)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input must be f32, got %s",
                            fx_dtype_name(call->in_dtype[0]));
    int64_t out_channels = fx_node_attr_int(call->node, "out_channels");
    if (out_channels <= 0)
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID, "out_channels %lld must be positive",
                            (long long)out_channels);
    if (x->dim[1] <= 0)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input has %lld channels; need at least 1",
                            (long long)x->dim[1]);
    fx_window2d g;
    fx_status st = fx_window2d_resolve(call->ctx, call->node, x->dim[2], x->dim[3], &g);
    if (st != FX_OK)
        return st;

    call->out[0] = fx_shape_4d(x->dim[0], out_channels, g.out_h, g.out_w);
    call->out_dtype[0] = FX_F32;
    call->param[0] = fx_shape_4d(out_channels, x->dim[1], g.kernel_h, g.kernel_w);
    if (fx_node_attr_bool(call->node, "bias"))
        call->param[1] = fx_shape_1d(out_channels);
    else
        call->param[1].ndim = 0;
    call->n_aux = 0;
    return FX_OK;
}

const fx_op_def fx_op_conv2d = {
    .name = "conv2d",
    .doc = "2-D convolution of x [N,C,H,W] with weight [O,C,kh,kw] (+ bias [O]) -> [N,O,OH,OW]",
    .min_inputs = 1,
    .max_inputs = 1,
    .input_names = conv2d_inputs,
    .n_outputs = 1,
    .attrs = conv2d_attrs,
    .n_attrs = (int)(sizeof conv2d_attrs / sizeof conv2d_attrs[0]),
    .params = conv2d_params,
    .n_params = 2,
    .infer = conv2d_infer,
    .flags = FX_OP_BACKWARD_NO_OUTPUT,
};
