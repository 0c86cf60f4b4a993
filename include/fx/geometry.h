/* fx/geometry.h - the geometry every backend must agree on, decided in one
 * place in the core and public so that backends in modules and plugins
 * (the OpenCL backend, libfx-opencl.so) use the same answers as the CPU:
 * the 2-D window (kernel, stride, padding, output size) of conv2d,
 * maxpool2d and avgpool2d, and the occlusion window of the occlude op. */
#ifndef FX_GEOMETRY_H
#define FX_GEOMETRY_H

#include <stdint.h>
#include "fx/context.h"
#include "fx/op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A resolved 2-D window: output out_h x out_w of an input padded by
 * pad_top/pad_bottom rows and pad_left/pad_right columns. */
typedef struct fx_window2d {
    int64_t kernel_h, kernel_w;
    int64_t stride_h, stride_w;
    int64_t pad_top, pad_bottom, pad_left, pad_right;
    int64_t out_h, out_w;
} fx_window2d;

/* Reads the node's attributes `kernel` (n or [kh, kw]), `stride` (n or
 * [sh, sw]; when the node has no stride, the kernel size: the pooling
 * default), `pad` (n or [ph, pw]) and `padding` (explicit | same | valid:
 * TensorFlow's SAME puts the smaller half of the padding before) and
 * resolves both axes of an in_h x in_w input (core/ops/window.c). Errors
 * name the node and the fix. Shape functions and the kernels of every
 * backend call it, so the geometry is decided in one place. */
fx_status fx_window2d_resolve(fx_context *ctx, const fx_node *node, int64_t in_h, int64_t in_w,
                              fx_window2d *out);

/* The occlusion window of an occlude node at a step (seed: the node's
 * seed at that step, fx_kernel_call.seed), clipped to an h x w image;
 * drawn on the host so every backend paints the same pixels
 * (core/ops/occlude.c). */
typedef struct fx_occlude_window {
    int64_t top, left, height, width; /* may be empty */
} fx_occlude_window;
fx_occlude_window fx_occlude_draw(const fx_node *node, uint64_t seed, int64_t h, int64_t w);
/* With landmarks [n, 68, 2] (or NULL): per image b and row i the painted
 * columns spans[(b * h + i) * 4 + 0..3] = [j0, j1) and [j2, j3) (the
 * window warped to each face through the landmark mesh). */
fx_status fx_occlude_spans(fx_context *ctx, const fx_node *node, uint64_t seed, int64_t n, int64_t h, int64_t w,
                           const float *landmarks, int32_t *spans);

#ifdef __cplusplus
}
#endif
#endif
