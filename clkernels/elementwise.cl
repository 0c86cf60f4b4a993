/* clkernels/elementwise.cl - flat elementwise kernels of the OpenCL
 * backend: relu, elu, add, mul, scale, copies and gradient accumulation
 * (flatten/reshape), dropout, and the softmax cross-entropy loss.
 * Wrappers: backends/opencl/ocl_elementwise.c. Semantics match the CPU
 * kernels (backends/cpu/, a file per op) exactly; backward kernels ADD into gradients.
 *
 * Every tensor arrives as (buffer, element offset); one work-item per
 * element, consecutive work-items on consecutive addresses (coalesced). */

__kernel void fill_zero(__global float *x, uint xo, int n)
{
    int i = get_global_id(0);
    if (i < n)
        x[xo + i] = 0.0f;
}

/* OpenCL 1.1 devices (no clEnqueueFillBuffer): tensor_fill. */
__kernel void fill_value(__global float *x, uint xo, int n, float v)
{
    int i = get_global_id(0);
    if (i < n)
        x[xo + i] = v;
}

__kernel void copy_forward(__global const float *x, uint xo, __global float *y, uint yo, int n)
{
    int i = get_global_id(0);
    if (i < n)
        y[yo + i] = x[xo + i];
}

/* dst += factor * src (add and scale backward, reshape backward); acc 0:
 * dst = 0 + factor * src (the first writer of a gradient: the same
 * numbers as adding into zeros, without the zeroing). */
__kernel void accumulate(__global const float *src, uint so, __global float *dst, uint d_o, float factor, int n,
                         int acc)
{
    int i = get_global_id(0);
    if (i < n)
        dst[d_o + i] = (acc ? dst[d_o + i] : 0.0f) + factor * src[so + i];
}

__kernel void relu_forward(__global const float *x, uint xo, __global float *y, uint yo, int n)
{
    int i = get_global_id(0);
    if (i < n) {
        float v = x[xo + i];
        y[yo + i] = v > 0.0f ? v : 0.0f;
    }
}

/* Reads the output (the op may run in place): gx += y > 0 ? g : 0
 * (acc 0: gx = 0 + ..., see accumulate). */
__kernel void relu_backward(__global const float *y, uint yo, __global const float *g, uint go,
                            __global float *gx, uint gxo, int n, int acc)
{
    int i = get_global_id(0);
    if (i < n)
        gx[gxo + i] = (acc ? gx[gxo + i] : 0.0f) + (y[yo + i] > 0.0f ? g[go + i] : 0.0f);
}

__kernel void elu_forward(__global const float *x, uint xo, __global float *y, uint yo, float alpha, int n)
{
    int i = get_global_id(0);
    if (i < n) {
        float v = x[xo + i];
        y[yo + i] = v > 0.0f ? v : alpha * expm1(v);
    }
}

/* elu_forward for 16 consecutive elements per work-item (CPU style):
 * expm1 on a float16 is one vector call (PoCL: SLEEF), where the scalar
 * kernel calls the scalar expm1 once per work-item. */
__kernel void elu_forward16(__global const float *x, uint xo, __global float *y, uint yo, float alpha, int n)
{
    int i = get_global_id(0) * 16;
    if (i + 16 <= n) {
        float16 v = vload16(0, x + xo + i);
        vstore16(select(alpha * expm1(v), v, v > (float16)(0.0f)), 0, y + yo + i);
    } else {
        for (; i < n; i++) {
            float v = x[xo + i];
            y[yo + i] = v > 0.0f ? v : alpha * expm1(v);
        }
    }
}

/* dy/dx = 1 for y > 0, else alpha exp(x) = y + alpha. */
__kernel void elu_backward(__global const float *y, uint yo, __global const float *g, uint go,
                           __global float *gx, uint gxo, float alpha, int n, int acc)
{
    int i = get_global_id(0);
    if (i < n) {
        float yi = y[yo + i];
        gx[gxo + i] = (acc ? gx[gxo + i] : 0.0f) + g[go + i] * (yi > 0.0f ? 1.0f : yi + alpha);
    }
}

__kernel void add_forward(__global const float *a, uint ao, __global const float *b, uint bo,
                          __global float *y, uint yo, int n)
{
    int i = get_global_id(0);
    if (i < n)
        y[yo + i] = a[ao + i] + b[bo + i];
}

__kernel void mul_forward(__global const float *a, uint ao, __global const float *b, uint bo,
                          __global float *y, uint yo, int n)
{
    int i = get_global_id(0);
    if (i < n)
        y[yo + i] = a[ao + i] * b[bo + i];
}

