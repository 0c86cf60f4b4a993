/* backends/cpu/optimizer_update.c - the CPU backend's elementwise
 * optimiser steps (declared in cpu_backend.h, contract in fx/backend.h).
 *
 * SGD:  g' = g + wd * w;  v = momentum * v + g';
 *       w -= lr * (nesterov ? g' + momentum * v : v)
 * Adam: g' = g + wd * w (L2-style decay, as torch.optim.Adam);
 *       m = b1 m + (1 - b1) g';  v = b2 v + (1 - b2) g'^2;
 *       w -= lr_t * m / (sqrt(v) + eps_t)
 * (bias corrections are folded into lr_t and eps_t by the caller). Each
 * element is independent: large tensors are split in chunks over the
 * thread pool, and the loops are plain enough to vectorise. */
#include <math.h>

#include "backends/cpu/cpu_backend.h"

#define OPTIMIZER_GRAIN 32768

typedef struct opt_job {
    float *restrict w, *restrict m, *restrict v;
    const float *restrict g;
    float lr, momentum, beta1, beta2, eps, wd;
    int nesterov;
} opt_job;

static void sgd_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const opt_job *j = arg;
    float *restrict w = j->w, *restrict vel = j->v;
    const float *restrict g = j->g;
    const float lr = j->lr, mom = j->momentum, wd = j->wd;
    if (j->nesterov) {
        for (int64_t i = begin; i < end; i++) {
            float gi = g[i] + wd * w[i];
            float vi = mom * vel[i] + gi;
            vel[i] = vi;
            w[i] -= lr * (gi + mom * vi);
        }
    } else {
        for (int64_t i = begin; i < end; i++) {
            float gi = g[i] + wd * w[i];
            float vi = mom * vel[i] + gi;
            vel[i] = vi;
            w[i] -= lr * vi;
        }
    }
}

static void adam_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const opt_job *j = arg;
    float *restrict w = j->w, *restrict m = j->m, *restrict v = j->v;
    const float *restrict g = j->g;
    const float lr = j->lr, b1 = j->beta1, b2 = j->beta2, eps = j->eps, wd = j->wd;
    for (int64_t i = begin; i < end; i++) {
        float gi = g[i] + wd * w[i];
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] -= lr * mi / (sqrtf(vi) + eps);
    }
}

static fx_status opt_check(fx_backend *be, const fx_tensor *w, const fx_tensor *a, const fx_tensor *b,
                           const fx_tensor *c, const char *which)
{
    int64_t n = fx_tensor_numel(w);
    if (fx_tensor_numel(a) != n || fx_tensor_numel(b) != n || (c && fx_tensor_numel(c) != n))
        return fx_fail(be->ctx, FX_ERR_INTERNAL, "%s update: weight, gradient and state sizes differ", which);
    return FX_OK;
}

fx_status cpu_sgd_update(fx_backend *be, fx_tensor *w, const fx_tensor *g, fx_tensor *velocity, float lr,
                         float momentum, float weight_decay, int nesterov)
{
    fx_status st = opt_check(be, w, g, velocity, NULL, "sgd");
    if (st != FX_OK)
        return st;
    opt_job j = { 0 };
    j.w = fx_tensor_f32(w);
    j.g = fx_tensor_f32(g);
    j.v = fx_tensor_f32(velocity);
    j.lr = lr;
    j.momentum = momentum;
    j.wd = weight_decay;
    j.nesterov = nesterov;
    fx_cpu_parallel_for(be, fx_tensor_numel(w), OPTIMIZER_GRAIN, sgd_range, &j);
    return FX_OK;
}

fx_status cpu_adam_update(fx_backend *be, fx_tensor *w, const fx_tensor *g, fx_tensor *m, fx_tensor *v,
                          float lr_t, float beta1, float beta2, float eps_t, float weight_decay)
{
    fx_status st = opt_check(be, w, g, m, v, "adam");
    if (st != FX_OK)
        return st;
    opt_job j = { 0 };
    j.w = fx_tensor_f32(w);
    j.g = fx_tensor_f32(g);
    j.m = fx_tensor_f32(m);
    j.v = fx_tensor_f32(v);
    j.lr = lr_t;
    j.beta1 = beta1;
    j.beta2 = beta2;
    j.eps = eps_t;
    j.wd = weight_decay;
    fx_cpu_parallel_for(be, fx_tensor_numel(w), OPTIMIZER_GRAIN, adam_range, &j);
    return FX_OK;
}
