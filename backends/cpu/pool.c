/* backends/cpu/pool.c - CPU kernels of maxpool2d, avgpool2d and
 * global_avgpool (ops: core/ops/pool.c). Work is split over the N*C
 * planes, which are independent in both directions, so backward needs no
 * private sums.
 *
 * maxpool2d: the first maximum of each window wins (strict >), a NaN wins
 * over numbers (so divergence shows instead of being hidden); its index
 * iy*W + ix in the plane is saved in aux[0] (I32) and backward routes the
 * gradient there. avgpool2d divides by the in-bounds element count of each
 * window (count_include_pad = false), in both directions. */
#include <string.h>

#include "backends/cpu/cpu_backend.h"
#include "core/ops/window2d.h"

typedef struct pool_job {
    fx_window2d win;
    int64_t h, w;           /* input plane */
    const float *x, *dy;
    float *y, *dx;
    int32_t *argmax;        /* maxpool; NULL when not saved */
    const int32_t *argmax_in;
} pool_job;

/* The input plane size and the N*C plane count (global_avgpool needs no
 * more); pool_job_init adds the window geometry. */
static void pool_job_planes(const fx_kernel_call *call, pool_job *job, int64_t *planes)
{
    const fx_tensor *x = call->in[0];
    memset(job, 0, sizeof *job);
    job->h = x->shape.dim[2];
    job->w = x->shape.dim[3];
    *planes = x->shape.dim[0] * x->shape.dim[1];
}

static fx_status pool_job_init(const fx_kernel_call *call, pool_job *job, int64_t *planes)
{
    pool_job_planes(call, job, planes);
    return fx_window2d_resolve(call->ctx, call->node, job->h, job->w, &job->win);
}

/* In-bounds rows [*lo, *hi) of output row/column o along one axis. */
static inline void pool_span(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t size, int64_t *lo,
                             int64_t *hi)
{
    int64_t start = o * stride - pad;
    int64_t end = start + k;
    *lo = start < 0 ? 0 : start;
    *hi = end > size ? size : end;
}

/* Planes per parallel chunk: keeps each chunk at >= ~16K elements. */
static int64_t pool_grain(int64_t plane_elems)
{
    int64_t g = 16384 / (plane_elems > 0 ? plane_elems : 1);
    return g < 1 ? 1 : g;
}

/* ---- maxpool2d ---- */

/* The max-pool comparison: v replaces the current best when larger, or
 * when it is NaN (and then stays: nothing is larger than NaN). */
static inline int pool_beats(float v, float best) { return v > best || (v != v && best == best); }

/* 2x2 windows, stride 2, no padding (the common case), in two loops gcc
 * vectorises: the maximum (NaN wins, as pool_beats), then the argmax: the
 * first of a, b, c, d (row-major) that equals the maximum or is NaN, which
 * is the element pool_beats' order picks. */
static void maxpool_plane_2x2(const float *restrict x, int64_t w, float *restrict y, int32_t *restrict am, int64_t oh,
                              int64_t ow)
{
    for (int64_t oy = 0; oy < oh; oy++) {
        const float *restrict r0 = x + 2 * oy * w, *restrict r1 = r0 + w;
        float *restrict yrow = y + oy * ow;
        for (int64_t ox = 0; ox < ow; ox++) {
            float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
            float m1 = pool_beats(b, a) ? b : a;
            float m2 = pool_beats(d, c) ? d : c;
            yrow[ox] = pool_beats(m2, m1) ? m2 : m1;
        }
        if (!am)
            continue;
        int32_t base = (int32_t)(2 * oy * w), wi = (int32_t)w;
        int32_t *restrict arow = am + oy * ow;
        for (int64_t ox = 0; ox < ow; ox++) {
            float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], m = yrow[ox];
            int32_t i = base + (int32_t)(2 * ox);
            arow[ox] = (a == m || a != a) ? i : (b == m || b != b) ? i + 1 : (c == m || c != c) ? i + wi : i + wi + 1;
        }
    }
}

