/* backends/cpu/conv2d_winograd.c - Winograd F(m x m, 3 x 3) convolution
 * (m = 2 or 4, alpha = m + 2; the matrices are in
 * conv2d_winograd_transforms.h) for the CPU backend (contract in
 * conv2d_winograd.h; numerics and the choice rule in
 * docs/performance.md).
 *
 * The output is cut into m x m tiles; tile t reads the alpha x alpha
 * input patch d_t[c] starting m rows/columns further per tile. With
 * U[o][c] = G g[o][c] G^T and V[c][t] = B^T d_t[c] B (alpha x alpha each),
 *   M[xi][o][t] = sum_c U[xi][o][c] V[xi][c][t]     for each of the alpha^2
 *                                                    positions xi: a GEMM
 *   y_t[o] = A^T M[.][o][t] A                        (m x m outputs)
 * so a tile costs alpha^2 multiply-adds per (o, c) instead of 9 m^2:
 * 2.25x fewer for m = 2, 4x fewer for m = 4, plus the transforms.
 *
 * Work: U is computed once per call (all threads) and packed for the GEMM
 * (cpu_gemm_pack_a, one block per xi). The tiles of all images are one
 * range, cut into chunks of `chunk` tiles; each thread takes whole chunks
 * and, in its own scratch, gathers the patches, transforms them (V), runs
 * the alpha^2 GEMMs (M) and transforms the results back into y. Chunks
 * never overlap in y, so no sums are shared between threads and the
 * result does not depend on the thread count. */
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/conv2d_winograd.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/gemm.h"

#define WINO_NAME(x) cpu_winograd_generic_##x
#include "backends/cpu/conv2d_winograd_transforms.h"
#undef WINO_NAME

int cpu_conv2d_winograd_tile(const fx_window2d *win, int64_t c, int64_t o, int64_t oh, int64_t ow)
{
    if (win->kernel_h != 3 || win->kernel_w != 3 || win->stride_h != 1 || win->stride_w != 1 || oh < 1 || ow < 1)
        return 0;
    const char *force = getenv("FX_CONV_WINOGRAD");
    if (force && strcmp(force, "off") == 0)
        return 0;
    if (force && (strcmp(force, "2") == 0 || strcmp(force, "4") == 0))
        return force[0] - '0';
    if (c < 16 || o < 16)
        return 0;
    int64_t mults2 = ((oh + 1) / 2) * ((ow + 1) / 2) * 16;
    int64_t mults4 = ((oh + 3) / 4) * ((ow + 3) / 4) * 36;
    return mults4 < mults2 ? 4 : 2;
}

int cpu_conv2d_winograd_weight_grad_tile(const fx_window2d *win, int64_t c, int64_t o, int64_t oh, int64_t ow)
{
    if (win->kernel_h != 3 || win->kernel_w != 3 || win->stride_h != 1 || win->stride_w != 1 || oh < 1 || ow < 1)
        return 0;
    const char *force = getenv("FX_CONV_WINOGRAD_WEIGHT_GRAD");
    if (force && (strcmp(force, "2") == 0 || strcmp(force, "4") == 0))
        return force[0] - '0';
    if (force && strcmp(force, "rule") == 0)
        return cpu_conv2d_winograd_tile(win, c, o, oh, ow);
    if (force && strcmp(force, "off") == 0)
        return 0;
    /* FX_CONV_WINOGRAD = 2 | 4 forces all three passes. */
    const char *all = getenv("FX_CONV_WINOGRAD");
    if (all && (strcmp(all, "2") == 0 || strcmp(all, "4") == 0))
        return all[0] - '0';
    /* Default: the GEMM, until the training test's verdict is settled
     * (docs/performance.md, "Winograd convolution on the CPU"). */
    return 0;
}

/* G (alpha x 3) of F(2, 3) and F(4, 3), in double: the weight transform
 * runs once per call, so it is done at full precision. */
static const double wino_g2[4][3] = { { 1, 0, 0 }, { 0.5, 0.5, 0.5 }, { 0.5, -0.5, 0.5 }, { 0, 0, 1 } };
static const double wino_g4[6][3] = {
    { 1, 0, 0 },
    { 1.0 / 3, 1.0 / 3, 1.0 / 3 },
    { -1.0 / 3, 1.0 / 3, -1.0 / 3 },
    { -16.0 / 15, -8.0 / 15, -4.0 / 15 },
    { 1.0 / 15, -2.0 / 15, 4.0 / 15 },
    { 0, 0, 1 },
};

static size_t wino_stride(int64_t floats) { return cpu_winograd_block_stride(floats); }

