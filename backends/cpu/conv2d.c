/* backends/cpu/conv2d.c - CPU kernels of conv2d (op: core/ops/conv2d.c).
 *
 * Per image n, with K = C*kh*kw and P = OH*OW and col_n = im2col(x_n)
 * [K, P] (col[(c*kh + i)*kw + j][oy*OW + ox] = x[c][oy*sh-pt+i][ox*sw-pl+j]):
 *   forward   y_n   = W[O, K] col_n + b      [O, P]
 *   backward  dW   += dy_n[O, P] col_n^T     [O, K]
 *             db   += row sums of dy_n
 *             dx_n += col2im(W^T dy_n)       (W^T dy_n is [K, P])
 * The columns are never stored whole: the GEMM's B operand is packed
 * straight from the image, panel by panel (conv_pack_cols /
 * conv_pack_cols_t, an implicit im2col), which saves a full write and read
 * of K*P floats per image and the GEMM's own packing copy. The image is
 * first copied into a zero-bordered buffer (C x Hp x Wp, small), so the
 * packers copy rows without bounds tests; col2im likewise adds into a
 * padded buffer. W is packed once per call and shared by all threads. A
 * 1x1 stride-1 unpadded conv needs no im2col at all: col_n is x_n.
 *
 * Threads: the batch is split over the pool; each thread runs the
 * single-threaded GEMM (gemm.h explains why not OpenBLAS threads) on its
 * own scratch (GEMM packing, dcol, and in backward private dW/db sums added
 * up after the loop, so the result depends on the thread count only
 * through float summation order). With fewer images than threads, the
 * forward GEMM itself is split instead.
 *
 * 3x3 stride-1 convolutions with enough channels run the forward pass
 * and the input gradient as Winograd F(2x2,3x3) or F(4x4,3x3) instead
 * (conv2d_winograd.c; cpu_conv2d_winograd_tile is the rule, per layer
 * shape), and the weight gradient too when
 * cpu_conv2d_winograd_weight_grad_tile says so (conv2d_winograd_weight_grad.c;
 * not by default yet).
 *
 * Bias: the executor passes param[1] == NULL (and param_grad[1] == NULL)
 * when bias is false (shape ndim 0); these kernels test for NULL (and, to
 * be safe, ndim 0). */
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/conv2d_winograd.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/gemm.h"
#include "core/ops/window2d.h"

typedef struct conv_geom {
    int64_t n, c, h, w;      /* input */
    int64_t o, oh, ow;       /* output */
    fx_window2d win;
    int64_t k, p;            /* GEMM inner size C*kh*kw and columns OH*OW */
    int64_t hp, wp;          /* zero-bordered input plane */
    int padded;              /* any padding: the packers read a padded copy */
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
    const fx_window2d *wn = &g->win;
    g->oh = wn->out_h;
    g->ow = wn->out_w;
    g->k = g->c * wn->kernel_h * wn->kernel_w;
    g->p = g->oh * g->ow;
    g->hp = g->h + wn->pad_top + wn->pad_bottom;
    g->wp = g->w + wn->pad_left + wn->pad_right;
    g->padded = wn->pad_top || wn->pad_bottom || wn->pad_left || wn->pad_right;
    g->direct = wn->kernel_h == 1 && wn->kernel_w == 1 && wn->stride_h == 1 && wn->stride_w == 1 && !g->padded;
    return FX_OK;
}

static size_t conv_padded_floats(const conv_geom *g)
{
    return g->padded ? cpu_floats_aligned((size_t)(g->c * g->hp * g->wp)) : 0;
}

/* xp[c][pt + y][pl + x] = x[c][y][x], zero elsewhere. Returns the plane
 * the packers read: xp, or x itself when there is no padding. */
