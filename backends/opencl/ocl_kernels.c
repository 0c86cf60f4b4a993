/* backends/opencl/ocl_kernels.c - the table of OpenCL kernels registered
 * with the op registry under the backend name "opencl". One line per op;
 * an op missing here has no OpenCL kernel (planning on OpenCL then fails
 * naming the node). */
#include "backends/opencl/ocl_backend.h"

typedef struct ocl_kernel_row {
    const char *op;
    fx_kernel_fn forward, backward;
} ocl_kernel_row;

#define ROW(op) { #op, ocl_##op##_forward, ocl_##op##_backward }

static const ocl_kernel_row ocl_kernel_table[] = {
    ROW(relu),
    ROW(elu),
    ROW(add),
    ROW(mul),
    ROW(scale),
    ROW(flatten),
    ROW(reshape),
    ROW(dropout),
    ROW(softmax_cross_entropy),
    ROW(linear),
    ROW(conv2d),
    ROW(maxpool2d),
    ROW(avgpool2d),
    ROW(global_avgpool),
    ROW(batchnorm),
    ROW(l2_normalize),
    ROW(concat),
    ROW(resize_bilinear),
    ROW(topk_mask),
    ROW(sad_loss),
    ROW(fad_loss),
    ROW(filter_diversity),
    ROW(occlude),
    { NULL, NULL, NULL }
};

/* The kernels' extras (fx_kernel_info): backward kernels that can be a
 * gradient's first writer (FX_KERNEL_GRAD_OVERWRITE), and plan-time
 * state. */
static const struct {
    const char *op;
    fx_kernel_info info;
} ocl_kernel_info_table[] = {
#define OVERWRITE { sizeof(fx_kernel_info), FX_KERNEL_GRAD_OVERWRITE, NULL, NULL }
    { "relu", OVERWRITE },
    { "elu", OVERWRITE },
    { "add", OVERWRITE },
    { "scale", OVERWRITE },
    { "flatten", OVERWRITE },
    { "reshape", OVERWRITE },
    { "dropout", OVERWRITE },
    { "batchnorm", OVERWRITE },
#undef OVERWRITE
    { "resize_bilinear", { sizeof(fx_kernel_info), 0, ocl_resize_bilinear_prepare, ocl_resize_bilinear_release } },
};

fx_status ocl_register_kernels(fx_registry *reg)
{
    for (const ocl_kernel_row *r = ocl_kernel_table; r->op; r++) {
        fx_status st = fx_registry_add_kernel(reg, r->op, "opencl", r->forward, r->backward);
        if (st != FX_OK)
            return st;
    }
    for (size_t i = 0; i < sizeof ocl_kernel_info_table / sizeof ocl_kernel_info_table[0]; i++) {
        fx_status st = fx_registry_set_kernel_info(reg, ocl_kernel_info_table[i].op, "opencl",
                                                   &ocl_kernel_info_table[i].info);
        if (st != FX_OK)
            return st;
    }
    fx_status st = fx_registry_add_optimizer_kernel(reg, "sgd", "opencl", ocl_sgd_update);
    if (st == FX_OK)
        st = fx_registry_add_optimizer_kernel(reg, "adam", "opencl", ocl_adam_update);
    return st;
}
