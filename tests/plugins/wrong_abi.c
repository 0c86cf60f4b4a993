/* tests/plugins/wrong_abi.c - a plugin that claims the next ABI version
 * (what a plugin built against a newer fx looks like): refused before its
 * init runs, which would otherwise register op "wrong_abi_op". */
#include "fx/plugin.h"

FX_PLUGIN_EXPORT extern const fx_plugin_manifest fx_plugin_abi;
FX_PLUGIN_EXPORT const fx_plugin_manifest fx_plugin_abi = { FX_PLUGIN_ABI_VERSION + 1, "wrong-abi", "0",
                                                            "test: built for another ABI" };

static fx_status infer_same(fx_infer_call *call)
{
    call->out[0] = call->in[0];
    return FX_OK;
}

static const fx_op_def def = { .name = "wrong_abi_op", .min_inputs = 1, .max_inputs = 1, .n_outputs = 1,
                               .infer = infer_same };

fx_status fx_plugin_init(fx_plugin *plugin, int abi_version)
{
    return fx_registry_add_op(fx_plugin_registry(plugin), &def);
}