static const float *conv_pad_input(const conv_geom *g, const float *x, float *xp)
{
    if (!g->padded)
        return x;
    const fx_window2d *wn = &g->win;
    for (int64_t c = 0; c < g->c; c++) {
        float *plane = xp + c * g->hp * g->wp;
        memset(plane, 0, sizeof(float) * (size_t)(wn->pad_top * g->wp));
        for (int64_t y = 0; y < g->h; y++) {
            float *row = plane + (wn->pad_top + y) * g->wp;
            const float *src = x + (c * g->h + y) * g->w;
            for (int64_t q = 0; q < wn->pad_left; q++)
                row[q] = 0.0f;
            memcpy(row + wn->pad_left, src, sizeof(float) * (size_t)g->w);
            for (int64_t q = wn->pad_left + g->w; q < g->wp; q++)
                row[q] = 0.0f;
        }
        memset(plane + (wn->pad_top + g->h) * g->wp, 0, sizeof(float) * (size_t)(wn->pad_bottom * g->wp));
    }
    return xp;
}

/* Writes len values of column row kk (= (c*kh + i)*kw + j) starting at
 * column p0 into d with stride ds: d[t*ds] = col[kk][p0 + t], reading the
 * padded plane xp (Hp x Wp per channel, see conv_pad_input). */
static void conv_col_segment(const conv_geom *g, const float *xp, int64_t kk, int64_t p0, int64_t len,
                             float *restrict d, int64_t ds)
{
    const fx_window2d *wn = &g->win;
    int64_t khw = wn->kernel_h * wn->kernel_w;
    int64_t c = kk / khw, r = kk % khw;
    int64_t i = r / wn->kernel_w, j = r % wn->kernel_w;
    int64_t oy = p0 / g->ow, ox = p0 % g->ow;
    int64_t sh = wn->stride_h, sw = wn->stride_w;
    const float *plane = xp + c * g->hp * g->wp + i * g->wp + j;
    int64_t t = 0;
    while (t < len) {
        int64_t run = g->ow - ox < len - t ? g->ow - ox : len - t;
        const float *restrict src = plane + oy * sh * g->wp + ox * sw;
        float *restrict dd = d + t * ds;
        if (ds == 1 && sw == 1) {
            for (int64_t q = 0; q < run; q++)
                dd[q] = src[q];
        } else {
            for (int64_t q = 0; q < run; q++)
                dd[q * ds] = src[q * sw];
        }
        t += run;
        oy++;
        ox = 0;
    }
}

/* What the packers read: the geometry, one (padded) image, the first
 * column (for a GEMM over a column range of the image), and
 * CONV_PACK_TMP floats of the thread's scratch in which rows are built
 * before they are laid out. */
#define CONV_PACK_TMP 8192
typedef struct conv_pack_state {
    const conv_geom *g;
    const float *xp;
    int64_t p_offset;
    fx_simd_level simd;
    float *tmp;
} conv_pack_state;

/* cpu_gemm_pack_fn for B = col [K, P]: rows kk, columns p. Each row kk is
 * built once over all nc columns, then cut into the nr-wide panels. */
static void conv_pack_cols(const void *self, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr, float *dst)
{
    const conv_pack_state *s = self;
    if (nc <= nr || nc > CONV_PACK_TMP) {
        /* One panel (CBLAS path: nr == nc), or too wide for tmp. */
        for (int64_t q0 = j0; q0 < j0 + nc; q0 += nr) {
            int64_t w = nr < j0 + nc - q0 ? nr : j0 + nc - q0;
            for (int64_t kk = k0; kk < k0 + kc; kk++) {
                float *d = dst + (kk - k0) * nr;
                conv_col_segment(s->g, s->xp, kk, s->p_offset + q0, w, d, 1);
                for (int64_t t = w; t < nr; t++)
                    d[t] = 0.0f;
            }
            dst += kc * nr;
        }
        return;
    }
    int64_t panels = (nc + nr - 1) / nr;
    for (int64_t kk = k0; kk < k0 + kc; kk++) {
        conv_col_segment(s->g, s->xp, kk, s->p_offset + j0, nc, s->tmp, 1);
        for (int64_t q = 0; q < panels; q++) {
            float *d = dst + q * kc * nr + (kk - k0) * nr;
            int64_t w = nr < nc - q * nr ? nr : nc - q * nr;
            memcpy(d, s->tmp + q * nr, sizeof(float) * (size_t)w);
            for (int64_t t = w; t < nr; t++)
                d[t] = 0.0f;
        }
    }
}

