/* core/ops/resize_bilinear.c - definition of resize_bilinear: resamples
 * x [N, C, H, W] to [N, C, size_h, size_w] by bilinear interpolation.
 *
 * `mapping` says where output pixel d samples the input (in, out = sizes
 * along one axis):
 *   half_pixel    src = (d + 0.5) * in / out - 0.5, clamped at 0
 *                 (PyTorch align_corners=False, TF2 half_pixel_centers)
 *   align_corners src = d * (in - 1) / (out - 1)  (0 when out == 1)
 *   asymmetric    src = d * in / out  (TF1 legacy resize_bilinear, the
 *                 mapping of the paper's released code)
 * The sample reads rows floor(src) and floor(src)+1, the latter clamped to
 * the last row. Kernels: backends/cpu/resize_bilinear.c. */
#include <string.h>

#include "core/ops/ops.h"

static const fx_attr_spec resize_attrs[] = {
    { "size", FX_ATTR_INTS, 1, NULL, "output size: n (square) or [H, W]" },
    { "mapping", FX_ATTR_STRING, 0, "half_pixel", "half_pixel, align_corners or asymmetric" },
};

static const char *const resize_inputs[] = { "x" };

static fx_status resize_infer(fx_infer_call *call)
{
    const fx_shape *x = &call->in[0];
    char buf[128];
    if (call->in_dtype[0] != FX_F32)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input must be f32, got %s",
                            fx_dtype_name(call->in_dtype[0]));
    if (x->ndim != 4)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input %s must be [N, C, H, W]",
                            fx_shape_str(x, buf, sizeof buf));
    const char *mapping = fx_node_attr_string(call->node, "mapping");
    if (!mapping || (strcmp(mapping, "half_pixel") != 0 && strcmp(mapping, "align_corners") != 0 &&
                     strcmp(mapping, "asymmetric") != 0))
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID,
                            "unknown mapping '%s'; use half_pixel, align_corners or asymmetric",
                            mapping ? mapping : "");
    int64_t size[FX_MAX_INTS];
    int n = fx_node_attr_ints(call->node, "size", size, FX_MAX_INTS);
    if (n == 1) {
        size[1] = size[0];
    } else if (n != 2) {
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID,
                            "size has %d values; give n or [H, W]", n);
    }
    if (size[0] <= 0 || size[1] <= 0)
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID,
                            "size [%lld, %lld] must be positive", (long long)size[0], (long long)size[1]);
    if (x->dim[2] <= 0 || x->dim[3] <= 0)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input %s has an empty image",
                            fx_shape_str(x, buf, sizeof buf));
    call->out[0] = fx_shape_4d(x->dim[0], x->dim[1], size[0], size[1]);
    return FX_OK;
}

const fx_op_def fx_op_resize_bilinear = {
    .name = "resize_bilinear",
    .doc = "bilinear resize of [N,C,H,W] to size [H,W] (mapping half_pixel, align_corners or asymmetric)",
    .min_inputs = 1,
    .max_inputs = 1,
    .input_names = resize_inputs,
    .n_outputs = 1,
    .attrs = resize_attrs,
    .n_attrs = (int)(sizeof resize_attrs / sizeof resize_attrs[0]),
    .infer = resize_infer,
    .flags = FX_OP_BACKWARD_NO_INPUT | FX_OP_BACKWARD_NO_OUTPUT,
};
