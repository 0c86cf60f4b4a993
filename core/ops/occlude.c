/* core/ops/occlude.c - definition of occlude, the synthetic occlusion of
 * Yin et al.'s FAD branch (docs/losses.md §5).
 *
 * image [N, C, H, W] -> output 0: a copy with a window set to `value`
 * (default -1: black for images scaled to [-1, 1]); output 1: the window
 * as [1, 4] floats (top, left, height, width) in input pixels.
 * The window's top-left corner (x, y) is drawn once per batch, uniformly
 * from the inclusive ranges x_range, y_range of a `frame` x `frame`
 * frontal face frame, from the node's per-step seed (x first, then y), so
 * every image of a batch gets the same window and each step a new one.
 * The corner is then mapped to the input: fit "scale" multiplies it by
 * H/frame (rows) and W/frame (columns) and rounds; fit "crop" takes the
 * input to be the centred H x W crop of the frame and subtracts
 * ((frame - H)/2, (frame - W)/2). The window size is in input pixels. The
 * window is clipped to the image.
 *
 * Optional input 1, landmarks [N, 68, 2] (x, y in input pixels, the
 * loader's fx_loader_next_landmarks): for each image whose 68 points are
 * finite, the window is taken in the frame - corner (x, y) as drawn, size
 * `window` in frame pixels - on the mean face (fx_face_template68(frame)),
 * its four corners are warped through the face mesh to the image, and the
 * quadrilateral is painted (fx_face_quad_row_spans); an image with a
 * non-finite point gets the plain window above. Output 1 is always the
 * plain window. Applied in training and inference alike. Backward passes
 * the gradient outside the painted pixels; landmarks get no gradient.
 * Kernels: backends/cpu/occlude.c, backends/opencl/ocl_paper.c. */
#include <math.h>
#include <string.h>

#include "core/ops/ops.h"
#include "fx/face.h"

static const fx_attr_spec occlude_attrs[] = {
    { "value", FX_ATTR_FLOAT, 0, "-1", "value written inside the window" },
    { "window", FX_ATTR_INTS, 0, "[12, 32]", "window [height, width] in input pixels" },
    { "x_range", FX_ATTR_INTS, 0, "[10, 68]", "inclusive range of the corner's column in the frame" },
    { "y_range", FX_ATTR_INTS, 0, "[10, 88]", "inclusive range of the corner's row in the frame" },
    { "frame", FX_ATTR_INT, 0, "110", "size of the square frame the ranges refer to" },
    { "fit", FX_ATTR_STRING, 0, "scale", "frame to input: scale (corner * size/frame) or crop (centred crop)" },
};

static const char *const occlude_inputs[] = { "image", "landmarks" };

static fx_status occlude_pair(fx_infer_call *call, const char *key, int64_t min_first, int ordered)
{
    int64_t v[FX_MAX_INTS];
    int n = fx_node_attr_ints(call->node, key, v, FX_MAX_INTS);
    if (n != 2)
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID, "%s needs two integers, got %d", key, n);
    if (v[0] < min_first || v[1] < min_first || (ordered && v[1] < v[0]))
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID,
                            ordered ? "%s [%lld, %lld] must be an inclusive range [low, high] with 0 <= low <= high"
                                    : "%s [%lld, %lld] must be two sizes >= 1",
                            key, (long long)v[0], (long long)v[1]);
    return FX_OK;
}

static fx_status occlude_infer(fx_infer_call *call)
{
    const fx_shape *x = &call->in[0];
    char buf[128];
    if (call->in_dtype[0] != FX_F32)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input must be f32, got %s",
                            fx_dtype_name(call->in_dtype[0]));
    if (x->ndim != 4)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input %s must be images [N, C, H, W]",
                            fx_shape_str(x, buf, sizeof buf));
    if (call->n_in == 2) {
        const fx_shape *l = &call->in[1];
        if (call->in_dtype[1] != FX_F32 || l->ndim != 3 || l->dim[0] != x->dim[0] || l->dim[1] != FX_FACE_POINTS68 ||
            l->dim[2] != 2)
            return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                                "landmarks %s (%s) must be f32 [%lld, 68, 2]: the 68 points (x, y) of each image",
                                fx_shape_str(l, buf, sizeof buf), fx_dtype_name(call->in_dtype[1]),
                                (long long)x->dim[0]);
    }
    fx_status st = occlude_pair(call, "window", 1, 0);
    if (st == FX_OK)
        st = occlude_pair(call, "x_range", 0, 1);
    if (st == FX_OK)
        st = occlude_pair(call, "y_range", 0, 1);
    if (st != FX_OK)
        return st;
    if (fx_node_attr_int(call->node, "frame") < 1)
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID, "frame %lld must be >= 1",
                            (long long)fx_node_attr_int(call->node, "frame"));
    const char *fit = fx_node_attr_string(call->node, "fit");
    if (!fit || (strcmp(fit, "scale") != 0 && strcmp(fit, "crop") != 0))
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID, "fit '%s' is not one of: scale, crop",
                            fit ? fit : "");
    /* A window as large as the image blanks all of it; a larger one is a
     * mistake (often the window written for another image size). */
    int64_t win[2];
    fx_node_attr_ints(call->node, "window", win, 2);
    if (win[0] > x->dim[2] || win[1] > x->dim[3])
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID,
                            "window [%lld, %lld] is larger than the input images %s (%lld x %lld pixels); use a "
                            "window of at most [%lld, %lld]",
                            (long long)win[0], (long long)win[1], fx_shape_str(x, buf, sizeof buf),
                            (long long)x->dim[2], (long long)x->dim[3], (long long)x->dim[2], (long long)x->dim[3]);
    call->out[0] = *x;
    call->out[1] = fx_shape_2d(1, 4);
    return FX_OK;
}

