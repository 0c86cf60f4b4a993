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
 * first copied into a zero-bordered buffer, so the packers copy rows
 * without bounds tests; col2im likewise adds into such a buffer. W is
 * packed once per call and shared by all threads. A 1x1 stride-1 unpadded
 * conv needs no im2col at all: col_n is x_n.
 *
 * Strided convs: that buffer is split into sh*sw phases while it is made,
 * xq[a][b][c][y][x] = xp[c][y*sh + a][x*sw + b] (Hq = ceil(Hp/sh) rows of
 * Wq = ceil(Wp/sw)), so col[(c, i, j)][oy, ox] = xq[i%sh][j%sw][c]
 * [oy + i/sh][ox + j/sw]: every column row is read as contiguous runs of
 * OW values, as at stride 1, instead of one scalar gather per value (for
 * stride 2 the packers spent as long as a third of the micro-kernel's
 * time gathering). col2im adds per phase likewise and interleaves once.
 * Stride 1 is the one-phase case of the same code. Only copies change:
 * the GEMM sums the same products in the same order.
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
    int64_t hq, wq;          /* one phase plane: ceil(hp / sh) x ceil(wp / sw) */
    int64_t phases;          /* sh * sw */
    int copied;              /* padding or stride > 1: the packers read a phased copy */
    int64_t xq_stride;       /* floats from one image's packer input to the next */
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
    g->hq = (g->hp + wn->stride_h - 1) / wn->stride_h;
    g->wq = (g->wp + wn->stride_w - 1) / wn->stride_w;
    g->phases = wn->stride_h * wn->stride_w;
    int padded = wn->pad_top || wn->pad_bottom || wn->pad_left || wn->pad_right;
    int strided = wn->stride_h > 1 || wn->stride_w > 1;
    g->copied = padded || strided;
    g->direct = wn->kernel_h == 1 && wn->kernel_w == 1 && !strided && !padded;
    g->xq_stride = g->copied ? (int64_t)cpu_floats_aligned((size_t)(g->phases * g->c * g->hq * g->wq))
                             : g->c * g->h * g->w;
    return FX_OK;
}

static size_t conv_copy_floats(const conv_geom *g)
{
    return g->copied ? cpu_floats_aligned((size_t)(g->phases * g->c * g->hq * g->wq)) : 0;
}

/* The phase plane (a, b) of channel c in a phased buffer. */
static inline int64_t conv_phase_offset(const conv_geom *g, int64_t a, int64_t b, int64_t c)
{
    return ((a * g->win.stride_w + b) * g->c + c) * g->hq * g->wq;
}

/* The columns x of phase b whose padded column x*sw + b - pl lies in the
 * image: [*lo, *hi). */
