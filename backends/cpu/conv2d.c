/* backends/cpu/conv2d.c - CPU kernels of conv2d (op: core/ops/conv2d.c).
 *
 * Per image n, with K = C*kh*kw and P = OH*OW:
 *   forward   col_n = im2col(x_n)            [K, P]
 *             y_n   = W[O, K] col_n + b      [O, P]
 *   backward  dW   += dy_n[O, P] col_n^T     [O, K]
 *             db   += row sums of dy_n
 *             dx_n += col2im(W^T dy_n)       (W^T dy_n is [K, P])
 * A 1x1 stride-1 unpadded conv needs no im2col: col_n is x_n itself.
 * Columns are recomputed in backward rather than saved (K*P per image is
 * 40 MB at batch 64 for the Fashion-MNIST net's second conv).
 *
 * Threads: the batch is split over the pool; each thread runs the
 * single-threaded cpu_gemm (gemm.h explains why not OpenBLAS threads) on
 * its own scratch (columns, GEMM packing, and in backward private dW/db
 * sums added up after the loop: the result then depends on the thread
 * count only through float summation order). With fewer images than
 * threads, the forward GEMM itself is split instead.
 *
 * Bias: the executor passes param[1] == NULL (and param_grad[1] == NULL)
 * when bias is false (shape ndim 0); that is what these kernels test. */
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/gemm.h"
#include "core/ops/window2d.h"

typedef struct conv_geom {
    int64_t n, c, h, w;      /* input */
    int64_t o, oh, ow;       /* output */
    fx_window2d win;
    int64_t k, p;            /* GEMM inner size C*kh*kw and columns OH*OW */
    int direct;              /* 1x1, stride 1, no padding: col = x */
} conv_geom;

static fx_status conv_geom_get(const fx_kernel_call *call, conv_geom *g)
{
    const fx_tensor *x = call->in[0];
    const fx_tensor *wt = call->param[0];
    memset(g, 0, sizeof *g);
    g->n = x->shape.dim[0];
    g->c = x->shape.dim[1];
    g->h = x->shape.dim[2];
    g->w = x->shape.dim[3];
    g->o = wt->shape.dim[0];
    fx_status st = fx_window2d_resolve(call->ctx, call->node, g->h, g->w, &g->win);
    if (st != FX_OK)
        return st;
    g->oh = g->win.out_h;
    g->ow = g->win.out_w;
    g->k = g->c * g->win.kernel_h * g->win.kernel_w;
    g->p = g->oh * g->ow;
    g->direct = g->win.kernel_h == 1 && g->win.kernel_w == 1 && g->win.stride_h == 1 && g->win.stride_w == 1 &&
                g->win.pad_top == 0 && g->win.pad_bottom == 0 && g->win.pad_left == 0 && g->win.pad_right == 0;
    return FX_OK;
}

/* Output columns ox whose input column ox*stride - pad + j lies in [0, w):
 * [*lo, *hi). */
static void conv_valid_range(int64_t w, int64_t ow, int64_t stride, int64_t pad, int64_t j, int64_t *lo,
                             int64_t *hi)
{
    int64_t first = pad - j; /* need ox*stride >= first */
    int64_t a = first <= 0 ? 0 : (first + stride - 1) / stride;
    int64_t end = w + pad - j; /* need ox*stride < end */
    int64_t b = end <= 0 ? 0 : (end + stride - 1) / stride;
    if (b > ow)
        b = ow;
    if (a > b)
        a = b;
    *lo = a;
    *hi = b;
}