/* cpu_gemm_pack_fn for B = col^T [P, K]: rows p, columns kk. The nr
 * column rows kk are built contiguously in tmp and transposed into the
 * panel by the GEMM's own packing (SIMD 8x8 transposes). */
static void conv_pack_cols_t(const void *self, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr, float *dst)
{
    const conv_pack_state *s = self;
    for (int64_t q0 = j0; q0 < j0 + nc; q0 += nr) {
        int64_t w = nr < j0 + nc - q0 ? nr : j0 + nc - q0;
        if (w * kc <= CONV_PACK_TMP) {
            for (int64_t t = 0; t < w; t++)
                conv_col_segment(s->g, s->xp, q0 + t, s->p_offset + k0, kc, s->tmp + t * kc, 1);
            cpu_gemm_pack_b_rows(s->simd, s->tmp, kc, kc, w, nr, dst);
        } else {
            for (int64_t t = 0; t < w; t++)
                conv_col_segment(s->g, s->xp, q0 + t, s->p_offset + k0, kc, dst + t, nr);
            for (int64_t p = 0; p < kc; p++)
                for (int64_t t = w; t < nr; t++)
                    dst[p * nr + t] = 0.0f;
        }
        dst += kc * nr;
    }
}

/* The adjoint of im2col: dx_n[c][y][x] += sum over the columns that read
 * it. Sums into the padded buffer dxp (no bounds tests), then adds its
 * interior to dx_n; without padding it adds into dx_n directly. */
static void conv_col2im_add(const conv_geom *g, const float *col, float *dxp, float *dx)
{
    const fx_window2d *wn = &g->win;
    float *acc = g->padded ? dxp : dx;
    if (g->padded)
        memset(dxp, 0, sizeof(float) * (size_t)(g->c * g->hp * g->wp));
    int64_t sh = wn->stride_h, sw = wn->stride_w;
    for (int64_t c = 0; c < g->c; c++) {
        for (int64_t i = 0; i < wn->kernel_h; i++) {
            for (int64_t j = 0; j < wn->kernel_w; j++) {
                const float *srcrow = col + ((c * wn->kernel_h + i) * wn->kernel_w + j) * g->p;
                float *plane = acc + c * g->hp * g->wp + i * g->wp + j;
                for (int64_t oy = 0; oy < g->oh; oy++) {
                    const float *restrict s = srcrow + oy * g->ow;
                    float *restrict d = plane + oy * sh * g->wp;
                    if (sw == 1) {
                        for (int64_t ox = 0; ox < g->ow; ox++)
                            d[ox] += s[ox];
                    } else {
                        for (int64_t ox = 0; ox < g->ow; ox++)
                            d[ox * sw] += s[ox];
                    }
                }
            }
        }
    }
    if (g->padded) {
        for (int64_t c = 0; c < g->c; c++)
            for (int64_t y = 0; y < g->h; y++) {
                const float *restrict s = dxp + (c * g->hp + wn->pad_top + y) * g->wp + wn->pad_left;
                float *restrict d = dx + (c * g->h + y) * g->w;
                for (int64_t x = 0; x < g->w; x++)
                    d[x] += s[x];
            }
    }
}

/* y_n[o][q] = bias[o] for q in [q0, q1): the GEMM then adds W col (beta 1). */
static void conv_fill_bias(float *yn, const float *bias, int64_t o_count, int64_t p, int64_t q0, int64_t q1)
{
    for (int64_t o = 0; o < o_count; o++) {
        float b = bias[o];
        float *row = yn + o * p;
        for (int64_t q = q0; q < q1; q++)
            row[q] = b;
    }
}

