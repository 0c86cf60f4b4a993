/* core/engine/registry.c - the op registry: op definitions by name and kernels
 * by (op, backend), and in the same way optimiser definitions by name and
 * their update kernels by (optimiser, backend) (fx/optim.h). Linear
 * search: a few dozen entries, looked up at plan time only. */
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include "core/internal.h"

void fx_registry_init(fx_registry *reg) { memset(reg, 0, sizeof *reg); }

void fx_registry_free(fx_registry *reg)
{
    free(reg->ops);
    free(reg->kernels);
    free(reg->optimizers);
    free(reg->optim_kernels);
    memset(reg, 0, sizeof *reg);
}

static fx_context *registry_ctx(fx_registry *reg)
{
    /* The registry is embedded in its context. */
    return (fx_context *)(void *)((char *)reg - offsetof(fx_context, registry));
}

fx_status fx_op_def_check_counts(fx_context *ctx, const fx_op_def *def)
{
    if (def->n_outputs < 1 || def->n_outputs > FX_MAX_IO)
        return fx_fail(ctx, FX_ERR_INVALID, "op '%s' declares %d outputs; n_outputs must be 1 to FX_MAX_IO (%d)",
                       def->name, def->n_outputs, FX_MAX_IO);
    if (def->min_inputs < 0 || def->max_inputs > FX_MAX_INPUTS || def->min_inputs > def->max_inputs)
        return fx_fail(ctx, FX_ERR_INVALID,
                       "op '%s' declares inputs %d to %d; they must satisfy 0 <= min_inputs <= max_inputs <= "
                       "FX_MAX_INPUTS (%d)", def->name, def->min_inputs, def->max_inputs, FX_MAX_INPUTS);
    if (def->n_params < 0 || def->n_params > FX_MAX_PARAMS)
        return fx_fail(ctx, FX_ERR_INVALID, "op '%s' declares %d parameters; n_params must be 0 to FX_MAX_PARAMS (%d)",
                       def->name, def->n_params, FX_MAX_PARAMS);
    if (def->n_attrs < 0 || def->n_attrs > FX_OP_MAX_ATTRS)
        return fx_fail(ctx, FX_ERR_INVALID, "op '%s' declares %d attributes; n_attrs must be 0 to %d", def->name,
                       def->n_attrs, FX_OP_MAX_ATTRS);
    return FX_OK;
}

fx_status fx_registry_add_op(fx_registry *reg, const fx_op_def *def)
{
    fx_context *ctx = registry_ctx(reg);
    if (!def || !def->name || !def->name[0] || !def->infer)
        return fx_fail(ctx, FX_ERR_INVALID, "op definition without a name or shape function");
    if (strlen(def->name) >= FX_NAME_MAX)
        return fx_fail(ctx, FX_ERR_INVALID, "op name '%s' is longer than %d characters", def->name, FX_NAME_MAX - 1);
    fx_status st = fx_op_def_check_counts(ctx, def);
    if (st != FX_OK)
        return st;
    if (fx_registry_find_op(reg, def->name))
        return fx_fail(ctx, FX_ERR_INVALID, "op '%s' is already registered", def->name);
    if (reg->n_ops == reg->cap_ops) {
        int cap = reg->cap_ops ? reg->cap_ops * 2 : 32;
        const fx_op_def **ops = realloc(reg->ops, (size_t)cap * sizeof *ops);
        if (!ops)
            return fx_fail(ctx, FX_ERR_NOMEM, "out of memory registering op '%s'", def->name);
        reg->ops = ops;
        reg->cap_ops = cap;
    }
    reg->ops[reg->n_ops++] = def;
    return FX_OK;
}

fx_status fx_registry_add_kernel(fx_registry *reg, const char *op_name, const char *backend_name,
                                 fx_kernel_fn forward, fx_kernel_fn backward)
{
    fx_context *ctx = registry_ctx(reg);
    if (!fx_registry_find_op(reg, op_name))
        return fx_fail(ctx, FX_ERR_INVALID, "kernel for unknown op '%s' (register the op first)", op_name);
    if (!forward || strlen(backend_name) >= 32)
        return fx_fail(ctx, FX_ERR_INVALID, "kernel for op '%s': missing forward or bad backend name", op_name);
    for (int i = 0; i < reg->n_kernels; i++)
        if (!strcmp(reg->kernels[i].op, op_name) && !strcmp(reg->kernels[i].backend, backend_name))
            return fx_fail(ctx, FX_ERR_INVALID, "op '%s' already has a kernel for backend '%s'", op_name,
                           backend_name);
    if (reg->n_kernels == reg->cap_kernels) {
        int cap = reg->cap_kernels ? reg->cap_kernels * 2 : 64;
        fx_kernel_entry *k = realloc(reg->kernels, (size_t)cap * sizeof *k);
        if (!k)
            return fx_fail(ctx, FX_ERR_NOMEM, "out of memory registering a kernel for '%s'", op_name);
        reg->kernels = k;
        reg->cap_kernels = cap;
    }
    fx_kernel_entry *e = &reg->kernels[reg->n_kernels++];
    memset(e, 0, sizeof *e);
    snprintf(e->op, sizeof e->op, "%s", op_name);
    snprintf(e->backend, sizeof e->backend, "%s", backend_name);
    e->forward = forward;
    e->backward = backward;
    return FX_OK;
}

