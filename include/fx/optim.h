/* fx/optim.h - optimisers in the registry: an optimiser is a definition
 * (name, state tensors per parameter, their initial value, a check of the
 * hyper-parameters) plus one update kernel per backend, registered like
 * ops and their kernels (fx/op.h). fx registers "sgd" and "adam" with
 * kernels for "cpu" and the OpenCL module adds its own; a plugin can add
 * a new optimiser (and kernels for existing ones on its backend) with the
 * same calls. `train.optimizer: NAME` in a graph file picks one by name;
 * fx_optimizer_create (fx/train.h) looks the kernel up on each
 * parameter's backend once, so a missing one fails before training,
 * naming the optimiser and the backend.
 *
 * An update kernel updates ONE parameter tensor in place from its
 * gradient and its state tensors (all shaped like the parameter, on the
 * same backend, f32), elementwise or not as it likes. It runs on the
 * parameter's backend, so a device backend's state never leaves the
 * device. docs/plugins.md, "Writing an optimiser", has a complete
 * example. */
#ifndef FX_OPTIM_H
#define FX_OPTIM_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include "fx/context.h"
#include "fx/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FX_OPTIM_MAX_STATE 4 /* state tensors per parameter */

/* The hyper-parameters of one update, from the graph file's train:
 * section (fx_train_config, fx/config.h) and the schedule. fx fills the
 * whole struct; fields are only ever appended, and a kernel compiled
 * against an older header reads only the fields it knows. A kernel
 * compiled against a NEWER header must check struct_size
 * (FX_OPTIM_HPARAMS_HAS) before reading a field fx may not have. */
typedef struct fx_optim_hparams {
    size_t struct_size;   /* sizeof(fx_optim_hparams) as fx was compiled: ALWAYS first */
    float lr;             /* this step's learning rate (schedule and warm-up applied) */
    float momentum;       /* train.momentum */
    float weight_decay;   /* train.weight_decay */
    float beta1, beta2;   /* train.beta1, train.beta2 */
    float eps;            /* train.eps */
    int nesterov;         /* train.nesterov */
    int64_t step;         /* t of this update: 1 at the first (resumed runs continue the count) */
} fx_optim_hparams;

#define FX_OPTIM_HPARAMS_HAS(hp, field) \
    ((hp)->struct_size >= offsetof(fx_optim_hparams, field) + sizeof((hp)->field))

/* The update kernel of an optimiser on one backend: updates `param` in
 * place from `grad` and the n_state state tensors (n_state is the
 * definition's). All tensors are f32, shaped like `param`, on `be`.
 * Returns FX_OK, or an error recorded with fx_fail(be->ctx, ...). */
typedef fx_status (*fx_optim_kernel_fn)(fx_backend *be, fx_tensor *param, const fx_tensor *grad,
                                        fx_tensor *const *state, int n_state, const fx_optim_hparams *hp);

/* An optimiser definition: what does not depend on the backend. The
 * registry keeps the pointer: the definition (and its strings) must live
 * as long as the context (static data of a plugin does). */
typedef struct fx_optimizer_def {
    size_t struct_size;   /* sizeof(fx_optimizer_def) as the registering code was compiled: ALWAYS first */
    const char *name;     /* [a-z0-9_-], < 16 characters: the value of train.optimizer */
    const char *doc;      /* one line: the update rule (fxrun ops) */
    int n_state;          /* state tensors per learnable parameter, 0..FX_OPTIM_MAX_STATE */
    /* Suffixes of the state tensors' names: state k of parameter "c1.weight"
     * is "c1.weight.<state_names[k]>" in checkpoints ("velocity", "m", "v").
     * Required when n_state > 0; [a-z0-9_] each. */
    const char *const *state_names;
    /* Initial value of every element of state k; NULL: all zero. */
    const float *state_init;
    /* Optional: refuses hyper-parameters the update cannot use (a message
     * naming the train.* key and a valid value, via fx_fail(ctx, ...)).
     * Called once, by fx_optimizer_create, with step = 0 and lr = train.lr. */
    fx_status (*check)(fx_context *ctx, const fx_optim_hparams *hp);
} fx_optimizer_def;

/* Registers an optimiser definition (a name that exists is refused), and
 * the update kernel of optimiser `name` for backend `backend_name` (the
 * definition must be registered first; one kernel per pair). Inside a
 * plugin's fx_plugin_init both are part of its transaction. */
fx_status fx_registry_add_optimizer(fx_registry *reg, const fx_optimizer_def *def);
fx_status fx_registry_add_optimizer_kernel(fx_registry *reg, const char *name, const char *backend_name,
                                           fx_optim_kernel_fn update);
/* Lookups: NULL / 0 when absent. */
const fx_optimizer_def *fx_registry_find_optimizer(const fx_registry *reg, const char *name);
int fx_registry_find_optimizer_kernel(const fx_registry *reg, const char *name, const char *backend_name,
                                      fx_optim_kernel_fn *update);
int fx_registry_optimizer_count(const fx_registry *reg);
const fx_optimizer_def *fx_registry_optimizer_at(const fx_registry *reg, int index);
/* The registered update kernels, in registration order: their count, and
 * kernel `index`'s optimiser name (NULL when out of range) with its
 * backend's name in *backend_name (when backend_name is not NULL; NULL
 * when out of range). For messages that say where an optimiser runs. */
int fx_registry_optimizer_kernel_count(const fx_registry *reg);
const char *fx_registry_optimizer_kernel_at(const fx_registry *reg, int index, const char **backend_name);

/* Adam's bias corrections folded into the step size and epsilon, as fx's
 * own Adam kernels compute them (docs/design.md, "Numerics"):
 *   lr_t  = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
 *   eps_t = eps * sqrt(1 - beta2^t)
 * in double, rounded once: w -= lr_t * m / (sqrt(v) + eps_t) is then
 * exactly textbook Adam. A kernel of an Adam-like optimiser on another
 * backend calls this to get the same bits. */
static inline void fx_optim_adam_corrections(const fx_optim_hparams *hp, float *lr_t, float *eps_t)
{
    /* pow in double: at t ~ 1e6 and beta2 = 0.999, float pow would lose
     * the correction's digits. */
    double c1 = 1.0 - pow((double)hp->beta1, (double)hp->step);
    double c2 = sqrt(1.0 - pow((double)hp->beta2, (double)hp->step));
    *lr_t = (float)((double)hp->lr * c2 / c1);
    *eps_t = (float)((double)hp->eps * c2);
}

#ifdef __cplusplus
}
#endif
#endif
