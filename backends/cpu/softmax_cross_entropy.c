/* backends/cpu/softmax_cross_entropy.c - CPU kernels of
 * softmax_cross_entropy (see core/ops/softmax_cross_entropy.c).
 *
 * Rows are independent and run in parallel. Per row, with m = max_c x_c,
 * lse = m + log sum_c exp(x_c - m) (max-subtracted, so no overflow), and
 *   loss_n = lse - sum_c q_c x_c = lse - (1 - s) x_label - (s / C) sum_c x_c.
 * The batch mean is summed in double on the calling thread, in a fixed
 * order, so the loss does not depend on the thread count. Backward:
 *   dx_nc += (g / N) * (exp(x_nc - lse_n) - q_nc),  g = grad_out (the loss
 * weight). Labels are checked before any work, giving an error, not a
 * wild read. */
#include <math.h>

#include "backends/cpu/cpu_backend.h"

typedef struct ce_job {
    int64_t n, c;
    const float *x;
    const int32_t *label;
    float *lse, *row_loss;
    float smoothing;
    float *gx;
    float gscale; /* g / N */
} ce_job;

static void ce_forward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const ce_job *j = arg;
    for (int64_t n = begin; n < end; n++) {
        const float *x = j->x + n * j->c;
        float m = x[0];
        for (int64_t c = 1; c < j->c; c++)
            m = x[c] > m ? x[c] : m;
        double sum = 0.0, sum_x = 0.0;
        for (int64_t c = 0; c < j->c; c++) {
            sum += expf(x[c] - m);
            sum_x += x[c];
        }
        double lse = (double)m + log(sum);
        j->lse[n] = (float)lse;
        double target = (1.0 - j->smoothing) * x[j->label[n]] + (double)j->smoothing / (double)j->c * sum_x;
        j->row_loss[n] = (float)(lse - target);
    }
}

static void ce_backward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const ce_job *j = arg;
    const float off = j->smoothing / (float)j->c;
    for (int64_t n = begin; n < end; n++) {
        const float *x = j->x + n * j->c;
        float *gx = j->gx + n * j->c;
        const float lse = j->lse[n];
        for (int64_t c = 0; c < j->c; c++)
            gx[c] += j->gscale * (expf(x[c] - lse) - off);
        gx[j->label[n]] -= j->gscale * (1.0f - j->smoothing);
    }
}

static fx_status ce_setup(const fx_kernel_call *call, ce_job *j)
{
    const fx_tensor *logits = call->in[0];
    j->n = logits->shape.dim[0];
    j->c = logits->shape.dim[1];
    j->x = fx_tensor_f32(logits);
    j->label = fx_tensor_i32(call->in[1]);
    j->smoothing = (float)fx_node_attr_float(call->node, "label_smoothing");
    if (call->n_aux < 2 || !call->aux[0]->buffer || !call->aux[1]->buffer)
        return fx_node_fail(call->ctx, call->node, FX_ERR_INTERNAL, "saved log-sum-exp buffers were not allocated");
    j->lse = fx_tensor_f32(call->aux[0]);
    j->row_loss = fx_tensor_f32(call->aux[1]);
    for (int64_t n = 0; n < j->n; n++)
        if (j->label[n] < 0 || j->label[n] >= j->c)
            return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID,
                                "label %d of batch element %lld is outside [0, %lld); "
                                "the data has more classes than the logits (set the classifier's out_features)",
                                (int)j->label[n], (long long)n, (long long)j->c);
    return FX_OK;
}

fx_status cpu_softmax_cross_entropy_forward(const fx_kernel_call *call)
{
    ce_job j = { 0 };
    fx_status st = ce_setup(call, &j);
    if (st != FX_OK)
        return st;
    fx_cpu_parallel_for(call->backend, j.n, 1 + 8192 / (j.c + 1), ce_forward_range, &j);
    double total = 0.0;
    for (int64_t n = 0; n < j.n; n++)
        total += j.row_loss[n];
    fx_tensor_f32(call->out[0])[0] = (float)(total / (double)j.n);
    return FX_OK;
}

fx_status cpu_softmax_cross_entropy_backward(const fx_kernel_call *call)
{
    if (!call->grad_in[0])
        return FX_OK;
    ce_job j = { 0 };
    fx_status st = ce_setup(call, &j);
    if (st != FX_OK)
        return st;
    j.gx = fx_tensor_f32(call->grad_in[0]);
    j.gscale = fx_tensor_f32(call->grad_out[0])[0] / (float)j.n;
    fx_cpu_parallel_for(call->backend, j.n, 1 + 8192 / (j.c + 1), ce_backward_range, &j);
    return FX_OK;
}
