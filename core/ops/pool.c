/* core/ops/pool.c - pooling ops on NCHW maps: maxpool2d, avgpool2d
 * (window geometry as conv2d: core/ops/window2d.h) and global_avgpool
 * ([N, C, H, W] -> [N, C]). Kernels: backends/cpu/pool.c.
 *
 * Padded positions never take part: maxpool takes the maximum over the
 * in-bounds elements of a window, and avgpool divides by the number of
 * in-bounds elements (PyTorch's count_include_pad=False, and TensorFlow's
 * behaviour with SAME padding), so a border output is the mean of real
 * pixels, not diluted by zeros. */
#include "core/ops/ops.h"
#include "core/ops/window2d.h"

static const char *const pool_inputs[] = { "x" };

static const fx_attr_spec pool2d_attrs[] = {
    { "kernel", FX_ATTR_INTS, 1, NULL, "window size: n or [kh, kw]" },
    { "stride", FX_ATTR_INTS, 0, NULL, "stride: n or [sh, sw]; default: the window size" },
    { "pad", FX_ATTR_INTS, 0, "0", "padding on both sides with padding: explicit: n or [ph, pw]" },
    { "padding", FX_ATTR_STRING, 0, "explicit",
      "explicit (use pad), same (TensorFlow SAME: out = ceil(in/stride), extra pixel after) or valid (none)" },
};

static fx_status pool_check_input(fx_infer_call *call)
{
    const fx_shape *x = &call->in[0];
    char buf[96];
    if (x->ndim != 4)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                            "input must be 4-D [N, C, H, W], got %s", fx_shape_str(x, buf, sizeof buf));
    if (call->in_dtype[0] != FX_F32)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input must be f32, got %s",
                            fx_dtype_name(call->in_dtype[0]));
    return FX_OK;
}

/* Shared by maxpool2d and avgpool2d; maxpool also saves its argmax. */
static fx_status pool2d_infer(fx_infer_call *call, int save_argmax)
{
    fx_status st = pool_check_input(call);
    if (st != FX_OK)
        return st;
    const fx_shape *x = &call->in[0];
    fx_window2d g;
    st = fx_window2d_resolve(call->ctx, call->node, x->dim[2], x->dim[3], &g);
    if (st != FX_OK)
        return st;
    /* A window made only of padding has no maximum and no mean. */
    if (g.pad_top >= g.kernel_h || g.pad_bottom >= g.kernel_h || g.pad_left >= g.kernel_w ||
        g.pad_right >= g.kernel_w)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                            "padding (%lld,%lld,%lld,%lld) must be smaller than the window %lldx%lld; "
                            "reduce pad",
                            (long long)g.pad_top, (long long)g.pad_bottom, (long long)g.pad_left,
                            (long long)g.pad_right, (long long)g.kernel_h, (long long)g.kernel_w);
    call->out[0] = fx_shape_4d(x->dim[0], x->dim[1], g.out_h, g.out_w);
    call->out_dtype[0] = FX_F32;
    call->n_aux = 0;
    if (save_argmax) {
        /* Index iy * W + ix of each output's maximum inside its plane. */
        call->n_aux = 1;
        call->aux[0] = call->out[0];
        call->aux_dtype[0] = FX_I32;
    }
    return FX_OK;
}

static fx_status maxpool2d_infer(fx_infer_call *call) { return pool2d_infer(call, 1); }
static fx_status avgpool2d_infer(fx_infer_call *call) { return pool2d_infer(call, 0); }

static fx_status global_avgpool_infer(fx_infer_call *call)
{
    fx_status st = pool_check_input(call);
    if (st != FX_OK)
        return st;
    const fx_shape *x = &call->in[0];
    if (x->dim[2] <= 0 || x->dim[3] <= 0)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input has an empty %lldx%lld map",
                            (long long)x->dim[2], (long long)x->dim[3]);
    call->out[0] = fx_shape_2d(x->dim[0], x->dim[1]);
    call->out_dtype[0] = FX_F32;
    call->n_aux = 0;
    return FX_OK;
}

const fx_op_def fx_op_maxpool2d = {
    .name = "maxpool2d",
    .doc = "max over kh x kw windows of x [N,C,H,W] (padding ignored) -> [N,C,OH,OW]",
    .min_inputs = 1,
    .max_inputs = 1,
    .input_names = pool_inputs,
    .n_outputs = 1,
    .attrs = pool2d_attrs,
    .n_attrs = (int)(sizeof pool2d_attrs / sizeof pool2d_attrs[0]),
    .params = NULL,
    .n_params = 0,
    .infer = maxpool2d_infer,
    .flags = 0,
};

const fx_op_def fx_op_avgpool2d = {
    .name = "avgpool2d",
    .doc = "mean over the in-bounds part of kh x kw windows of x [N,C,H,W] -> [N,C,OH,OW]",
    .min_inputs = 1,
    .max_inputs = 1,
    .input_names = pool_inputs,
    .n_outputs = 1,
    .attrs = pool2d_attrs,
    .n_attrs = (int)(sizeof pool2d_attrs / sizeof pool2d_attrs[0]),
    .params = NULL,
    .n_params = 0,
    .infer = avgpool2d_infer,
    .flags = FX_OP_BACKWARD_NO_INPUT | FX_OP_BACKWARD_NO_OUTPUT,
};

const fx_op_def fx_op_global_avgpool = {
    .name = "global_avgpool",
    .doc = "mean over H and W of x [N,C,H,W] -> [N,C]",
    .min_inputs = 1,
    .max_inputs = 1,
    .input_names = pool_inputs,
    .n_outputs = 1,
    .attrs = NULL,
    .n_attrs = 0,
    .params = NULL,
    .n_params = 0,
    .infer = global_avgpool_infer,
    .flags = FX_OP_BACKWARD_NO_INPUT | FX_OP_BACKWARD_NO_OUTPUT,
};
