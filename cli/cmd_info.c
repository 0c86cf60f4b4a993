/* cli/cmd_info.c - `fxrun devices` and `fxrun ops`. */
#include <stdio.h>
#include "cli/cli.h"
#include "fx/opencl.h"

int cli_cmd_devices(fx_context *ctx, const cli_options *o)
{
    fx_backend *cpu = fx_context_cpu_backend(ctx);
    printf("backend  index  device\n");
    printf("cpu      0      %s\n", cpu->device_name);
    printf("opencl devices (select with --backend opencl, opencl:P:D or opencl:NAME):\n");
    if (fx_opencl_list_devices(ctx, stdout) != FX_OK) {
        printf("  %s\n", fx_context_error(ctx));
        fx_context_clear_error(ctx);
    }
    /* Backends that plugins (--plugin) added. */
    for (int i = 0; i < fx_plugin_host_backend_count(o->rt->host); i++) {
        const char *name, *doc, *plugin;
        if (fx_plugin_host_backend_at(o->rt->host, i, &name, &doc, &plugin) && plugin[0])
            printf("%-8s -      %s [plugin %s]\n", name, doc, plugin);
    }
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
    fx_registry *reg = fx_context_registry(ctx);
    for (int i = 0; i < fx_registry_op_count(reg); i++) {
        const fx_op_def *op = fx_registry_op_at(reg, i);
        int has_cpu = fx_registry_find_kernel(reg, op->name, "cpu", NULL, NULL);
        int has_ocl = fx_registry_find_kernel(reg, op->name, "opencl", NULL, NULL);
        printf("%s  (%d%s input%s%s)%s\n    %s\n", op->name, op->min_inputs,
               op->max_inputs != op->min_inputs ? "+" : "", op->max_inputs == 1 ? "" : "s",
               (op->flags & FX_OP_LOSS) ? ", loss" : "", has_cpu ? (has_ocl ? "  [cpu, opencl]" : "  [cpu]") : (has_ocl ? "  [opencl]" : ""), op->doc ? op->doc : "");
        for (int a = 0; a < op->n_attrs; a++) {
            const fx_attr_spec *s = &op->attrs[a];
            printf("    %-16s %-6s %s%s%s  %s\n", s->name, type_name(s->type), s->required ? "required" : "default ",
                   s->required ? "" : (s->default_value ? s->default_value : "(none)"), "", s->doc ? s->doc : "");
        }
        for (int p = 0; p < op->n_params; p++)
            printf("    param %-10s %s, init %s\n", op->params[p].name,
                   op->params[p].learnable ? "learnable" : "state", op->params[p].init ? op->params[p].init : "zeros");
    }
    return 0;
}
