/* tests/plugins/no_manifest.c - a plugin with fx_plugin_init but without
 * FX_PLUGIN (so no ABI version): refused before its init runs, which
 * would otherwise register op "no_manifest_op". */
#include "fx/plugin.h"

static fx_status infer_same(fx_infer_call *call)
{
    call->out[0] = call->in[0];
    return FX_OK;
}

static const fx_op_def def = { .name = "no_manifest_op", .min_inputs = 1, .max_inputs = 1, .n_outputs = 1,
                               .infer = infer_same };

fx_status fx_plugin_init(fx_plugin *plugin, int abi_version)
{
    return fx_registry_add_op(fx_plugin_registry(plugin), &def);
}