/* col[(c*kh + i)*kw + j][oy*OW + ox] = x[c][oy*sh - pt + i][ox*sw - pl + j], 0 outside. */
static void conv_im2col(const conv_geom *g, const float *x, float *col)
{
    const fx_window2d *wn = &g->win;
    for (int64_t c = 0; c < g->c; c++) {
        for (int64_t i = 0; i < wn->kernel_h; i++) {
            for (int64_t j = 0; j < wn->kernel_w; j++) {
                float *dst = col + ((c * wn->kernel_h + i) * wn->kernel_w + j) * g->p;
                int64_t lo, hi;
                conv_valid_range(g->w, g->ow, wn->stride_w, wn->pad_left, j, &lo, &hi);
                for (int64_t oy = 0; oy < g->oh; oy++) {
                    float *d = dst + oy * g->ow;
                    int64_t iy = oy * wn->stride_h - wn->pad_top + i;
                    if (iy < 0 || iy >= g->h) {
                        memset(d, 0, sizeof(float) * (size_t)g->ow);
                        continue;
                    }
                    const float *src = x + (c * g->h + iy) * g->w - wn->pad_left + j;
                    for (int64_t ox = 0; ox < lo; ox++)
                        d[ox] = 0.0f;
                    if (wn->stride_w == 1) {
                        memcpy(d + lo, src + lo, sizeof(float) * (size_t)(hi - lo));
                    } else {
                        for (int64_t ox = lo; ox < hi; ox++)
                            d[ox] = src[ox * wn->stride_w];
                    }
                    for (int64_t ox = hi; ox < g->ow; ox++)
                        d[ox] = 0.0f;
                }
            }
        }
    }
}

/* The adjoint of conv_im2col: dx[c][iy][ix] += dcol[...] (padding dropped). */
static void conv_col2im_add(const conv_geom *g, const float *col, float *dx)
{
    const fx_window2d *wn = &g->win;
    for (int64_t c = 0; c < g->c; c++) {
        for (int64_t i = 0; i < wn->kernel_h; i++) {
            for (int64_t j = 0; j < wn->kernel_w; j++) {
                const float *srcrow = col + ((c * wn->kernel_h + i) * wn->kernel_w + j) * g->p;
                int64_t lo, hi;
                conv_valid_range(g->w, g->ow, wn->stride_w, wn->pad_left, j, &lo, &hi);
                for (int64_t oy = 0; oy < g->oh; oy++) {
                    int64_t iy = oy * wn->stride_h - wn->pad_top + i;
                    if (iy < 0 || iy >= g->h)
                        continue;
                    const float *s = srcrow + oy * g->ow;
                    float *d = dx + (c * g->h + iy) * g->w - wn->pad_left + j;
                    if (wn->stride_w == 1) {
                        for (int64_t ox = lo; ox < hi; ox++)
                            d[ox] += s[ox];
                    } else {
                        for (int64_t ox = lo; ox < hi; ox++)
                            d[ox * wn->stride_w] += s[ox];
                    }
                }
            }
        }
    }
}

static int conv_has_tensor(const fx_tensor *t) { return t != NULL && t->shape.ndim != 0; }

/* y_n[o][q] = bias[o]: the GEMM then adds W col on top (beta = 1). */
static void conv_fill_bias(float *yn, const float *bias, int64_t o_count, int64_t p)
{
    for (int64_t o = 0; o < o_count; o++) {
        float b = bias[o];
        float *row = yn + o * p;
        for (int64_t q = 0; q < p; q++)
            row[q] = b;
    }
}

/* ---- forward ---- */

typedef struct conv_forward_job {
    conv_geom g;
    fx_simd_level simd;
    const float *x, *weight, *bias;
    float *y;
    float **scratch;
    size_t col_floats;
} conv_forward_job;

static void conv_forward_image(const conv_forward_job *job, int64_t n, float *col, float *work)
{
    const conv_geom *g = &job->g;
    const float *xn = job->x + n * g->c * g->h * g->w;
    float *yn = job->y + n * g->o * g->p;
    const float *cols = xn;
    if (!g->direct) {
        conv_im2col(g, xn, col);
        cols = col;
    }
    float beta = 0.0f;
    if (job->bias) {
        conv_fill_bias(yn, job->bias, g->o, g->p);
        beta = 1.0f;
    }
    cpu_gemm(job->simd, 0, 0, g->o, g->p, g->k, 1.0f, job->weight, g->k, cols, g->p, beta, yn, g->p, work);
}

static void conv_forward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const conv_forward_job *job = arg;
    float *col = job->scratch[thread];
    float *work = col + job->col_floats;
    for (int64_t n = begin; n < end; n++)
        conv_forward_image(job, n, col, work);
}

