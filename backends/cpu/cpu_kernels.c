/* backends/cpu/cpu_kernels.c - the table of CPU kernels registered with the
 * op registry under the backend name "cpu". One line per op. */
#include "backends/cpu/cpu_backend.h"
#include "core/internal.h"

typedef struct cpu_kernel_row {
    const char *op;
    fx_kernel_fn forward, backward;
} cpu_kernel_row;

#define ROW(op) { #op, cpu_##op##_forward, cpu_##op##_backward }

static const cpu_kernel_row cpu_kernel_table[] = {
    /* BEGIN KERNEL TABLE: add one ROW(op) line per op, keep sorted by group */
    ROW(conv2d),
    ROW(linear),
    ROW(maxpool2d),
    ROW(avgpool2d),
    ROW(global_avgpool),
    ROW(batchnorm),
    ROW(relu),
    ROW(elu),
    ROW(dropout),
    ROW(resize_bilinear),
    ROW(concat),
    ROW(l2_normalize),
    ROW(add),
    ROW(mul),
    ROW(scale),
    ROW(flatten),
    ROW(reshape),
    ROW(softmax_cross_entropy),
    ROW(topk_mask),
    ROW(sad_loss),
    ROW(fad_loss),
    ROW(filter_diversity),
    ROW(occlude),
    /* END KERNEL TABLE */
    { NULL, NULL, NULL }
};

/* Backward kernels that can be a gradient's first writer
 * (FX_KERNEL_GRAD_OVERWRITE, fx_kernel_call.grad_overwrite). */
static const char *const cpu_grad_overwrite_ops[] = { "relu", "elu", "add", "scale", "flatten", "reshape", "dropout",
                                                        "batchnorm" };

fx_status fx_cpu_register_kernels(fx_registry *reg)
{
    for (const cpu_kernel_row *r = cpu_kernel_table; r->op; r++) {
        fx_status st = fx_registry_add_kernel(reg, r->op, "cpu", r->forward, r->backward);
        if (st != FX_OK)
            return st;
    }
    fx_kernel_info info = { sizeof(fx_kernel_info), FX_KERNEL_GRAD_OVERWRITE, NULL, NULL };
    for (size_t i = 0; i < sizeof cpu_grad_overwrite_ops / sizeof cpu_grad_overwrite_ops[0]; i++) {
        fx_status st = fx_registry_set_kernel_info(reg, cpu_grad_overwrite_ops[i], "cpu", &info);
        if (st != FX_OK)
            return st;
    }
    return fx_cpu_register_optimizer_kernels(reg);
}