/* B operand col_n (or col_n^T when transposed) from column p_offset: x_n
 * itself for the direct 1x1 case, else an implicit im2col packer over
 * the padded image xp (state in *ps). */
static cpu_gemm_src conv_cols_src(const conv_geom *g, fx_simd_level simd, const float *xp, int64_t p_offset,
                                  int transposed, float *tmp, conv_pack_state *ps)
{
    cpu_gemm_src b;
    memset(&b, 0, sizeof b);
    if (g->direct) {
        b.data = xp + p_offset;
        b.ld = g->p;
        b.trans = transposed;
    } else {
        ps->g = g;
        ps->xp = xp;
        ps->p_offset = p_offset;
        ps->simd = simd;
        ps->tmp = tmp;
        b.pack = transposed ? conv_pack_cols_t : conv_pack_cols;
        b.self = ps;
    }
    return b;
}

/* ---- forward ---- */

typedef struct conv_forward_job {
    conv_geom g;
    fx_simd_level simd;
    const float *x, *bias;
    float *y;
    cpu_gemm_src weight;   /* packed W */
    float **scratch;       /* per thread: [packer rows | padded image | GEMM packing] */
    size_t off_xp, off_work;
    int64_t image;         /* small-batch path: the image being split */
    int64_t unit;          /* small-batch path: columns per index */
} conv_forward_job;

/* y_n[:, q0:q1] = W col_n[:, q0:q1] (+ b). */
static void conv_forward_columns(const conv_forward_job *job, int64_t n, int64_t q0, int64_t q1, float *scratch)
{
    const conv_geom *g = &job->g;
    const float *xn = job->x + n * g->c * g->h * g->w;
    float *yn = job->y + n * g->o * g->p;
    float beta = 0.0f;
    if (job->bias) {
        conv_fill_bias(yn, job->bias, g->o, g->p, q0, q1);
        beta = 1.0f;
    }
    const float *xp = conv_pad_input(g, xn, scratch + job->off_xp);
    conv_pack_state ps;
    cpu_gemm_src b = conv_cols_src(g, job->simd, xp, q0, 0, scratch, &ps);
    cpu_gemm_ex(job->simd, g->o, q1 - q0, g->k, 1.0f, &job->weight, &b, beta, yn + q0, g->p, scratch + job->off_work);
}

static void conv_forward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const conv_forward_job *job = arg;
    for (int64_t n = begin; n < end; n++)
        conv_forward_columns(job, n, 0, job->g.p, job->scratch[thread]);
}

static void conv_forward_split_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const conv_forward_job *job = arg;
    int64_t q0 = begin * job->unit, q1 = end * job->unit;
    if (q1 > job->g.p)
        q1 = job->g.p;
    conv_forward_columns(job, job->image, q0, q1, job->scratch[thread]);
}

