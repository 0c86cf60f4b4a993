/* core/ops/ops.h - the built-in op definitions (one per core/ops/<op>.c)
 * and small shared helpers for shape functions. */
#ifndef FX_CORE_OPS_H
#define FX_CORE_OPS_H

#include "fx/fx.h"
#include "fx/geometry.h"

extern const fx_op_def fx_op_conv2d;
extern const fx_op_def fx_op_linear;
extern const fx_op_def fx_op_maxpool2d;
extern const fx_op_def fx_op_avgpool2d;
extern const fx_op_def fx_op_global_avgpool;
extern const fx_op_def fx_op_batchnorm;
extern const fx_op_def fx_op_relu;
extern const fx_op_def fx_op_elu;
extern const fx_op_def fx_op_dropout;
extern const fx_op_def fx_op_resize_bilinear;
extern const fx_op_def fx_op_concat;
extern const fx_op_def fx_op_l2_normalize;
extern const fx_op_def fx_op_add;
extern const fx_op_def fx_op_mul;
extern const fx_op_def fx_op_scale;
extern const fx_op_def fx_op_flatten;
extern const fx_op_def fx_op_reshape;
extern const fx_op_def fx_op_softmax_cross_entropy;
/* the paper's ops (docs/losses.md) */
extern const fx_op_def fx_op_topk_mask;
extern const fx_op_def fx_op_sad_loss;
extern const fx_op_def fx_op_fad_loss;
extern const fx_op_def fx_op_filter_diversity;
extern const fx_op_def fx_op_occlude;

/* Output size of a 1-D window op (conv, pool) with explicit padding
 * pad_before/pad_after; returns <= 0 when the window does not fit, and -1
 * when the sizes overflow int64 (or are negative, or stride < 1). */
static inline int64_t fx_window_out(int64_t in, int64_t k, int64_t stride, int64_t pad_before, int64_t pad_after)
{
    int64_t span;
    if (in < 0 || k < 0 || stride < 1 || pad_before < 0 || pad_after < 0 || __builtin_add_overflow(in, pad_before, &span) ||
        __builtin_add_overflow(span, pad_after, &span))
        return -1;
    span -= k;
    return span < 0 ? 0 : span / stride + 1;
}

/* Padding modes shared by conv2d and pooling: "explicit" uses the `pad`
 * attribute symmetrically; "same" is TensorFlow's SAME: out = ceil(in /
 * stride), total padding max((out-1)*stride + k - in, 0) split with the
 * smaller half BEFORE (so stride-2 3x3 on even sizes pads 0 before, 1
 * after); "valid" is no padding. */
fx_status fx_window_padding(fx_context *ctx, const fx_node *node, int64_t in, int64_t k, int64_t stride,
                            int64_t pad_attr, int64_t *pad_before, int64_t *pad_after, int64_t *out);

/* The occlusion window (fx_occlude_draw, fx_occlude_spans) is public:
 * fx/geometry.h. */

#endif
