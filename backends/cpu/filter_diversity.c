/* backends/cpu/filter_diversity.c - CPU kernels of filter_diversity, L_A
 * (definition in core/ops/filter_diversity.c, mathematics in
 * docs/losses.md §4).
 *
 * Per filter o (P = kh*kw positions, C channels, w[o, c, p] with p
 * contiguous): the P x P Gram G_pq = sum_c w[o,c,p] w[o,c,q] in double,
 * r_p = 1 / max(sqrt(G_pp), eps), G^_pq = r_p r_q G_pq, and
 *   L_o = sum_{p != q} G^_pq^2 / (P (P - 1)),   L_A = mean_o L_o.
 * Backward with c = 4 g / (O P (P - 1)) (the same algebra as sad_loss,
 * without the smoothing): dw[o, :, p] += sum_q Pm_pq w[o, :, q] with
 *   Pm_pq = c r_p r_q G^_pq (q != p),
 *   Pm_pp = -c r_p^2 sum_{q != p} G^_pq^2 (0 when |v_p| <= eps).
 * At O 320, C 576, 3x3 this is ~15 MFLOP: filters are spread over the
 * thread pool and the loops are left plain. The weight is the input when
 * there is one, else the bound parameter (and its gradient the input's or
 * the parameter's). */
#include <math.h>

#include "backends/cpu/cpu_backend.h"

#define FD_MAX_P 64

typedef struct fd_job {
    int64_t o, c, p;
    float eps;
    const float *w;
    float *filter_loss;
    float *gw;
    double coef;
} fd_job;

/* Fills g (P x P, full, double) and r; returns L_o. */
static double fd_filter(const fd_job *j, int64_t o, double *g, double *r, int *big)
{
    const int64_t P = j->p;
    const float *w = j->w + o * j->c * P;
    for (int64_t a = 0; a < P * P; a++)
        g[a] = 0.0;
    for (int64_t c = 0; c < j->c; c++) {
        const float *row = w + c * P;
        for (int64_t a = 0; a < P; a++) {
            double va = row[a];
            for (int64_t b = a; b < P; b++)
                g[a * P + b] += va * row[b];
        }
    }
    for (int64_t a = 0; a < P; a++) {
        double norm = sqrt(g[a * P + a]);
        big[a] = norm > j->eps;
        r[a] = 1.0 / (big[a] ? norm : (double)j->eps);
    }
    double sum = 0.0;
    for (int64_t a = 0; a < P; a++)
        for (int64_t b = a + 1; b < P; b++) {
            double gh = r[a] * r[b] * g[a * P + b];
            g[a * P + b] = g[b * P + a] = gh; /* now G^, symmetric */
            sum += gh * gh;
        }
    return 2.0 * sum / ((double)P * (double)(P - 1));
}

static void fd_forward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const fd_job *j = arg;
    double g[FD_MAX_P * FD_MAX_P], r[FD_MAX_P];
    int big[FD_MAX_P];
    for (int64_t o = begin; o < end; o++)
        j->filter_loss[o] = (float)fd_filter(j, o, g, r, big);
}

static void fd_backward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const fd_job *j = arg;
    const int64_t P = j->p;
    double g[FD_MAX_P * FD_MAX_P], r[FD_MAX_P];
    float pm[FD_MAX_P * FD_MAX_P];
    int big[FD_MAX_P];
    for (int64_t o = begin; o < end; o++) {
        fd_filter(j, o, g, r, big);
        for (int64_t a = 0; a < P; a++) {
            double rowsum = 0.0;
            for (int64_t b = 0; b < P; b++) {
                if (b == a)
                    continue;
                rowsum += g[a * P + b] * g[a * P + b];
                pm[a * P + b] = (float)(j->coef * r[a] * r[b] * g[a * P + b]);
            }
            pm[a * P + a] = big[a] ? (float)(-j->coef * r[a] * r[a] * rowsum) : 0.0f;
        }
        const float *w = j->w + o * j->c * P;
        float *gw = j->gw + o * j->c * P;
        for (int64_t c = 0; c < j->c; c++) {
            const float *row = w + c * P;
            float *grow = gw + c * P;
            for (int64_t a = 0; a < P; a++) {
                float s = 0.0f;
                for (int64_t b = 0; b < P; b++)
                    s += pm[a * P + b] * row[b];
                grow[a] += s;
            }
        }
    }
}

/* The weight: the input, or else the bound parameter. */
static const fx_tensor *fd_weight(const fx_kernel_call *call)
{
    return call->n_in > 0 ? call->in[0] : call->param[0];
}

static fx_status fd_setup(const fx_kernel_call *call, fd_job *j)
{
    const fx_tensor *wt = fd_weight(call);
    if (!wt)
        return fx_node_fail(call->ctx, call->node, FX_ERR_INTERNAL, "the bound weight is not allocated");
    const fx_shape *s = &wt->shape;
    j->o = s->dim[0];
    j->c = s->dim[1];
    j->p = s->dim[2] * s->dim[3];
    j->eps = (float)fx_node_attr_float(call->node, "eps");
    j->w = fx_tensor_f32(wt);
    if (call->n_aux < 1 || !call->aux[0]->buffer)
        return fx_node_fail(call->ctx, call->node, FX_ERR_INTERNAL, "the per-filter loss buffer was not allocated");
    j->filter_loss = fx_tensor_f32(call->aux[0]);
    return FX_OK;
}

fx_status cpu_filter_diversity_forward(const fx_kernel_call *call)
{
    fd_job j = { 0 };
    fx_status st = fd_setup(call, &j);
    if (st != FX_OK)
        return st;
    fx_cpu_parallel_for(call->backend, j.o, 1 + 65536 / (j.c * j.p * j.p + 1), fd_forward_range, &j);
    double total = 0.0;
    for (int64_t o = 0; o < j.o; o++)
        total += j.filter_loss[o];
    fx_tensor_f32(call->out[0])[0] = (float)(total / (double)j.o);
    return FX_OK;
}

fx_status cpu_filter_diversity_backward(const fx_kernel_call *call)
{
    fx_tensor *grad = call->n_in > 0 ? call->grad_in[0] : call->param_grad[0];
    if (!grad || !call->grad_out[0])
        return FX_OK;
    fd_job j = { 0 };
    fx_status st = fd_setup(call, &j);
    if (st != FX_OK)
        return st;
    double g = fx_tensor_f32(call->grad_out[0])[0];
    j.coef = 4.0 * g / ((double)j.o * (double)j.p * (double)(j.p - 1));
    j.gw = fx_tensor_f32(grad);
    fx_cpu_parallel_for(call->backend, j.o, 1 + 65536 / (j.c * j.p * j.p + 1), fd_backward_range, &j);
    return FX_OK;
}
