/* backends/cpu/topk_mask.c - CPU kernels of topk_mask (see
 * core/ops/topk_mask.c and docs/losses.md).
 *
 * Forward, per (n, c) map of H*W values: copy the magnitudes into
 * per-thread scratch, find the k-th largest with a quickselect (expected
 * O(H*W), no full sort), save it as the threshold t, then write
 * y = |x| > t ? x : 0 in one branch-free (vectorisable) pass. Backward
 * reads t back: dx += |x| > t ? dy : 0. NaN magnitudes are mapped to +inf
 * in both passes, so the selection never compares a NaN (whose order is
 * undefined) and both passes agree on which positions are kept. Maps are
 * independent and are spread over the thread pool. */
#include <math.h>
#include <stdlib.h>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/gemm.h"

/* |v| with NaN as +inf: the order used by selection and masking alike. */
static inline float topk_magnitude(float v)
{
    float a = fabsf(v);
    return a != a ? INFINITY : a;
}

/* Returns the element of rank `idx` (0-based, ascending) of a[0, n),
 * reordering a. Hoare partition around a median of three; the median
 * ordering puts a sentinel at both ends, so the scans stay in bounds.
 * Small ranges finish with an insertion sort. */
static float topk_select_ascending(float *a, int64_t n, int64_t idx)
{
    int64_t lo = 0, hi = n - 1;
    while (hi - lo > 16) {
        int64_t mid = lo + (hi - lo) / 2;
        float t;
        if (a[mid] < a[lo]) { t = a[mid]; a[mid] = a[lo]; a[lo] = t; }
        if (a[hi] < a[lo]) { t = a[hi]; a[hi] = a[lo]; a[lo] = t; }
        if (a[hi] < a[mid]) { t = a[hi]; a[hi] = a[mid]; a[mid] = t; }
        float pivot = a[mid];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        }
        /* Now a[lo..j] <= pivot <= a[i..hi], and a[j+1..i-1] == pivot. */
        if (idx <= j)
            hi = j;
        else if (idx >= i)
            lo = i;
        else
            return a[idx];
    }
    for (int64_t i = lo + 1; i <= hi; i++) {
        float v = a[i];
        int64_t j = i - 1;
        while (j >= lo && a[j] > v) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = v;
    }
    return a[idx];
}

typedef struct topk_job {
    int64_t hw, k;     /* k already resolved: 1 <= k <= hw */
    const float *x, *gy;
    float *y, *gx, *thresh;
    float **scratch;   /* per thread, hw floats */
} topk_job;

static void topk_forward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const topk_job *j = arg;
    float *a = j->scratch[thread];
    for (int64_t m = begin; m < end; m++) {
        const float *restrict x = j->x + m * j->hw;
        float *restrict y = j->y + m * j->hw;
        for (int64_t p = 0; p < j->hw; p++)
            a[p] = topk_magnitude(x[p]);
        /* k-th largest = rank hw - k in ascending order. */
        float t = topk_select_ascending(a, j->hw, j->hw - j->k);
        j->thresh[m] = t;
        for (int64_t p = 0; p < j->hw; p++)
            y[p] = topk_magnitude(x[p]) > t ? x[p] : 0.0f;
    }
}

static void topk_backward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const topk_job *j = arg;
    for (int64_t m = begin; m < end; m++) {
        const float *restrict x = j->x + m * j->hw, *restrict gy = j->gy + m * j->hw;
        float *restrict gx = j->gx + m * j->hw;
        const float t = j->thresh[m];
        for (int64_t p = 0; p < j->hw; p++)
            gx[p] += topk_magnitude(x[p]) > t ? gy[p] : 0.0f;
    }
}

static int64_t topk_setup(const fx_kernel_call *call, topk_job *j)
{
    const fx_shape *s = &call->in[0]->shape;
    j->hw = s->dim[2] * s->dim[3];
    int64_t k = fx_node_attr_int(call->node, "k");
    if (k == 0)
        k = s->dim[2];
    j->k = k > j->hw ? j->hw : k;
    j->x = fx_tensor_f32(call->in[0]);
    j->thresh = fx_tensor_f32(call->aux[0]);
    return s->dim[0] * s->dim[1];
}

fx_status cpu_topk_mask_forward(const fx_kernel_call *call)
{
    topk_job j = { 0 };
    int64_t maps = topk_setup(call, &j);
    if (call->n_aux < 1 || !call->aux[0]->buffer)
        return fx_node_fail(call->ctx, call->node, FX_ERR_INTERNAL, "the saved thresholds were not allocated");
    j.y = fx_tensor_f32(call->out[0]);
    j.scratch = cpu_scratch_per_thread(call->backend, (size_t)j.hw);
    if (!j.scratch)
        return FX_ERR_NOMEM;
    fx_cpu_parallel_for(call->backend, maps, 1 + 4096 / (j.hw + 1), topk_forward_range, &j);
    free(j.scratch);
    return FX_OK;
}

fx_status cpu_topk_mask_backward(const fx_kernel_call *call)
{
    if (!call->grad_in[0] || !call->grad_out[0])
        return FX_OK;
    topk_job j = { 0 };
    int64_t maps = topk_setup(call, &j);
    j.gy = fx_tensor_f32(call->grad_out[0]);
    j.gx = fx_tensor_f32(call->grad_in[0]);
    fx_cpu_parallel_for(call->backend, maps, 1 + 8192 / (j.hw + 1), topk_backward_range, &j);
    return FX_OK;
}