fx_status cpu_conv2d_forward(const fx_kernel_call *call)
{
    conv_forward_job job;
    memset(&job, 0, sizeof job);
    fx_status st = conv_geom_get(call, &job.g);
    if (st != FX_OK)
        return st;
    const conv_geom *g = &job.g;
    fx_backend *be = call->backend;
    job.simd = fx_cpu_simd_level(be);
    job.x = fx_tensor_f32(call->in[0]);
    job.bias = call->n_params > 1 && cpu_tensor_present(call->param[1]) ? fx_tensor_f32(call->param[1]) : NULL;
    job.y = fx_tensor_f32(call->out[0]);
    if (g->n == 0 || g->p == 0)
        return FX_OK;

    int tile = cpu_conv2d_winograd_tile(&g->win, g->c, g->o, g->oh, g->ow);
    if (tile) {
        cpu_winograd_conv cv = { g->n, g->c, g->h, g->w, g->o, g->oh, g->ow,
                                 g->win.pad_top, g->win.pad_left, tile, 0, 0 };
        return cpu_conv2d_winograd(call->ctx, be, &cv, job.x, fx_tensor_f32(call->param[0]), job.bias, job.y);
    }

    float *packed = fx_malloc(call->ctx, sizeof(float) * cpu_gemm_packed_a_floats(job.simd, g->o, g->k),
                              "conv2d packed weights");
    if (!packed)
        return FX_ERR_NOMEM;
    cpu_gemm_pack_a(job.simd, 0, g->o, g->k, fx_tensor_f32(call->param[0]), g->k, packed);
    job.weight.packed = packed;

    job.off_xp = CONV_PACK_TMP;
    job.off_work = job.off_xp + conv_padded_floats(g);
    job.scratch = cpu_scratch_per_thread(be, job.off_work + cpu_gemm_work_floats(job.simd, g->o, g->p, g->k));
    if (!job.scratch) {
        free(packed);
        return FX_ERR_NOMEM;
    }
    job.unit = 64;
    if (g->n >= fx_cpu_threads(be) || g->p <= job.unit) {
        fx_cpu_parallel_for(be, g->n, 1, conv_forward_range, &job);
    } else {
        /* Fewer images than threads (inference on one image): split each
         * image's columns over the threads instead (each pads its own copy). */
        for (job.image = 0; job.image < g->n; job.image++)
            fx_cpu_parallel_for(be, (g->p + job.unit - 1) / job.unit, 1, conv_forward_split_range, &job);
    }
    free(job.scratch);
    free(packed);
    return FX_OK;
}

/* ---- backward ---- */

typedef struct conv_backward_job {
    conv_geom g;
    fx_simd_level simd;
    const float *x, *dy;
    float *dx;               /* NULL: input needs no gradient */
    int want_dw, want_db;
    cpu_gemm_src weight_t;   /* packed W^T [K, O] */
    float **scratch;
    /* Offsets (floats) into each thread's scratch. */
    size_t off_tmp, off_xp, off_dxp, off_dcol, off_dw, off_db, off_work;
} conv_backward_job;

