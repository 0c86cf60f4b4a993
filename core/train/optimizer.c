/* core/optimizer.c - the optimisers (SGD with momentum/Nesterov and weight
 * decay, Adam): the state tensors they keep per learnable parameter and the
 * per-step arithmetic that is not elementwise (Adam's bias corrections).
 * The elementwise updates run on the parameter's own backend through
 * fx_backend_ops.sgd_update / adam_update, so the state never leaves the
 * device.
 *
 * Update rules (g = gradient, w = parameter, wd = weight decay as L2 added
 * to the gradient, the PyTorch convention so hyper-parameters carry over):
 *   SGD:      g' = g + wd*w
 *             v = momentum*v + g'       ("<param>.velocity")
 *             w -= lr*v                 (classic; momentum 0 is plain SGD)
 *             w -= lr*(g' + momentum*v) (Nesterov)
 *             The velocity exists even with momentum 0 because the backend
 *             contract (fx_backend_ops.sgd_update) always passes one.
 *   Adam:     g' = g + wd*w
 *             m = b1*m + (1-b1)*g'                   ("<param>.m")
 *             v = b2*v + (1-b2)*g'^2                 ("<param>.v")
 *             w -= lr_t * m / (sqrt(v) + eps_t)
 *   with t = 1 at the first update and
 *             lr_t  = lr * sqrt(1-b2^t) / (1-b1^t)
 *             eps_t = eps * sqrt(1-b2^t).
 *   Multiplying numerator and denominator of the textbook update
 *   lr * m_hat / (sqrt(v_hat) + eps), m_hat = m/(1-b1^t), v_hat = v/(1-b2^t),
 *   by sqrt(1-b2^t) gives exactly this form, so the kernels need no
 *   per-element division by the corrections and the result equals textbook
 *   Adam (tests/test_optimizer.c checks it against a double-precision
 *   reference). lr_t and eps_t are computed in double, then rounded once.
 *
 * The velocity is stored unscaled by lr, so changing the learning rate
 * (schedules) does not rescale the accumulated momentum. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "core/train/optimizer.h"

/* Longest state name: a parameter name plus ".velocity". */
#define OPT_STATE_NAME_MAX (FX_NAME_MAX * 2 + 16)

typedef enum opt_kind { OPT_SGD = 0, OPT_ADAM = 1 } opt_kind;

/* One learnable parameter and its state tensors (state[0] = velocity or
 * m, state[1] = v). The parameter's tensors are looked up again at every
 * step (fx_graph_param_at) so a re-planned graph is followed. */
typedef struct opt_slot {
    int param_index;
    char param_name[FX_NAME_MAX * 2];
    fx_backend *backend;
    int n_state;
    fx_tensor state[2];
    char state_name[2][OPT_STATE_NAME_MAX];
} opt_slot;

struct fx_optimizer {
    fx_context *ctx;
    fx_graph *graph;
    opt_kind kind;
    float momentum, weight_decay, beta1, beta2, eps;
    int nesterov;
    int64_t steps; /* completed updates; Adam's t of the next update is steps + 1 */
    opt_slot *slots;
    int n_slots;
    int n_states;  /* sum of slots[i].n_state */
};

