/* clkernels/normalize.cl - batchnorm and l2_normalize on OpenCL (wrappers:
 * backends/opencl/ocl_normalize.c; CPU twins: backends/cpu/batchnorm.c,
 * l2_normalize.c). x is viewed as [N, C, S] (S = H*W, or 1 for [N, C]).
 * Per-channel statistics: one work-group per channel, strided loads
 * (coalesced across the group) and a tree reduction in local memory,
 * in a fixed order. */

/* Tree reduction of part[0..ls) (ls a power of two); result in part[0]. */
void reduce_local(__local float *part, int lid, int ls)
{
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int k = ls / 2; k > 0; k >>= 1) {
        if (lid < k)
            part[lid] += part[lid + k];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* n / d for 0 <= n < 2^31 with the host's multiplier and shift
 * (ocl_divisor): CPUs have no vector integer division, and PoCL runs
 * elementwise kernels as vector loops over work-items. */
inline int div_magic(int n, uint m, int sh) { return (int)(((ulong)(uint)n * m) >> sh); }

/* Channel c's statistics from the sum of squared deviations sq over m
 * values (both bn_stats variants). */
inline void bn_stats_store(int c, int m, float mean, float sq, __global float *save_mean, uint smo,
                           __global float *save_invstd, uint sio, __global float *running_mean, uint rmo,
                           __global float *running_var, uint rvo, float momentum, float eps)
{
    save_mean[smo + c] = mean;
    save_invstd[sio + c] = 1.0f / sqrt(sq / (float)m + eps);
    running_mean[rmo + c] = momentum * running_mean[rmo + c] + (1.0f - momentum) * mean;
    running_var[rvo + c] = momentum * running_var[rvo + c] + (1.0f - momentum) * (sq / (float)(m - 1));
}

/* Sum of a float16 (fixed order). */
inline float sum16(float16 v)
{
    float8 a = v.lo + v.hi;
    float4 b = a.lo + a.hi;
    float2 d = b.lo + b.hi;
    return d.x + d.y;
}

/* Training statistics of channel c: mean, biased variance (normalisation),
 * invstd saved for backward, running averages updated with the unbiased
 * variance (TensorFlow momentum convention). Two passes: mean first, then
 * squared deviations, as the CPU does (no cancellation). */
__kernel void bn_stats(__global const float *x, uint xo, __global float *save_mean, uint smo,
                       __global float *save_invstd, uint sio, __global float *running_mean, uint rmo,
                       __global float *running_var, uint rvo, int n, int channels, int plane, float momentum,
                       float eps, __local float *part)
{
    int c = get_group_id(0), lid = get_local_id(0), ls = get_local_size(0);
    int m = n * plane;
    float s = 0.0f;
    for (int i = lid; i < m; i += ls) {
        int b = i / plane, p = i - b * plane;
        s += x[xo + ((size_t)b * channels + c) * plane + p];
    }
    part[lid] = s;
    reduce_local(part, lid, ls);
    float mean = part[0] / (float)m;
    barrier(CLK_LOCAL_MEM_FENCE);
    float q = 0.0f;
    for (int i = lid; i < m; i += ls) {
        int b = i / plane, p = i - b * plane;
        float d = x[xo + ((size_t)b * channels + c) * plane + p] - mean;
        q += d * d;
    }
    part[lid] = q;
    reduce_local(part, lid, ls);
    if (lid == 0)
        bn_stats_store(c, m, mean, part[0], save_mean, smo, save_invstd, sio, running_mean, rmo, running_var, rvo,
                       momentum, eps);
}

/* y = gamma invstd (x - mean) + beta, with the batch statistics (training)
 * or the running ones (inference). */
__kernel void bn_apply(__global const float *x, uint xo, __global float *y, uint yo, __global const float *gamma,
                       uint go, __global const float *beta, uint bo, __global const float *mean_in, uint mo,
                       __global const float *inv_or_var, uint vo, int use_running, float eps, int channels,
                       int plane, int total, uint plane_m, int plane_sh, uint ch_m, int ch_sh)
{
    int i = get_global_id(0);
    if (i >= total)
        return;
    int t = div_magic(i, plane_m, plane_sh);
    int c = t - div_magic(t, ch_m, ch_sh) * channels;
    float mean = mean_in[mo + c];
    float invstd = use_running ? 1.0f / sqrt(inv_or_var[vo + c] + eps) : inv_or_var[vo + c];
    float a = gamma[go + c] * invstd;
    float b = beta[bo + c] - mean * a;
    y[yo + i] = a * x[xo + i] + b;
}

/* Gamma/beta gradients and dx coefficients of channel c from its sums
 * (both bn_backward_reduce variants). */
inline void bn_coef_store(int c, int m, float mean, float invstd, float sum_g, float sum_gx,
                          __global const float *gamma, uint gmo, int use_running, __global float *grad_gamma,
                          uint ggo, int has_gg, __global float *grad_beta, uint gbo, int has_gb,
                          __global float *coef, uint co)
{
    /* has_* 1: add; 2: the gradient's first writer (0 + v, as into zeros) */
    if (has_gg)
        grad_gamma[ggo + c] = (has_gg == 1 ? grad_gamma[ggo + c] : 0.0f) + sum_gx * invstd;
    if (has_gb)
        grad_beta[gbo + c] = (has_gb == 1 ? grad_beta[gbo + c] : 0.0f) + sum_g;
    float k = gamma[gmo + c] * invstd, c1 = 0.0f, c0 = 0.0f;
    if (!use_running) {
        c1 = -k * invstd * invstd * sum_gx / (float)m;
        c0 = -k * sum_g / (float)m - c1 * mean;
    }
    coef[co + 3 * c] = k;
    coef[co + 3 * c + 1] = c1;
    coef[co + 3 * c + 2] = c0;
}

/* Per channel: sum g and sum g (x - mean); accumulates the gamma/beta
 * gradients and writes the three constants of dx = k g + c1 x + c0 into
 * coef[3c .. 3c+2] (training: batch statistics are functions of x;
 * inference: constants, dx = k g). */
__kernel void bn_backward_reduce(__global const float *x, uint xo, __global const float *g, uint go,
                                 __global const float *gamma, uint gmo, __global const float *mean_in, uint mo,
                                 __global const float *inv_or_var, uint vo, int use_running, float eps,
                                 __global float *grad_gamma, uint ggo, int has_gg, __global float *grad_beta,
                                 uint gbo, int has_gb, __global float *coef, uint co, int n, int channels, int plane,
                                 __local float *part)
{
    int c = get_group_id(0), lid = get_local_id(0), ls = get_local_size(0);
    int m = n * plane;
    float mean = mean_in[mo + c];
    float invstd = use_running ? 1.0f / sqrt(inv_or_var[vo + c] + eps) : inv_or_var[vo + c];
    float sg = 0.0f, sgx = 0.0f;
    for (int i = lid; i < m; i += ls) {
        int b = i / plane, p = i - b * plane;
        size_t off = ((size_t)b * channels + c) * plane + p;
        float gi = g[go + off];
        sg += gi;
        sgx += gi * (x[xo + off] - mean);
    }
    part[lid] = sg;
    reduce_local(part, lid, ls);
    float sum_g = part[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    part[lid] = sgx;
    reduce_local(part, lid, ls);
    float sum_gx = part[0];
    if (lid == 0)
        bn_coef_store(c, m, mean, invstd, sum_g, sum_gx, gamma, gmo, use_running, grad_gamma, ggo, has_gg,
                      grad_beta, gbo, has_gb, coef, co);
}

__kernel void bn_backward_apply(__global const float *x, uint xo, __global const float *g, uint go,
                                __global float *gx, uint gxo, __global const float *coef, uint co, int channels,
                                int plane, int total, uint plane_m, int plane_sh, uint ch_m, int ch_sh, int acc)
{
    int i = get_global_id(0);
    if (i >= total)
        return;
    int t = div_magic(i, plane_m, plane_sh);
    int c = t - div_magic(t, ch_m, ch_sh) * channels;
    gx[gxo + i] = (acc ? gx[gxo + i] : 0.0f) +
                  (coef[co + 3 * c] * g[go + i] + coef[co + 3 * c + 1] * x[xo + i] + coef[co + 3 * c + 2]);
}

/* ---- CPU style (see ocl_gemm_select): one work-item per channel
 * streaming its planes with float16 accumulators; the work-group trees
 * above spend their time in barriers on PoCL. Same two passes. ---- */

/* sum over images b and positions p of f(x[b, c, p]) as a float16 plus a
 * scalar tail (planes not a multiple of 16). */
#define BN_CHANNEL_LOOP(ACC_VEC, ACC_TAIL)                                                       \
    for (int b = 0; b < n; b++) {                                                                \
        size_t row = ((size_t)b * channels + c) * plane;                                         \
        for (int p = 0; p < pv; p += 16) {                                                       \
            ACC_VEC;                                                                             \
        }                                                                                        \
        for (int p = pv; p < plane; p++) {                                                       \
            ACC_TAIL;                                                                            \
        }                                                                                        \
    }

__kernel void bn_stats_rows(__global const float *x, uint xo, __global float *save_mean, uint smo,
                            __global float *save_invstd, uint sio, __global float *running_mean, uint rmo,
                            __global float *running_var, uint rvo, int n, int channels, int plane, float momentum,
                            float eps)
{
    int c = get_global_id(0);
    if (c >= channels)
        return;
    int m = n * plane, pv = plane / 16 * 16;
    __global const float *xp = x + xo;
    float16 v = (float16)(0.0f);
    float t = 0.0f;
    BN_CHANNEL_LOOP(v += vload16(0, xp + row + p), t += xp[row + p])
    float mean = (sum16(v) + t) / (float)m;
    v = (float16)(0.0f);
    t = 0.0f;
    BN_CHANNEL_LOOP(float16 d = vload16(0, xp + row + p) - mean; v += d * d, float d = xp[row + p] - mean; t += d * d)
    bn_stats_store(c, m, mean, sum16(v) + t, save_mean, smo, save_invstd, sio, running_mean, rmo, running_var, rvo,
                   momentum, eps);
}

__kernel void bn_backward_reduce_rows(__global const float *x, uint xo, __global const float *g, uint go,
                                      __global const float *gamma, uint gmo, __global const float *mean_in, uint mo,
                                      __global const float *inv_or_var, uint vo, int use_running, float eps,
                                      __global float *grad_gamma, uint ggo, int has_gg, __global float *grad_beta,
                                      uint gbo, int has_gb, __global float *coef, uint co, int n, int channels,
                                      int plane)
{
    int c = get_global_id(0);
    if (c >= channels)
        return;
    int m = n * plane, pv = plane / 16 * 16;
    float mean = mean_in[mo + c];
    float invstd = use_running ? 1.0f / sqrt(inv_or_var[vo + c] + eps) : inv_or_var[vo + c];
    __global const float *xp = x + xo, *gp = g + go;
    float16 vg = (float16)(0.0f), vgx = (float16)(0.0f);
    float tg = 0.0f, tgx = 0.0f;
    BN_CHANNEL_LOOP(float16 gi = vload16(0, gp + row + p); vg += gi; vgx += gi * (vload16(0, xp + row + p) - mean),
                    float gi = gp[row + p]; tg += gi; tgx += gi * (xp[row + p] - mean))
    bn_coef_store(c, m, mean, invstd, sum16(vg) + tg, sum16(vgx) + tgx, gamma, gmo, use_running, grad_gamma, ggo,
                  has_gg, grad_beta, gbo, has_gb, coef, co);
}

/* bn_apply and bn_backward_apply per plane (n, c) (CPU style): the
 * channel's constants once, then a plain loop over the plane. */
__kernel void bn_apply_planes(__global const float *x, uint xo, __global float *y, uint yo,
                              __global const float *gamma, uint go, __global const float *beta, uint bo,
                              __global const float *mean_in, uint mo, __global const float *inv_or_var, uint vo,
                              int use_running, float eps, int channels, int plane, int planes)
{
    int q = get_global_id(0);
    if (q >= planes)
        return;
    int c = q % channels;
    float mean = mean_in[mo + c];
    float invstd = use_running ? 1.0f / sqrt(inv_or_var[vo + c] + eps) : inv_or_var[vo + c];
    float a = gamma[go + c] * invstd;
    float b = beta[bo + c] - mean * a;
    __global const float *xp = x + xo + (size_t)q * plane;
    __global float *yp = y + yo + (size_t)q * plane;
    for (int p = 0; p < plane; p++)
        yp[p] = a * xp[p] + b;
}

__kernel void bn_backward_apply_planes(__global const float *x, uint xo, __global const float *g, uint go,
                                       __global float *gx, uint gxo, __global const float *coef, uint co,
                                       int channels, int plane, int planes, int acc)
{
    int q = get_global_id(0);
    if (q >= planes)
        return;
    int c = q % channels;
    float k = coef[co + 3 * c], c1 = coef[co + 3 * c + 1], c0 = coef[co + 3 * c + 2];
    size_t base = (size_t)q * plane;
    if (acc)
        for (int p = 0; p < plane; p++)
            gx[gxo + base + p] += k * g[go + base + p] + c1 * x[xo + base + p] + c0;
    else
        for (int p = 0; p < plane; p++)
            gx[gxo + base + p] = 0.0f + (k * g[go + base + p] + c1 * x[xo + base + p] + c0);
}

/* l2_normalize over the middle axis of x viewed as [outer, A, inner]:
 * y = x / sqrt(max(s, eps)), s = sum_a x^2. One work-item per (outer,
 * inner) position walking the A rows; neighbouring work-items read
 * neighbouring inner positions (coalesced). Backward recomputes s:
 *   dx = r g - [s > eps] r^3 (sum_a g x) x. */
__kernel void l2_normalize_forward(__global const float *x, uint xo, __global float *y, uint yo, int outer, int axis,
                                   int inner, float eps)
{
    int gid = get_global_id(0);
    if (gid >= outer * inner)
        return;
    int o = gid / inner, k = gid - o * inner;
    size_t base = (size_t)o * axis * inner + k;
    float s = 0.0f;
    for (int a = 0; a < axis; a++) {
        float v = x[xo + base + (size_t)a * inner];
        s += v * v;
    }
    float r = 1.0f / sqrt(s > eps ? s : eps);
    for (int a = 0; a < axis; a++)
        y[yo + base + (size_t)a * inner] = x[xo + base + (size_t)a * inner] * r;
}

__kernel void l2_normalize_backward(__global const float *x, uint xo, __global const float *g, uint go,
                                    __global float *gx, uint gxo, int outer, int axis, int inner, float eps)
{
    int gid = get_global_id(0);
    if (gid >= outer * inner)
        return;
    int o = gid / inner, k = gid - o * inner;
    size_t base = (size_t)o * axis * inner + k;
    float s = 0.0f, dot = 0.0f;
    for (int a = 0; a < axis; a++) {
        float v = x[xo + base + (size_t)a * inner];
        s += v * v;
        dot += g[go + base + (size_t)a * inner] * v;
    }
    float r = 1.0f / sqrt(s > eps ? s : eps);
    float coef = s > eps ? r * r * r * dot : 0.0f;
    for (int a = 0; a < axis; a++) {
        size_t i = base + (size_t)a * inner;
        gx[gxo + i] += r * g[go + i] - coef * x[xo + i];
    }
}