fx_status fx_registry_set_kernel_info(fx_registry *reg, const char *op_name, const char *backend_name,
                                      const fx_kernel_info *info)
{
    fx_context *ctx = registry_ctx(reg);
    if (!info || info->struct_size < offsetof(fx_kernel_info, release) + sizeof info->release)
        return fx_fail(ctx, FX_ERR_INVALID, "kernel info for op '%s' on '%s': set struct_size = "
                       "sizeof(fx_kernel_info)", op_name, backend_name);
    if (info->flags & ~FX_KERNEL_GRAD_OVERWRITE)
        return fx_fail(ctx, FX_ERR_INVALID, "kernel info for op '%s' on '%s': unknown flags 0x%x", op_name,
                       backend_name, info->flags & ~FX_KERNEL_GRAD_OVERWRITE);
    for (int i = 0; i < reg->n_kernels; i++)
        if (!strcmp(reg->kernels[i].op, op_name) && !strcmp(reg->kernels[i].backend, backend_name)) {
            if (i < fx_plugin_loading_kernels0(ctx))
                return fx_fail(ctx, FX_ERR_INVALID, "plugin '%s': kernel info for op '%s' on '%s': a plugin may set "
                               "the extras of the kernels it registers only", fx_plugin_loading_name(ctx), op_name,
                               backend_name);
            fx_kernel_info *e = &reg->kernels[i].info;
            memset(e, 0, sizeof *e);
            e->struct_size = sizeof *e;
            e->flags = info->flags;
            e->prepare = info->prepare;
            e->release = info->release;
            return FX_OK;
        }
    return fx_fail(ctx, FX_ERR_INVALID, "kernel info for op '%s' on '%s': register the kernel first", op_name,
                   backend_name);
}

int fx_registry_find_kernel_info(const fx_registry *reg, const char *op_name, const char *backend_name,
                                 fx_kernel_info *info)
{
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
    for (int i = 0; i < reg->n_kernels; i++)
        if (!strcmp(reg->kernels[i].op, op_name) && !strcmp(reg->kernels[i].backend, backend_name)) {
            if (reg->kernels[i].info.struct_size)
                *info = reg->kernels[i].info;
            return 1;
        }
    return 0;
}

const fx_op_def *fx_registry_find_op(const fx_registry *reg, const char *name)
{
    for (int i = 0; i < reg->n_ops; i++)
        if (!strcmp(reg->ops[i]->name, name))
            return reg->ops[i];
    return NULL;
}

int fx_registry_find_kernel(const fx_registry *reg, const char *op_name, const char *backend_name,
                            fx_kernel_fn *forward, fx_kernel_fn *backward)
{
    for (int i = 0; i < reg->n_kernels; i++)
        if (!strcmp(reg->kernels[i].op, op_name) && !strcmp(reg->kernels[i].backend, backend_name)) {
            if (forward)
                *forward = reg->kernels[i].forward;
            if (backward)
                *backward = reg->kernels[i].backward;
            return 1;
        }
    return 0;
}

int fx_registry_op_count(const fx_registry *reg) { return reg->n_ops; }
const fx_op_def *fx_registry_op_at(const fx_registry *reg, int index)
{
    return index >= 0 && index < reg->n_ops ? reg->ops[index] : NULL;
}

/* ---- optimisers (fx/optim.h) ------------------------------------------- */

static int optim_name_ok(const char *s)
{
    if (!s || !s[0] || strlen(s) >= 16) /* fx_train_config.optimizer holds 15 */
        return 0;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
            return 0;
    return 1;
}

static int state_name_ok(const char *s)
{
    if (!s || !s[0] || strlen(s) >= 32)
        return 0;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return 0;
    return 1;
}

