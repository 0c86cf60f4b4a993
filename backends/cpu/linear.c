/* backends/cpu/linear.c - CPU kernels of linear (op: core/ops/linear.c):
 *   forward   y[N, O]   = x[N, I] W[O, I]^T + b
 *   backward  dx[N, I] += dy[N, O] W[O, I]
 *             dW[O, I] += dy^T[O, N] x[N, I]
 *             db[O]    += column sums of dy
 * Each product is one GEMM split over the thread pool (cpu_gemm_parallel).
 * Bias: the executor passes param[1] == NULL (and param_grad[1] == NULL)
 * when bias is false; that is what these kernels test. */
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/gemm.h"

fx_status cpu_linear_forward(const fx_kernel_call *call)
{
    const fx_tensor *x = call->in[0];
    const fx_tensor *w = call->param[0];
    int64_t n = x->shape.dim[0];
    int64_t out = w->shape.dim[0], in = w->shape.dim[1];
    float *y = fx_tensor_f32(call->out[0]);
    float beta = 0.0f;
    if (call->n_params > 1 && cpu_tensor_present(call->param[1])) {
        const float *b = fx_tensor_f32(call->param[1]);
        for (int64_t i = 0; i < n; i++)
            for (int64_t o = 0; o < out; o++)
                y[i * out + o] = b[o];
        beta = 1.0f;
    }
    return cpu_gemm_parallel(call->backend, 0, 1, n, out, in, 1.0f, fx_tensor_f32(x), in, fx_tensor_f32(w), in, beta,
                             y, out);
}

fx_status cpu_linear_backward(const fx_kernel_call *call)
{
    const fx_tensor *x = call->in[0];
    const fx_tensor *w = call->param[0];
    int64_t n = x->shape.dim[0];
    int64_t out = w->shape.dim[0], in = w->shape.dim[1];
    const float *dy = fx_tensor_f32(call->grad_out[0]);
    fx_tensor *dx = call->grad_in ? call->grad_in[0] : NULL;
    fx_tensor *dw = call->param_grad ? call->param_grad[0] : NULL;
    fx_tensor *db = call->param_grad && call->n_params > 1 ? call->param_grad[1] : NULL;
    fx_status st = FX_OK;
    if (cpu_tensor_present(dx))
        st = cpu_gemm_parallel(call->backend, 0, 0, n, in, out, 1.0f, dy, out, fx_tensor_f32(w), in, 1.0f,
                               fx_tensor_f32(dx), in);
    if (st == FX_OK && cpu_tensor_present(dw))
        st = cpu_gemm_parallel(call->backend, 1, 0, out, in, n, 1.0f, dy, out, fx_tensor_f32(x), in, 1.0f,
                               fx_tensor_f32(dw), in);
    if (st == FX_OK && cpu_tensor_present(db)) {
        float *g = fx_tensor_f32(db);
        for (int64_t i = 0; i < n; i++)
            for (int64_t o = 0; o < out; o++)
                g[o] += dy[i * out + o];
    }
    return st;
}
