/* tests/plugins/init_fails.c - a plugin whose init registers an op with a
 * CPU kernel, a kernel for the built-in relu on its backend, a backend,
 * an OpenCL program (a backend resource), an optimiser and an update
 * kernel of sgd for its backend, and then fails (as when a later step finds the
 * machine unsuitable): fx must remove all of it. Built a second time with
 * IGNORE_FAILURE: then it registers the built-in name "relu", ignores
 * the refusal and returns FX_OK, which fx must refuse too. */
#include "fx/opencl.h"
#include "fx/plugin.h"

#ifdef IGNORE_FAILURE
FX_PLUGIN("ignores-failure", "0", "test: ignores a failed registration");
#else
FX_PLUGIN("init-fails", "0", "test: init fails after registering");
#endif

static fx_status infer_same(fx_infer_call *call)
{
    call->out[0] = call->in[0];
    return FX_OK;
}

static fx_status kernel_nothing(const fx_kernel_call *call) { return FX_OK; }

static fx_status backend_never(fx_context *ctx, const char *spec, fx_backend **out)
{
    *out = NULL;
    return fx_fail(ctx, FX_ERR_UNSUPPORTED, "half backend");
}

static const fx_op_def half_def = { .name = "half_op", .min_inputs = 1, .max_inputs = 1, .n_outputs = 1,
                                    .infer = infer_same };
static const fx_op_def relu_again = { .name = "relu", .min_inputs = 1, .max_inputs = 1, .n_outputs = 1,
                                      .infer = infer_same };
static const char *const kernels[] = { "k", NULL };
static const fx_optimizer_def half_optim = { .struct_size = sizeof(fx_optimizer_def), .name = "half_optim" };
static fx_status half_update(fx_backend *be, fx_tensor *w, const fx_tensor *g, fx_tensor *const *state, int n_state,
                             const fx_optim_hparams *hp)
{
    return FX_OK;
}
static const fx_opencl_program program = { "init_fails.cl", "__kernel void k(void) {}", NULL, kernels };

fx_status fx_plugin_init(fx_plugin *plugin, int abi_version)
{
    fx_registry *reg = fx_plugin_registry(plugin);
    fx_status st = fx_registry_add_op(reg, &half_def);
    if (st == FX_OK)
        st = fx_registry_add_kernel(reg, "half_op", "cpu", kernel_nothing, kernel_nothing);
    if (st == FX_OK)
        st = fx_registry_add_kernel(reg, "relu", "half", kernel_nothing, kernel_nothing);
    if (st == FX_OK)
        st = fx_plugin_add_backend(plugin, "half", "never committed", backend_never);
    if (st == FX_OK)
        st = fx_plugin_add_opencl_program(plugin, &program);
    if (st == FX_OK)
        st = fx_registry_add_optimizer(reg, &half_optim);
    if (st == FX_OK)
        st = fx_registry_add_optimizer_kernel(reg, "sgd", "half", half_update);
    if (st != FX_OK)
        return st;
#ifdef IGNORE_FAILURE
    (void)fx_registry_add_op(reg, &relu_again);
    return FX_OK;
#else
    (void)relu_again;
    return fx_fail(fx_plugin_context(plugin), FX_ERR_UNSUPPORTED,
                   "init-fails: this machine lacks the frobnicator the plugin needs");
#endif
}