static void conv_phase_cols(const conv_geom *g, int64_t b, int64_t *lo, int64_t *hi)
{
    int64_t sw = g->win.stride_w, pl = g->win.pad_left;
    int64_t l = pl > b ? (pl - b + sw - 1) / sw : 0;
    int64_t last = g->w - 1 + pl - b;   /* the largest x*sw that lands in the image */
    int64_t h = last < 0 ? 0 : last / sw + 1;
    if (h > g->wq)
        h = g->wq;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

/* Stride 2 across: one image row into its two phase rows, d0[x] = row
 * value at padded column 2x, d1[x] at 2x + 1 (zero outside the image).
 * The middle, where both land in the image, reads pairs in one loop that
 * the compiler turns into vector loads and shuffles. */
static void conv_deinterleave_row(const conv_geom *g, const float *src, float *restrict d0, float *restrict d1)
{
    int64_t pl = g->win.pad_left;
    const float *restrict s = src - pl;   /* s[X] = padded column X */
    int64_t lo = (pl + 1) / 2;            /* first x with 2x >= pl */
    int64_t hi = (g->w + pl) / 2;         /* past the last x with 2x + 1 - pl <= w - 1 */
    if (hi < lo)
        hi = lo;
    if (hi > g->wq)
        hi = g->wq;
    for (int64_t q = 0; q < lo; q++) {
        int64_t x0 = 2 * q - pl, x1 = x0 + 1;
        d0[q] = x0 >= 0 && x0 < g->w ? src[x0] : 0.0f;
        d1[q] = x1 >= 0 && x1 < g->w ? src[x1] : 0.0f;
    }
    for (int64_t q = lo; q < hi; q++) {
        d0[q] = s[2 * q];
        d1[q] = s[2 * q + 1];
    }
    for (int64_t q = hi; q < g->wq; q++) {
        int64_t x0 = 2 * q - pl, x1 = x0 + 1;
        d0[q] = x0 >= 0 && x0 < g->w ? src[x0] : 0.0f;
        d1[q] = x1 >= 0 && x1 < g->w ? src[x1] : 0.0f;
    }
}

/* xq[a][b][c][y][x] = x[c][y*sh + a - pt][x*sw + b - pl], zero outside
 * the image (the header explains the phases; with stride 1 this is the
 * zero-bordered copy). Returns the buffer the packers read: xq, or x
 * itself when no copy is needed. */
static const float *conv_phase_input(const conv_geom *g, const float *x, float *xq)
{
    if (!g->copied)
        return x;
    const fx_window2d *wn = &g->win;
    int64_t sh = wn->stride_h, sw = wn->stride_w;
    for (int64_t a = 0; a < sh; a++) {
        for (int64_t c = 0; c < g->c; c++) {
            for (int64_t y = 0; y < g->hq; y++) {
                int64_t sy = y * sh + a - wn->pad_top;
                if (sy < 0 || sy >= g->h) {
                    for (int64_t b = 0; b < sw; b++)
                        memset(xq + conv_phase_offset(g, a, b, c) + y * g->wq, 0, sizeof(float) * (size_t)g->wq);
                    continue;
                }
                const float *src = x + (c * g->h + sy) * g->w;
                if (sw == 2) {
                    conv_deinterleave_row(g, src, xq + conv_phase_offset(g, a, 0, c) + y * g->wq,
                                          xq + conv_phase_offset(g, a, 1, c) + y * g->wq);
                    continue;
                }
                for (int64_t b = 0; b < sw; b++) {
                    float *restrict d = xq + conv_phase_offset(g, a, b, c) + y * g->wq;
                    int64_t lo, hi;
                    conv_phase_cols(g, b, &lo, &hi);
                    for (int64_t q = 0; q < lo; q++)
                        d[q] = 0.0f;
                    const float *restrict s = src + b - wn->pad_left;
                    if (sw == 1) {
                        if (hi > lo)
                            memcpy(d + lo, s + lo, sizeof(float) * (size_t)(hi - lo));
                    } else {
                        for (int64_t q = lo; q < hi; q++)
                            d[q] = s[q * sw];
                    }
                    for (int64_t q = hi; q < g->wq; q++)
                        d[q] = 0.0f;
                }
            }
        }
    }
    return xq;
}

/* d[0, n) = s[0, n) for the short runs (one output row, or what is left
 * of a 16-wide panel row) the packers copy: in fixed-size pieces the
 * compiler turns into vector moves; a plain loop became a memmove call
 * per run, which cost more than the copy for runs of 6 to 24 values. */
static inline void conv_copy_run(float *restrict d, const float *restrict s, int64_t n)
{
    for (; n >= 8; n -= 8, d += 8, s += 8)
        memcpy(d, s, 8 * sizeof(float));
    if (n >= 4) {
        memcpy(d, s, 4 * sizeof(float));
        d += 4;
        s += 4;
        n -= 4;
    }
    if (n >= 2) {
        memcpy(d, s, 2 * sizeof(float));
        d += 2;
        s += 2;
        n -= 2;
    }
    if (n)
        d[0] = s[0];
}

/* Writes len values of column row kk (= (c*kh + i)*kw + j) starting at
 * column p0, value t to d[(t / piece) * piece_stride + t % piece]: whole
 * GEMM panels (piece = nr, piece_stride = kc * nr) or, with piece >= len,
 * one contiguous row. Reads the phased buffer xq (conv_phase_input) in
 * contiguous runs of at most OW values. */
static void conv_col_copy(const conv_geom *g, const float *xq, int64_t kk, int64_t p0, int64_t len,
                          float *restrict d, int64_t piece, int64_t piece_stride)
{
    const fx_window2d *wn = &g->win;
    int64_t khw = wn->kernel_h * wn->kernel_w;
    int64_t c = kk / khw, r = kk % khw;
    int64_t i = r / wn->kernel_w, j = r % wn->kernel_w;
    int64_t sh = wn->stride_h, sw = wn->stride_w;
    const float *plane = xq + conv_phase_offset(g, i % sh, j % sw, c) + (i / sh) * g->wq + j / sw;
    /* Columns past P belong to the next images of a group (conv_group):
     * their copies follow each other xq_stride apart. */
    plane += (p0 / g->p) * g->xq_stride;
    int64_t oy = p0 % g->p / g->ow, ox = p0 % g->ow;
    if (piece >= len) {
        /* One contiguous row: runs of OW values, row by row. */
        for (int64_t t = 0; t < len;) {
            int64_t run = g->ow - ox < len - t ? g->ow - ox : len - t;
            conv_copy_run(d + t, plane + oy * g->wq + ox, run);
            t += run;
            ox = 0;
            if (++oy == g->oh) {
                oy = 0;
                plane += g->xq_stride;
            }
        }
        return;
    }
    int64_t t = 0, at = 0;      /* at: t % piece */
    float *dd = d;
    while (t < len) {
        int64_t run = g->ow - ox;
        if (run > len - t)
            run = len - t;
        if (run > piece - at)
            run = piece - at;
        const float *restrict src = plane + oy * g->wq + ox;
        conv_copy_run(dd + at, src, run);
        t += run;
        at += run;
        if (at == piece) {
            at = 0;
            dd += piece_stride;
        }
        ox += run;
        if (ox == g->ow) {
            ox = 0;
            if (++oy == g->oh) {
                oy = 0;
                plane += g->xq_stride;
            }
        }
    }
}

/* What the packers read: the geometry, one (phased) image, the first
 * column (for a GEMM over a column range of the image), and
 * CONV_PACK_TMP floats of the thread's scratch in which the transposed
 * packer builds rows before they are laid out. */
#define CONV_PACK_TMP 8192
typedef struct conv_pack_state {
    const conv_geom *g;
    const float *xp;
    int64_t p_offset;
    fx_simd_level simd;
    float *tmp;
} conv_pack_state;

/* cpu_gemm_pack_fn for B = col [K, P]: rows kk, columns p, written
 * straight into the nr-wide panels. */
static void conv_pack_cols(const void *self, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr, float *dst)
{
    const conv_pack_state *s = self;
    int64_t panels = (nc + nr - 1) / nr;
    int64_t tail = panels * nr - nc;   /* zero columns of the last panel */
    float *last = dst + (panels - 1) * kc * nr;
    for (int64_t kk = k0; kk < k0 + kc; kk++) {
        conv_col_copy(s->g, s->xp, kk, s->p_offset + j0, nc, dst + (kk - k0) * nr, nr, kc * nr);
        for (int64_t t = nr - tail; t < nr; t++)
            last[(kk - k0) * nr + t] = 0.0f;
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
                conv_col_copy(s->g, s->xp, q0 + t, s->p_offset + k0, kc, s->tmp + t * kc, kc, 0);
            cpu_gemm_pack_b_rows(s->simd, s->tmp, kc, kc, w, nr, dst);
        } else {
            /* Too long for tmp (CBLAS path: one panel as wide as B): value p
             * of column row t goes to dst[p * nr + t], pieces of one. */
            for (int64_t t = 0; t < w; t++)
                conv_col_copy(s->g, s->xp, q0 + t, s->p_offset + k0, kc, dst + t, 1, nr);
            for (int64_t p = 0; p < kc; p++)
                for (int64_t t = w; t < nr; t++)
                    dst[p * nr + t] = 0.0f;
        }
        dst += kc * nr;
    }
}