/* Fewer images than threads (inference on one image): split each image's
 * GEMM over the threads instead of the batch. cpu_gemm_parallel uses the
 * per-thread scratch for packing, so the columns get their own buffer. */
static fx_status conv_forward_small_batch(const fx_kernel_call *call, const conv_forward_job *job)
{
    const conv_geom *g = &job->g;
    float *col = NULL;
    if (!g->direct) {
        col = fx_malloc(call->ctx, sizeof(float) * (size_t)(g->k * g->p), "conv2d columns");
        if (!col)
            return FX_ERR_NOMEM;
    }
    fx_status st = FX_OK;
    for (int64_t n = 0; n < g->n && st == FX_OK; n++) {
        const float *xn = job->x + n * g->c * g->h * g->w;
        float *yn = job->y + n * g->o * g->p;
        const float *cols = xn;
        if (!g->direct) {
            conv_im2col(g, xn, col);
            cols = col;
        }
        float beta = 0.0f;
        if (job->bias) {
            conv_fill_bias(yn, job->bias, g->o, g->p);
            beta = 1.0f;
        }
        st = cpu_gemm_parallel(call->backend, 0, 0, g->o, g->p, g->k, 1.0f, job->weight, g->k, cols, g->p, beta,
                               yn, g->p);
    }
    free(col);
    return st;
}

fx_status cpu_conv2d_forward(const fx_kernel_call *call)
{
    conv_forward_job job;
    fx_status st = conv_geom_get(call, &job.g);
    if (st != FX_OK)
        return st;
    const conv_geom *g = &job.g;
    fx_backend *be = call->backend;
    job.simd = fx_cpu_simd_level(be);
    job.x = fx_tensor_f32(call->in[0]);
    job.weight = fx_tensor_f32(call->param[0]);
    job.bias = call->n_params > 1 && conv_has_tensor(call->param[1]) ? fx_tensor_f32(call->param[1]) : NULL;
    job.y = fx_tensor_f32(call->out[0]);
    if (g->n == 0)
        return FX_OK;

    if (g->n < fx_cpu_threads(be))
        return conv_forward_small_batch(call, &job);

    job.col_floats = g->direct ? 0 : cpu_floats_aligned((size_t)(g->k * g->p));
    size_t work = cpu_gemm_work_floats(job.simd, g->o, g->p, g->k);
    job.scratch = cpu_scratch_per_thread(be, job.col_floats + work);
    if (!job.scratch)
        return FX_ERR_NOMEM;
    fx_cpu_parallel_for(be, g->n, 1, conv_forward_range, &job);
    free(job.scratch);
    return FX_OK;
}

/* ---- backward ---- */

typedef struct conv_backward_job {
    conv_geom g;
    fx_simd_level simd;
    const float *x, *weight, *dy;
    float *dx;               /* NULL: input needs no gradient */
    int want_dw, want_db;
    float **scratch;
    /* Offsets (floats) into each thread's scratch. */
    size_t off_col, off_dcol, off_dw, off_db, off_work;
} conv_backward_job;

static void conv_backward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const conv_backward_job *job = arg;
    const conv_geom *g = &job->g;
    float *base = job->scratch[thread];
    float *col = base + job->off_col;
    float *dcol = base + job->off_dcol;
    float *dw = base + job->off_dw;
    float *db = base + job->off_db;
    float *work = base + job->off_work;
    for (int64_t n = begin; n < end; n++) {
        const float *xn = job->x + n * g->c * g->h * g->w;
        const float *dyn = job->dy + n * g->o * g->p;
        if (job->want_dw) {
            const float *cols = xn;
            if (!g->direct) {
                conv_im2col(g, xn, col);
                cols = col;
            }
            /* dW[O, K] += dy_n[O, P] cols^T */
            cpu_gemm(job->simd, 0, 1, g->o, g->k, g->p, 1.0f, dyn, g->p, cols, g->p, 1.0f, dw, g->k, work);
        }
        if (job->want_db) {
            for (int64_t o = 0; o < g->o; o++) {
                const float *row = dyn + o * g->p;
                float sum = 0.0f;
                for (int64_t q = 0; q < g->p; q++)
                    sum += row[q];
                db[o] += sum;
            }
        }
        if (job->dx) {
            float *dxn = job->dx + n * g->c * g->h * g->w;
            if (g->direct) {
                /* dx_n[C, P] += W^T dy_n, straight into the gradient. */
                cpu_gemm(job->simd, 1, 0, g->k, g->p, g->o, 1.0f, job->weight, g->k, dyn, g->p, 1.0f, dxn, g->p,
                         work);
            } else {
                cpu_gemm(job->simd, 1, 0, g->k, g->p, g->o, 1.0f, job->weight, g->k, dyn, g->p, 0.0f, dcol, g->p,
                         work);
                conv_col2im_add(g, dcol, dxn);
            }
        }
    }
}