typedef void (*wino_weight_fn)(const double *gm, int alpha, const float *w, int64_t cstride, int flip, int64_t nc,
                               float *u, int64_t ustride);
typedef void (*wino_input_fn)(const float *p, int64_t nt, float *tmp, float *v, int64_t vstride);
typedef void (*wino_output_fn)(const float *m, int64_t mstride, int64_t nt, float *tmp, float *y);

typedef struct wino_job {
    cpu_winograd_conv cv;
    fx_simd_level simd;
    int m, alpha, a2;               /* tile, patch side, alpha^2 */
    int64_t tiles_h, tiles_w, tiles_per_image, total, chunk;
    const float *x, *w, *bias;
    float *y;
    float *u;                       /* dense U [a2][O][C] (weight transform), */
    size_t u_stride;                /* floats from one xi to the next */
    float *packed;                  /* packed U, one block per xi */
    size_t packed_stride;
    wino_weight_fn weight;
    wino_input_fn input;
    wino_output_fn output;
    float **scratch;                /* per thread, offsets below (floats) */
    size_t off_p, off_tmp, off_v, off_m, off_y, off_work;
} wino_job;

/* U[xi][o][c] = (G g[o][c] G^T)[xi] for o in [begin, end). */
static void wino_weight_range(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const wino_job *job = arg;
    const cpu_winograd_conv *cv = &job->cv;
    const double *gm = job->m == 2 ? &wino_g2[0][0] : &wino_g4[0][0];
    for (int64_t o = begin; o < end; o++)
        job->weight(gm, job->alpha, job->w + o * cv->c * 9, 9, 0, cv->c, job->u + o * cv->c, job->u_stride);
}

static void wino_pack_range(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const wino_job *job = arg;
    for (int64_t xi = begin; xi < end; xi++)
        cpu_gemm_pack_a(job->simd, 0, job->cv.o, job->cv.c, job->u + xi * (int64_t)job->u_stride, job->cv.c,
                        job->packed + (size_t)xi * job->packed_stride);
}

void cpu_winograd_gather(const cpu_winograd_tiling *tl, const float *plane, int64_t image_stride, int64_t h,
                         int64_t w, int64_t y0, int64_t x0, int size, int64_t t0, int64_t nt, float *restrict p)
{
    int m = tl->m;
    int64_t per_image = tl->tiles_h * tl->tiles_w;
    int64_t n = t0 / per_image, r = t0 % per_image;
    int64_t ty = r / tl->tiles_w, tx = r % tl->tiles_w;
    for (int64_t tt = 0; tt < nt; tt++) {
        const float *pl = plane + n * image_stride;
        int64_t iy0 = ty * m + y0, ix0 = tx * m + x0;
        if (iy0 >= 0 && ix0 >= 0 && iy0 + size <= h && ix0 + size <= w) {
            for (int k = 0; k < size; k++) {
                const float *row = pl + (iy0 + k) * w + ix0;
                for (int s = 0; s < size; s++)
                    p[(k * size + s) * nt + tt] = row[s];
            }
        } else {
            for (int k = 0; k < size; k++) {
                int64_t iy = iy0 + k;
                int row_in = iy >= 0 && iy < h;
                for (int s = 0; s < size; s++) {
                    int64_t ix = ix0 + s;
                    p[(k * size + s) * nt + tt] = row_in && ix >= 0 && ix < w ? pl[iy * w + ix] : 0.0f;
                }
            }
        }
        if (++tx == tl->tiles_w) {
            tx = 0;
            if (++ty == tl->tiles_h) {
                ty = 0;
                n++;
            }
        }
    }
}

/* p[(k*alpha + s)*nt + tt] = x[n][c][iy0 + k][ix0 + s] (0 outside) for the
 * nt tiles from t0. */
static void wino_gather(const wino_job *job, int64_t t0, int64_t nt, int64_t c, float *restrict p)
{
    const cpu_winograd_conv *cv = &job->cv;
    cpu_winograd_tiling tl = { job->m, job->tiles_h, job->tiles_w };
    cpu_winograd_gather(&tl, job->x + c * cv->h * cv->w, cv->c * cv->h * cv->w, cv->h, cv->w, -cv->pad_top,
                        -cv->pad_left, job->alpha, t0, nt, p);
}

/* y[n][o][ty*m + i][tx*m + j] (+)= yt[(i*m + j)*nt + tt] + bias[o], clipped
 * to the output. */
