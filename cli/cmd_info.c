/* cli/cmd_info.c - `fxrun devices` and `fxrun ops`. Both load every
 * backend module fx can find first (fx_context_load_all_backends), so they
 * show what this installation can run on, not only what is loaded. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include "cli/cli.h"

int cli_cmd_devices(fx_context *ctx, const cli_options *o)
{
    (void)o;
    /* A module that cannot be loaded (no OpenCL loader on this machine)
     * is reported here, where the user asked, and nowhere else. */
    char *why = NULL;
    size_t why_len = 0;
    FILE *report = open_memstream(&why, &why_len);
    fx_context_load_all_backends(ctx, report);
    if (report)
        fclose(report);
    for (int i = 0; i < fx_context_backend_count(ctx); i++) {
        const char *name, *doc, *plugin;
        fx_context_backend_at(ctx, i, &name, &doc, &plugin);
        const fx_backend_registration *r = fx_context_find_backend(ctx, name);
        printf("%s: %s%s%s%s\n", name, doc, plugin[0] ? " [plugin " : "", plugin, plugin[0] ? "]" : "");
        if (r && r->list_devices && r->list_devices(ctx, stdout) != FX_OK) {
            printf("  %s\n", fx_context_error(ctx));
            fx_context_clear_error(ctx);
        }
    }
    if (why && why[0])
        printf("not available:\n%s", why);
    free(why);
    return 0;
}

static const char *type_name(fx_attr_type t)
{
    switch (t) {
    case FX_ATTR_INT: return "int";
    case FX_ATTR_FLOAT: return "float";
    case FX_ATTR_BOOL: return "bool";
    case FX_ATTR_STRING: return "string";
    case FX_ATTR_INTS: return "ints";
    }
    return "?";
}

int cli_cmd_ops(fx_context *ctx, const cli_options *o)
{
    (void)o;
    fx_context_load_all_backends(ctx, NULL); /* their kernels too (quietly: `fxrun devices` says why not) */
    fx_registry *reg = fx_context_registry(ctx);
    for (int i = 0; i < fx_registry_op_count(reg); i++) {
        const fx_op_def *op = fx_registry_op_at(reg, i);
        /* The backends with a kernel for it, as "  [cpu, opencl]". */
        char kernels[256] = "";
        size_t used = 0;
        for (int b = 0; b < fx_context_backend_count(ctx); b++) {
            const char *name;
            fx_context_backend_at(ctx, b, &name, NULL, NULL);
            if (!fx_registry_find_kernel(reg, op->name, name, NULL, NULL))
                continue;
            int w = snprintf(kernels + used, sizeof kernels - used, "%s%s", used ? ", " : "  [", name);
            if (w > 0 && (size_t)w < sizeof kernels - used)
                used += (size_t)w;
        }
        if (used && used + 1 < sizeof kernels)
            strcat(kernels, "]");
        printf("%s  (%d%s input%s%s)%s\n    %s\n", op->name, op->min_inputs,
               op->max_inputs != op->min_inputs ? "+" : "", op->max_inputs == 1 ? "" : "s",
               (op->flags & FX_OP_LOSS) ? ", loss" : "", kernels, op->doc ? op->doc : "");
        for (int a = 0; a < op->n_attrs; a++) {
            const fx_attr_spec *s = &op->attrs[a];
            printf("    %-16s %-6s %s%s%s  %s\n", s->name, type_name(s->type), s->required ? "required" : "default ",
                   s->required ? "" : (s->default_value ? s->default_value : "(none)"), "", s->doc ? s->doc : "");
        }
        for (int p = 0; p < op->n_params; p++)
            printf("    param %-10s %s, init %s\n", op->params[p].name,
                   op->params[p].learnable ? "learnable" : "state", op->params[p].init ? op->params[p].init : "zeros");
    }
    /* Optimisers (fx/optim.h): train.optimizer names one of these. */
    for (int i = 0; i < fx_registry_optimizer_count(reg); i++) {
        const fx_optimizer_def *d = fx_registry_optimizer_at(reg, i);
        char kernels[256] = "";
        size_t used = 0;
        for (int b = 0; b < fx_context_backend_count(ctx); b++) {
            const char *name;
            fx_context_backend_at(ctx, b, &name, NULL, NULL);
            if (!fx_registry_find_optimizer_kernel(reg, d->name, name, NULL))
                continue;
            int w = snprintf(kernels + used, sizeof kernels - used, "%s%s", used ? ", " : "  [", name);
            if (w > 0 && (size_t)w < sizeof kernels - used)
                used += (size_t)w;
        }
        if (used && used + 1 < sizeof kernels)
            strcat(kernels, "]");
        printf("optimizer %s  (%d state tensor%s)%s\n    %s\n", d->name, d->n_state, d->n_state == 1 ? "" : "s",
               kernels, d->doc ? d->doc : "");
    }
    return 0;
}
