/* plugins/ref/ref_kernels.c - scalar kernels of the ref backend: each the
 * formula of its op written out, one thread, sums in double (see the op
 * definitions in fx's core/ops/). Backward kernels accumulate (+=) into
 * the gradients, and skip those that are NULL, as fx/op.h requires. */
#include <math.h>

#include "ref.h"

/* ---- relu: y = max(x, 0); dx += y > 0 ? g : 0 (reads y: may run in place) */

static fx_status relu_forward(const fx_kernel_call *call)
{
    const float *x = fx_tensor_f32(call->in[0]);
    float *y = fx_tensor_f32(call->out[0]);
    const int64_t count = fx_tensor_numel(call->out[0]);
    for (int64_t i = 0; i < count; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    return FX_OK;
}

static fx_status relu_backward(const fx_kernel_call *call)
{
    if (!call->grad_in[0])
        return FX_OK;
    const float *y = fx_tensor_f32(call->out[0]), *g = fx_tensor_f32(call->grad_out[0]);
    float *gx = fx_tensor_f32(call->grad_in[0]);
    const int64_t count = fx_tensor_numel(call->out[0]);
    for (int64_t i = 0; i < count; i++)
        gx[i] += y[i] > 0.0f ? g[i] : 0.0f;
    return FX_OK;
}

/* ---- linear: y[n,o] = sum_i x[n,i] W[o,i] + b[o]; x [N, ...] read as [N, I] */

static fx_status linear_forward(const fx_kernel_call *call)
{
    const int64_t n_rows = call->out[0]->shape.dim[0], outs = call->out[0]->shape.dim[1];
    const int64_t ins = fx_tensor_numel(call->in[0]) / n_rows;
    const float *x = fx_tensor_f32(call->in[0]), *w = fx_tensor_f32(call->param[0]);
    const float *b = call->n_params > 1 && call->param[1] ? fx_tensor_f32(call->param[1]) : NULL;
    float *y = fx_tensor_f32(call->out[0]);
    for (int64_t n = 0; n < n_rows; n++)
        for (int64_t o = 0; o < outs; o++) {
            double acc = b ? b[o] : 0.0;
            for (int64_t i = 0; i < ins; i++)
                acc += (double)x[n * ins + i] * (double)w[o * ins + i];
            y[n * outs + o] = (float)acc;
        }
    return FX_OK;
}

/* dx[n,i] += sum_o g[n,o] W[o,i];  dW[o,i] += sum_n g[n,o] x[n,i];
 * db[o] += sum_n g[n,o] */
static fx_status linear_backward(const fx_kernel_call *call)
{
    const int64_t n_rows = call->out[0]->shape.dim[0], outs = call->out[0]->shape.dim[1];
    const int64_t ins = fx_tensor_numel(call->in[0]) / n_rows;
    const float *x = fx_tensor_f32(call->in[0]), *w = fx_tensor_f32(call->param[0]);
    const float *g = fx_tensor_f32(call->grad_out[0]);
    if (call->grad_in[0]) {
        float *gx = fx_tensor_f32(call->grad_in[0]);
        for (int64_t n = 0; n < n_rows; n++)
            for (int64_t i = 0; i < ins; i++) {
                double acc = 0.0;
                for (int64_t o = 0; o < outs; o++)
                    acc += (double)g[n * outs + o] * (double)w[o * ins + i];
                gx[n * ins + i] += (float)acc;
            }
    }
    if (call->param_grad && call->param_grad[0]) {
        float *gw = fx_tensor_f32(call->param_grad[0]);
        for (int64_t o = 0; o < outs; o++)
            for (int64_t i = 0; i < ins; i++) {
                double acc = 0.0;
                for (int64_t n = 0; n < n_rows; n++)
                    acc += (double)g[n * outs + o] * (double)x[n * ins + i];
                gw[o * ins + i] += (float)acc;
            }
    }
    if (call->param_grad && call->n_params > 1 && call->param_grad[1]) {
        float *gb = fx_tensor_f32(call->param_grad[1]);
        for (int64_t o = 0; o < outs; o++) {
            double acc = 0.0;
            for (int64_t n = 0; n < n_rows; n++)
                acc += g[n * outs + o];
            gb[o] += (float)acc;
        }
    }
    return FX_OK;
}

/* ---- add: y = a + b; da += g, db += g ---------------------------------- */

static fx_status add_forward(const fx_kernel_call *call)
{
    const float *a = fx_tensor_f32(call->in[0]), *b = fx_tensor_f32(call->in[1]);
    float *y = fx_tensor_f32(call->out[0]);
    const int64_t count = fx_tensor_numel(call->out[0]);
    for (int64_t i = 0; i < count; i++)
        y[i] = a[i] + b[i];
    return FX_OK;
}

static fx_status add_backward(const fx_kernel_call *call)
{
    const float *g = fx_tensor_f32(call->grad_out[0]);
    const int64_t count = fx_tensor_numel(call->out[0]);
    for (int k = 0; k < 2; k++) {
        if (!call->grad_in[k])
            continue;
        float *gk = fx_tensor_f32(call->grad_in[k]);
        for (int64_t i = 0; i < count; i++)
            gk[i] += g[i];
    }
    return FX_OK;
}

/* ---- flatten: the same numbers, [N, ...] -> [N, rest] ------------------- */

static fx_status flatten_forward(const fx_kernel_call *call)
{
    const float *x = fx_tensor_f32(call->in[0]);
    float *y = fx_tensor_f32(call->out[0]);
    const int64_t count = fx_tensor_numel(call->out[0]);
    for (int64_t i = 0; i < count; i++)
        y[i] = x[i];
    return FX_OK;
}

static fx_status flatten_backward(const fx_kernel_call *call)
{
    if (!call->grad_in[0])
        return FX_OK;
    const float *g = fx_tensor_f32(call->grad_out[0]);
    float *gx = fx_tensor_f32(call->grad_in[0]);
    const int64_t count = fx_tensor_numel(call->out[0]);
    for (int64_t i = 0; i < count; i++)
        gx[i] += g[i];
    return FX_OK;
}

/* ---- softmax_cross_entropy ---------------------------------------------
 * loss = mean_n [ lse_n - sum_c q_nc x_nc ],  lse_n = log sum_c exp(x_nc),
 * q = (1 - s) onehot(label) + s / C;  dx_nc += (g / N) (softmax_nc - q_nc).
 * The log-sum-exp is recomputed in backward rather than read from the
 * saved tensors, so this oracle shares nothing with the CPU kernel. */

static double row_lse(const float *x, int64_t classes)
{
    double m = x[0], sum = 0.0;
    for (int64_t c = 1; c < classes; c++)
        m = x[c] > m ? x[c] : m;
    for (int64_t c = 0; c < classes; c++)
        sum += exp((double)x[c] - m);
    return m + log(sum);
}

static fx_status check_labels(const fx_kernel_call *call, const int32_t *label, int64_t n_rows, int64_t classes)
{
    for (int64_t n = 0; n < n_rows; n++)
        if (label[n] < 0 || label[n] >= classes)
            return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID,
                                "ref backend: label %d of batch element %lld is outside [0, %lld)", (int)label[n],
                                (long long)n, (long long)classes);
    return FX_OK;
}

