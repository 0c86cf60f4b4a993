/* core/ops/window.c - padding and output size of 1-D windows (one spatial
 * axis of conv2d, maxpool2d, avgpool2d), shared by their shape functions
 * and kernels so both always agree on the geometry. */
#include <string.h>

#include "core/ops/ops.h"
#include "core/ops/window2d.h"

/* Reads the node's `padding` attribute ("explicit" when the op has none)
 * and resolves it for one axis. See ops.h for the meaning of each mode. */
fx_status fx_window_padding(fx_context *ctx, const fx_node *node, int64_t in, int64_t k, int64_t stride,
                            int64_t pad_attr, int64_t *pad_before, int64_t *pad_after, int64_t *out)
{
    const char *mode = fx_node_has_attr(node, "padding") ? fx_node_attr_string(node, "padding") : NULL;
    if (!mode)
        mode = "explicit";

    if (k <= 0)
        return fx_node_fail(ctx, node, FX_ERR_SHAPE, "kernel size %lld must be positive", (long long)k);
    if (stride <= 0)
        return fx_node_fail(ctx, node, FX_ERR_SHAPE, "stride %lld must be positive", (long long)stride);
    if (in <= 0)
        return fx_node_fail(ctx, node, FX_ERR_SHAPE, "input size %lld must be positive", (long long)in);

    int64_t before, after;
    if (strcmp(mode, "explicit") == 0) {
        if (pad_attr < 0)
            return fx_node_fail(ctx, node, FX_ERR_SHAPE, "pad %lld must be >= 0", (long long)pad_attr);
        before = after = pad_attr;
    } else if (strcmp(mode, "same") == 0 || strcmp(mode, "valid") == 0) {
        /* A pad given next to an automatic mode would be silently ignored:
         * refuse it so the user sees which one wins. */
        if (pad_attr != 0)
            return fx_node_fail(ctx, node, FX_ERR_INVALID,
                                "pad %lld is only used with padding: explicit; remove pad or set padding: explicit",
                                (long long)pad_attr);
        if (mode[0] == 's') {
            /* TensorFlow SAME: out = ceil(in / stride); the smaller half of
             * the total padding goes before (asymmetric for even totals
             * split an odd way, e.g. 3x3 stride 2 on 96: 0 before, 1 after). */
            int64_t o = (in + stride - 1) / stride;
            int64_t total = (o - 1) * stride + k - in;
            if (total < 0)
                total = 0;
            before = total / 2;
            after = total - before;
        } else {
            before = after = 0;
        }
    } else {
        return fx_node_fail(ctx, node, FX_ERR_INVALID,
                            "unknown padding '%s'; use explicit, same or valid", mode);
    }

    int64_t o = fx_window_out(in, k, stride, before, after);
    if (o < 0)
        return fx_node_fail(ctx, node, FX_ERR_SHAPE, "the window sizes are too large (input %lld, kernel %lld, "
                            "stride %lld, padding %lld+%lld)", (long long)in, (long long)k, (long long)stride,
                            (long long)before, (long long)after);
    if (o == 0)
        return fx_node_fail(ctx, node, FX_ERR_SHAPE,
                            "window %lld does not fit the input size %lld with padding %lld+%lld; "
                            "use a smaller kernel, more padding or padding: same",
                            (long long)k, (long long)in, (long long)before, (long long)after);
    *pad_before = before;
    *pad_after = after;
    *out = o;
    return FX_OK;
}

/* Reads an INTS attribute of one value (both axes) or two ([h, w]). */
static fx_status window_read_pair(fx_context *ctx, const fx_node *node, const char *key, int64_t *h,
                                  int64_t *w)
{
    int64_t v[FX_MAX_INTS];
    int n = fx_node_attr_ints(node, key, v, FX_MAX_INTS);
    if (n == 1) {
        *h = *w = v[0];
        return FX_OK;
    }
    if (n == 2) {
        *h = v[0];
        *w = v[1];
        return FX_OK;
    }
    return fx_node_fail(ctx, node, FX_ERR_INVALID, "%s takes one value n or two values [h, w], got %d",
                        key, n);
}

fx_status fx_window2d_resolve(fx_context *ctx, const fx_node *node, int64_t in_h, int64_t in_w,
                              fx_window2d *out)
{
    fx_window2d g;
    memset(&g, 0, sizeof g);
    int64_t pad_h = 0, pad_w = 0;
    fx_status st = window_read_pair(ctx, node, "kernel", &g.kernel_h, &g.kernel_w);
    if (st != FX_OK)
        return st;
    if (fx_node_has_attr(node, "stride")) {
        st = window_read_pair(ctx, node, "stride", &g.stride_h, &g.stride_w);
        if (st != FX_OK)
            return st;
    } else {
        /* Pooling convention: non-overlapping windows unless told. */
        g.stride_h = g.kernel_h;
        g.stride_w = g.kernel_w;
    }
    if (fx_node_has_attr(node, "pad")) {
        st = window_read_pair(ctx, node, "pad", &pad_h, &pad_w);
        if (st != FX_OK)
            return st;
    }
    st = fx_window_padding(ctx, node, in_h, g.kernel_h, g.stride_h, pad_h, &g.pad_top, &g.pad_bottom, &g.out_h);
    if (st != FX_OK)
        return st;
    st = fx_window_padding(ctx, node, in_w, g.kernel_w, g.stride_w, pad_w, &g.pad_left, &g.pad_right, &g.out_w);
    if (st != FX_OK)
        return st;
    *out = g;
    return FX_OK;
}
