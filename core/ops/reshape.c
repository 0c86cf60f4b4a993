/* core/ops/reshape.c - definitions of flatten ([N, ...] -> [N, prod]) and
 * reshape (per-example shape from the `shape` attribute, batch kept, one
 * -1 inferred). Both only reinterpret the data; the kernels copy because
 * the executor gives every value its own buffer. Kernels:
 * backends/cpu/reshape.c. */
#include "core/ops/ops.h"

static const char *const reshape_inputs[] = { "x" };

static fx_status flatten_infer(fx_infer_call *call)
{
    const fx_shape *x = &call->in[0];
    int64_t per_example = 1;
    for (int d = 1; d < x->ndim; d++)
        per_example *= x->dim[d];
    call->out[0] = fx_shape_2d(x->dim[0], per_example);
    call->out_dtype[0] = call->in_dtype[0];
    return FX_OK;
}

static fx_status reshape_infer(fx_infer_call *call)
{
    const fx_shape *x = &call->in[0];
    char buf[128];
    int64_t want[FX_MAX_INTS];
    int n = fx_node_attr_ints(call->node, "shape", want, FX_MAX_INTS);
    if (n < 1 || n > FX_MAX_DIMS - 1)
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID,
                            "shape has %d dimensions; give 1..%d (per example, without the batch)", n,
                            FX_MAX_DIMS - 1);
    int64_t per_example = 1;
    for (int d = 1; d < x->ndim; d++)
        per_example *= x->dim[d];
    int infer_at = -1;
    int64_t known = 1;
    for (int i = 0; i < n; i++) {
        if (want[i] == -1) {
            if (infer_at >= 0)
                return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID,
                                    "shape has more than one -1; only one dimension can be inferred");
            infer_at = i;
        } else if (want[i] <= 0) {
            return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID,
                                "shape dimension %d is %lld; use a positive size or -1", i, (long long)want[i]);
        } else {
            known *= want[i];
        }
    }
    if (infer_at >= 0) {
        if (per_example % known != 0)
            return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                                "cannot infer -1: %lld elements per example of input %s are not a multiple of %lld",
                                (long long)per_example, fx_shape_str(x, buf, sizeof buf), (long long)known);
        want[infer_at] = per_example / known;
        known = per_example;
    }
    if (known != per_example)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                            "shape has %lld elements per example but input %s has %lld", (long long)known,
                            fx_shape_str(x, buf, sizeof buf), (long long)per_example);
    fx_shape out;
    out.ndim = n + 1;
    out.dim[0] = x->dim[0];
    for (int i = 0; i < n; i++)
        out.dim[i + 1] = want[i];
    for (int d = n + 1; d < FX_MAX_DIMS; d++)
        out.dim[d] = 0;
    call->out[0] = out;
    call->out_dtype[0] = call->in_dtype[0];
    return FX_OK;
}

const fx_op_def fx_op_flatten = {
    .name = "flatten",
    .doc = "[N, ...] -> [N, product of the rest]",
    .min_inputs = 1,
    .max_inputs = 1,
    .input_names = reshape_inputs,
    .n_outputs = 1,
    .infer = flatten_infer,
    .flags = FX_OP_BACKWARD_NO_INPUT | FX_OP_BACKWARD_NO_OUTPUT,
};

static const fx_attr_spec reshape_attrs[] = {
    { "shape", FX_ATTR_INTS, 1, NULL, "per-example shape without the batch; one -1 is inferred" },
};

const fx_op_def fx_op_reshape = {
    .name = "reshape",
    .doc = "reshape each example to `shape` (batch kept, one -1 inferred)",
    .min_inputs = 1,
    .max_inputs = 1,
    .input_names = reshape_inputs,
    .n_outputs = 1,
    .attrs = reshape_attrs,
    .n_attrs = 1,
    .infer = reshape_infer,
    .flags = FX_OP_BACKWARD_NO_INPUT | FX_OP_BACKWARD_NO_OUTPUT,
};