/* The adjoint of im2col: dx_n[c][y][x] += sum over the columns that read
 * it (col: [K, P], rows ldcol apart). Sums into the phased buffer dxq (zeroed; no bounds tests, and
 * contiguous runs per column row as in conv_col_copy), then adds it, with
 * the phases interleaved back, to dx_n; when no copy is needed it adds
 * into dx_n directly. */
static void conv_col2im_add(const conv_geom *g, const float *col, int64_t ldcol, float *dxq, float *dx)
{
    const fx_window2d *wn = &g->win;
    float *acc = g->copied ? dxq : dx;
    if (g->copied)
        memset(dxq, 0, sizeof(float) * (size_t)(g->phases * g->c * g->hq * g->wq));
    int64_t sh = wn->stride_h, sw = wn->stride_w;
    for (int64_t c = 0; c < g->c; c++) {
        for (int64_t i = 0; i < wn->kernel_h; i++) {
            for (int64_t j = 0; j < wn->kernel_w; j++) {
                const float *srcrow = col + ((c * wn->kernel_h + i) * wn->kernel_w + j) * ldcol;
                float *plane = acc + conv_phase_offset(g, i % sh, j % sw, c) + (i / sh) * g->wq + j / sw;
                for (int64_t oy = 0; oy < g->oh; oy++) {
                    const float *restrict s = srcrow + oy * g->ow;
                    float *restrict d = plane + oy * g->wq;
                    for (int64_t ox = 0; ox < g->ow; ox++)
                        d[ox] += s[ox];
                }
            }
        }
    }
    if (!g->copied)
        return;
    for (int64_t c = 0; c < g->c; c++) {
        for (int64_t y = 0; y < g->h; y++) {
            int64_t py = y + wn->pad_top;
            float *restrict d = dx + (c * g->h + y) * g->w;
            for (int64_t b = 0; b < sw; b++) {
                const float *restrict s = dxq + conv_phase_offset(g, py % sh, b, c) + (py / sh) * g->wq;
                int64_t lo, hi;
                conv_phase_cols(g, b, &lo, &hi);
                float *restrict db = d + b - wn->pad_left;
                if (sw == 1) {
                    for (int64_t q = lo; q < hi; q++)
                        db[q] += s[q];
                } else if (sw == 2) {
                    for (int64_t q = lo; q < hi; q++)
                        db[2 * q] += s[q];
                } else {
                    for (int64_t q = lo; q < hi; q++)
                        db[q * sw] += s[q];
                }
            }
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
 * the phased image xp (state in *ps). */
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

/* Images per GEMM for the forward pass and the input gradient. With few
 * output pixels (the paper's c51: 6x6 = 36) one image's GEMM is narrow:
 * its columns fill 16-wide panels badly (36 columns take 3 panels, 48
 * computed). Taking several images as one GEMM (their columns side by
 * side) fills them; each output is still the same sum. The group is as
 * small as gives about CONV_GROUP_COLUMNS columns, and leaves every
 * thread at least one group. Only below CONV_GROUP_BELOW pixels (at 144,
 * c41, a group of 2 measured no faster), and only for convs that copy
 * their input anyway (padding or stride > 1). */
#define CONV_GROUP_COLUMNS 256
#define CONV_GROUP_BELOW 100
static int64_t conv_group(const conv_geom *g, int threads)
{
    if (!g->copied || g->p >= CONV_GROUP_BELOW || g->n < 2)
        return 1;
    const char *force = getenv("FX_CONV_GROUP");   /* "off": one image per GEMM (A/B benchmarks, tests) */
    if (force && strcmp(force, "off") == 0)
        return 1;
    int64_t group = (CONV_GROUP_COLUMNS + g->p - 1) / g->p;
    int64_t per_thread = (g->n + (threads > 1 ? threads : 1) - 1) / (threads > 1 ? threads : 1);
    if (group > per_thread)
        group = per_thread;
    return group > 1 ? group : 1;
}



typedef struct conv_forward_job {
    conv_geom g;
    fx_simd_level simd;
    const float *x, *bias;
    float *y;
    cpu_gemm_src weight;   /* packed W */
    float **scratch;       /* per thread: [phased image | GEMM packing] */
    size_t off_xp, off_work;
    int64_t image;         /* small-batch path: the image being split */
    int64_t unit;          /* small-batch path: columns per index */
    int64_t group;         /* images per GEMM (conv_group) */
    size_t off_ytmp;       /* grouped: the GEMM's [O, group * P] result */
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
    const float *xp = conv_phase_input(g, xn, scratch + job->off_xp);
    conv_pack_state ps;
    cpu_gemm_src b = conv_cols_src(g, job->simd, xp, q0, 0, NULL, &ps);
    cpu_gemm_ex(job->simd, g->o, q1 - q0, g->k, 1.0f, &job->weight, &b, beta, yn + q0, g->p, scratch + job->off_work);
}

/* Images n0 .. n0 + count - 1 as one GEMM, [O, K] x [K, count * P]
 * (conv_group explains why), into ytmp, then copied out to each y_n.
 * Every output is the same sum as on the one-image path. */
static void conv_forward_group(const conv_forward_job *job, int64_t n0, int64_t count, float *scratch)
{
    const conv_geom *g = &job->g;
    float *xq = scratch + job->off_xp;
    for (int64_t t = 0; t < count; t++)
        conv_phase_input(g, job->x + (n0 + t) * g->c * g->h * g->w, xq + t * g->xq_stride);
    float *ytmp = scratch + job->off_ytmp;
    int64_t cols = count * g->p;
    conv_pack_state ps;
    cpu_gemm_src b = conv_cols_src(g, job->simd, xq, 0, 0, NULL, &ps);
    float beta = 0.0f;
    if (job->bias) {
        /* As the one-image path does, so the sums round the same way. */
        conv_fill_bias(ytmp, job->bias, g->o, cols, 0, cols);
        beta = 1.0f;
    }
    cpu_gemm_ex(job->simd, g->o, cols, g->k, 1.0f, &job->weight, &b, beta, ytmp, cols, scratch + job->off_work);
    for (int64_t t = 0; t < count; t++) {
        float *yn = job->y + (n0 + t) * g->o * g->p;
        for (int64_t o = 0; o < g->o; o++)
            memcpy(yn + o * g->p, ytmp + o * cols + t * g->p, sizeof(float) * (size_t)g->p);
    }
}

static void conv_forward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const conv_forward_job *job = arg;
    if (job->group > 1) {
        for (int64_t i = begin; i < end; i++) {
            int64_t n0 = i * job->group;
            int64_t count = job->g.n - n0 < job->group ? job->g.n - n0 : job->group;
            conv_forward_group(job, n0, count, job->scratch[thread]);
        }
        return;
    }
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

    job.group = conv_group(g, fx_cpu_threads(be));
    job.off_xp = 0;
    size_t xq = job.group > 1 ? (size_t)(job.group * g->xq_stride) : conv_copy_floats(g);
    job.off_ytmp = job.off_xp + xq;
    job.off_work = job.off_ytmp + (job.group > 1 ? cpu_floats_aligned((size_t)(g->o * job.group * g->p)) : 0);
    job.scratch = cpu_scratch_per_thread(be, job.off_work + cpu_gemm_work_floats(job.simd, g->o, job.group * g->p, g->k));
    if (!job.scratch) {
        free(packed);
        return FX_ERR_NOMEM;
    }
    job.unit = 64;
    if (job.group > 1) {
        fx_cpu_parallel_for(be, (g->n + job.group - 1) / job.group, 1, conv_forward_range, &job);
    } else if (g->n >= fx_cpu_threads(be) || g->p <= job.unit) {
        fx_cpu_parallel_for(be, g->n, 1, conv_forward_range, &job);
    } else {
        /* Fewer images than threads (inference on one image): split each
         * image's columns over the threads instead (each makes its own copy). */
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
    int64_t group;           /* images per GEMM (conv_group) */
    float **scratch;
    /* Offsets (floats) into each thread's scratch. */
    size_t off_tmp, off_xp, off_dxp, off_dytmp, off_dcol, off_dw, off_db, off_work;
} conv_backward_job;

/* One group of images n0 .. n0 + count - 1 (one image when group is 1):
 * with dY = [dy_n0 ... dy_n0+count-1] side by side ([O, count * P],
 * copied into dytmp for a group, else dy_n itself),
 *   dcol = W^T dY,   dx_n += col2im(dcol's columns of n),
 * and dW image by image (below). */
static void conv_backward_group(const conv_backward_job *job, int64_t n0, int64_t count, float *base)
{
    const conv_geom *g = &job->g;
    float *dw = base + job->off_dw;
    float *db = base + job->off_db;
    float *work = base + job->off_work;
    int64_t cols = count * g->p;
    const float *dys = job->dy + n0 * g->o * g->p;
    if (count > 1) {
        float *dytmp = base + job->off_dytmp;
        for (int64_t t = 0; t < count; t++)
            for (int64_t o = 0; o < g->o; o++)
                memcpy(dytmp + o * cols + t * g->p, dys + (t * g->o + o) * g->p, sizeof(float) * (size_t)g->p);
        dys = dytmp;
    }
    cpu_gemm_src dy_src = { dys, cols, 0, NULL, NULL, NULL };
    if (job->want_dw) {
        /* dW[O, K] += dy_n[O, P] col_n^T, image by image: one GEMM over
         * the group would be faster for tiny maps but would sum dW in
         * another order, and training results are kept bit-identical. */
        float *xq = base + job->off_xp;
        for (int64_t t = 0; t < count; t++) {
            const float *xn = job->x + (n0 + t) * g->c * g->h * g->w;
            const float *src = conv_phase_input(g, xn, xq);
            cpu_gemm_src dyn = { job->dy + (n0 + t) * g->o * g->p, g->p, 0, NULL, NULL, NULL };
            conv_pack_state ps;
            cpu_gemm_src cols_t = conv_cols_src(g, job->simd, src, 0, 1, base + job->off_tmp, &ps);
            cpu_gemm_ex(job->simd, g->o, g->k, g->p, 1.0f, &dyn, &cols_t, 1.0f, dw, g->k, work);
        }
    }
    if (job->want_db) {
        for (int64_t t = 0; t < count; t++)
            for (int64_t o = 0; o < g->o; o++) {
                const float *row = job->dy + ((n0 + t) * g->o + o) * g->p;
                float sum = 0.0f;
                for (int64_t q = 0; q < g->p; q++)
                    sum += row[q];
                db[o] += sum;
            }
    }
    if (job->dx) {
        float *dxn = job->dx + n0 * g->c * g->h * g->w;
        if (g->direct) {
            /* dx_n[C, P] += W^T dy_n, straight into the gradient (count is 1). */
            cpu_gemm_ex(job->simd, g->k, g->p, g->o, 1.0f, &job->weight_t, &dy_src, 1.0f, dxn, g->p, work);
        } else {
            float *dcol = base + job->off_dcol;
            cpu_gemm_ex(job->simd, g->k, cols, g->o, 1.0f, &job->weight_t, &dy_src, 0.0f, dcol, cols, work);
            for (int64_t t = 0; t < count; t++)
                conv_col2im_add(g, dcol + t * g->p, cols, base + job->off_dxp, dxn + t * g->c * g->h * g->w);
        }
    }
}

static void conv_backward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const conv_backward_job *job = arg;
    for (int64_t i = begin; i < end; i++) {
        int64_t n0 = i * job->group;
        int64_t count = job->g.n - n0 < job->group ? job->g.n - n0 : job->group;
        conv_backward_group(job, n0, count, job->scratch[thread]);
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

    /* Per-thread scratch: [packer rows | phased x (a group's) | phased dx |
     * a group's dy | dcol | dW sums | db sums | GEMM packing]. */
    job.group = job.dx || job.want_dw ? conv_group(g, fx_cpu_threads(be)) : 1;
    int64_t cols_n = job.group * g->p;
    int cols = job.dx && !g->direct;
    size_t tmp = job.want_dw ? CONV_PACK_TMP : 0;
    size_t xp = job.want_dw ? conv_copy_floats(g) : 0;
    size_t dxp = cols ? conv_copy_floats(g) : 0;
    size_t dytmp = job.group > 1 ? cpu_floats_aligned((size_t)(g->o * cols_n)) : 0;
    size_t dcol = cols ? cpu_floats_aligned((size_t)(g->k * cols_n)) : 0;
    size_t dw = job.want_dw ? cpu_floats_aligned((size_t)(g->o * g->k)) : 0;
    size_t db = job.want_db ? cpu_floats_aligned((size_t)g->o) : 0;
    size_t work_dw = job.want_dw ? cpu_gemm_work_floats(job.simd, g->o, g->k, g->p) : 0;
    size_t work_dx = job.dx ? cpu_gemm_work_floats(job.simd, g->k, cols_n, g->o) : 0;
    job.off_tmp = 0;
    job.off_xp = tmp;
    job.off_dxp = job.off_xp + xp;
    job.off_dytmp = job.off_dxp + dxp;
    job.off_dcol = job.off_dytmp + dytmp;
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

    fx_cpu_parallel_for(be, (g->n + job.group - 1) / job.group, 1, conv_backward_range, &job);

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
