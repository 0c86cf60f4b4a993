/* clkernels/gemm.cl - fx's own register-tiled SGEMM kernels (wrapper:
 * backends/opencl/ocl_gemm.c, which picks them or CLBlast per device).
 *
 * Written for CPU OpenCL drivers (PoCL) first: every work-item computes a
 * whole GEMM_TM x GEMM_TN block of C in registers with explicit vectors
 * (GEMM_VW floats: 16 = one AVX-512 register), no local memory and no
 * barriers. PoCL turns a work-group into a loop over its work-items, and
 * barriers split that loop into regions whose live values spill to memory,
 * so a barrier-free kernel keeps its accumulators in registers; vector
 * types map one to one onto SIMD registers. On GPUs CLBlast is the
 * default; these kernels still run there (they are plain OpenCL 1.2).
 *
 * Row-major matrices, offsets and leading dimensions in elements. Every
 * kernel is batched through get_global_id(2): matrix z of a batch starts
 * at offset + z * batch stride (a stride of 0 shares one matrix), which is
 * how conv2d multiplies each image of an NCHW tensor in place.
 *
 *   gemm_nn  C = alpha A B + beta C (+ bias[row])     A [M, K],  B [K, N]
 *   gemm_tn  C = alpha A^T B + beta C (+ bias[row])   A [K, M],  B [K, N]
 *   gemm_nt  C = alpha sum_z A_z B_z^T + beta C       A_z [M, L], B_z [N, L]
 *            (the batch is a reduction here: weight gradients sum over
 *            the images of a batch)
 *
 * beta == 0 never reads C (it may hold NaN garbage). The work-item grid:
 * dim 0 = blocks of rows (GEMM_TM), dim 1 = blocks of columns, dim 2 =
 * batch; work-items of a work-group share a column block, so the slice of
 * B it reads stays in cache while the group walks down the rows. */

#ifndef GEMM_TM
#define GEMM_TM 8
#endif
#ifndef GEMM_VW
#define GEMM_VW 16
#endif

#if GEMM_VW == 16
typedef float16 vfloat;
#define VLOAD vload16
#define VSTORE vstore16
#elif GEMM_VW == 8
typedef float8 vfloat;
#define VLOAD vload8
#define VSTORE vstore8
#elif GEMM_VW == 4
typedef float4 vfloat;
#define VLOAD vload4
#define VSTORE vstore4
#else
#error "GEMM_VW must be 4, 8 or 16"
#endif

#if GEMM_VW == 16
typedef int16 vint;
#define LANES (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#elif GEMM_VW == 8
typedef int8 vint;
#define LANES (int8)(0, 1, 2, 3, 4, 5, 6, 7)
#else
typedef int4 vint;
#define LANES (int4)(0, 1, 2, 3)
#endif
static inline vint lane_index(void) { return LANES; }

/* Two vectors per row of the block: enough independent FMA chains to
 * hide latency with GEMM_TM = 8 (16 accumulators of 32 AVX-512 registers). */
#define GEMM_TN (2 * GEMM_VW)

/* Horizontal sum of a vector (once per output element; order fixed). */
static inline float vsum(vfloat v)
{
#if GEMM_VW == 16
    float8 a = v.lo + v.hi;
    float4 b = a.lo + a.hi;
#elif GEMM_VW == 8
    float4 b = v.lo + v.hi;
#else
    float4 b = v;
#endif
    float2 c = b.lo + b.hi;
    return c.x + c.y;
}

/* The shared body of gemm_nn and gemm_tn: A_AT(r, k) reads element
 * (row m0 + r, k) of op(A) through the clamped row indices rowc. A block
 * at the right edge (fewer than GEMM_TN columns left) is shifted left to
 * end at column n: it recomputes a few columns of its neighbour and stores
 * only its own, so every block runs the same unguarded vector loop. Only
 * matrices narrower than one block take the guarded path. */
