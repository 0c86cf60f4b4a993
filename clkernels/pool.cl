/* clkernels/pool.cl - maxpool2d, avgpool2d and global_avgpool on OpenCL
 * (wrappers: backends/opencl/ocl_pool.c; CPU twin: backends/cpu/pool.c).
 * Padded positions never take part: max over in-bounds elements (first
 * maximum wins, NaN wins), mean divided by the in-bounds count. Backward
 * passes gather per input pixel over the outputs whose windows cover it,
 * in ascending output order: no atomics, and the same summation order as
 * the CPU's scatter loop. Planes are N*C maps of H x W. */

#define WINDOW_ARGS int planes, int h, int w, int kh, int kw, int sh, int sw, int pt, int pl, int oh, int ow

__kernel void maxpool_forward(__global const float *x, uint xo, __global float *y, uint yo, __global int *am, uint ao,
                              int save_argmax, WINDOW_ARGS)
{
    int gid = get_global_id(0);
    if (gid >= planes * oh * ow)
        return;
    int ox = gid % ow, t = gid / ow;
    int oy = t % oh, plane = t / oh;
    int y0 = max(oy * sh - pt, 0), y1 = min(oy * sh - pt + kh, h);
    int x0 = max(ox * sw - pl, 0), x1 = min(ox * sw - pl + kw, w);
    __global const float *xp = x + xo + (size_t)plane * h * w;
    int best_i = y0 * w + x0;
    float best = xp[best_i];
    for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++) {
            float v = xp[iy * w + ix];
            if (v > best || (isnan(v) && !isnan(best))) {
                best = v;
                best_i = iy * w + ix;
            }
        }
    y[yo + gid] = best;
    if (save_argmax)
        am[ao + gid] = best_i;
}

/* n / d for 0 <= n < 2^31 without a division instruction: m and sh come
 * from the host (ocl_divisor in backends/opencl/ocl_backend.c; Granlund &
 * Montgomery's round-up method). CPUs have no vector integer division, so
 * a `/` by a run-time value in a kernel PoCL vectorises across work-items
 * runs lane by lane; a 64-bit multiply and shift stay vector operations. */
inline int div_magic(int n, uint m, int sh) { return (int)(((ulong)(uint)n * m) >> sh); }

/* 2x2 windows with stride 2 that lie inside the input (no padding): the
 * common case, without loops, so PoCL vectorises it across work-items.
 * Same comparisons in the same order as maxpool_forward. */
__kernel void maxpool2x2_forward(__global const float *x, uint xo, __global float *y, uint yo, __global int *am,
                                 uint ao, int save_argmax, int total, int h, int w, int oh, int ow, uint ow_m,
                                 int ow_sh, uint oh_m, int oh_sh)
{
    int gid = get_global_id(0);
    if (gid >= total)
        return;
    int t = div_magic(gid, ow_m, ow_sh);
    int ox = gid - t * ow;
    int plane = div_magic(t, oh_m, oh_sh);
    int oy = t - plane * oh;
    int i0 = 2 * oy * w + 2 * ox;
    __global const float *xp = x + xo + (size_t)plane * h * w;
    float v0 = xp[i0], v1 = xp[i0 + 1], v2 = xp[i0 + w], v3 = xp[i0 + w + 1];
    float best = v0;
    int bi = i0;
    if (v1 > best || (isnan(v1) && !isnan(best))) {
        best = v1;
        bi = i0 + 1;
    }
    if (v2 > best || (isnan(v2) && !isnan(best))) {
        best = v2;
        bi = i0 + w;
    }
    if (v3 > best || (isnan(v3) && !isnan(best))) {
        best = v3;
        bi = i0 + w + 1;
    }
    y[yo + gid] = best;
    if (save_argmax)
        am[ao + gid] = bi;
}

/* Windows that do not overlap (stride >= kernel): every input pixel gets
 * at most one output's gradient, so scattering from the outputs adds the
 * same single term the gather of maxpool_backward would, with no loops
 * and no races. One work-item per output. */
__kernel void maxpool_backward_scatter(__global const float *dy, uint yo, __global const int *am, uint ao,
                                       __global float *dx, uint xo, int total, int plane_in, int plane_out,
                                       uint po_m, int po_sh)
{
    int gid = get_global_id(0);
    if (gid >= total)
        return;
    int plane = div_magic(gid, po_m, po_sh);
    size_t i = xo + (size_t)plane * plane_in + am[ao + gid];
    dx[i] += dy[yo + gid];
}