/* Rejects hyper-parameters that would silently produce NaN or diverge. */
static fx_status optimizer_check_config(fx_context *ctx, const fx_train_config *cfg, opt_kind kind)
{
    if (!(cfg->weight_decay >= 0.0f) || !isfinite(cfg->weight_decay))
        return fx_fail(ctx, FX_ERR_INVALID, "train.weight_decay must be a finite number >= 0, got %g",
                       (double)cfg->weight_decay);
    if (kind == OPT_SGD) {
        if (!(cfg->momentum >= 0.0f && cfg->momentum < 1.0f))
            return fx_fail(ctx, FX_ERR_INVALID, "train.momentum must be in [0, 1), got %g",
                           (double)cfg->momentum);
        if (cfg->nesterov && cfg->momentum == 0.0f)
            return fx_fail(ctx, FX_ERR_INVALID,
                           "train.nesterov needs a momentum > 0 (Nesterov momentum without momentum is "
                           "plain SGD): set train.momentum, e.g. 0.9, or nesterov: false");
    } else {
        if (!(cfg->beta1 >= 0.0f && cfg->beta1 < 1.0f))
            return fx_fail(ctx, FX_ERR_INVALID, "train.beta1 must be in [0, 1), got %g", (double)cfg->beta1);
        if (!(cfg->beta2 >= 0.0f && cfg->beta2 < 1.0f))
            return fx_fail(ctx, FX_ERR_INVALID, "train.beta2 must be in [0, 1), got %g", (double)cfg->beta2);
        if (!(cfg->eps > 0.0f) || !isfinite(cfg->eps))
            return fx_fail(ctx, FX_ERR_INVALID, "train.eps must be a finite number > 0, got %g",
                           (double)cfg->eps);
    }
    return FX_OK;
}

/* Allocates one zeroed state tensor shaped like the parameter's value. */
static fx_status optimizer_add_state(fx_context *ctx, opt_slot *slot, const fx_tensor *like, const char *suffix)
{
    int k = slot->n_state;
    fx_tensor *t = &slot->state[k];
    int n = snprintf(slot->state_name[k], sizeof slot->state_name[k], "%s.%s", slot->param_name, suffix);
    if (n < 0 || (size_t)n >= sizeof slot->state_name[k])
        return fx_fail(ctx, FX_ERR_INVALID, "optimiser state name '%s.%s' is too long", slot->param_name, suffix);
    memset(t, 0, sizeof *t);
    t->dtype = FX_F32;
    t->shape = like->shape;
    fx_status st = fx_backend_alloc_tensor(slot->backend, t, slot->state_name[k]);
    if (st != FX_OK)
        return fx_fail_prefix(ctx, st, "creating the optimiser");
    slot->n_state = k + 1; /* owned from here on: freed by fx_optimizer_destroy */
    st = fx_tensor_zero(t);
    if (st != FX_OK)
        return fx_fail_prefix(ctx, st, "zeroing optimiser state '%s'", slot->state_name[k]);
    return FX_OK;
}