#define GEMM_BROADCAST_BODY(A_AT)                                                                       \
    int m0 = (int)get_global_id(0) * GEMM_TM, n0 = (int)get_global_id(1) * GEMM_TN;                    \
    int z = (int)get_global_id(2);                                                                     \
    if (m0 >= m || n0 >= n)                                                                            \
        return;                                                                                        \
    a += ao + (size_t)z * a_batch;                                                                     \
    b += bo + (size_t)z * b_batch;                                                                     \
    c += co + (size_t)z * c_batch;                                                                     \
    vfloat acc0[GEMM_TM], acc1[GEMM_TM];                                                               \
    _Pragma("unroll") for (int r = 0; r < GEMM_TM; r++)                                                \
        acc0[r] = acc1[r] = (vfloat)(0.0f);                                                            \
    /* Rows past the edge read the last row (valid memory) and are not stored. */                     \
    int rowc[GEMM_TM];                                                                                 \
    _Pragma("unroll") for (int r = 0; r < GEMM_TM; r++)                                                \
        rowc[r] = min(m0 + r, m - 1);                                                                  \
    int first = 0; /* first column of the block this work-item stores */                              \
    if (n0 + GEMM_TN > n && n >= GEMM_TN) {                                                            \
        first = n0 - (n - GEMM_TN);                                                                    \
        n0 = n - GEMM_TN;                                                                              \
    }                                                                                                  \
    int full = n0 + GEMM_TN <= n;                                                                      \
    if (full) {                                                                                        \
        for (int kk = 0; kk < k; kk++) {                                                               \
            __global const float *brow = b + (size_t)kk * ldb + n0;                                    \
            vfloat b0 = VLOAD(0, brow), b1 = VLOAD(0, brow + GEMM_VW);                                 \
            _Pragma("unroll") for (int r = 0; r < GEMM_TM; r++) {                                      \
                vfloat av = (vfloat)(A_AT(r, kk));                                                     \
                acc0[r] = fma(av, b0, acc0[r]);                                                        \
                acc1[r] = fma(av, b1, acc1[r]);                                                        \
            }                                                                                          \
        }                                                                                              \
    } else {                                                                                           \
        /* Narrower than a block: the same sums with guarded loads. */                                 \
        for (int kk = 0; kk < k; kk++) {                                                               \
            __global const float *brow = b + (size_t)kk * ldb;                                         \
            float bv[GEMM_TN];                                                                         \
            _Pragma("unroll") for (int j = 0; j < GEMM_TN; j++)                                        \
                bv[j] = n0 + j < n ? brow[n0 + j] : 0.0f;                                              \
            vfloat b0 = VLOAD(0, bv), b1 = VLOAD(0, bv + GEMM_VW);                                     \
            _Pragma("unroll") for (int r = 0; r < GEMM_TM; r++) {                                      \
                vfloat av = (vfloat)(A_AT(r, kk));                                                     \
                acc0[r] = fma(av, b0, acc0[r]);                                                        \
                acc1[r] = fma(av, b1, acc1[r]);                                                        \
            }                                                                                          \
        }                                                                                              \
    }                                                                                                  \
    for (int r = 0; r < GEMM_TM && m0 + r < m; r++) {                                                  \
        __global float *crow = c + (size_t)(m0 + r) * ldc + n0;                                        \
        float add = has_bias ? bias[bias_o + m0 + r] : 0.0f;                                           \
        vfloat v0 = alpha * acc0[r] + add, v1 = alpha * acc1[r] + add;                                 \
        if (full && first == 0) {                                                                      \
            if (beta != 0.0f) {                                                                        \
                v0 += beta * VLOAD(0, crow);                                                           \
                v1 += beta * VLOAD(0, crow + GEMM_VW);                                                 \
            }                                                                                          \
            VSTORE(v0, 0, crow);                                                                       \
            VSTORE(v1, 0, crow + GEMM_VW);                                                             \
        } else {                                                                                       \
            float out[GEMM_TN];                                                                        \
            VSTORE(v0, 0, out);                                                                        \
            VSTORE(v1, 0, out + GEMM_VW);                                                              \
            for (int j = first; j < GEMM_TN && n0 + j < n; j++)                                        \
                crow[j] = out[j] + (beta != 0.0f ? beta * crow[j] : 0.0f);                             \
        }                                                                                              \
    }

#define GEMM_ARGS                                                                                      \
    int m, int n, int k, float alpha, __global const float *restrict a, uint ao, int lda, uint a_batch, \
        __global const float *restrict b, uint bo, int ldb, uint b_batch, float beta,                  \
        __global float *restrict c, uint co, int ldc, uint c_batch, __global const float *restrict bias, \
        uint bias_o, int has_bias

/* A [M, K] row-major: row pointers, then element k of each. */
#define A_NN(r, kk) a[(size_t)rowc[r] * lda + (kk)]
__kernel void gemm_nn(GEMM_ARGS) { GEMM_BROADCAST_BODY(A_NN) }

/* A stored [K, M]: op(A)(row, k) = a[k * lda + row]. */
#define A_TN(r, kk) a[(size_t)(kk) * lda + rowc[r]]
__kernel void gemm_tn(GEMM_ARGS) { GEMM_BROADCAST_BODY(A_TN) }