static void wino_scatter(const wino_job *job, int64_t t0, int64_t nt, int64_t o, const float *restrict yt)
{
    const cpu_winograd_conv *cv = &job->cv;
    int m = job->m;
    float b = job->bias ? job->bias[o] : 0.0f;
    int64_t n = t0 / job->tiles_per_image, r = t0 % job->tiles_per_image;
    int64_t ty = r / job->tiles_w, tx = r % job->tiles_w;
    for (int64_t tt = 0; tt < nt; tt++) {
        float *plane = job->y + (n * cv->o + o) * cv->oh * cv->ow;
        int64_t oy0 = ty * m, ox0 = tx * m;
        int rows = cv->oh - oy0 < m ? (int)(cv->oh - oy0) : m;
        int cols = cv->ow - ox0 < m ? (int)(cv->ow - ox0) : m;
        for (int i = 0; i < rows; i++) {
            float *row = plane + (oy0 + i) * cv->ow + ox0;
            if (cv->accumulate) {
                for (int j = 0; j < cols; j++)
                    row[j] += yt[(i * m + j) * nt + tt] + b;
            } else {
                for (int j = 0; j < cols; j++)
                    row[j] = yt[(i * m + j) * nt + tt] + b;
            }
        }
        if (++tx == job->tiles_w) {
            tx = 0;
            if (++ty == job->tiles_h) {
                ty = 0;
                n++;
            }
        }
    }
}

static void wino_chunk_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const wino_job *job = arg;
    const cpu_winograd_conv *cv = &job->cv;
    float *base = job->scratch[thread];
    float *p = base + job->off_p, *tmp = base + job->off_tmp, *v = base + job->off_v, *mm = base + job->off_m, *yt = base + job->off_y;
    float *work = base + job->off_work;
    for (int64_t chunk = begin; chunk < end; chunk++) {
        int64_t t0 = chunk * job->chunk;
        int64_t nt = job->total - t0 < job->chunk ? job->total - t0 : job->chunk;
        /* V[xi][c][tt], leading dimension nt, xi blocks vxs apart. */
        int64_t vxs = (int64_t)wino_stride(cv->c * nt), mxs = (int64_t)wino_stride(cv->o * nt);
        for (int64_t c = 0; c < cv->c; c++) {
            wino_gather(job, t0, nt, c, p);
            job->input(p, nt, tmp, v + c * nt, vxs);
        }
        /* M[xi] [O, nt] = U[xi] [O, C] V[xi] [C, nt]. */
        for (int xi = 0; xi < job->a2; xi++) {
            cpu_gemm_src a, b;
            memset(&a, 0, sizeof a);
            memset(&b, 0, sizeof b);
            a.packed = job->packed + (size_t)xi * job->packed_stride;
            b.data = v + xi * vxs;
            b.ld = nt;
            cpu_gemm_ex(job->simd, cv->o, nt, cv->c, 1.0f, &a, &b, 0.0f, mm + xi * mxs, nt, work);
        }
        for (int64_t o = 0; o < cv->o; o++) {
            job->output(mm + o * nt, mxs, nt, tmp, yt);
            wino_scatter(job, t0, nt, o, yt);
        }
    }
}

/* Tiles per chunk: the largest multiple of 16 whose transformed tiles
 * (alpha^2 (C + O) floats per tile) fit in budget_floats, within 16..256,
 * and at most `total`. A function of the shape only, so each caller's
 * chunks (and the order it sums them in) are fixed. The forward passes
 * use 2 Mi floats (8 MiB: V and M stay in the L3 between the transforms
 * and the GEMMs; on the k5 conv 64 tiles; 32 to 256 measured within 5 %
 * of each other in CPU time, docs/performance.md). */
int64_t cpu_winograd_chunk_tiles(const cpu_winograd_conv *cv, int a2, int64_t total, int64_t budget_floats)
{
    int64_t per_tile = (int64_t)a2 * (cv->c + cv->o);
    int64_t chunk = budget_floats / per_tile;
    chunk = chunk / 16 * 16;
    if (chunk < 16)
        chunk = 16;
    if (chunk > 256)
        chunk = 256;
    return chunk < total ? chunk : total;
}