fx_status fx_optimizer_create(fx_graph *g, const fx_train_config *cfg, fx_optimizer **out)
{
    if (out)
        *out = NULL;
    if (!g || !cfg || !out)
        return g ? fx_fail(fx_graph_context(g), FX_ERR_INVALID, "fx_optimizer_create: NULL argument")
                 : FX_ERR_INVALID;
    fx_context *ctx = fx_graph_context(g);
    opt_kind kind;
    if (strcmp(cfg->optimizer, "sgd") == 0)
        kind = OPT_SGD;
    else if (strcmp(cfg->optimizer, "adam") == 0)
        kind = OPT_ADAM;
    else
        return fx_fail(ctx, FX_ERR_INVALID, "unknown optimiser '%s' in train.optimizer: use sgd or adam",
                       cfg->optimizer);
    fx_status st = optimizer_check_config(ctx, cfg, kind);
    if (st != FX_OK)
        return st;

    fx_optimizer *opt = fx_calloc(ctx, 1, sizeof *opt, "optimiser");
    if (!opt)
        return FX_ERR_NOMEM;
    opt->ctx = ctx;
    opt->graph = g;
    opt->kind = kind;
    opt->momentum = cfg->momentum;
    opt->weight_decay = cfg->weight_decay;
    opt->beta1 = cfg->beta1;
    opt->beta2 = cfg->beta2;
    opt->eps = cfg->eps;
    opt->nesterov = cfg->nesterov;

    int n_params = fx_graph_param_count(g);
    if (n_params > 0) {
        opt->slots = fx_calloc(ctx, (size_t)n_params, sizeof *opt->slots, "optimiser parameter table");
        if (!opt->slots) {
            free(opt);
            return FX_ERR_NOMEM;
        }
    }
    for (int i = 0; i < n_params; i++) {
        fx_param p = fx_graph_param_at(g, i);
        if (!p.learnable || p.absent)
            continue; /* BN running statistics and other persistent state; `bias: false` */
        if (!p.value || !p.value->buffer) {
            fx_optimizer_destroy(opt);
            return fx_fail(ctx, FX_ERR_INVALID,
                           "parameter '%s' of graph '%s' is not allocated: plan the graph "
                           "(fx_graph_plan) before creating the optimiser",
                           p.name, fx_graph_name(g));
        }
        if (!p.grad || !p.grad->buffer) {
            fx_optimizer_destroy(opt);
            return fx_fail(ctx, FX_ERR_INVALID,
                           "parameter '%s' of graph '%s' has no gradient: plan the graph in training "
                           "mode (FX_MODE_TRAIN) before creating the optimiser",
                           p.name, fx_graph_name(g));
        }
        opt_slot *slot = &opt->slots[opt->n_slots++];
        slot->param_index = i;
        snprintf(slot->param_name, sizeof slot->param_name, "%s", p.name);
        slot->backend = p.value->buffer->backend;
        if (kind == OPT_ADAM) {
            st = optimizer_add_state(ctx, slot, p.value, "m");
            if (st == FX_OK)
                st = optimizer_add_state(ctx, slot, p.value, "v");
        } else {
            /* Also without momentum: the backend contract passes every
             * tensor (v = 0*v + g' then equals the plain step). */
            st = optimizer_add_state(ctx, slot, p.value, "velocity");
        }
        opt->n_states += slot->n_state;
        if (st != FX_OK) {
            fx_optimizer_destroy(opt);
            return st;
        }
    }
    *out = opt;
    return FX_OK;
}

void fx_optimizer_destroy(fx_optimizer *opt)
{
    if (!opt)
        return;
    for (int i = 0; i < opt->n_slots; i++)
        for (int k = 0; k < opt->slots[i].n_state; k++)
            fx_backend_free_tensor(opt->slots[i].backend, &opt->slots[i].state[k]);
    free(opt->slots);
    free(opt);
}

/* The parameter of a slot as the graph holds it now; fails when the graph
 * changed under the optimiser (re-planned onto another backend). */
static fx_status optimizer_slot_param(fx_optimizer *opt, const opt_slot *slot, fx_param *p)
{
    if (slot->param_index >= fx_graph_param_count(opt->graph))
        return fx_fail(opt->ctx, FX_ERR_INVALID, "parameter '%s' disappeared from graph '%s' after the "
                       "optimiser was created", slot->param_name, fx_graph_name(opt->graph));
    *p = fx_graph_param_at(opt->graph, slot->param_index);
    if (strcmp(p->name, slot->param_name) != 0)
        return fx_fail(opt->ctx, FX_ERR_INVALID, "parameter '%s' of graph '%s' changed after the optimiser was "
                       "created: create the optimiser again", slot->param_name, fx_graph_name(opt->graph));
    if (!p->value || !p->value->buffer || !p->grad || !p->grad->buffer)
        return fx_fail(opt->ctx, FX_ERR_INVALID, "parameter '%s' has no value or gradient: plan graph '%s' in "
                       "training mode before fx_optimizer_step", slot->param_name, fx_graph_name(opt->graph));
    if (p->value->buffer->backend != slot->backend || p->grad->buffer->backend != slot->backend)
        return fx_fail(opt->ctx, FX_ERR_INVALID, "parameter '%s' moved to backend '%s' after the optimiser was "
                       "created on '%s': create the optimiser again after re-planning", slot->param_name,
                       p->value->buffer->backend->name, slot->backend->name);
    if (slot->n_state > 0 && !fx_shape_equal(&p->value->shape, &slot->state[0].shape)) {
        char a[96], b[96];
        return fx_fail(opt->ctx, FX_ERR_SHAPE, "parameter '%s' is now %s but its optimiser state is %s: "
                       "create the optimiser again", slot->param_name,
                       fx_shape_str(&p->value->shape, a, sizeof a), fx_shape_str(&slot->state[0].shape, b, sizeof b));
    }
    return FX_OK;
}