static void maxpool_forward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const pool_job *job = arg;
    const fx_window2d *wn = &job->win;
    int64_t in_plane = job->h * job->w, out_plane = wn->out_h * wn->out_w;
    int fast_2x2 = wn->kernel_h == 2 && wn->kernel_w == 2 && wn->stride_h == 2 && wn->stride_w == 2 &&
                   wn->pad_top == 0 && wn->pad_left == 0 && wn->pad_bottom == 0 && wn->pad_right == 0;
    for (int64_t pl = begin; pl < end; pl++) {
        const float *x = job->x + pl * in_plane;
        float *y = job->y + pl * out_plane;
        int32_t *am = job->argmax ? job->argmax + pl * out_plane : NULL;
        if (fast_2x2) {
            maxpool_plane_2x2(x, job->w, y, am, wn->out_h, wn->out_w);
            continue;
        }
        for (int64_t oy = 0; oy < wn->out_h; oy++) {
            int64_t y0, y1;
            pool_span(oy, wn->stride_h, wn->pad_top, wn->kernel_h, job->h, &y0, &y1);
            for (int64_t ox = 0; ox < wn->out_w; ox++) {
                int64_t x0, x1;
                pool_span(ox, wn->stride_w, wn->pad_left, wn->kernel_w, job->w, &x0, &x1);
                /* The shape function guarantees every window holds an
                 * in-bounds element (pad < kernel). */
                int64_t best_i = y0 * job->w + x0;
                float best = x[best_i];
                for (int64_t iy = y0; iy < y1; iy++) {
                    const float *row = x + iy * job->w;
                    for (int64_t ix = x0; ix < x1; ix++) {
                        float v = row[ix];
                        if (pool_beats(v, best)) {
                            best = v;
                            best_i = iy * job->w + ix;
                        }
                    }
                }
                y[oy * wn->out_w + ox] = best;
                if (am)
                    am[oy * wn->out_w + ox] = (int32_t)best_i;
            }
        }
    }
}

static void maxpool_backward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const pool_job *job = arg;
    int64_t in_plane = job->h * job->w, out_plane = job->win.out_h * job->win.out_w;
    for (int64_t pl = begin; pl < end; pl++) {
        const float *dy = job->dy + pl * out_plane;
        const int32_t *am = job->argmax_in + pl * out_plane;
        float *dx = job->dx + pl * in_plane;
        for (int64_t i = 0; i < out_plane; i++)
            dx[am[i]] += dy[i];
    }
}

fx_status cpu_maxpool2d_forward(const fx_kernel_call *call)
{
    pool_job job;
    int64_t planes;
    fx_status st = pool_job_init(call, &job, &planes);
    if (st != FX_OK)
        return st;
    job.x = fx_tensor_f32(call->in[0]);
    job.y = fx_tensor_f32(call->out[0]);
    job.argmax = call->n_aux > 0 && call->aux && call->aux[0] && call->aux[0]->buffer
                     ? fx_tensor_i32(call->aux[0])
                     : NULL;
    fx_cpu_parallel_for(call->backend, planes, pool_grain(job.h * job.w), maxpool_forward_range, &job);
    return FX_OK;
}

fx_status cpu_maxpool2d_backward(const fx_kernel_call *call)
{
    if (!call->grad_in || !call->grad_in[0])
        return FX_OK;
    pool_job job;
    int64_t planes;
    fx_status st = pool_job_init(call, &job, &planes);
    if (st != FX_OK)
        return st;
    if (call->n_aux < 1 || !call->aux || !call->aux[0] || !call->aux[0]->buffer)
        return fx_node_fail(call->ctx, call->node, FX_ERR_INTERNAL,
                            "maxpool2d backward has no saved argmax (aux 0); forward must run in training mode");
    job.dy = fx_tensor_f32(call->grad_out[0]);
    job.dx = fx_tensor_f32(call->grad_in[0]);
    job.argmax_in = fx_tensor_i32(call->aux[0]);
    fx_cpu_parallel_for(call->backend, planes, pool_grain(job.h * job.w), maxpool_backward_range, &job);
    return FX_OK;
}

/* ---- avgpool2d ---- */

static void avgpool_forward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const pool_job *job = arg;
    const fx_window2d *wn = &job->win;
    int64_t in_plane = job->h * job->w, out_plane = wn->out_h * wn->out_w;
    for (int64_t pl = begin; pl < end; pl++) {
        const float *x = job->x + pl * in_plane;
        float *y = job->y + pl * out_plane;
        for (int64_t oy = 0; oy < wn->out_h; oy++) {
            int64_t y0, y1;
            pool_span(oy, wn->stride_h, wn->pad_top, wn->kernel_h, job->h, &y0, &y1);
            for (int64_t ox = 0; ox < wn->out_w; ox++) {
                int64_t x0, x1;
                pool_span(ox, wn->stride_w, wn->pad_left, wn->kernel_w, job->w, &x0, &x1);
                float sum = 0.0f;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        sum += x[iy * job->w + ix];
                y[oy * wn->out_w + ox] = sum / (float)((y1 - y0) * (x1 - x0));
            }
        }
    }
}

