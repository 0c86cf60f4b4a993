/* core/ops/concat.c - definition of concat: joins 2 or more inputs along
 * `axis` (default 1, channels). Every other dimension must agree. The
 * batch axis 0 is refused: the executor treats dim 0 as the batch, and
 * joining two batches (the clean and occluded branches) would also change
 * what BatchNorm sees. Negative axes count from the end. Kernels:
 * backends/cpu/concat.c. */
#include "core/ops/ops.h"

static const fx_attr_spec concat_attrs[] = {
    { "axis", FX_ATTR_INT, 0, "1", "axis to join along (1 = channels; negative counts from the end)" },
};

static fx_status concat_infer(fx_infer_call *call)
{
    const fx_shape *a = &call->in[0];
    char b1[128], b2[128];
    int64_t axis = fx_node_attr_int(call->node, "axis");
    if (axis < 0)
        axis += a->ndim;
    if (axis < 1 || axis >= a->ndim)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                            "axis %lld is out of range for input %s (use 1..%d; axis 0 is the batch)",
                            (long long)fx_node_attr_int(call->node, "axis"), fx_shape_str(a, b1, sizeof b1),
                            a->ndim - 1);
    fx_shape out = *a;
    for (int i = 0; i < call->n_in; i++) {
        const fx_shape *s = &call->in[i];
        if (call->in_dtype[i] != FX_F32)
            return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input %d must be f32, got %s", i,
                                fx_dtype_name(call->in_dtype[i]));
        int same = s->ndim == a->ndim;
        for (int d = 0; same && d < a->ndim; d++)
            if (d != axis && s->dim[d] != a->dim[d])
                same = 0;
        if (!same)
            return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                                "input 0 %s and input %d %s differ outside axis %lld; "
                                "all dimensions but the concat axis must match",
                                fx_shape_str(a, b1, sizeof b1), i, fx_shape_str(s, b2, sizeof b2),
                                (long long)axis);
        if (i > 0)
            out.dim[axis] += s->dim[axis];
    }
    call->out[0] = out;
    return FX_OK;
}

const fx_op_def fx_op_concat = {
    .name = "concat",
    .doc = "joins 2 or more inputs along axis (default 1, channels)",
    .min_inputs = 2,
    .max_inputs = FX_MAX_INPUTS,
    .n_outputs = 1,
    .attrs = concat_attrs,
    .n_attrs = 1,
    .infer = concat_infer,
    .flags = FX_OP_BACKWARD_NO_INPUT | FX_OP_BACKWARD_NO_OUTPUT,
};
