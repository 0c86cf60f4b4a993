/* clkernels/optimizer.cl - elementwise optimiser steps of the OpenCL
 * backend (contract: include/fx/backend.h; CPU twin:
 * backends/cpu/optimizer_update.c).
 *   SGD:  g' = g + wd w;  v = mu v + g';  w -= lr (nesterov ? g' + mu v : v)
 *   Adam: g' = g + wd w;  m = b1 m + (1-b1) g';  v = b2 v + (1-b2) g'^2;
 *         w -= lr_t m / (sqrt(v) + eps_t)   (bias corrections folded in) */

__kernel void sgd_update(__global float *w, uint wo, __global const float *g, uint go, __global float *vel, uint vo,
                         float lr, float momentum, float wd, int nesterov, int n)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    float wi = w[wo + i];
    float gi = g[go + i] + wd * wi;
    float vi = momentum * vel[vo + i] + gi;
    vel[vo + i] = vi;
    w[wo + i] = wi - lr * (nesterov ? gi + momentum * vi : vi);
}

__kernel void adam_update(__global float *w, uint wo, __global const float *g, uint go, __global float *m, uint mo,
                          __global float *v, uint vo, float lr, float beta1, float beta2, float eps, float wd, int n)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    float wi = w[wo + i];
    float gi = g[go + i] + wd * wi;
    float mi = beta1 * m[mo + i] + (1.0f - beta1) * gi;
    float vi = beta2 * v[vo + i] + (1.0f - beta2) * gi * gi;
    m[mo + i] = mi;
    v[vo + i] = vi;
    w[wo + i] = wi - lr * mi / (sqrt(vi) + eps);
}
