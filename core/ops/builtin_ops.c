/* core/ops/builtin_ops.c - registers the built-in op definitions. Each op
 * lives in its own file (core/ops/<op>.c) exporting `const fx_op_def
 * fx_op_<name>`; the list and its order are core/ops/op_list.h. */
#include "core/internal.h"
#include "core/ops/ops.h"

static const fx_op_def *const builtin_ops[] = {
#define FX_OP(name) &fx_op_##name,
#include "core/ops/op_list.h"
#undef FX_OP
    NULL
};

fx_status fx_register_builtin_ops(fx_registry *reg)
{
    for (int i = 0; builtin_ops[i]; i++) {
        fx_status st = fx_registry_add_op(reg, builtin_ops[i]);
        if (st != FX_OK)
            return st;
    }
    return FX_OK;
}
