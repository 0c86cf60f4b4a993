/* core/train/optimizer.c - the optimiser of a graph: the state tensors it keeps
 * per learnable parameter and the per-step loop that calls each
 * parameter's update kernel. Which optimisers exist, their state and
 * their arithmetic are the registry's (fx/optim.h): fx's own "sgd" and
 * "adam" are defined in core/ops/optimizers.c with kernels per backend,
 * and a plugin adds others the same way. Nothing here knows an optimiser
 * by name.
 *
 * The update kernel of every parameter is looked up once, on the
 * parameter's backend, when the optimiser is created (after planning), so
 * a backend without a kernel for the chosen optimiser fails before the
 * first step, naming both. The kernels run on the parameter's own
 * backend, so the state never leaves the device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx/fx.h"
#include "core/train/optimizer.h"

/* Longest state name: a parameter name, '.', a state suffix (< 32). */
#define OPT_STATE_NAME_MAX (FX_NAME_MAX * 2 + 40)

/* One learnable parameter, its update kernel and its state tensors. The
 * parameter's tensors are looked up again at every step
 * (fx_graph_param_at) so a re-planned graph is followed. */
typedef struct opt_slot {
    int param_index;
    char param_name[FX_NAME_MAX * 2];
    fx_backend *backend;
    fx_optim_kernel_fn update;
    int n_state;
    fx_tensor state[FX_OPTIM_MAX_STATE];
    fx_tensor *state_ptr[FX_OPTIM_MAX_STATE]; /* &state[k]: what the kernel gets */
    char state_name[FX_OPTIM_MAX_STATE][OPT_STATE_NAME_MAX];
} opt_slot;

struct fx_optimizer {
    fx_context *ctx;
    fx_graph *graph;
    const fx_optimizer_def *def;
    fx_optim_hparams hp; /* train.* values; lr and step are set per step */
    int64_t steps; /* completed updates; t of the next update is steps + 1 */
    opt_slot *slots;
    int n_slots;
    int n_states;  /* sum of slots[i].n_state */
};

/* The registered optimisers, "sgd, adam, ...", for messages. */
static void optimizer_names(const fx_registry *reg, char *out, size_t size)
{
    size_t used = 0;
    out[0] = 0;
    for (int i = 0; i < fx_registry_optimizer_count(reg); i++) {
        int w = snprintf(out + used, size - used, "%s%s", i ? ", " : "", fx_registry_optimizer_at(reg, i)->name);
        if (w < 0 || (size_t)w >= size - used)
            break;
        used += (size_t)w;
    }
}

/* The backends that have an update kernel of optimiser `name`. */
static void optimizer_backends(const fx_registry *reg, const char *name, char *out, size_t size)
{
    size_t used = 0;
    out[0] = 0;
    for (int i = 0; i < fx_registry_optimizer_kernel_count(reg); i++) {
        const char *backend = NULL;
        if (strcmp(fx_registry_optimizer_kernel_at(reg, i, &backend), name) != 0)
            continue;
        int w = snprintf(out + used, size - used, "%s%s", used ? ", " : "", backend);
        if (w < 0 || (size_t)w >= size - used)
            break;
        used += (size_t)w;
    }
    if (!used)
        snprintf(out, size, "none");
}

/* Allocates state tensor k of a slot shaped like the parameter's value
 * and sets it to the definition's initial value (zero unless it says). */