/* Output rows (or columns) whose window covers input index i: [*lo, *hi). */
void covering(int i, int stride, int pad, int k, int out, int *lo, int *hi)
{
    int a = i + pad - k + 1; /* o*stride >= a */
    *lo = a <= 0 ? 0 : (a + stride - 1) / stride;
    int b = (i + pad) / stride + 1; /* o*stride <= i + pad */
    *hi = min(b, out);
}

/* The input pixel of work-item gid of a backward gather (one per input
 * element: plane, row iy, column ix) and the outputs whose windows cover
 * it: rows [oy0, oy1), columns [ox0, ox1). */
typedef struct covered_pixel {
    int ix, iy, plane, oy0, oy1, ox0, ox1;
} covered_pixel;

covered_pixel covering_outputs(int gid, int h, int w, int kh, int kw, int sh, int sw, int pt, int pl, int oh, int ow)
{
    covered_pixel c;
    c.ix = gid % w;
    int t = gid / w;
    c.iy = t % h;
    c.plane = t / h;
    covering(c.iy, sh, pt, kh, oh, &c.oy0, &c.oy1);
    covering(c.ix, sw, pl, kw, ow, &c.ox0, &c.ox1);
    return c;
}

__kernel void maxpool_backward(__global const float *dy, uint yo, __global const int *am, uint ao,
                               __global float *dx, uint xo, WINDOW_ARGS)
{
    int gid = get_global_id(0);
    if (gid >= planes * h * w)
        return;
    covered_pixel c = covering_outputs(gid, h, w, kh, kw, sh, sw, pt, pl, oh, ow);
    size_t base = (size_t)c.plane * oh * ow;
    int self = c.iy * w + c.ix;
    float s = dx[xo + gid];
    for (int oy = c.oy0; oy < c.oy1; oy++)
        for (int ox = c.ox0; ox < c.ox1; ox++) {
            size_t o = base + oy * ow + ox;
            if (am[ao + o] == self)
                s += dy[yo + o];
        }
    dx[xo + gid] = s;
}

__kernel void avgpool_forward(__global const float *x, uint xo, __global float *y, uint yo, WINDOW_ARGS)
{
    int gid = get_global_id(0);
    if (gid >= planes * oh * ow)
        return;
    int ox = gid % ow, t = gid / ow;
    int oy = t % oh, plane = t / oh;
    int y0 = max(oy * sh - pt, 0), y1 = min(oy * sh - pt + kh, h);
    int x0 = max(ox * sw - pl, 0), x1 = min(ox * sw - pl + kw, w);
    __global const float *xp = x + xo + (size_t)plane * h * w;
    float s = 0.0f;
    for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++)
            s += xp[iy * w + ix];
    y[yo + gid] = s / (float)((y1 - y0) * (x1 - x0));
}

__kernel void avgpool_backward(__global const float *dy, uint yo, __global float *dx, uint xo, WINDOW_ARGS)
{
    int gid = get_global_id(0);
    if (gid >= planes * h * w)
        return;
    covered_pixel c = covering_outputs(gid, h, w, kh, kw, sh, sw, pt, pl, oh, ow);
    size_t base = (size_t)c.plane * oh * ow;
    float s = dx[xo + gid];
    for (int oy = c.oy0; oy < c.oy1; oy++) {
        int y0 = max(oy * sh - pt, 0), y1 = min(oy * sh - pt + kh, h);
        for (int ox = c.ox0; ox < c.ox1; ox++) {
            int x0 = max(ox * sw - pl, 0), x1 = min(ox * sw - pl + kw, w);
            s += dy[yo + base + oy * ow + ox] / (float)((y1 - y0) * (x1 - x0));
        }
    }
    dx[xo + gid] = s;
}

/* One work-group per plane: strided loads (coalesced across the group) and
 * a tree reduction in local memory. */
__kernel void global_avgpool_forward(__global const float *x, uint xo, __global float *y, uint yo, int plane_size,
                                     __local float *part)
{
    int p = get_group_id(0), lid = get_local_id(0), ls = get_local_size(0);
    __global const float *xp = x + xo + (size_t)p * plane_size;
    float s = 0.0f;
    for (int i = lid; i < plane_size; i += ls)
        s += xp[i];
    part[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int k = ls / 2; k > 0; k >>= 1) {
        if (lid < k)
            part[lid] += part[lid + k];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0)
        y[yo + p] = part[0] * (1.0f / (float)plane_size);
}

__kernel void global_avgpool_backward(__global const float *dy, uint yo, __global float *dx, uint xo, int planes,
                                      int plane_size)
{
    int gid = get_global_id(0);
    if (gid >= planes * plane_size)
        return;
    dx[xo + gid] += dy[yo + gid / plane_size] * (1.0f / (float)plane_size);
}