fx_status fx_registry_add_optimizer(fx_registry *reg, const fx_optimizer_def *def)
{
    fx_context *ctx = registry_ctx(reg);
    /* A zero or garbage size means the record was not built from this
     * header: refuse rather than read fields it may not have. */
    if (!def || def->struct_size < offsetof(fx_optimizer_def, check) || def->struct_size > 4096)
        return fx_fail(ctx, FX_ERR_INVALID,
                       "optimiser definition without a valid struct_size (%zu): set .struct_size = "
                       "sizeof(fx_optimizer_def) and build against this fx's fx/optim.h",
                       def ? def->struct_size : (size_t)0);
    if (!optim_name_ok(def->name))
        return fx_fail(ctx, FX_ERR_INVALID,
                       "optimiser name '%s' is not valid: use 1 to 15 characters of a-z, 0-9, '_' and '-' (it is "
                       "what train.optimizer names)",
                       def->name ? def->name : "(null)");
    if (def->n_state < 0 || def->n_state > FX_OPTIM_MAX_STATE)
        return fx_fail(ctx, FX_ERR_INVALID, "optimiser '%s': n_state %d is out of range (0 to %d)", def->name,
                       def->n_state, FX_OPTIM_MAX_STATE);
    for (int k = 0; k < def->n_state; k++)
        if (!def->state_names || !state_name_ok(def->state_names[k]))
            return fx_fail(ctx, FX_ERR_INVALID,
                           "optimiser '%s': state %d needs a name (state_names[%d]: 1 to 31 characters of a-z, 0-9 "
                           "and '_'; it names the tensor in checkpoints)",
                           def->name, k, k);
    if (fx_registry_find_optimizer(reg, def->name))
        return fx_fail(ctx, FX_ERR_INVALID, "optimiser '%s' is already registered; choose another name",
                       def->name);
    if (reg->n_optimizers == reg->cap_optimizers) {
        int cap = reg->cap_optimizers ? reg->cap_optimizers * 2 : 8;
        const fx_optimizer_def **o = realloc(reg->optimizers, (size_t)cap * sizeof *o);
        if (!o)
            return fx_fail(ctx, FX_ERR_NOMEM, "out of memory registering optimiser '%s'", def->name);
        reg->optimizers = o;
        reg->cap_optimizers = cap;
    }
    reg->optimizers[reg->n_optimizers++] = def;
    return FX_OK;
}

fx_status fx_registry_add_optimizer_kernel(fx_registry *reg, const char *name, const char *backend_name,
                                           fx_optim_kernel_fn update)
{
    fx_context *ctx = registry_ctx(reg);
    if (!name || !fx_registry_find_optimizer(reg, name))
        return fx_fail(ctx, FX_ERR_INVALID,
                       "update kernel for unknown optimiser '%s' (register the optimiser first with "
                       "fx_registry_add_optimizer)",
                       name ? name : "(null)");
    if (!update || !backend_name || !backend_name[0] || strlen(backend_name) >= 32)
        return fx_fail(ctx, FX_ERR_INVALID, "update kernel of optimiser '%s': missing function or bad backend name",
                       name);
    if (fx_registry_find_optimizer_kernel(reg, name, backend_name, NULL))
        return fx_fail(ctx, FX_ERR_INVALID, "optimiser '%s' already has an update kernel for backend '%s'", name,
                       backend_name);
    if (reg->n_optim_kernels == reg->cap_optim_kernels) {
        int cap = reg->cap_optim_kernels ? reg->cap_optim_kernels * 2 : 8;
        fx_optim_kernel_entry *k = realloc(reg->optim_kernels, (size_t)cap * sizeof *k);
        if (!k)
            return fx_fail(ctx, FX_ERR_NOMEM, "out of memory registering an update kernel for '%s'", name);
        reg->optim_kernels = k;
        reg->cap_optim_kernels = cap;
    }
    fx_optim_kernel_entry *e = &reg->optim_kernels[reg->n_optim_kernels++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->backend, sizeof e->backend, "%s", backend_name);
    e->update = update;
    return FX_OK;
}

const fx_optimizer_def *fx_registry_find_optimizer(const fx_registry *reg, const char *name)
{
    for (int i = 0; name && i < reg->n_optimizers; i++)
        if (!strcmp(reg->optimizers[i]->name, name))
            return reg->optimizers[i];
    return NULL;
}

int fx_registry_find_optimizer_kernel(const fx_registry *reg, const char *name, const char *backend_name,
                                      fx_optim_kernel_fn *update)
{
    for (int i = 0; i < reg->n_optim_kernels; i++)
        if (!strcmp(reg->optim_kernels[i].name, name) && !strcmp(reg->optim_kernels[i].backend, backend_name)) {
            if (update)
                *update = reg->optim_kernels[i].update;
            return 1;
        }
    return 0;
}

int fx_registry_optimizer_count(const fx_registry *reg) { return reg->n_optimizers; }
int fx_registry_optimizer_kernel_count(const fx_registry *reg) { return reg->n_optim_kernels; }
const char *fx_registry_optimizer_kernel_at(const fx_registry *reg, int index, const char **backend_name)
{
    int ok = index >= 0 && index < reg->n_optim_kernels;
    if (backend_name)
        *backend_name = ok ? reg->optim_kernels[index].backend : NULL;
    return ok ? reg->optim_kernels[index].name : NULL;
}
const fx_optimizer_def *fx_registry_optimizer_at(const fx_registry *reg, int index)
{
    return index >= 0 && index < reg->n_optimizers ? reg->optimizers[index] : NULL;
}
