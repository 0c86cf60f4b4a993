/* backends/cpu/occlude.c - CPU kernels of occlude (definition in
 * core/ops/occlude.c, choices in docs/losses.md §5). The window is drawn on
 * the host from call->seed (fx_rng: x = x0 + below(x1 - x0 + 1), then y the
 * same way), identically in forward and backward (same node, same step),
 * so backward needs no saved state. Copies run over the thread pool.
 * With landmarks (input 1) the painted columns of each image and row come
 * from fx_occlude_spans (the mesh-warped quadrilateral). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_backend.h"
#include "core/ops/ops.h"

typedef fx_occlude_window occlude_window;

static occlude_window occlude_draw(const fx_kernel_call *call, int64_t h, int64_t w)
{
    return fx_occlude_draw(call->node, call->seed, h, w);
}

typedef struct occlude_job {
    int64_t h, w;
    occlude_window win;
    const float *src;
    float *dst;
    float value;
    int backward; /* dst += src outside the window; nothing inside */
    int64_t channels;
    const int32_t *spans; /* [N, H, 4] with landmarks; NULL: the window */
} occlude_job;

static void occlude_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const occlude_job *j = arg;
    const int64_t hw = j->h * j->w;
    for (int64_t plane = begin; plane < end; plane++) {
        const float *restrict s = j->src + plane * hw;
        float *restrict d = j->dst + plane * hw;
        if (j->spans) {
            const int32_t *sp = j->spans + (plane / j->channels) * j->h * 4;
            for (int64_t y = 0; y < j->h; y++, sp += 4)
                for (int64_t x = 0; x < j->w; x++) {
                    int inside = (x >= sp[0] && x < sp[1]) || (x >= sp[2] && x < sp[3]);
                    int64_t i = y * j->w + x;
                    if (j->backward)
                        d[i] += inside ? 0.0f : s[i];
                    else
                        d[i] = inside ? j->value : s[i];
                }
            continue;
        }
        for (int64_t y = 0; y < j->h; y++) {
            int inside_row = y >= j->win.top && y < j->win.top + j->win.height;
            for (int64_t x = 0; x < j->w; x++) {
                int inside = inside_row && x >= j->win.left && x < j->win.left + j->win.width;
                int64_t i = y * j->w + x;
                if (j->backward)
                    d[i] += inside ? 0.0f : s[i];
                else
                    d[i] = inside ? j->value : s[i];
            }
        }
    }
}

static fx_status occlude_run(const fx_kernel_call *call, const fx_tensor *src, fx_tensor *dst, int backward)
{
    const fx_shape *s = &call->in[0]->shape;
    occlude_job j;
    j.channels = s->dim[1];
    j.spans = NULL;
    int32_t *spans = NULL;
    if (call->n_in == 2) {
        spans = fx_malloc(call->ctx, (size_t)(s->dim[0] * s->dim[2]) * 4 * sizeof(int32_t), "occlusion spans");
        if (!spans)
            return FX_ERR_NOMEM;
        fx_status st = fx_occlude_spans(call->ctx, call->node, call->seed, s->dim[0], s->dim[2], s->dim[3],
                                        fx_tensor_f32(call->in[1]), spans);
        if (st != FX_OK) {
            free(spans);
            return st;
        }
        j.spans = spans;
    }
    j.h = s->dim[2];
    j.w = s->dim[3];
    j.win = occlude_draw(call, j.h, j.w);
    j.src = fx_tensor_f32(src);
    j.dst = fx_tensor_f32(dst);
    j.value = (float)fx_node_attr_float(call->node, "value");
    j.backward = backward;
    fx_cpu_parallel_for(call->backend, s->dim[0] * s->dim[1], 1 + 16384 / (j.h * j.w + 1), occlude_range, &j);
    free(spans);
    return FX_OK;
}

fx_status cpu_occlude_forward(const fx_kernel_call *call)
{
    fx_status st = occlude_run(call, call->in[0], call->out[0], 0);
    if (st != FX_OK)
        return st;
    const fx_shape *s = &call->in[0]->shape;
    occlude_window win = occlude_draw(call, s->dim[2], s->dim[3]);
    float *box = fx_tensor_f32(call->out[1]);
    box[0] = (float)win.top;
    box[1] = (float)win.left;
    box[2] = (float)win.height;
    box[3] = (float)win.width;
    return FX_OK;
}

fx_status cpu_occlude_backward(const fx_kernel_call *call)
{
    if (!call->grad_in[0] || !call->grad_out[0])
        return FX_OK;
    return occlude_run(call, call->grad_out[0], call->grad_in[0], 1);
}
