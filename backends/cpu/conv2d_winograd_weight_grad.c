/* backends/cpu/conv2d_winograd_weight_grad.c - the weight gradient of a
 * 3x3 stride-1 convolution as Winograd F(m x m, 3 x 3) (m = 2 or 4,
 * alpha = m + 2; contract in conv2d_winograd.h, transforms in
 * conv2d_winograd_transforms.h, numerics in docs/performance.md).
 *
 * dy is cut into the forward's m x m output tiles; tile t's input patch
 * d_t[c] is the alpha x alpha patch the forward reads. The forward's
 * identity y_t = A^T [(G g G^T) . (B^T d_t B)] A holds for every filter
 * g, so differentiating sum_t <dY_t, y_t> by g gives
 *   V[xi][c][t] = (B^T d_t[c] B)[xi]           (the forward's input transform)
 *   E[xi][o][t] = (A dY_t[o] A^T)[xi]           (dy tile, m x m -> alpha x alpha)
 *   M[xi][o][c] = sum_t E[xi][o][t] V[xi][c][t] for each of the alpha^2
 *                                                positions xi: a GEMM whose
 *                                                inner dimension is the tiles
 *   dW[o][c]   += G^T M[.][o][c] G              (alpha x alpha -> 3 x 3)
 * (bench/winograd_weight_grad.py derives it and checks it in float64):
 * alpha^2 multiply-adds per tile and (o, c) instead of 9 m^2.
 *
 * Work: the tiles of all images are one range, cut into chunks of `chunk`
 * tiles (a function of the shape only). For each chunk in order, all
 * threads first transform the C input and O dy channels (V, E: shared,
 * one channel per index), then run the alpha^2 GEMMs M[xi] += E[xi] V[xi]^T
 * (one position, or a block of its rows, per index). M is summed over
 * the chunks in their order and every element of it by the same GEMM
 * arithmetic however the rows are split, so the result does not depend
 * on the thread count. Last, dW += G^T M G, one output channel per index. */
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/conv2d_winograd.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/gemm.h"

typedef void (*wgrad_input_fn)(const float *p, int64_t nt, float *tmp, float *v, int64_t vstride);
typedef void (*wgrad_dy_fn)(const float *p, int64_t nt, float *tmp, float *e, int64_t estride);
typedef void (*wgrad_out_fn)(const float *m, int64_t mstride, int64_t nc, float *tmp, float *out);

/* Where each thread's scratch is cut (floats from its start). The tile
 * phases use patch + pass + gemm_work; the last phase reuses the start
 * for its own two buffers. */
typedef struct wgrad_scratch {
    size_t patch, pass, gemm_work, total;
    size_t out_pass, out;       /* last phase: G^T M (3 alpha C), dW rows (9 C) */
} wgrad_scratch;

typedef struct wgrad_job {
    cpu_winograd_conv cv;
    fx_simd_level simd;
    int m, alpha, a2;
    cpu_winograd_tiling tiling;
    int64_t total, chunk;           /* tiles in all, per chunk */
    const float *x, *dy;
    float *dw;
    float *v, *e, *mm;              /* V, E of the chunk; M */
    size_t m_stride;                /* floats from M[xi] to M[xi + 1] */
    int64_t row_blocks;             /* GEMM: blocks of rows of each M[xi] */
    /* The chunk being run. */
    int64_t t0, nt, v_stride, e_stride;
    float beta;                     /* 0 for the first chunk: M starts there */
    wgrad_input_fn input;
    wgrad_dy_fn dy_transform;
    wgrad_out_fn out_transform;
    float **scratch;
    wgrad_scratch sc;
} wgrad_job;

