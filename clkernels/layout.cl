/* clkernels/layout.cl - concat and resize_bilinear on OpenCL (wrappers:
 * backends/opencl/ocl_layout.c; CPU twins: backends/cpu/concat.c,
 * resize_bilinear.c). */

/* Concat, one input at a time: the output is `outer` blocks of `total`
 * floats; input i fills [offset, offset + inner) of each block. Forward
 * copies in, backward adds the slice back into the input's gradient. */
__kernel void concat_part(__global float *part, uint po, __global float *whole, uint wo, int outer, int inner,
                          int total, int offset, int backward)
{
    int gid = get_global_id(0);
    if (gid >= outer * inner)
        return;
    int o = gid / inner, k = gid - o * inner;
    size_t w = (size_t)o * total + offset + k;
    if (backward)
        part[po + gid] += whole[wo + w];
    else
        whole[wo + w] = part[po + gid];
}

/* Bilinear taps, computed on the host in double exactly as the CPU does:
 * taps[3d] = i0, taps[3d+1] = i1 (exact small integers), taps[3d+2] = w1;
 * rows first (oh entries), then columns (ow entries). */
__kernel void resize_forward(__global const float *x, uint xo, __global float *y, uint yo,
                             __global const float *taps, uint to, int planes, int ih, int iw, int oh, int ow)
{
    int gid = get_global_id(0);
    if (gid >= planes * oh * ow)
        return;
    int ox = gid % ow, t = gid / ow;
    int oy = t % oh, p = t / oh;
    __global const float *ty = taps + to + 3 * oy, *tx = taps + to + 3 * (oh + ox);
    __global const float *xp = x + xo + (size_t)p * ih * iw;
    int y0 = (int)ty[0], y1 = (int)ty[1], x0 = (int)tx[0], x1 = (int)tx[1];
    float wy1 = ty[2], wy0 = 1.0f - wy1, wx1 = tx[2], wx0 = 1.0f - wx1;
    float top = wx0 * xp[y0 * iw + x0] + wx1 * xp[y0 * iw + x1];
    float bottom = wx0 * xp[y1 * iw + x0] + wx1 * xp[y1 * iw + x1];
    y[yo + gid] = wy0 * top + wy1 * bottom;
}

/* One work-item per plane scatters its output gradients in the CPU's order
 * (planes are many: N*C; no atomics, identical sums). */
__kernel void resize_backward(__global const float *g, uint go, __global float *gx, uint gxo,
                              __global const float *taps, uint to, int planes, int ih, int iw, int oh, int ow)
{
    int p = get_global_id(0);
    if (p >= planes)
        return;
    __global const float *gp = g + go + (size_t)p * oh * ow;
    __global float *dp = gx + gxo + (size_t)p * ih * iw;
    for (int oy = 0; oy < oh; oy++) {
        __global const float *ty = taps + to + 3 * oy;
        int y0 = (int)ty[0], y1 = (int)ty[1];
        float wy1 = ty[2], wy0 = 1.0f - wy1;
        for (int ox = 0; ox < ow; ox++) {
            __global const float *tx = taps + to + 3 * (oh + ox);
            int x0 = (int)tx[0], x1 = (int)tx[1];
            float wx1 = tx[2], wx0 = 1.0f - wx1;
            float gv = gp[oy * ow + ox];
            float g0 = wy0 * gv, g1 = wy1 * gv;
            dp[y0 * iw + x0] += wx0 * g0;
            dp[y0 * iw + x1] += wx1 * g0;
            dp[y1 * iw + x0] += wx0 * g1;
            dp[y1 * iw + x1] += wx1 * g1;
        }
    }
}