static void conv_backward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const conv_backward_job *job = arg;
    const conv_geom *g = &job->g;
    float *base = job->scratch[thread];
    float *dw = base + job->off_dw;
    float *db = base + job->off_db;
    float *work = base + job->off_work;
    for (int64_t n = begin; n < end; n++) {
        const float *xn = job->x + n * g->c * g->h * g->w;
        const float *dyn = job->dy + n * g->o * g->p;
        cpu_gemm_src dy_src = { dyn, g->p, 0, NULL, NULL, NULL };
        if (job->want_dw) {
            /* dW[O, K] += dy_n[O, P] col_n^T */
            const float *xp = conv_pad_input(g, xn, base + job->off_xp);
            conv_pack_state ps;
            cpu_gemm_src cols_t = conv_cols_src(g, job->simd, xp, 0, 1, base + job->off_tmp, &ps);
            cpu_gemm_ex(job->simd, g->o, g->k, g->p, 1.0f, &dy_src, &cols_t, 1.0f, dw, g->k, work);
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
                cpu_gemm_ex(job->simd, g->k, g->p, g->o, 1.0f, &job->weight_t, &dy_src, 1.0f, dxn, g->p, work);
            } else {
                float *dcol = base + job->off_dcol;
                cpu_gemm_ex(job->simd, g->k, g->p, g->o, 1.0f, &job->weight_t, &dy_src, 0.0f, dcol, g->p, work);
                conv_col2im_add(g, dcol, base + job->off_dxp, dxn);
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
    job.dy = fx_tensor_f32(call->grad_out[0]);
    job.dx = cpu_tensor_present(dx_t) ? fx_tensor_f32(dx_t) : NULL;
    job.want_dw = cpu_tensor_present(dw_t);
    job.want_db = cpu_tensor_present(db_t);
    if (g->n == 0 || g->p == 0 || (!job.dx && !job.want_dw && !job.want_db))
        return FX_OK;

    /* Weight gradient by Winograd: dW += G^T [sum over tiles of
     * (A dY A^T) . (B^T d B)] G. */
    int wtile = job.want_dw ? cpu_conv2d_winograd_weight_grad_tile(&g->win, g->c, g->o, g->oh, g->ow) : 0;
    if (wtile) {
        cpu_winograd_conv cv = { g->n, g->c, g->h, g->w, g->o, g->oh, g->ow,
                                 g->win.pad_top, g->win.pad_left, wtile, 0, 1 };
        st = cpu_conv2d_winograd_weight_grad(call->ctx, be, &cv, job.x, job.dy, fx_tensor_f32(dw_t));
        if (st != FX_OK)
            return st;
        job.want_dw = 0;
        if (!job.dx && !job.want_db)
            return FX_OK;
    }

    /* Input gradient by Winograd: dx += the 3x3 stride-1 correlation of dy
     * (padded by 2 - pad) with the flipped, transposed filter. */
    int tile = job.dx ? cpu_conv2d_winograd_tile(&g->win, g->o, g->c, g->h, g->w) : 0;
    if (tile) {
        cpu_winograd_conv cv = { g->n, g->o, g->oh, g->ow, g->c, g->h, g->w,
                                 2 - g->win.pad_top, 2 - g->win.pad_left, tile, 1, 1 };
        st = cpu_conv2d_winograd(call->ctx, be, &cv, job.dy, fx_tensor_f32(call->param[0]), NULL, job.dx);
        if (st != FX_OK)
            return st;
        job.dx = NULL;
        if (!job.want_dw && !job.want_db)
            return FX_OK;
    }

    float *packed = NULL;
    if (job.dx) {
        packed = fx_malloc(call->ctx, sizeof(float) * cpu_gemm_packed_a_floats(job.simd, g->k, g->o),
                           "conv2d packed weights");
        if (!packed)
            return FX_ERR_NOMEM;
        cpu_gemm_pack_a(job.simd, 1, g->k, g->o, fx_tensor_f32(call->param[0]), g->k, packed);
        job.weight_t.packed = packed;
    }

    /* Per-thread scratch: [packer rows | padded x | padded dx | dcol |
     * dW sums | db sums | GEMM packing]. */
    int cols = job.dx && !g->direct;
    size_t tmp = job.want_dw ? CONV_PACK_TMP : 0;
    size_t xp = job.want_dw ? conv_padded_floats(g) : 0;
    size_t dxp = cols ? conv_padded_floats(g) : 0;
    size_t dcol = cols ? cpu_floats_aligned((size_t)(g->k * g->p)) : 0;
    size_t dw = job.want_dw ? cpu_floats_aligned((size_t)(g->o * g->k)) : 0;
    size_t db = job.want_db ? cpu_floats_aligned((size_t)g->o) : 0;
    size_t work_dw = job.want_dw ? cpu_gemm_work_floats(job.simd, g->o, g->k, g->p) : 0;
    size_t work_dx = job.dx ? cpu_gemm_work_floats(job.simd, g->k, g->p, g->o) : 0;
    job.off_tmp = 0;
    job.off_xp = tmp;
    job.off_dxp = job.off_xp + xp;
    job.off_dcol = job.off_dxp + dxp;
    job.off_dw = job.off_dcol + dcol;
    job.off_db = job.off_dw + dw;
    job.off_work = job.off_db + db;
    size_t total = job.off_work + (work_dw > work_dx ? work_dw : work_dx);
    job.scratch = cpu_scratch_per_thread(be, total);
    if (!job.scratch) {
        free(packed);
        return FX_ERR_NOMEM;
    }
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
    free(packed);
    return FX_OK;
}