/* dst += g * other (one side of the product rule). */
__kernel void mul_backward(__global const float *g, uint go, __global const float *other, uint oo,
                           __global float *dst, uint d_o, int n)
{
    int i = get_global_id(0);
    if (i < n)
        dst[d_o + i] += g[go + i] * other[oo + i];
}

__kernel void scale_forward(__global const float *x, uint xo, __global float *y, uint yo, float factor, float offset,
                            int n)
{
    int i = get_global_id(0);
    if (i < n)
        y[yo + i] = factor * x[xo + i] + offset;
}

/* The counter-based generator of include/fx/rng.h (SplitMix64 mix), so a
 * dropout mask here is bit-identical to the CPU's for the same seed. */
ulong fx_rng_mix(ulong x)
{
    x += 0x9e3779b97f4a7c15UL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9UL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebUL;
    return x ^ (x >> 31);
}

float fx_rng_uniform(ulong seed, ulong index)
{
    ulong r = fx_rng_mix(seed ^ fx_rng_mix(index));
    return (float)(r >> 40) * (1.0f / 16777216.0f);
}

/* Element i kept iff uniform(seed, i) >= rate (scaled by 1/(1-rate)); the
 * flat index i covers the whole tensor, batch included. */
__kernel void dropout_apply(__global const float *src, uint so, __global float *dst, uint d_o, ulong seed, float rate,
                            float scale, int accumulate, int n, ulong first)
{
    int i = get_global_id(0);
    if (i < n) {
        float keep = fx_rng_uniform(seed, first + (ulong)i) >= rate ? scale : 0.0f;
        float v = keep * src[so + i];
        if (accumulate == 1)
            dst[d_o + i] += v;
        else if (accumulate == 2) /* a gradient's first writer: 0 + v, as into zeros */
            dst[d_o + i] = 0.0f + v;
        else
            dst[d_o + i] = v;
    }
}

/* Softmax cross-entropy, one work-item per row (classes are few):
 * lse = m + log sum exp(x - m); loss = lse - (1-s) x_label - s/C sum x. */
__kernel void ce_forward_rows(__global const float *x, uint xo, __global const int *label, uint lo,
                              __global float *lse, uint lseo, __global float *row_loss, uint rlo, int rows,
                              int classes, float smoothing)
{
    int n = get_global_id(0);
    if (n >= rows)
        return;
    __global const float *xr = x + xo + (size_t)n * classes;
    float m = xr[0];
    for (int c = 1; c < classes; c++)
        m = xr[c] > m ? xr[c] : m;
    float sum = 0.0f, sum_x = 0.0f;
    for (int c = 0; c < classes; c++) {
        sum += exp(xr[c] - m);
        sum_x += xr[c];
    }
    float l = m + log(sum);
    lse[lseo + n] = l;
    int lab = label[lo + n];
    float xl = lab >= 0 && lab < classes ? xr[lab] : 0.0f;
    row_loss[rlo + n] = l - ((1.0f - smoothing) * xl + smoothing / (float)classes * sum_x);
}

/* Batch mean in a fixed order (one work-item): loss does not depend on the
 * device's scheduling. Also the label check: the first label outside
 * [0, classes) is written to check[0..1] as (1 + element, label) unless an
 * earlier error is there (backends/opencl/ocl_checks.c reads it at the
 * next host wait). */
__kernel void ce_mean(__global const float *row_loss, uint rlo, __global float *out, uint oo, int rows,
                      __global const int *label, uint lo, int classes, __global int *check, uint co)
{
    if (get_global_id(0) != 0)
        return;
    for (int n = 0; n < rows; n++) {
        int lab = label[lo + n];
        if (lab < 0 || lab >= classes) {
            if (check[co] == 0) {
                check[co] = n + 1;
                check[co + 1] = lab;
            }
            break;
        }
    }
    float total = 0.0f, comp = 0.0f; /* Kahan: rows can be many */
    for (int n = 0; n < rows; n++) {
        float yv = row_loss[rlo + n] - comp;
        float t = total + yv;
        comp = (t - total) - yv;
        total = t;
    }
    out[oo] = total / (float)rows;
}

/* gx += (g / N) (softmax - q); g is the loss weight, read on the device. */
__kernel void ce_backward(__global const float *x, uint xo, __global const int *label, uint lo,
                          __global const float *lse, uint lseo, __global const float *gout, uint goo,
                          __global float *gx, uint gxo, int rows, int classes, float smoothing)
{
    int i = get_global_id(0);
    if (i >= rows * classes)
        return;
    int n = i / classes, c = i - n * classes;
    float gscale = gout[goo] / (float)rows;
    float q = smoothing / (float)classes + (label[lo + n] == c ? 1.0f - smoothing : 0.0f);
    gx[gxo + i] += gscale * (exp(x[xo + i] - lse[lseo + n]) - q);
}