/* Index i < C: V of input channel i; else E of dy channel i - C. */
static void wgrad_transform_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const wgrad_job *job = arg;
    const cpu_winograd_conv *cv = &job->cv;
    float *base = job->scratch[thread];
    float *p = base + job->sc.patch, *tmp = base + job->sc.pass;
    for (int64_t i = begin; i < end; i++) {
        if (i < cv->c) {
            cpu_winograd_gather(&job->tiling, job->x + i * cv->h * cv->w, cv->c * cv->h * cv->w, cv->h, cv->w,
                                -cv->pad_top, -cv->pad_left, job->alpha, job->t0, job->nt, p);
            job->input(p, job->nt, tmp, job->v + i * job->nt, job->v_stride);
        } else {
            int64_t o = i - cv->c;
            cpu_winograd_gather(&job->tiling, job->dy + o * cv->oh * cv->ow, cv->o * cv->oh * cv->ow, cv->oh,
                                cv->ow, 0, 0, job->m, job->t0, job->nt, p);
            job->dy_transform(p, job->nt, tmp, job->e + o * job->nt, job->e_stride);
        }
    }
}

/* Index i: rows [o0, o1) of M[xi] (+)= E[xi] [O, nt] V[xi]^T [nt, C],
 * xi = i / row_blocks. */
static void wgrad_gemm_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const wgrad_job *job = arg;
    const cpu_winograd_conv *cv = &job->cv;
    float *work = job->scratch[thread] + job->sc.gemm_work;
    for (int64_t i = begin; i < end; i++) {
        int64_t xi = i / job->row_blocks, blk = i % job->row_blocks;
        int64_t o0 = cv->o * blk / job->row_blocks, o1 = cv->o * (blk + 1) / job->row_blocks;
        cpu_gemm_src a, b;
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        a.data = job->e + xi * job->e_stride + o0 * job->nt;
        a.ld = job->nt;
        b.data = job->v + xi * job->v_stride;
        b.ld = job->nt;
        b.trans = 1;
        cpu_gemm_ex(job->simd, o1 - o0, cv->c, job->nt, 1.0f, &a, &b, job->beta,
                    job->mm + (size_t)xi * job->m_stride + o0 * cv->c, cv->c, work);
    }
}

/* dw[o][c][k] += (G^T M[.][o][c] G)[k] for output channels [begin, end). */
static void wgrad_output_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const wgrad_job *job = arg;
    int64_t c_count = job->cv.c;
    float *base = job->scratch[thread];
    float *tmp = base + job->sc.out_pass, *out = base + job->sc.out;
    for (int64_t o = begin; o < end; o++) {
        job->out_transform(job->mm + o * c_count, (int64_t)job->m_stride, c_count, tmp, out);
        float *dst = job->dw + o * c_count * 9;
        for (int64_t c = 0; c < c_count; c++)
            for (int k = 0; k < 9; k++)
                dst[c * 9 + k] += out[k * c_count + c];
    }
}

/* Tiles per chunk (cpu_winograd_chunk_tiles with an 8 Mi-float, 32 MiB
 * budget): 256 (the GEMM's KC: the inner dimension is then one block, and
 * M is read and written once per 256 tiles), fewer when V and E of a chunk
 * would pass 32 MiB, at least 16. The chunks fix the order M is summed in. */
