/* backends/opencl/ocl_linear.c - linear on OpenCL (op: core/ops/linear.c):
 *   forward   y[N, O]  = b (bias_rows) then += x[N, I] W[O, I]^T  (ocl_gemm)
 *   backward  dx      += dy W;  dW += dy^T x;  db += column sums of dy
 * Bias absent (bias: false): param[1] is NULL. */
#include "backends/opencl/ocl_backend.h"

fx_status ocl_linear_forward(const fx_kernel_call *call)
{
    fx_backend *be = call->backend;
    const fx_tensor *x = call->in[0], *w = call->param[0];
    fx_tensor *y = call->out[0];
    size_t n = (size_t)x->shape.dim[0], out = (size_t)w->shape.dim[0], in = (size_t)w->shape.dim[1];
    float beta = 0.0f;
    if (call->n_params > 1 && ocl_has_tensor(call->param[1])) {
        ocl_args a;
        fx_status st = ocl_args_begin(be, "conv.cl", "bias_rows", &a);
        if (st != FX_OK)
            return st;
        ocl_arg_tensor(&a, y);
        ocl_arg_tensor(&a, call->param[1]);
        ocl_arg_int(&a, (int)n);
        ocl_arg_int(&a, (int)out);
        st = ocl_launch_1d(be, &a, n * out, 0, "bias_rows");
        if (st != FX_OK)
            return st;
        beta = 1.0f;
    }
    return ocl_gemm(be, 0, 1, n, out, in, 1.0f, ocl_mem(x), ocl_elem_offset(x), in, ocl_mem(w), ocl_elem_offset(w),
                    in, beta, ocl_mem(y), ocl_elem_offset(y), out, fx_node_name(call->node));
}

fx_status ocl_linear_backward(const fx_kernel_call *call)
{
    fx_backend *be = call->backend;
    const fx_tensor *x = call->in[0], *w = call->param[0], *dy = call->grad_out[0];
    size_t n = (size_t)x->shape.dim[0], out = (size_t)w->shape.dim[0], in = (size_t)w->shape.dim[1];
    fx_tensor *dx = call->grad_in ? call->grad_in[0] : NULL;
    fx_tensor *dw = call->param_grad ? call->param_grad[0] : NULL;
    fx_tensor *db = call->param_grad && call->n_params > 1 ? call->param_grad[1] : NULL;
    const char *what = fx_node_name(call->node);
    fx_status st = FX_OK;
    if (ocl_has_tensor(dx))
        st = ocl_gemm(be, 0, 0, n, in, out, 1.0f, ocl_mem(dy), ocl_elem_offset(dy), out, ocl_mem(w),
                      ocl_elem_offset(w), in, 1.0f, ocl_mem(dx), ocl_elem_offset(dx), in, what);
    if (st == FX_OK && ocl_has_tensor(dw))
        st = ocl_gemm(be, 1, 0, out, in, n, 1.0f, ocl_mem(dy), ocl_elem_offset(dy), out, ocl_mem(x),
                      ocl_elem_offset(x), in, 1.0f, ocl_mem(dw), ocl_elem_offset(dw), in, what);
    if (st == FX_OK && ocl_has_tensor(db))
        st = ocl_channel_sum(be, dy, db, (int)n, (int)out, 1, 1.0f);
    return st;
}
