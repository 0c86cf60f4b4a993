/* backends/cpu/resize_bilinear.c - CPU kernels of resize_bilinear (see
 * core/ops/resize_bilinear.c for the three coordinate mappings).
 *
 * The source rows/columns and weights depend only on the output index, so
 * they are computed once per call into two small tables (one malloc per
 * call, none per pixel) and shared by all N*C planes, which run in
 * parallel. Backward scatters each output gradient to its four source
 * pixels; a plane is owned by one task, so the += needs no atomics. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_backend.h"

typedef struct resize_tap {
    int64_t i0, i1; /* source indices (i1 clamped to the last one) */
    float w1;       /* weight of i1; i0 gets 1 - w1 */
} resize_tap;

typedef enum resize_mapping { MAP_HALF_PIXEL, MAP_ALIGN_CORNERS, MAP_ASYMMETRIC } resize_mapping;

typedef struct resize_job {
    int64_t ih, iw, oh, ow;
    const resize_tap *ty, *tx;
    const float *src; /* forward: x; backward: grad_out */
    float *dst;       /* forward: y; backward: grad_in */
} resize_job;

static void resize_taps(resize_mapping map, int64_t in, int64_t out, resize_tap *taps)
{
    for (int64_t d = 0; d < out; d++) {
        double src;
        if (map == MAP_HALF_PIXEL) {
            src = ((double)d + 0.5) * (double)in / (double)out - 0.5;
            if (src < 0.0)
                src = 0.0;
        } else if (map == MAP_ALIGN_CORNERS) {
            src = out > 1 ? (double)d * (double)(in - 1) / (double)(out - 1) : 0.0;
        } else {
            src = (double)d * (double)in / (double)out;
        }
        int64_t i0 = (int64_t)floor(src);
        if (i0 > in - 1)
            i0 = in - 1;
        taps[d].i0 = i0;
        taps[d].i1 = i0 + 1 < in ? i0 + 1 : in - 1;
        taps[d].w1 = (float)(src - (double)i0);
    }
}

static void resize_forward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const resize_job *j = arg;
    for (int64_t p = begin; p < end; p++) {
        const float *x = j->src + p * j->ih * j->iw;
        float *y = j->dst + p * j->oh * j->ow;
        for (int64_t oy = 0; oy < j->oh; oy++) {
            const float *r0 = x + j->ty[oy].i0 * j->iw, *r1 = x + j->ty[oy].i1 * j->iw;
            float wy1 = j->ty[oy].w1, wy0 = 1.0f - wy1;
            float *yrow = y + oy * j->ow;
            for (int64_t ox = 0; ox < j->ow; ox++) {
                const resize_tap *t = &j->tx[ox];
                float wx1 = t->w1, wx0 = 1.0f - wx1;
                float top = wx0 * r0[t->i0] + wx1 * r0[t->i1];
                float bottom = wx0 * r1[t->i0] + wx1 * r1[t->i1];
                yrow[ox] = wy0 * top + wy1 * bottom;
            }
        }
    }
}

static void resize_backward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const resize_job *j = arg;
    for (int64_t p = begin; p < end; p++) {
        const float *g = j->src + p * j->oh * j->ow;
        float *gx = j->dst + p * j->ih * j->iw;
        for (int64_t oy = 0; oy < j->oh; oy++) {
            float *r0 = gx + j->ty[oy].i0 * j->iw, *r1 = gx + j->ty[oy].i1 * j->iw;
            float wy1 = j->ty[oy].w1, wy0 = 1.0f - wy1;
            const float *grow = g + oy * j->ow;
            for (int64_t ox = 0; ox < j->ow; ox++) {
                const resize_tap *t = &j->tx[ox];
                float wx1 = t->w1, wx0 = 1.0f - wx1;
                float g0 = wy0 * grow[ox], g1 = wy1 * grow[ox];
                r0[t->i0] += wx0 * g0;
                r0[t->i1] += wx1 * g0;
                r1[t->i0] += wx0 * g1;
                r1[t->i1] += wx1 * g1;
            }
        }
    }
}

static fx_status resize_run(const fx_kernel_call *call, int backward)
{
    const fx_shape *xs = &call->in[0]->shape, *ys = &call->out[0]->shape;
    const char *mapping = fx_node_attr_string(call->node, "mapping");
    resize_mapping map;
    if (mapping && strcmp(mapping, "half_pixel") == 0)
        map = MAP_HALF_PIXEL;
    else if (mapping && strcmp(mapping, "align_corners") == 0)
        map = MAP_ALIGN_CORNERS;
    else if (mapping && strcmp(mapping, "asymmetric") == 0)
        map = MAP_ASYMMETRIC;
    else
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID,
                            "unknown mapping '%s'; use half_pixel, align_corners or asymmetric",
                            mapping ? mapping : "");

    resize_job j = { 0 };
    j.ih = xs->dim[2];
    j.iw = xs->dim[3];
    j.oh = ys->dim[2];
    j.ow = ys->dim[3];
    resize_tap *taps = fx_malloc(call->ctx, (size_t)(j.oh + j.ow) * sizeof *taps, "resize_bilinear tables");
    if (!taps)
        return fx_node_fail(call->ctx, call->node, FX_ERR_NOMEM, "cannot allocate the interpolation tables");
    resize_taps(map, j.ih, j.oh, taps);
    resize_taps(map, j.iw, j.ow, taps + j.oh);
    j.ty = taps;
    j.tx = taps + j.oh;

    int64_t planes = xs->dim[0] * xs->dim[1];
    int64_t grain = 1 + 16384 / (j.oh * j.ow + 1);
    if (backward) {
        j.src = fx_tensor_f32(call->grad_out[0]);
        j.dst = fx_tensor_f32(call->grad_in[0]);
        fx_cpu_parallel_for(call->backend, planes, grain, resize_backward_range, &j);
    } else {
        j.src = fx_tensor_f32(call->in[0]);
        j.dst = fx_tensor_f32(call->out[0]);
        fx_cpu_parallel_for(call->backend, planes, grain, resize_forward_range, &j);
    }
    free(taps);
    return FX_OK;
}

fx_status cpu_resize_bilinear_forward(const fx_kernel_call *call) { return resize_run(call, 0); }

fx_status cpu_resize_bilinear_backward(const fx_kernel_call *call)
{
    if (!call->grad_in[0])
        return FX_OK;
    return resize_run(call, 1);
}
