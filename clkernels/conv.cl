/* clkernels/conv.cl - the non-GEMM parts of conv2d and linear on OpenCL
 * (wrappers: backends/opencl/ocl_conv.c, ocl_linear.c): im2col/col2im
 * over a chunk of B images, the layout changes between the GEMM's
 * [O, B*P] and NCHW, bias rows and per-channel gradient sums.
 * Shapes: x [N, C, H, W], y [N, O, OH, OW], P = OH*OW, K = C*kh*kw;
 * col [K, B*P] with column b*P + oy*OW + ox, row (c*kh + i)*kw + j. */

/* y[r, o] = b[o] for r < rows (linear: the GEMM then adds x W^T). */
__kernel void bias_rows(__global float *y, uint yo, __global const float *b, uint bo, int rows, int cols)
{
    int i = get_global_id(0);
    if (i < rows * cols)
        y[yo + i] = b[bo + i % cols];
}

/* out[c] += scale * sum_{n < N, p < P} x[(n*C + c)*P + p]: one work-group
 * per channel, a tree reduction in local memory (fixed order, so the
 * result does not depend on timing). */
__kernel void channel_sum(__global const float *x, uint xo, __global float *out, uint oo, int n, int channels,
                          int plane, float scale, __local float *part)
{
    int c = get_group_id(0), lid = get_local_id(0), ls = get_local_size(0);
    float s = 0.0f;
    int total = n * plane;
    for (int i = lid; i < total; i += ls) {
        int b = i / plane, p = i - b * plane;
        s += x[xo + ((size_t)b * channels + c) * plane + p];
    }
    part[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = ls / 2; w > 0; w >>= 1) {
        if (lid < w)
            part[lid] += part[lid + w];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0)
        out[oo + c] += scale * part[0];
}

/* One work-item per col element; consecutive items write consecutive
 * columns (coalesced); reads follow the same stride pattern. */
__kernel void im2col(__global const float *x, uint xo, __global float *col, uint co, int first, int batch, int c_in,
                     int h, int w, int kh, int kw, int sh, int sw, int pt, int pl, int oh, int ow)
{
    int gid = get_global_id(0);
    int plane = oh * ow, cols = batch * plane;
    int k_total = c_in * kh * kw;
    if (gid >= k_total * cols)
        return;
    int k = gid / cols, r = gid - k * cols;
    int b = r / plane, p = r - b * plane;
    int oy = p / ow, ox = p - oy * ow;
    int c = k / (kh * kw), ij = k - c * kh * kw;
    int i = ij / kw, j = ij - i * kw;
    int iy = oy * sh - pt + i, ix = ox * sw - pl + j;
    float v = 0.0f;
    if (iy >= 0 && iy < h && ix >= 0 && ix < w)
        v = x[xo + (((size_t)(first + b) * c_in + c) * h + iy) * w + ix];
    col[co + gid] = v;
}

/* dx[n, c, iy, ix] += sum over the (i, j, oy, ox) that read it of
 * dcol[(c*kh + i)*kw + j, b*P + oy*OW + ox]: a gather per input pixel, so
 * no atomics and a fixed summation order. */
__kernel void col2im(__global const float *col, uint co, __global float *dx, uint xo, int first, int batch, int c_in,
                     int h, int w, int kh, int kw, int sh, int sw, int pt, int pl, int oh, int ow)
{
    int gid = get_global_id(0);
    if (gid >= batch * c_in * h * w)
        return;
    int ix = gid % w, t = gid / w;
    int iy = t % h;
    t /= h;
    int c = t % c_in, b = t / c_in;
    int plane = oh * ow, cols = batch * plane;
    float s = 0.0f;
    for (int i = 0; i < kh; i++) {
        int ny = iy + pt - i;
        if (ny < 0 || ny % sh != 0)
            continue;
        int oy = ny / sh;
        if (oy >= oh)
            continue;
        for (int j = 0; j < kw; j++) {
            int nx = ix + pl - j;
            if (nx < 0 || nx % sw != 0)
                continue;
            int ox = nx / sw;
            if (ox >= ow)
                continue;
            s += col[co + (size_t)((c * kh + i) * kw + j) * cols + b * plane + oy * ow + ox];
        }
    }
    dx[xo + (((size_t)(first + b) * c_in + c) * h + iy) * w + ix] += s;
}

/* y[first + b, o, p] = tmp[o, b*P + p] + bias[o] (has_bias 0: no bias). */
__kernel void conv_scatter(__global const float *tmp, uint to, __global float *y, uint yo, __global const float *bias,
                           uint bo, int has_bias, int first, int batch, int out_c, int plane)
{
    int gid = get_global_id(0);
    if (gid >= batch * out_c * plane)
        return;
    int p = gid % plane, t = gid / plane;
    int o = t % out_c, b = t / out_c;
    float v = tmp[to + (size_t)o * batch * plane + b * plane + p];
    y[yo + ((size_t)(first + b) * out_c + o) * plane + p] = v + (has_bias ? bias[bo + o] : 0.0f);
}

/* tmp[o, b*P + p] = dy[first + b, o, p] (the GEMM layout of a chunk). */
__kernel void conv_gather(__global const float *dy, uint yo, __global float *tmp, uint to, int first, int batch,
                          int out_c, int plane)
{
    int gid = get_global_id(0);
    if (gid >= batch * out_c * plane)
        return;
    int p = gid % plane, t = gid / plane;
    int o = t % out_c, b = t / out_c;
    tmp[to + (size_t)o * batch * plane + b * plane + p] = dy[yo + ((size_t)(first + b) * out_c + o) * plane + p];
}
