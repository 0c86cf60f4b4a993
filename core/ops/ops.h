/* core/ops/ops.h - the built-in op definitions (one per core/ops/<op>.c)
 * and small shared helpers for shape functions. */
#ifndef FX_CORE_OPS_H
#define FX_CORE_OPS_H

#include "fx/fx.h"
#include "fx/geometry.h"

/* fx_op_conv2d, fx_op_linear, ...: one per entry of core/ops/op_list.h. */
#define FX_OP(name) extern const fx_op_def fx_op_##name;
#include "core/ops/op_list.h"
#undef FX_OP

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
