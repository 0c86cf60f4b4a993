/* core/registry.c - the op registry: op definitions by name and kernels
 * by (op, backend). Linear search: a few dozen ops, looked up at plan
 * time only. */
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include "core/internal.h"

void fx_registry_init(fx_registry *reg) { memset(reg, 0, sizeof *reg); }

void fx_registry_free(fx_registry *reg)
{
    free(reg->ops);
    free(reg->kernels);
    memset(reg, 0, sizeof *reg);
}

static fx_context *registry_ctx(fx_registry *reg)
{
    /* The registry is embedded in its context. */
    return (fx_context *)(void *)((char *)reg - offsetof(fx_context, registry));
}

fx_status fx_registry_add_op(fx_registry *reg, const fx_op_def *def)
{
    fx_context *ctx = registry_ctx(reg);
    if (!def || !def->name || !def->name[0] || !def->infer)
        return fx_fail(ctx, FX_ERR_INVALID, "op definition without a name or shape function");
    if (strlen(def->name) >= FX_NAME_MAX)
        return fx_fail(ctx, FX_ERR_INVALID, "op name '%s' is longer than %d characters", def->name, FX_NAME_MAX - 1);
    if (def->n_outputs < 1 || def->n_outputs > FX_MAX_IO || def->min_inputs < 0 ||
        def->max_inputs > FX_MAX_IO || def->min_inputs > def->max_inputs || def->n_params > FX_MAX_PARAMS ||
        def->n_params < 0 || def->n_attrs < 0 || def->n_attrs > 32)
        return fx_fail(ctx, FX_ERR_INVALID, "op '%s': input/output/parameter counts out of range", def->name);
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
