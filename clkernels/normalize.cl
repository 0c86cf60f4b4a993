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
    if (lid == 0) {
        float sq = part[0];
        save_mean[smo + c] = mean;
        save_invstd[sio + c] = 1.0f / sqrt(sq / (float)m + eps);
        running_mean[rmo + c] = momentum * running_mean[rmo + c] + (1.0f - momentum) * mean;
        running_var[rvo + c] = momentum * running_var[rvo + c] + (1.0f - momentum) * (sq / (float)(m - 1));
    }
}

/* y = gamma invstd (x - mean) + beta, with the batch statistics (training)
 * or the running ones (inference). */
__kernel void bn_apply(__global const float *x, uint xo, __global float *y, uint yo, __global const float *gamma,
                       uint go, __global const float *beta, uint bo, __global const float *mean_in, uint mo,
                       __global const float *inv_or_var, uint vo, int use_running, float eps, int channels,
                       int plane, int total)
{
    int i = get_global_id(0);
    if (i >= total)
        return;
    int c = (i / plane) % channels;
    float mean = mean_in[mo + c];
    float invstd = use_running ? 1.0f / sqrt(inv_or_var[vo + c] + eps) : inv_or_var[vo + c];
    float a = gamma[go + c] * invstd;
    float b = beta[bo + c] - mean * a;
    y[yo + i] = a * x[xo + i] + b;
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
    if (lid == 0) {
        if (has_gg)
            grad_gamma[ggo + c] += sum_gx * invstd;
        if (has_gb)
            grad_beta[gbo + c] += sum_g;
        float k = gamma[gmo + c] * invstd, c1 = 0.0f, c0 = 0.0f;
        if (!use_running) {
            c1 = -k * invstd * invstd * sum_gx / (float)m;
            c0 = -k * sum_g / (float)m - c1 * mean;
        }
        coef[co + 3 * c] = k;
        coef[co + 3 * c + 1] = c1;
        coef[co + 3 * c + 2] = c0;
    }
}

__kernel void bn_backward_apply(__global const float *x, uint xo, __global const float *g, uint go,
                                __global float *gx, uint gxo, __global const float *coef, uint co, int channels,
                                int plane, int total)
{
    int i = get_global_id(0);
    if (i >= total)
        return;
    int c = (i / plane) % channels;
    gx[gxo + i] += coef[co + 3 * c] * g[go + i] + coef[co + 3 * c + 1] * x[xo + i] + coef[co + 3 * c + 2];
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
