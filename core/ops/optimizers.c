/* core/ops/optimizers.c - the definitions of fx's own optimisers, "sgd"
 * and "adam" (fx/optim.h): their state tensors and the checks of their
 * hyper-parameters. The update kernels are the backends' (CPU:
 * backends/cpu/optimizer_update.c; OpenCL: the module's optimizer.cl),
 * registered per backend like op kernels.
 *
 * Update rules (g = gradient, w = parameter, wd = weight decay as L2 added
 * to the gradient, the PyTorch convention so hyper-parameters carry over):
 *   SGD:      g' = g + wd*w
 *             v = momentum*v + g'       ("<param>.velocity")
 *             w -= lr*v                 (classic; momentum 0 is plain SGD)
 *             w -= lr*(g' + momentum*v) (Nesterov)
 *             The velocity exists even with momentum 0 (v = 0*v + g' is
 *             then the plain step), so checkpoints have one layout.
 *   Adam:     g' = g + wd*w
 *             m = b1*m + (1-b1)*g'                   ("<param>.m")
 *             v = b2*v + (1-b2)*g'^2                 ("<param>.v")
 *             w -= lr_t * m / (sqrt(v) + eps_t)
 *   with t = 1 at the first update and lr_t, eps_t the bias corrections
 *   folded in (fx_optim_adam_corrections, fx/optim.h): exactly textbook
 *   Adam (tests/test_optimizer.c checks it against a double-precision
 *   reference).
 * The velocity is stored unscaled by lr, so changing the learning rate
 * (schedules) does not rescale the accumulated momentum. */
#include <math.h>

#include "core/internal.h"

static fx_status check_weight_decay(fx_context *ctx, const fx_optim_hparams *hp)
{
    if (!(hp->weight_decay >= 0.0f) || !isfinite(hp->weight_decay))
        return fx_fail(ctx, FX_ERR_INVALID, "train.weight_decay must be a finite number >= 0, got %g",
                       (double)hp->weight_decay);
    return FX_OK;
}

static fx_status sgd_check(fx_context *ctx, const fx_optim_hparams *hp)
{
    fx_status st = check_weight_decay(ctx, hp);
    if (st != FX_OK)
        return st;
    if (!(hp->momentum >= 0.0f && hp->momentum < 1.0f))
        return fx_fail(ctx, FX_ERR_INVALID, "train.momentum must be in [0, 1), got %g", (double)hp->momentum);
    if (hp->nesterov && hp->momentum == 0.0f)
        return fx_fail(ctx, FX_ERR_INVALID,
                       "train.nesterov needs a momentum > 0 (Nesterov momentum without momentum is "
                       "plain SGD): set train.momentum, e.g. 0.9, or nesterov: false");
    return FX_OK;
}

static fx_status adam_check(fx_context *ctx, const fx_optim_hparams *hp)
{
    fx_status st = check_weight_decay(ctx, hp);
    if (st != FX_OK)
        return st;
    if (!(hp->beta1 >= 0.0f && hp->beta1 < 1.0f))
        return fx_fail(ctx, FX_ERR_INVALID, "train.beta1 must be in [0, 1), got %g", (double)hp->beta1);
    if (!(hp->beta2 >= 0.0f && hp->beta2 < 1.0f))
        return fx_fail(ctx, FX_ERR_INVALID, "train.beta2 must be in [0, 1), got %g", (double)hp->beta2);
    if (!(hp->eps > 0.0f) || !isfinite(hp->eps))
        return fx_fail(ctx, FX_ERR_INVALID, "train.eps must be a finite number > 0, got %g", (double)hp->eps);
    return FX_OK;
}

static const char *const sgd_states[] = { "velocity" };
static const char *const adam_states[] = { "m", "v" };

static const fx_optimizer_def sgd_def = {
    .struct_size = sizeof(fx_optimizer_def),
    .name = "sgd",
    .doc = "SGD with momentum (train.momentum, train.nesterov) and L2 weight decay: v = mu v + g + wd w; w -= lr v",
    .n_state = 1,
    .state_names = sgd_states,
    .check = sgd_check,
};

static const fx_optimizer_def adam_def = {
    .struct_size = sizeof(fx_optimizer_def),
    .name = "adam",
    .doc = "Adam (train.beta1, beta2, eps) with L2 weight decay, bias corrections folded into lr and eps",
    .n_state = 2,
    .state_names = adam_states,
    .check = adam_check,
};

fx_status fx_register_builtin_optimizers(fx_registry *reg)
{
    fx_status st = fx_registry_add_optimizer(reg, &sgd_def);
    if (st == FX_OK)
        st = fx_registry_add_optimizer(reg, &adam_def);
    return st;
}