static fx_status optimizer_add_state(fx_context *ctx, const fx_optimizer_def *def, opt_slot *slot,
                                     const fx_tensor *like)
{
    int k = slot->n_state;
    fx_tensor *t = &slot->state[k];
    int n = snprintf(slot->state_name[k], sizeof slot->state_name[k], "%s.%s", slot->param_name,
                     def->state_names[k]);
    if (n < 0 || (size_t)n >= sizeof slot->state_name[k])
        return fx_fail(ctx, FX_ERR_INVALID, "optimiser state name '%s.%s' is too long", slot->param_name,
                       def->state_names[k]);
    memset(t, 0, sizeof *t);
    t->dtype = FX_F32;
    t->shape = like->shape;
    fx_status st = fx_backend_alloc_tensor(slot->backend, t, slot->state_name[k]);
    if (st != FX_OK)
        return fx_fail_prefix(ctx, st, "creating the optimiser");
    slot->state_ptr[k] = t;
    slot->n_state = k + 1; /* owned from here on: freed by fx_optimizer_destroy */
    float init = def->state_init ? def->state_init[k] : 0.0f;
    if (init == 0.0f) {
        st = fx_tensor_zero(t);
    } else {
        int64_t count = fx_tensor_numel(t);
        float *host = fx_malloc(ctx, (size_t)count * sizeof *host, "optimiser state initial values");
        if (!host)
            return FX_ERR_NOMEM;
        for (int64_t i = 0; i < count; i++)
            host[i] = init;
        st = fx_tensor_upload(t, host);
        free(host);
    }
    if (st != FX_OK)
        return fx_fail_prefix(ctx, st, "initialising optimiser state '%s'", slot->state_name[k]);
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
    const fx_registry *reg = fx_context_registry(ctx);
    const fx_optimizer_def *def = fx_registry_find_optimizer(reg, cfg->optimizer);
    if (!def) {
        char names[512];
        optimizer_names(reg, names, sizeof names);
        return fx_fail(ctx, FX_ERR_INVALID,
                       "unknown optimiser '%s' in train.optimizer: the registered optimisers are %s (a plugin "
                       "adds others: load it with --plugin or the graph file's plugins:, docs/plugins.md)",
                       cfg->optimizer, names[0] ? names : "none");
    }
    fx_optim_hparams hp;
    memset(&hp, 0, sizeof hp);
    hp.struct_size = sizeof hp;
    hp.lr = cfg->lr;
    hp.momentum = cfg->momentum;
    hp.weight_decay = cfg->weight_decay;
    hp.beta1 = cfg->beta1;
    hp.beta2 = cfg->beta2;
    hp.eps = cfg->eps;
    hp.nesterov = cfg->nesterov;
    hp.step = 0;
    if (def->check) {
        fx_status st = def->check(ctx, &hp);
        if (st != FX_OK)
            return fx_context_has_error(ctx) ? st
                                  : fx_fail(ctx, st, "optimiser '%s' refused its hyper-parameters without a message",
                                            def->name);
    }
    fx_status st = FX_OK;

    fx_optimizer *opt = fx_calloc(ctx, 1, sizeof *opt, "optimiser");
    if (!opt)
        return FX_ERR_NOMEM;
    opt->ctx = ctx;
    opt->graph = g;
    opt->def = def;
    opt->hp = hp;

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
        if (!fx_registry_find_optimizer_kernel(reg, def->name, slot->backend->name, &slot->update)) {
            char have[256];
            optimizer_backends(reg, def->name, have, sizeof have);
            fx_fail(ctx, FX_ERR_UNSUPPORTED,
                    "optimiser '%s' has no update kernel for backend '%s' (parameter '%s'; it has kernels for: "
                    "%s): choose another optimiser or backend, or load a plugin that adds one",
                    def->name, slot->backend->name, slot->param_name, have);
            fx_optimizer_destroy(opt);
            return FX_ERR_UNSUPPORTED;
        }
        for (int k = 0; k < def->n_state && st == FX_OK; k++)
            st = optimizer_add_state(ctx, def, slot, p.value);
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
    fx_optim_hparams hp = opt->hp;
    hp.lr = lr;
    hp.step = t;
    for (int i = 0; i < opt->n_slots; i++) {
        opt_slot *slot = &opt->slots[i];
        fx_param p = { 0 };
        fx_status st = optimizer_slot_param(opt, slot, &p);
        if (st != FX_OK)
            return st;
        st = slot->update(slot->backend, p.value, p.grad, slot->state_ptr, slot->n_state, &hp);
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
    return opt->def->name;
}

fx_graph *fx_optimizer_graph(const fx_optimizer *opt)
{
    return opt->graph;
}
