/* tests/plugins/optimizers.c - an out-of-tree-style plugin that adds two
 * optimisers to fx through the registry (fx/optim.h), with update kernels
 * for the CPU backend only. Written against the public headers alone, as
 * docs/plugins.md ("Writing an optimiser") describes.
 *
 *   sign_sgd  (no state)        g' = g + wd*w;  w -= lr * sign(g')   (sign(0) = 0)
 *   adagrad   (state "sum",     g' = g + wd*w;  sum += g'^2;
 *              starts at 0.1)   w -= lr * g' / (sqrt(sum) + eps)
 *
 * adagrad's state starts at 0.1 (PyTorch's initial_accumulator_value),
 * so the definition's state_init is exercised. */
#include <math.h>

#include "fx/plugin.h"

FX_PLUGIN("test-optimizers", "0.1.0", "test: the sign_sgd and adagrad optimisers (CPU)");

static fx_status check_decay(fx_context *ctx, const fx_optim_hparams *hp)
{
    if (!(hp->weight_decay >= 0.0f))
        return fx_fail(ctx, FX_ERR_INVALID, "train.weight_decay must be >= 0, got %g", (double)hp->weight_decay);
    return FX_OK;
}

static fx_status sign_sgd_update(fx_backend *be, fx_tensor *w, const fx_tensor *g, fx_tensor *const *state,
                                 int n_state, const fx_optim_hparams *hp)
{
    (void)state;
    if (n_state != 0 || fx_tensor_numel(g) != fx_tensor_numel(w))
        return fx_fail(be->ctx, FX_ERR_INTERNAL, "sign_sgd: unexpected tensors");
    float *wp = fx_tensor_f32(w);
    const float *gp = fx_tensor_f32(g);
    for (int64_t i = 0; i < fx_tensor_numel(w); i++) {
        float gi = gp[i] + hp->weight_decay * wp[i];
        wp[i] -= hp->lr * (float)((gi > 0.0f) - (gi < 0.0f));
    }
    return FX_OK;
}

static fx_status adagrad_check(fx_context *ctx, const fx_optim_hparams *hp)
{
    fx_status st = check_decay(ctx, hp);
    if (st == FX_OK && !(hp->eps > 0.0f))
        st = fx_fail(ctx, FX_ERR_INVALID, "train.eps must be > 0 for adagrad, got %g", (double)hp->eps);
    return st;
}

static fx_status adagrad_update(fx_backend *be, fx_tensor *w, const fx_tensor *g, fx_tensor *const *state,
                                int n_state, const fx_optim_hparams *hp)
{
    if (n_state != 1 || fx_tensor_numel(g) != fx_tensor_numel(w) || fx_tensor_numel(state[0]) != fx_tensor_numel(w))
        return fx_fail(be->ctx, FX_ERR_INTERNAL, "adagrad: unexpected tensors");
    float *wp = fx_tensor_f32(w), *sum = fx_tensor_f32(state[0]);
    const float *gp = fx_tensor_f32(g);
    for (int64_t i = 0; i < fx_tensor_numel(w); i++) {
        float gi = gp[i] + hp->weight_decay * wp[i];
        sum[i] += gi * gi;
        wp[i] -= hp->lr * gi / (sqrtf(sum[i]) + hp->eps);
    }
    return FX_OK;
}

static const fx_optimizer_def sign_sgd = {
    .struct_size = sizeof(fx_optimizer_def),
    .name = "sign_sgd",
    .doc = "signSGD: w -= lr * sign(g + wd*w)",
    .n_state = 0,
    .check = check_decay,
};

static const char *const adagrad_states[] = { "sum" };
static const float adagrad_init[] = { 0.1f };

static const fx_optimizer_def adagrad = {
    .struct_size = sizeof(fx_optimizer_def),
    .name = "adagrad",
    .doc = "Adagrad: sum += g'^2; w -= lr * g' / (sqrt(sum) + eps), sum starting at 0.1",
    .n_state = 1,
    .state_names = adagrad_states,
    .state_init = adagrad_init,
    .check = adagrad_check,
};

fx_status fx_plugin_init(fx_plugin *plugin, int abi_version)
{
    (void)abi_version;
    fx_registry *reg = fx_plugin_registry(plugin);
    fx_status st = fx_registry_add_optimizer(reg, &sign_sgd);
    if (st == FX_OK)
        st = fx_registry_add_optimizer_kernel(reg, "sign_sgd", "cpu", sign_sgd_update);
    if (st == FX_OK)
        st = fx_registry_add_optimizer(reg, &adagrad);
    if (st == FX_OK)
        st = fx_registry_add_optimizer_kernel(reg, "adagrad", "cpu", adagrad_update);
    return st;
}