static fx_status ce_forward(const fx_kernel_call *call)
{
    const int64_t n_rows = call->in[0]->shape.dim[0], classes = call->in[0]->shape.dim[1];
    const float *x = fx_tensor_f32(call->in[0]);
    const int32_t *label = fx_tensor_i32(call->in[1]);
    const double s = fx_node_attr_float(call->node, "label_smoothing");
    fx_status st = check_labels(call, label, n_rows, classes);
    if (st != FX_OK)
        return st;
    double total = 0.0;
    for (int64_t n = 0; n < n_rows; n++) {
        const float *row = x + n * classes;
        double sum_x = 0.0;
        for (int64_t c = 0; c < classes; c++)
            sum_x += row[c];
        total += row_lse(row, classes) - ((1.0 - s) * row[label[n]] + s / (double)classes * sum_x);
    }
    fx_tensor_f32(call->out[0])[0] = (float)(total / (double)n_rows);
    return FX_OK;
}

static fx_status ce_backward(const fx_kernel_call *call)
{
    if (!call->grad_in[0])
        return FX_OK;
    const int64_t n_rows = call->in[0]->shape.dim[0], classes = call->in[0]->shape.dim[1];
    const float *x = fx_tensor_f32(call->in[0]);
    const int32_t *label = fx_tensor_i32(call->in[1]);
    const double s = fx_node_attr_float(call->node, "label_smoothing");
    fx_status st = check_labels(call, label, n_rows, classes);
    if (st != FX_OK)
        return st;
    const double scale = fx_tensor_f32(call->grad_out[0])[0] / (double)n_rows;
    float *gx = fx_tensor_f32(call->grad_in[0]);
    for (int64_t n = 0; n < n_rows; n++) {
        const float *row = x + n * classes;
        const double lse = row_lse(row, classes);
        for (int64_t c = 0; c < classes; c++) {
            double q = s / (double)classes + (c == label[n] ? 1.0 - s : 0.0);
            gx[n * classes + c] += (float)(scale * (exp((double)row[c] - lse) - q));
        }
    }
    return FX_OK;
}

fx_status ref_register_kernels(fx_registry *reg)
{
    static const struct {
        const char *op;
        fx_kernel_fn forward, backward;
    } table[] = {
        { "relu", relu_forward, relu_backward },
        { "linear", linear_forward, linear_backward },
        { "add", add_forward, add_backward },
        { "flatten", flatten_forward, flatten_backward },
        { "softmax_cross_entropy", ce_forward, ce_backward },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        fx_status st = fx_registry_add_kernel(reg, table[i].op, "ref", table[i].forward, table[i].backward);
        if (st != FX_OK)
            return st;
    }
    return FX_OK;
}
