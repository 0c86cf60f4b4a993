/* backends/cpu/optimizer_update.c - the CPU backend's update kernels of
 * the optimisers "sgd" and "adam" (fx/optim.h; registered in the registry
 * like op kernels by fx_cpu_register_optimizer_kernels).
 *
 * SGD:  g' = g + wd * w;  v = momentum * v + g';
 *       w -= lr * (nesterov ? g' + momentum * v : v)
 * Adam: g' = g + wd * w (L2-style decay, as torch.optim.Adam);
 *       m = b1 m + (1 - b1) g';  v = b2 v + (1 - b2) g'^2;
 *       w -= lr_t * m / (sqrt(v) + eps_t)
 * (bias corrections folded into lr_t and eps_t by fx_optim_adam_corrections). Each
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

static fx_status opt_check(fx_backend *be, const fx_tensor *w, const fx_tensor *g, fx_tensor *const *state,
                           int n_state, int want, const char *which)
{
    if (n_state != want)
        return fx_fail(be->ctx, FX_ERR_INTERNAL, "%s update: %d state tensors, expected %d", which, n_state, want);
    int64_t n = fx_tensor_numel(w);
    if (fx_tensor_numel(g) != n)
        return fx_fail(be->ctx, FX_ERR_INTERNAL, "%s update: weight, gradient and state sizes differ", which);
    for (int k = 0; k < n_state; k++)
        if (fx_tensor_numel(state[k]) != n)
            return fx_fail(be->ctx, FX_ERR_INTERNAL, "%s update: weight, gradient and state sizes differ", which);
    return FX_OK;
}

/* state[0] = velocity */
static fx_status cpu_sgd_update(fx_backend *be, fx_tensor *w, const fx_tensor *g, fx_tensor *const *state,
                                int n_state, const fx_optim_hparams *hp)
{
    fx_status st = opt_check(be, w, g, state, n_state, 1, "sgd");
    if (st != FX_OK)
        return st;
    opt_job j = { 0 };
    j.w = fx_tensor_f32(w);
    j.g = fx_tensor_f32(g);
    j.v = fx_tensor_f32(state[0]);
    j.lr = hp->lr;
    j.momentum = hp->momentum;
    j.wd = hp->weight_decay;
    j.nesterov = hp->nesterov;
    fx_cpu_parallel_for(be, fx_tensor_numel(w), OPTIMIZER_GRAIN, sgd_range, &j);
    return FX_OK;
}

/* state[0] = m, state[1] = v */
static fx_status cpu_adam_update(fx_backend *be, fx_tensor *w, const fx_tensor *g, fx_tensor *const *state,
                                 int n_state, const fx_optim_hparams *hp)
{
    fx_status st = opt_check(be, w, g, state, n_state, 2, "adam");
    if (st != FX_OK)
        return st;
    opt_job j = { 0 };
    j.w = fx_tensor_f32(w);
    j.g = fx_tensor_f32(g);
    j.m = fx_tensor_f32(state[0]);
    j.v = fx_tensor_f32(state[1]);
    fx_optim_adam_corrections(hp, &j.lr, &j.eps);
    j.beta1 = hp->beta1;
    j.beta2 = hp->beta2;
    j.wd = hp->weight_decay;
    fx_cpu_parallel_for(be, fx_tensor_numel(w), OPTIMIZER_GRAIN, adam_range, &j);
    return FX_OK;
}

fx_status fx_cpu_register_optimizer_kernels(fx_registry *reg)
{
    fx_status st = fx_registry_add_optimizer_kernel(reg, "sgd", "cpu", cpu_sgd_update);
    if (st == FX_OK)
        st = fx_registry_add_optimizer_kernel(reg, "adam", "cpu", cpu_adam_update);
    return st;
}
