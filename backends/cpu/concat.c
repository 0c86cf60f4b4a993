/* backends/cpu/concat.c - CPU kernels of concat (see core/ops/concat.c).
 *
 * With outer = product of the dims before the axis, every input i is
 * `outer` contiguous blocks of inner_i floats, and the output interleaves
 * them: block o of the output is [block o of input 0, block o of input 1,
 * ...]. Forward copies blocks, backward adds them back; work is split over
 * the outer blocks. */
#include <string.h>

#include "backends/cpu/cpu_backend.h"

typedef struct concat_job {
    int n;
    int64_t inner[FX_MAX_IO], offset[FX_MAX_IO], total;
    const float *in[FX_MAX_IO];
    float *grad_in[FX_MAX_IO];
    float *out;
    const float *grad_out;
} concat_job;

static void concat_forward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const concat_job *j = arg;
    for (int64_t o = begin; o < end; o++)
        for (int i = 0; i < j->n; i++)
            memcpy(j->out + o * j->total + j->offset[i], j->in[i] + o * j->inner[i],
                   (size_t)j->inner[i] * sizeof(float));
}

static void concat_backward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const concat_job *j = arg;
    for (int64_t o = begin; o < end; o++)
        for (int i = 0; i < j->n; i++) {
            if (!j->grad_in[i])
                continue;
            float *restrict gx = j->grad_in[i] + o * j->inner[i];
            const float *restrict g = j->grad_out + o * j->total + j->offset[i];
            for (int64_t k = 0; k < j->inner[i]; k++)
                gx[k] += g[k];
        }
}

static int64_t concat_setup(const fx_kernel_call *call, concat_job *j)
{
    const fx_shape *ys = &call->out[0]->shape;
    int64_t axis = fx_node_attr_int(call->node, "axis");
    if (axis < 0)
        axis += ys->ndim;
    int64_t outer = 1, after = 1;
    for (int d = 0; d < axis; d++)
        outer *= ys->dim[d];
    for (int d = (int)axis + 1; d < ys->ndim; d++)
        after *= ys->dim[d];
    j->n = call->n_in;
    j->total = 0;
    for (int i = 0; i < call->n_in; i++) {
        j->inner[i] = call->in[i]->shape.dim[axis] * after;
        j->offset[i] = j->total;
        j->total += j->inner[i];
    }
    return outer;
}

fx_status cpu_concat_forward(const fx_kernel_call *call)
{
    concat_job j = { 0 };
    int64_t outer = concat_setup(call, &j);
    for (int i = 0; i < j.n; i++)
        j.in[i] = fx_tensor_f32(call->in[i]);
    j.out = fx_tensor_f32(call->out[0]);
    fx_cpu_parallel_for(call->backend, outer, 1 + 32768 / (j.total + 1), concat_forward_range, &j);
    return FX_OK;
}

fx_status cpu_concat_backward(const fx_kernel_call *call)
{
    concat_job j = { 0 };
    int64_t outer = concat_setup(call, &j);
    for (int i = 0; i < j.n; i++)
        j.grad_in[i] = call->grad_in[i] ? fx_tensor_f32(call->grad_in[i]) : NULL;
    j.grad_out = fx_tensor_f32(call->grad_out[0]);
    fx_cpu_parallel_for(call->backend, outer, 1 + 32768 / (j.total + 1), concat_backward_range, &j);
    return FX_OK;
}
