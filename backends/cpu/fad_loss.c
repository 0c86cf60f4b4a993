/* backends/cpu/fad_loss.c - CPU kernels of fad_loss (definition in
 * core/ops/fad_loss.c; mathematics and choices in docs/losses.md §3).
 *
 * Delta_k is summed in float over b = 0, 1, ..., N-1 in that order and
 * divided by N once: only subtractions, |.|, additions and one division,
 * each correctly rounded, so any device that keeps this order (the OpenCL
 * twin) gets bit-identical Delta and hence the same set S, even where two
 * Delta are close. S is the first n_keep filters of the order
 * (Delta ascending, NaN last, then index ascending); the loss sums Delta
 * over S in double, in index order. The work is O(N K + K log K): a few
 * microseconds at N 64, K 320, so it runs on the calling thread. */
#include <math.h>
#include <stdlib.h>

#include "backends/cpu/cpu_backend.h"

typedef struct fad_key {
    float delta;
    int64_t index;
} fad_key;

/* (Delta ascending, NaN after every number, index ascending): a total
 * order, so qsort's instability does not matter. */
static int fad_key_cmp(const void *pa, const void *pb)
{
    const fad_key *a = pa, *b = pb;
    int na = a->delta != a->delta, nb = b->delta != b->delta;
    if (na != nb)
        return na - nb;
    if (!na && a->delta != b->delta)
        return a->delta < b->delta ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

fx_status cpu_fad_loss_forward(const fx_kernel_call *call)
{
    const fx_tensor *ft = call->in[0];
    const int64_t n = ft->shape.dim[0], k = fx_tensor_numel(ft) / n;
    const int64_t keep = fx_node_attr_int(call->node, "n_keep");
    const double scale = fx_node_attr_float(call->node, "scale");
    const float *f = fx_tensor_f32(call->in[0]), *fo = fx_tensor_f32(call->in[1]);
    float *fo_masked = fx_tensor_f32(call->out[1]), *mask_out = fx_tensor_f32(call->out[2]);
    if (call->n_aux < 1 || !call->aux[0]->buffer)
        return fx_node_fail(call->ctx, call->node, FX_ERR_INTERNAL, "the saved mask was not allocated");
    float *mask = fx_tensor_f32(call->aux[0]);
    float *delta = fx_calloc(call->ctx, (size_t)k, sizeof *delta, "fad_loss mean changes");
    fad_key *order = fx_malloc(call->ctx, (size_t)k * sizeof *order, "fad_loss filter order");
    if (!delta || !order) {
        free(delta);
        free(order);
        return FX_ERR_NOMEM;
    }
    for (int64_t b = 0; b < n; b++) {
        const float *restrict fb = f + b * k, *restrict fob = fo + b * k;
        for (int64_t c = 0; c < k; c++)
            delta[c] += fabsf(fb[c] - fob[c]);
    }
    for (int64_t c = 0; c < k; c++) {
        delta[c] /= (float)n;
        order[c].delta = delta[c];
        order[c].index = c;
        mask[c] = 0.0f;
    }
    qsort(order, (size_t)k, sizeof *order, fad_key_cmp);
    for (int64_t r = 0; r < keep; r++)
        mask[order[r].index] = 1.0f;
    double sum = 0.0;
    for (int64_t c = 0; c < k; c++) {
        if (mask[c] != 0.0f)
            sum += delta[c];
        mask_out[c] = mask[c];
    }
    fx_tensor_f32(call->out[0])[0] = (float)(scale * sum);
    for (int64_t b = 0; b < n; b++)
        for (int64_t c = 0; c < k; c++)
            fo_masked[b * k + c] = mask[c] != 0.0f ? fo[b * k + c] : 0.0f;
    free(delta);
    free(order);
    return FX_OK;
}

fx_status cpu_fad_loss_backward(const fx_kernel_call *call)
{
    fx_tensor *gf_t = call->grad_in[0], *gfo_t = call->grad_in[1];
    if (!gf_t && !gfo_t)
        return FX_OK;
    const fx_tensor *ft = call->in[0];
    const int64_t n = ft->shape.dim[0], k = fx_tensor_numel(ft) / n;
    const float *f = fx_tensor_f32(call->in[0]), *fo = fx_tensor_f32(call->in[1]);
    const float *mask = fx_tensor_f32(call->aux[0]);
    const float *g1 = call->grad_out[1] ? fx_tensor_f32(call->grad_out[1]) : NULL;
    double g0 = call->grad_out[0] ? fx_tensor_f32(call->grad_out[0])[0] : 0.0;
    const float a = (float)(fx_node_attr_float(call->node, "scale") * g0 / (double)n);
    float *gf = gf_t ? fx_tensor_f32(gf_t) : NULL, *gfo = gfo_t ? fx_tensor_f32(gfo_t) : NULL;
    for (int64_t b = 0; b < n; b++)
        for (int64_t c = 0; c < k; c++) {
            int64_t i = b * k + c;
            if (mask[c] == 0.0f)
                continue;
            float d = f[i] - fo[i];
            float s = d > 0.0f ? a : d < 0.0f ? -a : 0.0f; /* a * sign(d), sign(0) = 0 */
            if (gf)
                gf[i] += s;
            if (gfo)
                gfo[i] += (g1 ? g1[i] : 0.0f) - s;
        }
    return FX_OK;
}