fx_status cpu_conv2d_winograd(fx_context *ctx, fx_backend *be, const cpu_winograd_conv *cv, const float *x,
                              const float *w, const float *bias, float *y)
{
    if (cv->tile != 2 && cv->tile != 4)
        return fx_fail(ctx, FX_ERR_INVALID, "conv2d Winograd: tile %d is not supported (2 or 4)", cv->tile);
    if (cv->n == 0 || cv->oh == 0 || cv->ow == 0 || cv->o == 0)
        return FX_OK;
    if (cv->c == 0) {
        /* No input channels: y is the bias alone. */
        for (int64_t n = 0; n < cv->n; n++)
            for (int64_t o = 0; o < cv->o; o++) {
                float *plane = y + (n * cv->o + o) * cv->oh * cv->ow;
                float b = bias ? bias[o] : 0.0f;
                for (int64_t q = 0; q < cv->oh * cv->ow; q++)
                    plane[q] = cv->accumulate ? plane[q] + b : b;
            }
        return FX_OK;
    }
    wino_job job;
    memset(&job, 0, sizeof job);
    job.cv = *cv;
    job.simd = fx_cpu_simd_level(be);
    job.m = cv->tile;
    job.alpha = cv->tile + 2;
    job.a2 = job.alpha * job.alpha;
    job.tiles_h = (cv->oh + job.m - 1) / job.m;
    job.tiles_w = (cv->ow + job.m - 1) / job.m;
    job.tiles_per_image = job.tiles_h * job.tiles_w;
    job.total = job.tiles_per_image * cv->n;
    job.chunk = cpu_winograd_chunk_tiles(cv, job.a2, job.total, (int64_t)1 << 21);
    job.x = x;
    job.w = w;
    job.bias = bias;
    job.y = y;
    if (job.simd >= FX_SIMD_AVX2) {
        job.weight = cpu_winograd_avx2_weight;
        job.input = job.m == 2 ? cpu_winograd_avx2_input_f2 : cpu_winograd_avx2_input_f4;
        job.output = job.m == 2 ? cpu_winograd_avx2_output_f2 : cpu_winograd_avx2_output_f4;
    } else {
        job.weight = cpu_winograd_generic_weight;
        job.input = job.m == 2 ? cpu_winograd_generic_input_f2 : cpu_winograd_generic_input_f4;
        job.output = job.m == 2 ? cpu_winograd_generic_output_f2 : cpu_winograd_generic_output_f4;
    }

    /* Weights: U dense, then packed per xi (the dense copy is freed before
     * the tiles run). */
    job.u_stride = wino_stride(cv->o * cv->c);
    size_t u_floats = (size_t)job.a2 * job.u_stride;
    job.packed_stride = cpu_floats_aligned(cpu_gemm_packed_a_floats(job.simd, cv->o, cv->c));
    job.u = fx_malloc(ctx, sizeof(float) * u_floats, "conv2d Winograd weight transform");
    job.packed = fx_malloc(ctx, sizeof(float) * job.packed_stride * (size_t)job.a2, "conv2d Winograd packed weights");
    if (!job.u || !job.packed) {
        free(job.u);
        free(job.packed);
        return FX_ERR_NOMEM;
    }
    float *flipped = NULL;
    if (cv->flip) {
        /* g[o][c][k] = w[c][o][8 - k], laid out [O][C][9] first, so the
         * transform reads each filter contiguously (reading w[c][o] across
         * c jumps 9 O floats a time, a TLB miss per filter). */
        flipped = fx_malloc(ctx, sizeof(float) * (size_t)(cv->o * cv->c * 9), "conv2d Winograd flipped weights");
        if (!flipped) {
            free(job.u);
            free(job.packed);
            return FX_ERR_NOMEM;
        }
        for (int64_t c = 0; c < cv->c; c++)
            for (int64_t o = 0; o < cv->o; o++)
                for (int k = 0; k < 9; k++)
                    flipped[(o * cv->c + c) * 9 + k] = w[(c * cv->o + o) * 9 + 8 - k];
        job.w = flipped;
    }
    fx_cpu_parallel_for(be, cv->o, 1, wino_weight_range, &job);
    free(flipped);
    job.w = NULL;
    fx_cpu_parallel_for(be, job.a2, 1, wino_pack_range, &job);
    free(job.u);
    job.u = NULL;

    /* Per-thread scratch: [patches | transform pass | V | M | output tile |
     * GEMM packing]. */
    int64_t t = job.chunk;
    job.off_p = 0;
    job.off_tmp = job.off_p + cpu_floats_aligned((size_t)(job.a2 * t));
    job.off_v = job.off_tmp + cpu_floats_aligned((size_t)(job.a2 * t));
    job.off_m = job.off_v + (size_t)job.a2 * wino_stride(cv->c * t);
    job.off_y = job.off_m + (size_t)job.a2 * wino_stride(cv->o * t);
    job.off_work = job.off_y + cpu_floats_aligned((size_t)(job.m * job.m * t));
    job.scratch = cpu_scratch_per_thread(be, job.off_work + cpu_gemm_work_floats(job.simd, cv->o, t, cv->c));
    if (!job.scratch) {
        free(job.packed);
        return FX_ERR_NOMEM;
    }
    fx_cpu_parallel_for(be, (job.total + job.chunk - 1) / job.chunk, 1, wino_chunk_range, &job);
    free(job.scratch);
    free(job.packed);
    return FX_OK;
}
