/* backends/cpu/cpu_registration.c - the CPU backend's registration record
 * (fx/backend.h): the context adds it to its backend table like any
 * other backend's; "cpu" always gives the context's own CPU backend. */
#include <stdio.h>
#include <string.h>

#include "core/internal.h"

static fx_status cpu_create(fx_context *ctx, const char *spec, fx_backend **out)
{
    *out = NULL;
    if (strcmp(spec, "cpu") != 0)
        return fx_fail(ctx, FX_ERR_INVALID,
                       "backend '%s': the CPU backend takes no options (write `cpu`; threads are set with "
                       "--threads)",
                       spec);
    *out = fx_context_cpu_backend(ctx);
    return FX_OK;
}

static fx_status cpu_list_devices(fx_context *ctx, FILE *out)
{
    fprintf(out, "  0  %s\n", fx_context_cpu_backend(ctx) ? fx_context_cpu_backend(ctx)->device_name : "the CPU");
    return FX_OK;
}

static fx_status cpu_register_kernels(fx_registry *reg) { return fx_cpu_register_kernels(reg); }

const fx_backend_registration *fx_cpu_backend_registration(void)
{
    static const fx_backend_registration cpu = {
        .struct_size = sizeof(fx_backend_registration),
        .name = "cpu",
        .description = "the CPU: SIMD kernels, thread pool, BLAS",
        .create = cpu_create,
        .list_devices = cpu_list_devices,
        .register_kernels = cpu_register_kernels,
        .get_proc = NULL,
    };
    return &cpu;
}
