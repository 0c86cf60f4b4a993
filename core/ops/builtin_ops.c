/* core/ops/builtin_ops.c - the list of built-in op definitions. Each op
 * lives in its own file (core/ops/<op>.c) exporting `const fx_op_def
 * fx_op_<name>`; this file registers them in order. */
#include "core/internal.h"
#include "core/ops/ops.h"

static const fx_op_def *const builtin_ops[] = {
    /* BEGIN OP TABLE: add one &fx_op_<name>, line per op */
    &fx_op_conv2d,
    &fx_op_linear,
    &fx_op_maxpool2d,
    &fx_op_avgpool2d,
    &fx_op_global_avgpool,
    &fx_op_batchnorm,
    &fx_op_relu,
    &fx_op_elu,
    &fx_op_dropout,
    &fx_op_resize_bilinear,
    &fx_op_concat,
    &fx_op_l2_normalize,
    &fx_op_add,
    &fx_op_mul,
    &fx_op_scale,
    &fx_op_flatten,
    &fx_op_reshape,
    &fx_op_softmax_cross_entropy,
    &fx_op_topk_mask,
    &fx_op_sad_loss,
    &fx_op_fad_loss,
    &fx_op_filter_diversity,
    &fx_op_occlude,
    /* END OP TABLE */
    NULL
};

fx_status fx_register_builtin_ops(fx_registry *reg)
{
    for (int i = 0; builtin_ops[i]; i++) {
        fx_status st = fx_registry_add_op(reg, builtin_ops[i]);
        if (st != FX_OK)
            return st;
    }
    return FX_OK;
}
