/* backends/cpu/concat.c - CPU kernels of concat (see core/ops/concat.c).
 *
 * With outer = product of the dims before the axis, every input i is
 * `outer` contiguous blocks of inner_i floats, and the output interleaves
 * them: block o of the output is [block o of input 0, block o of input 1,
 * ...]. Forward copies blocks, backward adds them back; work is split over
 * the outer blocks. */
#include <string.h>

#include "backends/cpu/cpu_backend.h"

/* No per-input arrays: an op may take any number of inputs, so each
 * input's block size comes from its shape (call->in[i]) as the loops go. */
typedef struct concat_job {
    const fx_kernel_call *call;
    int axis;
    int64_t after, total;
    float *out;
    const float *grad_out;
} concat_job;

static int64_t inner_of(const concat_job *j, int i) { return j->call->in[i]->shape.dim[j->axis] * j->after; }

static void concat_forward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const concat_job *j = arg;
    for (int64_t o = begin; o < end; o++) {
        int64_t offset = 0;
        for (int i = 0; i < j->call->n_in; i++) {
            int64_t inner = inner_of(j, i);
            memcpy(j->out + o * j->total + offset, fx_tensor_f32(j->call->in[i]) + o * inner,
                   (size_t)inner * sizeof(float));
            offset += inner;
        }
    }
}

static void concat_backward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const concat_job *j = arg;
    for (int64_t o = begin; o < end; o++) {
        int64_t offset = 0;
        for (int i = 0; i < j->call->n_in; i++) {
            int64_t inner = inner_of(j, i);
            fx_tensor *gt = j->call->grad_in[i];
            if (gt) {
                float *restrict gx = fx_tensor_f32(gt) + o * inner;
                const float *restrict g = j->grad_out + o * j->total + offset;
                for (int64_t k = 0; k < inner; k++)
                    gx[k] += g[k];
            }
            offset += inner;
        }
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
    j->call = call;
    j->axis = (int)axis;
    j->after = after;
    j->total = ys->dim[axis] * after;
    return outer;
}

fx_status cpu_concat_forward(const fx_kernel_call *call)
{
    concat_job j = { 0 };
    int64_t outer = concat_setup(call, &j);
    j.out = fx_tensor_f32(call->out[0]);
    fx_cpu_parallel_for(call->backend, outer, 1 + 32768 / (j.total + 1), concat_forward_range, &j);
    return FX_OK;
}

fx_status cpu_concat_backward(const fx_kernel_call *call)
{
    concat_job j = { 0 };
    int64_t outer = concat_setup(call, &j);
    j.grad_out = fx_tensor_f32(call->grad_out[0]);
    fx_cpu_parallel_for(call->backend, outer, 1 + 32768 / (j.total + 1), concat_backward_range, &j);
    return FX_OK;
}