const fx_op_def fx_op_occlude = {
    .name = "occlude",
    .doc = "paint a window (same for the whole batch, new each step) with a value; outputs the image and the window",
    .min_inputs = 1,
    .max_inputs = 2,
    .input_names = occlude_inputs,
    .n_outputs = 2,
    .attrs = occlude_attrs,
    .n_attrs = 6,
    .infer = occlude_infer,
    .flags = 0,
};

/* The window: corner x = x0 + below(x1 - x0 + 1), then y the same way,
 * from the node's per-step seed; mapped from the frame to the image by
 * scaling (fit: scale) or by the centre-crop offset (fit: crop); clipped. */
fx_occlude_window fx_occlude_draw(const fx_node *node, uint64_t seed, int64_t h, int64_t w)
{
    int64_t win[2], xr[2], yr[2];
    fx_node_attr_ints(node, "window", win, 2);
    fx_node_attr_ints(node, "x_range", xr, 2);
    fx_node_attr_ints(node, "y_range", yr, 2);
    int64_t frame = fx_node_attr_int(node, "frame");
    const char *fit = fx_node_attr_string(node, "fit");
    fx_rng rng;
    fx_rng_seed(&rng, seed);
    int64_t x = xr[0] + (int64_t)fx_rng_below(&rng, (uint64_t)(xr[1] - xr[0] + 1));
    int64_t y = yr[0] + (int64_t)fx_rng_below(&rng, (uint64_t)(yr[1] - yr[0] + 1));
    int64_t top, left;
    if (fit && !strcmp(fit, "crop")) {
        top = y - (frame - h) / 2;
        left = x - (frame - w) / 2;
    } else {
        top = (int64_t)floor((double)y * (double)h / (double)frame + 0.5);
        left = (int64_t)floor((double)x * (double)w / (double)frame + 0.5);
    }
    int64_t bottom = top + win[0], right = left + win[1];
    fx_occlude_window o;
    o.top = top < 0 ? 0 : top > h ? h : top;
    o.left = left < 0 ? 0 : left > w ? w : left;
    bottom = bottom < o.top ? o.top : bottom > h ? h : bottom;
    right = right < o.left ? o.left : right > w ? w : right;
    o.height = bottom - o.top;
    o.width = right - o.left;
    return o;
}

/* Per image and row, the columns painted (fx_face_quad_row_spans), with
 * the landmark warp where an image's points are finite and the plain
 * window elsewhere. The template and its mesh are built per call (68
 * points: microseconds next to the images). */
fx_status fx_occlude_spans(fx_context *ctx, const fx_node *node, uint64_t seed, int64_t n, int64_t h, int64_t w,
                           const float *landmarks, int32_t *spans)
{
    fx_occlude_window plain = fx_occlude_draw(node, seed, h, w);
    int64_t win[2], xr[2], yr[2];
    fx_node_attr_ints(node, "window", win, 2);
    fx_node_attr_ints(node, "x_range", xr, 2);
    fx_node_attr_ints(node, "y_range", yr, 2);
    int frame = (int)fx_node_attr_int(node, "frame");
    /* The corner in the frame, as fx_occlude_draw drew it. */
    fx_rng rng;
    fx_rng_seed(&rng, seed);
    int x = (int)(xr[0] + (int64_t)fx_rng_below(&rng, (uint64_t)(xr[1] - xr[0] + 1)));
    int y = (int)(yr[0] + (int64_t)fx_rng_below(&rng, (uint64_t)(yr[1] - yr[0] + 1)));
    float template_xy[2 * FX_FACE_POINTS68];
    fx_face_mesh *mesh = NULL;
    fx_status st = fx_face_template68(ctx, frame, template_xy);
    if (st == FX_OK)
        st = fx_face_mesh_create(ctx, template_xy, FX_FACE_POINTS68, &mesh);
    if (st != FX_OK)
        return st;
    for (int64_t b = 0; b < n; b++) {
        int32_t *s = spans + (size_t)b * (size_t)h * 4;
        float quad[8];
        int warped = landmarks && fx_face_window_warp_quad(mesh, template_xy,
                                                           landmarks + (size_t)b * 2 * FX_FACE_POINTS68, x, y,
                                                           (int)win[1], (int)win[0], quad) == 0;
        for (int64_t i = 0; i < h; i++) {
            int sp[4] = { 0, 0, 0, 0 };
            if (warped)
                fx_face_quad_row_spans(quad, (int)i, (int)w, sp);
            else if (i >= plain.top && i < plain.top + plain.height) {
                sp[0] = (int)plain.left;
                sp[1] = (int)(plain.left + plain.width);
            }
            for (int k = 0; k < 4; k++)
                s[i * 4 + k] = sp[k];
        }
    }
    fx_face_mesh_destroy(mesh);
    return FX_OK;
}