fx_status cpu_conv2d_winograd_weight_grad(fx_context *ctx, fx_backend *be, const cpu_winograd_conv *cv,
                                          const float *x, const float *dy, float *dw)
{
    if (cv->tile != 2 && cv->tile != 4)
        return fx_fail(ctx, FX_ERR_INVALID, "conv2d Winograd weight gradient: tile %d is not supported (2 or 4)",
                       cv->tile);
    if (cv->n == 0 || cv->oh == 0 || cv->ow == 0 || cv->o == 0 || cv->c == 0)
        return FX_OK;
    wgrad_job job;
    memset(&job, 0, sizeof job);
    job.cv = *cv;
    job.simd = fx_cpu_simd_level(be);
    job.m = cv->tile;
    job.alpha = cv->tile + 2;
    job.a2 = job.alpha * job.alpha;
    job.tiling.m = job.m;
    job.tiling.tiles_h = (cv->oh + job.m - 1) / job.m;
    job.tiling.tiles_w = (cv->ow + job.m - 1) / job.m;
    job.total = job.tiling.tiles_h * job.tiling.tiles_w * cv->n;
    job.chunk = cpu_winograd_chunk_tiles(cv, job.a2, job.total, (int64_t)1 << 23);
    job.x = x;
    job.dy = dy;
    job.dw = dw;
    int f4 = job.m == 4;
    if (job.simd >= FX_SIMD_AVX2) {
        job.input = f4 ? cpu_winograd_avx2_input_f4 : cpu_winograd_avx2_input_f2;
        job.dy_transform = f4 ? cpu_winograd_avx2_dy_f4 : cpu_winograd_avx2_dy_f2;
        job.out_transform = f4 ? cpu_winograd_avx2_weight_grad_f4 : cpu_winograd_avx2_weight_grad_f2;
    } else {
        job.input = f4 ? cpu_winograd_generic_input_f4 : cpu_winograd_generic_input_f2;
        job.dy_transform = f4 ? cpu_winograd_generic_dy_f4 : cpu_winograd_generic_dy_f2;
        job.out_transform = f4 ? cpu_winograd_generic_weight_grad_f4 : cpu_winograd_generic_weight_grad_f2;
    }

    /* Shared: M for the whole call, V and E for one chunk. */
    job.m_stride = cpu_winograd_block_stride(cv->o * cv->c);
    size_t v_floats = (size_t)job.a2 * cpu_winograd_block_stride(cv->c * job.chunk);
    size_t e_floats = (size_t)job.a2 * cpu_winograd_block_stride(cv->o * job.chunk);
    job.mm = fx_malloc(ctx, sizeof(float) * (size_t)job.a2 * job.m_stride, "conv2d Winograd weight gradient M");
    job.v = fx_malloc(ctx, sizeof(float) * v_floats, "conv2d Winograd weight gradient input tiles");
    job.e = fx_malloc(ctx, sizeof(float) * e_floats, "conv2d Winograd weight gradient dy tiles");

    /* Per thread: the tile phases' [patch | transform pass | GEMM packing],
     * or the last phase's [G^T M | dW rows]. */
    size_t tile_floats = cpu_floats_aligned((size_t)(job.a2 * job.chunk));
    job.sc.patch = 0;
    job.sc.pass = tile_floats;
    job.sc.gemm_work = 2 * tile_floats;
    job.sc.total = job.sc.gemm_work + cpu_gemm_work_floats(job.simd, cv->o, cv->c, job.chunk);
    job.sc.out_pass = 0;
    job.sc.out = cpu_floats_aligned((size_t)(3 * job.alpha * cv->c));
    size_t out_total = job.sc.out + (size_t)(9 * cv->c);
    if (out_total > job.sc.total)
        job.sc.total = out_total;
    if (job.mm && job.v && job.e)
        job.scratch = cpu_scratch_per_thread(be, job.sc.total);
    if (!job.mm || !job.v || !job.e || !job.scratch) {
        free(job.mm);
        free(job.v);
        free(job.e);
        return FX_ERR_NOMEM;
    }

    /* Rows of M[xi] split only when the alpha^2 positions alone would
     * leave threads idle (each block repacks V[xi], so no finer). */
    int threads = fx_cpu_threads(be);
    job.row_blocks = 1;
    while (job.a2 * job.row_blocks < 2 * threads && cv->o / (job.row_blocks * 2) >= 48)
        job.row_blocks *= 2;

    for (int64_t t0 = 0; t0 < job.total; t0 += job.chunk) {
        job.t0 = t0;
        job.nt = job.total - t0 < job.chunk ? job.total - t0 : job.chunk;
        job.v_stride = (int64_t)cpu_winograd_block_stride(cv->c * job.nt);
        job.e_stride = (int64_t)cpu_winograd_block_stride(cv->o * job.nt);
        job.beta = t0 == 0 ? 0.0f : 1.0f;
        fx_cpu_parallel_for(be, cv->c + cv->o, 1, wgrad_transform_range, &job);
        fx_cpu_parallel_for(be, job.a2 * job.row_blocks, 1, wgrad_gemm_range, &job);
    }
    fx_cpu_parallel_for(be, cv->o, 1, wgrad_output_range, &job);
    free(job.scratch);
    free(job.mm);
    free(job.v);
    free(job.e);
    return FX_OK;
}