static void avgpool_backward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const pool_job *job = arg;
    const fx_window2d *wn = &job->win;
    int64_t in_plane = job->h * job->w, out_plane = wn->out_h * wn->out_w;
    for (int64_t pl = begin; pl < end; pl++) {
        const float *dy = job->dy + pl * out_plane;
        float *dx = job->dx + pl * in_plane;
        for (int64_t oy = 0; oy < wn->out_h; oy++) {
            int64_t y0, y1;
            pool_span(oy, wn->stride_h, wn->pad_top, wn->kernel_h, job->h, &y0, &y1);
            for (int64_t ox = 0; ox < wn->out_w; ox++) {
                int64_t x0, x1;
                pool_span(ox, wn->stride_w, wn->pad_left, wn->kernel_w, job->w, &x0, &x1);
                float g = dy[oy * wn->out_w + ox] / (float)((y1 - y0) * (x1 - x0));
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        dx[iy * job->w + ix] += g;
            }
        }
    }
}

fx_status cpu_avgpool2d_forward(const fx_kernel_call *call)
{
    pool_job job;
    int64_t planes;
    fx_status st = pool_job_init(call, &job, &planes);
    if (st != FX_OK)
        return st;
    job.x = fx_tensor_f32(call->in[0]);
    job.y = fx_tensor_f32(call->out[0]);
    fx_cpu_parallel_for(call->backend, planes, pool_grain(job.h * job.w), avgpool_forward_range, &job);
    return FX_OK;
}

fx_status cpu_avgpool2d_backward(const fx_kernel_call *call)
{
    if (!call->grad_in || !call->grad_in[0])
        return FX_OK;
    pool_job job;
    int64_t planes;
    fx_status st = pool_job_init(call, &job, &planes);
    if (st != FX_OK)
        return st;
    job.dy = fx_tensor_f32(call->grad_out[0]);
    job.dx = fx_tensor_f32(call->grad_in[0]);
    fx_cpu_parallel_for(call->backend, planes, pool_grain(job.h * job.w), avgpool_backward_range, &job);
    return FX_OK;
}

/* ---- global_avgpool ---- */

static void global_avgpool_forward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const pool_job *job = arg;
    int64_t plane = job->h * job->w;
    float inv = 1.0f / (float)plane;
    for (int64_t pl = begin; pl < end; pl++) {
        const float *x = job->x + pl * plane;
        float sum = 0.0f;
        for (int64_t i = 0; i < plane; i++)
            sum += x[i];
        job->y[pl] = sum * inv;
    }
}

static void global_avgpool_backward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const pool_job *job = arg;
    int64_t plane = job->h * job->w;
    float inv = 1.0f / (float)plane;
    for (int64_t pl = begin; pl < end; pl++) {
        float *dx = job->dx + pl * plane;
        float g = job->dy[pl] * inv;
        for (int64_t i = 0; i < plane; i++)
            dx[i] += g;
    }
}

fx_status cpu_global_avgpool_forward(const fx_kernel_call *call)
{
    pool_job job;
    int64_t planes;
    pool_job_planes(call, &job, &planes);
    job.x = fx_tensor_f32(call->in[0]);
    job.y = fx_tensor_f32(call->out[0]);
    fx_cpu_parallel_for(call->backend, planes, pool_grain(job.h * job.w), global_avgpool_forward_range, &job);
    return FX_OK;
}

fx_status cpu_global_avgpool_backward(const fx_kernel_call *call)
{
    if (!call->grad_in || !call->grad_in[0])
        return FX_OK;
    pool_job job;
    int64_t planes;
    pool_job_planes(call, &job, &planes);
    job.dy = fx_tensor_f32(call->grad_out[0]);
    job.dx = fx_tensor_f32(call->grad_in[0]);
    fx_cpu_parallel_for(call->backend, planes, pool_grain(job.h * job.w), global_avgpool_backward_range, &job);
    return FX_OK;
}