fx_status fx_optimizer_step(fx_optimizer *opt, float lr)
{
    if (!opt)
        return FX_ERR_INVALID;
    if (!isfinite(lr) || lr < 0.0f)
        return fx_fail(opt->ctx, FX_ERR_INVALID, "learning rate must be a finite number >= 0, got %g", (double)lr);
    int64_t t = opt->steps + 1;
    float lr_t = lr, eps_t = opt->eps;
    if (opt->kind == OPT_ADAM) {
        /* pow in double: at t ~ 1e6 and beta2 = 0.999, float pow would lose
         * the correction's digits. */
        double c1 = 1.0 - pow((double)opt->beta1, (double)t);
        double c2 = sqrt(1.0 - pow((double)opt->beta2, (double)t));
        lr_t = (float)((double)lr * c2 / c1);
        eps_t = (float)((double)opt->eps * c2);
    }
    for (int i = 0; i < opt->n_slots; i++) {
        opt_slot *slot = &opt->slots[i];
        fx_param p = { 0 };
        fx_status st = optimizer_slot_param(opt, slot, &p);
        if (st != FX_OK)
            return st;
        const fx_backend_ops *ops = slot->backend->ops;
        if (opt->kind == OPT_ADAM) {
            if (!ops->adam_update)
                return fx_fail(opt->ctx, FX_ERR_UNSUPPORTED, "backend '%s' has no Adam update (adam_update): "
                               "use another backend or optimizer: sgd", slot->backend->name);
            st = ops->adam_update(slot->backend, p.value, p.grad, &slot->state[0], &slot->state[1], lr_t,
                                  opt->beta1, opt->beta2, eps_t, opt->weight_decay);
        } else {
            if (!ops->sgd_update)
                return fx_fail(opt->ctx, FX_ERR_UNSUPPORTED, "backend '%s' has no SGD update (sgd_update): "
                               "use another backend", slot->backend->name);
            st = ops->sgd_update(slot->backend, p.value, p.grad, &slot->state[0], lr,
                                 opt->momentum, opt->weight_decay, opt->nesterov);
        }
        if (st != FX_OK)
            return fx_fail_prefix(opt->ctx, st, "updating parameter '%s'", slot->param_name);
    }
    opt->steps = t;
    return FX_OK;
}

int64_t fx_optimizer_steps(const fx_optimizer *opt)
{
    return opt ? opt->steps : 0;
}

void fx_optimizer_set_steps(fx_optimizer *opt, int64_t steps)
{
    if (opt)
        opt->steps = steps < 0 ? 0 : steps;
}

int fx_optimizer_state_count(const fx_optimizer *opt)
{
    return opt ? opt->n_states : 0;
}

fx_tensor *fx_optimizer_state_at(fx_optimizer *opt, int i, const char **name)
{
    if (name)
        *name = NULL;
    if (!opt || i < 0 || i >= opt->n_states)
        return NULL;
    /* States are listed slot by slot, in parameter order: the order a
     * checkpoint stores them in. */
    for (int s = 0; s < opt->n_slots; s++) {
        opt_slot *slot = &opt->slots[s];
        if (i < slot->n_state) {
            if (name)
                *name = slot->state_name[i];
            return &slot->state[i];
        }
        i -= slot->n_state;
    }
    return NULL;
}

const char *fx_optimizer_kind_name(const fx_optimizer *opt)
{
    return opt->kind == OPT_ADAM ? "adam" : "sgd";
}

fx_graph *fx_optimizer_graph(const fx_optimizer *opt)
{
    return opt->graph;
}