fx_status cpu_conv2d_backward(const fx_kernel_call *call)
{
    conv_backward_job job;
    memset(&job, 0, sizeof job);
    fx_status st = conv_geom_get(call, &job.g);
    if (st != FX_OK)
        return st;
    const conv_geom *g = &job.g;
    fx_backend *be = call->backend;
    fx_tensor *dw_t = call->param_grad ? call->param_grad[0] : NULL;
    fx_tensor *db_t = call->param_grad && call->n_params > 1 ? call->param_grad[1] : NULL;
    fx_tensor *dx_t = call->grad_in ? call->grad_in[0] : NULL;
    job.simd = fx_cpu_simd_level(be);
    job.x = fx_tensor_f32(call->in[0]);
    job.weight = fx_tensor_f32(call->param[0]);
    job.dy = fx_tensor_f32(call->grad_out[0]);
    job.dx = conv_has_tensor(dx_t) ? fx_tensor_f32(dx_t) : NULL;
    job.want_dw = conv_has_tensor(dw_t);
    job.want_db = conv_has_tensor(db_t);
    if (g->n == 0 || (!job.dx && !job.want_dw && !job.want_db))
        return FX_OK;

    /* Per-thread scratch: [col | dcol | dW sums | db sums | GEMM packing]. */
    size_t kp = cpu_floats_aligned((size_t)(g->k * g->p));
    size_t col = job.want_dw && !g->direct ? kp : 0;
    size_t dcol = job.dx && !g->direct ? kp : 0;
    size_t dw = job.want_dw ? cpu_floats_aligned((size_t)(g->o * g->k)) : 0;
    size_t db = job.want_db ? cpu_floats_aligned((size_t)g->o) : 0;
    size_t work_dw = job.want_dw ? cpu_gemm_work_floats(job.simd, g->o, g->k, g->p) : 0;
    size_t work_dx = job.dx ? cpu_gemm_work_floats(job.simd, g->k, g->p, g->o) : 0;
    job.off_col = 0;
    job.off_dcol = col;
    job.off_dw = col + dcol;
    job.off_db = job.off_dw + dw;
    job.off_work = job.off_db + db;
    size_t total = job.off_work + (work_dw > work_dx ? work_dw : work_dx);
    job.scratch = cpu_scratch_per_thread(be, total);
    if (!job.scratch)
        return FX_ERR_NOMEM;
    int threads = fx_cpu_threads(be);
    if (threads < 1)
        threads = 1;
    for (int t = 0; t < threads; t++)
        memset(job.scratch[t] + job.off_dw, 0, sizeof(float) * (dw + db));

    fx_cpu_parallel_for(be, g->n, 1, conv_backward_range, &job);

    /* Add the threads' private sums into the (accumulating) gradients. */
    if (job.want_dw) {
        float *dst = fx_tensor_f32(dw_t);
        for (int t = 0; t < threads; t++) {
            const float *src = job.scratch[t] + job.off_dw;
            for (int64_t i = 0; i < g->o * g->k; i++)
                dst[i] += src[i];
        }
    }
    if (job.want_db) {
        float *dst = fx_tensor_f32(db_t);
        for (int t = 0; t < threads; t++) {
            const float *src = job.scratch[t] + job.off_db;
            for (int64_t i = 0; i < g->o; i++)
                dst[i] += src[i];
        }
    }
    free(job.scratch);
    return FX_OK;
}
