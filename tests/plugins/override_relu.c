/* tests/plugins/override_relu.c - replaces the built-in relu with one
 * whose CPU kernel writes 2x (so a test can see which relu ran), through
 * fx_plugin_override_op: refused unless the user allows overrides. Built
 * a second time with FAIL_AFTER: replaces relu, then fails, and fx must
 * put the built-in relu and its kernels back. */
#include "fx/fx.h"
#include "fx/plugin.h"

#ifdef FAIL_AFTER
FX_PLUGIN("override-then-fail", "0", "test: replaces relu, then fails");
#else
FX_PLUGIN("override-relu", "0", "test: replaces relu by y = 2x");
#endif

static fx_status infer_same(fx_infer_call *call)
{
    call->out[0] = call->in[0];
    return FX_OK;
}

static fx_status twice_forward(const fx_kernel_call *call)
{
    const float *x = fx_tensor_f32(call->in[0]);
    float *y = fx_tensor_f32(call->out[0]);
    for (int64_t i = 0; i < fx_tensor_numel(call->out[0]); i++)
        y[i] = 2.0f * x[i];
    return FX_OK;
}

static const fx_op_def def = { .name = "relu", .doc = "test: y = 2x", .min_inputs = 1, .max_inputs = 1,
                               .n_outputs = 1, .infer = infer_same };

fx_status fx_plugin_init(fx_plugin *plugin, int abi_version)
{
    fx_status st = fx_plugin_override_op(plugin, &def);
    if (st == FX_OK)
        st = fx_registry_add_kernel(fx_plugin_registry(plugin), "relu", "cpu", twice_forward, NULL);
#ifdef FAIL_AFTER
    if (st == FX_OK)
        st = fx_fail(fx_plugin_context(plugin), FX_ERR_INVALID, "override-then-fail: failing on purpose");
#endif
    return st;
}