/* C[M, N] = alpha sum_{z < batches} A_z[M, L] B_z[N, L]^T + beta C: dot
 * products along L (contiguous in both), a GEMM_NT_TM x GEMM_NT_TN block of
 * vector accumulators per work-item, one horizontal sum per element at the
 * end. Grid: dim 0 = row blocks, dim 1 = column blocks (dim 2 unused). */
#ifndef GEMM_NT_TM
#define GEMM_NT_TM 4
#endif
#ifndef GEMM_NT_TN
#define GEMM_NT_TN 4
#endif
__kernel void gemm_nt(int m, int n, int l, float alpha, __global const float *restrict a, uint ao, int lda,
                      uint a_batch, __global const float *restrict b, uint bo, int ldb, uint b_batch, int batches,
                      float beta, __global float *restrict c, uint co, int ldc)
{
    int m0 = (int)get_global_id(0) * GEMM_NT_TM, n0 = (int)get_global_id(1) * GEMM_NT_TN;
    if (m0 >= m || n0 >= n)
        return;
    vfloat acc[GEMM_NT_TM][GEMM_NT_TN];
    float tail[GEMM_NT_TM][GEMM_NT_TN];
    _Pragma("unroll") for (int i = 0; i < GEMM_NT_TM; i++)
        _Pragma("unroll") for (int j = 0; j < GEMM_NT_TN; j++) {
            acc[i][j] = (vfloat)(0.0f);
            tail[i][j] = 0.0f;
        }
    int lv = l / GEMM_VW * GEMM_VW;
    for (int z = 0; z < batches; z++) {
        __global const float *ar[GEMM_NT_TM], *br[GEMM_NT_TN];
        _Pragma("unroll") for (int i = 0; i < GEMM_NT_TM; i++)
            ar[i] = a + ao + (size_t)z * a_batch + (size_t)min(m0 + i, m - 1) * lda;
        _Pragma("unroll") for (int j = 0; j < GEMM_NT_TN; j++)
            br[j] = b + bo + (size_t)z * b_batch + (size_t)min(n0 + j, n - 1) * ldb;
        for (int p = 0; p < lv; p += GEMM_VW) {
            vfloat av[GEMM_NT_TM], bv[GEMM_NT_TN];
            _Pragma("unroll") for (int i = 0; i < GEMM_NT_TM; i++)
                av[i] = VLOAD(0, ar[i] + p);
            _Pragma("unroll") for (int j = 0; j < GEMM_NT_TN; j++)
                bv[j] = VLOAD(0, br[j] + p);
            _Pragma("unroll") for (int i = 0; i < GEMM_NT_TM; i++)
                _Pragma("unroll") for (int j = 0; j < GEMM_NT_TN; j++)
                    acc[i][j] = fma(av[i], bv[j], acc[i][j]);
        }
        if (lv < l && l >= GEMM_VW) {
            /* The last l - lv elements: one vector ending at l (in bounds),
             * its first lanes (already summed) zeroed in A's copy. */
            vint keep = lane_index() >= (vint)(GEMM_VW - (l - lv));
            vfloat av[GEMM_NT_TM], bv[GEMM_NT_TN];
            _Pragma("unroll") for (int i = 0; i < GEMM_NT_TM; i++)
                av[i] = select((vfloat)(0.0f), VLOAD(0, ar[i] + l - GEMM_VW), keep);
            _Pragma("unroll") for (int j = 0; j < GEMM_NT_TN; j++)
                bv[j] = VLOAD(0, br[j] + l - GEMM_VW);
            _Pragma("unroll") for (int i = 0; i < GEMM_NT_TM; i++)
                _Pragma("unroll") for (int j = 0; j < GEMM_NT_TN; j++)
                    acc[i][j] = fma(av[i], bv[j], acc[i][j]);
        } else {
            for (int p = lv; p < l; p++)
                _Pragma("unroll") for (int i = 0; i < GEMM_NT_TM; i++)
                    _Pragma("unroll") for (int j = 0; j < GEMM_NT_TN; j++)
                        tail[i][j] = fma(ar[i][p], br[j][p], tail[i][j]);
        }
    }
    for (int i = 0; i < GEMM_NT_TM && m0 + i < m; i++)
        for (int j = 0; j < GEMM_NT_TN && n0 + j < n; j++) {
            __global float *cp = c + co + (size_t)(m0 + i) * ldc + n0 + j;
            float v = alpha * (vsum(acc[i][j]) + tail[i][j]);
            *cp = beta != 0.0f ? v + beta * *cp : v;
        }
}
