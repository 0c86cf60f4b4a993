/* tests/plugins/old_abi.c - a plugin that claims the previous ABI version
 * (what a plugin built against an older fx looks like, e.g. one whose
 * backend has no fx_backend.struct_size and whose ops table still has the
 * optimiser slots): refused before its init runs, which would otherwise
 * register op "old_abi_op". */
#include "fx/plugin.h"

FX_PLUGIN_EXPORT extern const fx_plugin_manifest fx_plugin_abi;
FX_PLUGIN_EXPORT const fx_plugin_manifest fx_plugin_abi = { FX_PLUGIN_ABI_VERSION - 1, "old-abi", "0",
                                                            "test: built for the previous ABI" };

static fx_status infer_same(fx_infer_call *call)
{
    call->out[0] = call->in[0];
    return FX_OK;
}

static const fx_op_def def = { .name = "old_abi_op", .min_inputs = 1, .max_inputs = 1, .n_outputs = 1,
                               .infer = infer_same };

fx_status fx_plugin_init(fx_plugin *plugin, int abi_version)
{
    return fx_registry_add_op(fx_plugin_registry(plugin), &def);
}
