/* tests/plugins/dup_op.c - registers an op named "relu", which fx already
 * has, with fx_registry_add_op: refused; the built-in relu stays. Built a
 * second time with DUP_BACKEND: registers a backend named "cpu" instead,
 * also refused. */
#include "fx/plugin.h"

#ifdef DUP_BACKEND
FX_PLUGIN("dup-backend", "0", "test: registers backend cpu again");
#else
FX_PLUGIN("dup-op", "0", "test: registers op relu again");
#endif

static fx_status infer_same(fx_infer_call *call)
{
    call->out[0] = call->in[0];
    return FX_OK;
}

static const fx_op_def def = { .name = "relu", .min_inputs = 1, .max_inputs = 1, .n_outputs = 1,
                               .infer = infer_same };

static fx_status backend_never(fx_context *ctx, const char *spec, fx_backend **out)
{
    *out = NULL;
    return FX_ERR_UNSUPPORTED;
}

fx_status fx_plugin_init(fx_plugin *plugin, int abi_version)
{
#ifdef DUP_BACKEND
    (void)def;
    return fx_plugin_add_backend(plugin, "cpu", "a second cpu", backend_never);
#else
    (void)backend_never;
    return fx_registry_add_op(fx_plugin_registry(plugin), &def);
#endif
}
