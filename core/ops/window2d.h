/* core/ops/window2d.h - the 2-D window geometry (kernel, stride, padding,
 * output size) of conv2d, maxpool2d and avgpool2d, read from a node's
 * attributes. Shape functions and CPU kernels both call
 * fx_window2d_resolve, so the geometry is decided in one place
 * (core/ops/window.c). */
#ifndef FX_CORE_OPS_WINDOW2D_H
#define FX_CORE_OPS_WINDOW2D_H

#include "fx/fx.h"

typedef struct fx_window2d {
    int64_t kernel_h, kernel_w;
    int64_t stride_h, stride_w;
    int64_t pad_top, pad_bottom, pad_left, pad_right;
    int64_t out_h, out_w;
} fx_window2d;

/* Reads the attributes `kernel` (n or [kh, kw]), `stride` (n or [sh, sw];
 * when the node has no stride, the kernel size: the pooling default),
 * `pad` (n or [ph, pw]) and `padding` (explicit | same | valid) and
 * resolves both axes of an in_h x in_w input with fx_window_padding.
 * Errors name the node and the fix. */
fx_status fx_window2d_resolve(fx_context *ctx, const fx_node *node, int64_t in_h, int64_t in_w,
                              fx_window2d *out);

#endif
