/* backends/cpu/occlude.c - CPU kernels of occlude (definition in
 * core/ops/occlude.c, choices in docs/losses.md §5). The window is drawn on
 * the host from call->seed (fx_rng: x = x0 + below(x1 - x0 + 1), then y the
 * same way), identically in forward and backward (same node, same step),
 * so backward needs no saved state. Copies run over the thread pool. */
#include <math.h>
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
} occlude_job;

static void occlude_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const occlude_job *j = arg;
    const int64_t hw = j->h * j->w;
    for (int64_t plane = begin; plane < end; plane++) {
        const float *restrict s = j->src + plane * hw;
        float *restrict d = j->dst + plane * hw;
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

static void occlude_run(const fx_kernel_call *call, const fx_tensor *src, fx_tensor *dst, int backward)
{
    const fx_shape *s = &call->in[0]->shape;
    occlude_job j;
    j.h = s->dim[2];
    j.w = s->dim[3];
    j.win = occlude_draw(call, j.h, j.w);
    j.src = fx_tensor_f32(src);
    j.dst = fx_tensor_f32(dst);
    j.value = (float)fx_node_attr_float(call->node, "value");
    j.backward = backward;
    fx_cpu_parallel_for(call->backend, s->dim[0] * s->dim[1], 1 + 16384 / (j.h * j.w + 1), occlude_range, &j);
}

fx_status cpu_occlude_forward(const fx_kernel_call *call)
{
    occlude_run(call, call->in[0], call->out[0], 0);
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
    occlude_run(call, call->grad_out[0], call->grad_in[0], 1);
    return FX_OK;
}
