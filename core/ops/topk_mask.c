/* core/ops/topk_mask.c - definition of topk_mask, the sparsifying mask of
 * Yin et al. (docs/losses.md): for every image n and channel c of
 * x [N, C, H, W], let t[n, c] be the k-th largest |x| among the H*W
 * positions (counted with multiplicity); then
 *   y = x  where |x| > t  (strictly),   y = 0 elsewhere.
 * With distinct values k - 1 positions survive (k = 24 keeps 23); values
 * tied with the threshold are dropped. k = 0 (the default) means k = H,
 * the paper's choice; k = H*W makes t the smallest |x|; a larger k is
 * refused (it names no position). A NaN counts as
 * the largest magnitude (it is kept, so it stays visible downstream).
 * The thresholds t are saved (aux [N, C]) so backward, which passes the
 * gradient only where |x| > t, needs neither a mask nor a second
 * selection. Kernels: backends/cpu/topk_mask.c. */
#include "core/ops/ops.h"

static const fx_attr_spec topk_attrs[] = {
    { "k", FX_ATTR_INT, 0, "0",
      "the k-th largest |x| per channel is the threshold; positions strictly above it are kept "
      "(0 = the map height H; H*W keeps everything above the smallest |x|; at most H*W)" },
};

static const char *const topk_inputs[] = { "x" };

static fx_status topk_infer(fx_infer_call *call)
{
    const fx_shape *x = &call->in[0];
    char buf[128];
    if (call->in_dtype[0] != FX_F32)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input must be f32, got %s",
                            fx_dtype_name(call->in_dtype[0]));
    if (x->ndim != 4)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                            "input %s must be feature maps [N, C, H, W]", fx_shape_str(x, buf, sizeof buf));
    if (x->dim[2] * x->dim[3] > INT32_MAX)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input %s: maps of more than 2^31 - 1 positions "
                            "are not supported", fx_shape_str(x, buf, sizeof buf));
    int64_t k = fx_node_attr_int(call->node, "k");
    if (k < 0)
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID,
                            "k %lld must be >= 0 (0 means the map height, as in the paper)", (long long)k);
    if (k > x->dim[2] * x->dim[3])
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID,
                            "k %lld is more than the %lld positions of each map of input %s; use k from 1 to %lld "
                            "(0 means the map height)",
                            (long long)k, (long long)(x->dim[2] * x->dim[3]), fx_shape_str(x, buf, sizeof buf),
                            (long long)(x->dim[2] * x->dim[3]));
    call->out[0] = *x;
    call->n_aux = 1;
    call->aux[0] = fx_shape_2d(x->dim[0], x->dim[1]); /* threshold t per (n, c) */
    return FX_OK;
}

const fx_op_def fx_op_topk_mask = {
    .name = "topk_mask",
    .doc = "per image and channel keep x where |x| > the k-th largest |x| of the map (k = 0: map height), else 0",
    .min_inputs = 1,
    .max_inputs = 1,
    .input_names = topk_inputs,
    .n_outputs = 1,
    .attrs = topk_attrs,
    .n_attrs = 1,
    .infer = topk_infer,
    .flags = FX_OP_BACKWARD_NO_OUTPUT,
};
