/* backends/opencl/ocl_paper.c - topk_mask, fad_loss, filter_diversity and
 * occlude on OpenCL (kernels: clkernels/paper.cl; op definitions
 * core/ops/; CPU references backends/cpu/; semantics docs/losses.md).
 * sad_loss has its own file (ocl_sad_loss.c).
 *
 * Every result agrees with the CPU as docs/losses.md states: topk_mask and
 * occlude exactly, fad_loss's set S (mask, masked output) exactly, the
 * losses and gradients to float rounding. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_paper.h"
#include "fx/geometry.h"

#define PAPER_CL "paper.cl"

fx_status ocl_paper_variant(fx_backend *be, int *direct)
{
    const char *force = getenv("FX_OPENCL_PAPER");
    if (force && *force) {
        if (strcmp(force, "direct") != 0 && strcmp(force, "tiled") != 0)
            return fx_fail(be->ctx, FX_ERR_INVALID,
                           "FX_OPENCL_PAPER=%s: expected direct (kernels for CPU devices) or tiled (for GPUs)", force);
        *direct = strcmp(force, "direct") == 0;
    } else {
        *direct = (ocl_impl(be)->device_type & CL_DEVICE_TYPE_CPU) != 0;
    }
    return FX_OK;
}

/* ---- topk_mask ------------------------------------------------------------ */

typedef struct topk_geom {
    int maps, hw, k;
} topk_geom;

static topk_geom topk_geom_of(const fx_kernel_call *call)
{
    const fx_shape *s = &call->in[0]->shape;
    topk_geom g;
    g.maps = (int)(s->dim[0] * s->dim[1]);
    g.hw = (int)(s->dim[2] * s->dim[3]);
    int64_t k = fx_node_attr_int(call->node, "k");
    if (k == 0)
        k = s->dim[2];
    g.k = (int)(k > g.hw ? g.hw : k);
    return g;
}

fx_status ocl_topk_mask_forward(const fx_kernel_call *call)
{
    if (call->n_aux < 1 || !ocl_has_tensor(call->aux[0]))
        return fx_node_fail(call->ctx, call->node, FX_ERR_INTERNAL, "the saved thresholds were not allocated");
    topk_geom g = topk_geom_of(call);
    if (g.maps == 0 || g.hw == 0)
        return FX_OK;
    int direct = 0;
    fx_status st = ocl_paper_variant(call->backend, &direct);
    const char *name = direct ? "topk_forward_direct" : "topk_forward";
    ocl_args a;
    if (st == FX_OK)
        st = ocl_args_begin(call->backend, PAPER_CL, name, &a);
    if (st != FX_OK)
        return st;
    ocl_arg_tensor(&a, call->in[0]);
    ocl_arg_tensor(&a, call->out[0]);
    ocl_arg_tensor(&a, call->aux[0]);
    if (direct)
        ocl_arg_int(&a, g.maps);
    ocl_arg_int(&a, g.hw);
    ocl_arg_int(&a, g.k);
    if (direct)
        return ocl_launch_1d(call->backend, &a, (size_t)g.maps, ocl_group_size(call->backend, 64), name);
    /* One work-item per position up to 256 (the histogram's width). */
    size_t local = ocl_group_size(call->backend, (size_t)(g.hw < 256 ? g.hw : 256));
    return ocl_launch_groups(call->backend, &a, (size_t)g.maps, local, "topk_forward");
}

fx_status ocl_topk_mask_backward(const fx_kernel_call *call)
{
    if (!call->grad_in[0] || !call->grad_out[0])
        return FX_OK;
    topk_geom g = topk_geom_of(call);
    ocl_args a;
    fx_status st = ocl_args_begin(call->backend, PAPER_CL, "topk_backward", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_tensor(&a, call->in[0]);
    ocl_arg_tensor(&a, call->grad_out[0]);
    ocl_arg_tensor(&a, call->grad_in[0]);
    ocl_arg_tensor(&a, call->aux[0]);
    ocl_arg_int(&a, g.hw);
    size_t local[2] = { ocl_group_size(call->backend, 64), 1 };
    size_t global[2] = { (size_t)g.hw, (size_t)g.maps };
    return ocl_launch_nd(call->backend, &a, 2, global, local, "topk_backward");
}

/* ---- fad_loss --------------------------------------------------------------- */

fx_status ocl_fad_loss_forward(const fx_kernel_call *call)
{
    fx_backend *be = call->backend;
    const fx_tensor *ft = call->in[0];
    const int n = (int)ft->shape.dim[0], k = (int)(fx_tensor_numel(ft) / ft->shape.dim[0]);
    if (call->n_aux < 1 || !ocl_has_tensor(call->aux[0]))
        return fx_node_fail(call->ctx, call->node, FX_ERR_INTERNAL, "the saved mask was not allocated");
    cl_mem delta = NULL;
    fx_status st = ocl_scratch(be, 1, (size_t)k * sizeof(float), &delta);
    ocl_args a;
    if (st == FX_OK)
        st = ocl_args_begin(be, PAPER_CL, "fad_select", &a);
    if (st != FX_OK)
        return st;
    size_t local = ocl_group_size(be, 256);
    ocl_arg_tensor(&a, call->in[0]);
    ocl_arg_tensor(&a, call->in[1]);
    ocl_arg_mem(&a, delta, 0);
    ocl_arg_tensor(&a, call->aux[0]);
    ocl_arg_tensor(&a, call->out[2]);
    ocl_arg_tensor(&a, call->out[0]);
    ocl_arg_int(&a, n);
    ocl_arg_int(&a, k);
    ocl_arg_int(&a, (int)fx_node_attr_int(call->node, "n_keep"));
    ocl_arg_float(&a, (float)fx_node_attr_float(call->node, "scale"));
    ocl_arg_local(&a, local * sizeof(double)); /* real_t: double where the device has it */
    st = ocl_launch_groups(be, &a, 1, local, "fad_select");
    if (st == FX_OK)
        st = ocl_args_begin(be, PAPER_CL, "fad_apply", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_tensor(&a, call->in[1]);
    ocl_arg_tensor(&a, call->aux[0]);
    ocl_arg_tensor(&a, call->out[1]);
    ocl_arg_int(&a, k);
    size_t l2[2] = { ocl_group_size(be, 64), 1 }, g2[2] = { (size_t)k, (size_t)n };
    return ocl_launch_nd(be, &a, 2, g2, l2, "fad_apply");
}

fx_status ocl_fad_loss_backward(const fx_kernel_call *call)
{
    fx_tensor *gf = call->grad_in[0], *gfo = call->grad_in[1];
    if (!ocl_has_tensor(gf) && !ocl_has_tensor(gfo))
        return FX_OK;
    const fx_tensor *ft = call->in[0];
    const int n = (int)ft->shape.dim[0], k = (int)(fx_tensor_numel(ft) / ft->shape.dim[0]);
    const fx_tensor *g0 = call->grad_out[0], *g1 = call->grad_out[1];
    ocl_args a;
    fx_status st = ocl_args_begin(call->backend, PAPER_CL, "fad_backward", &a);
    if (st != FX_OK)
        return st;
    /* Absent tensors are passed as f (never touched: their flag is 0). */
    ocl_arg_tensor(&a, call->in[0]);
    ocl_arg_tensor(&a, call->in[1]);
    ocl_arg_tensor(&a, call->aux[0]);
    ocl_arg_tensor(&a, ocl_has_tensor(g0) ? g0 : ft);
    ocl_arg_int(&a, ocl_has_tensor(g0));
    ocl_arg_tensor(&a, ocl_has_tensor(g1) ? g1 : ft);
    ocl_arg_int(&a, ocl_has_tensor(g1));
    ocl_arg_tensor(&a, ocl_has_tensor(gf) ? gf : ft);
    ocl_arg_int(&a, ocl_has_tensor(gf));
    ocl_arg_tensor(&a, ocl_has_tensor(gfo) ? gfo : ft);
    ocl_arg_int(&a, ocl_has_tensor(gfo));
    ocl_arg_float(&a, (float)fx_node_attr_float(call->node, "scale"));
    ocl_arg_int(&a, n);
    ocl_arg_int(&a, k);
    size_t local[2] = { ocl_group_size(call->backend, 64), 1 }, global[2] = { (size_t)k, (size_t)n };
    return ocl_launch_nd(call->backend, &a, 2, global, local, "fad_backward");
}

/* ---- filter_diversity --------------------------------------------------------- */

/* The weight: the input when there is one, else the bound parameter (and
 * the gradient likewise). */
static const fx_tensor *fd_weight(const fx_kernel_call *call)
{
    return call->n_in > 0 ? call->in[0] : call->param[0];
}

typedef struct fd_geom {
    int o, c, p;
    float eps;
    size_t local;
} fd_geom;

static fx_status fd_geom_of(const fx_kernel_call *call, fd_geom *g)
{
    const fx_tensor *w = fd_weight(call);
    if (!ocl_has_tensor(w))
        return fx_node_fail(call->ctx, call->node, FX_ERR_INTERNAL, "the bound weight is not allocated");
    if (call->n_aux < 1 || !ocl_has_tensor(call->aux[0]))
        return fx_node_fail(call->ctx, call->node, FX_ERR_INTERNAL, "the per-filter loss buffer was not allocated");
    g->o = (int)w->shape.dim[0];
    g->c = (int)w->shape.dim[1];
    g->p = (int)(w->shape.dim[2] * w->shape.dim[3]);
    g->eps = (float)fx_node_attr_float(call->node, "eps");
    /* Enough work-items for the P (P + 1) / 2 Gram entries (45 for 3x3). */
    size_t want = (size_t)g->p * (size_t)(g->p + 1) / 2;
    g->local = ocl_group_size(call->backend, want < 64 ? 64 : want > 256 ? 256 : want);
    return FX_OK;
}

static void fd_local_args(ocl_args *a, const fd_geom *g)
{
    ocl_arg_float(a, g->eps);
    ocl_arg_local(a, (size_t)g->p * g->p * sizeof(float));
    ocl_arg_local(a, (size_t)g->p * sizeof(float));
    ocl_arg_local(a, (size_t)g->p * sizeof(cl_int));
}

fx_status ocl_filter_diversity_forward(const fx_kernel_call *call)
{
    fx_backend *be = call->backend;
    fd_geom g = { 0 };
    fx_status st = fd_geom_of(call, &g);
    ocl_args a;
    if (st == FX_OK)
        st = ocl_args_begin(be, PAPER_CL, "fd_forward", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_tensor(&a, fd_weight(call));
    ocl_arg_tensor(&a, call->aux[0]);
    ocl_arg_int(&a, g.c);
    ocl_arg_int(&a, g.p);
    fd_local_args(&a, &g);
    st = ocl_launch_groups(be, &a, (size_t)g.o, g.local, "fd_forward");
    if (st == FX_OK)
        st = ocl_args_begin(be, PAPER_CL, "loss_finish", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_tensor(&a, call->aux[0]);
    ocl_arg_int(&a, 1);
    ocl_arg_int(&a, g.o);
    ocl_arg_float(&a, 1.0f);
    ocl_arg_tensor(&a, call->aux[0]);
    ocl_arg_tensor(&a, call->out[0]);
    return ocl_launch_groups(be, &a, 1, ocl_group_size(be, 256), "loss_finish");
}

fx_status ocl_filter_diversity_backward(const fx_kernel_call *call)
{
    fx_tensor *grad = call->n_in > 0 ? call->grad_in[0] : call->param_grad[0];
    if (!ocl_has_tensor(grad) || !call->grad_out[0])
        return FX_OK;
    fx_backend *be = call->backend;
    fd_geom g = { 0 };
    fx_status st = fd_geom_of(call, &g);
    ocl_args a;
    if (st == FX_OK)
        st = ocl_args_begin(be, PAPER_CL, "fd_backward", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_tensor(&a, fd_weight(call));
    ocl_arg_tensor(&a, grad);
    ocl_arg_tensor(&a, call->grad_out[0]);
    ocl_arg_float(&a, (float)(4.0 / ((double)g.o * (double)g.p * (double)(g.p - 1))));
    ocl_arg_int(&a, g.c);
    ocl_arg_int(&a, g.p);
    ocl_arg_divisor(&a, g.p);
    fd_local_args(&a, &g);
    return ocl_launch_groups(be, &a, (size_t)g.o, g.local, "fd_backward");
}

/* ---- occlude -------------------------------------------------------------------- */

/* The window of this node and step: drawn on the host by the same
 * function as the CPU kernel (core/ops/occlude.c), so both backends paint
 * the same pixels. */
typedef struct occlude_window {
    int top, left, height, width; /* clipped to the image; may be empty */
} occlude_window;

static occlude_window occlude_draw(const fx_kernel_call *call, int64_t h, int64_t w)
{
    fx_occlude_window d = fx_occlude_draw(call->node, call->seed, h, w);
    occlude_window o = { (int)d.top, (int)d.left, (int)d.height, (int)d.width };
    return o;
}

/* With landmarks: read them to the host, compute the painted spans there
 * (fx_occlude_spans, the same function as the CPU), upload them to scratch
 * slot 0 and paint by them. The spans are integers, so both backends paint
 * exactly the same pixels. */
static fx_status occlude_spans_launch(const fx_kernel_call *call, const fx_tensor *src, fx_tensor *dst, int forward)
{
    fx_backend *be = call->backend;
    const fx_shape *s = &call->in[0]->shape;
    int64_t n = s->dim[0], h = s->dim[2], w = s->dim[3];
    size_t lm_bytes = (size_t)n * 2 * 68 * sizeof(float), sp_bytes = (size_t)(n * h) * 4 * sizeof(int32_t);
    float *lm = fx_malloc(call->ctx, lm_bytes, "occlusion landmarks");
    int32_t *spans = fx_malloc(call->ctx, sp_bytes, "occlusion spans");
    fx_status st = lm && spans ? FX_OK : FX_ERR_NOMEM;
    if (st == FX_OK)
        st = be->ops->tensor_read(be, call->in[1], lm, 0, lm_bytes);
    if (st == FX_OK)
        st = fx_occlude_spans(call->ctx, call->node, call->seed, n, h, w, lm, spans);
    cl_mem dev = NULL;
    if (st == FX_OK)
        st = ocl_scratch(be, 0, sp_bytes, &dev);
    if (st == FX_OK) {
        cl_int err = clEnqueueWriteBuffer(ocl_impl(be)->queue, dev, CL_TRUE, 0, sp_bytes, spans, 0, NULL, NULL);
        if (err != CL_SUCCESS)
            st = ocl_fail(call->ctx, err, "clEnqueueWriteBuffer(occlusion spans)");
        else
            ocl_count_transfer(be, OCL_XFER_TO_DEVICE, sp_bytes), ocl_count_sync(be);
    }
    free(lm);
    free(spans);
    ocl_args a;
    if (st == FX_OK)
        st = ocl_args_begin(be, PAPER_CL, "occlude_spans", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_tensor(&a, src);
    ocl_arg_tensor(&a, dst);
    ocl_arg_mem(&a, dev, 0);
    ocl_arg_int(&a, (int)h);
    ocl_arg_int(&a, (int)w);
    ocl_arg_int(&a, (int)s->dim[1]);
    ocl_arg_float(&a, (float)fx_node_attr_float(call->node, "value"));
    ocl_arg_int(&a, forward);
    size_t lx = ocl_group_size(be, (size_t)(w < 32 ? w : 32));
    size_t local[3] = { lx, 1, 1 };
    size_t global[3] = { (size_t)w, (size_t)h, (size_t)(n * s->dim[1]) };
    st = ocl_launch_nd(be, &a, 3, global, local, "occlude_spans");
    if (st != FX_OK || !forward)
        return st;
    /* Output 1: the plain window, as without landmarks. */
    fx_occlude_window win = fx_occlude_draw(call->node, call->seed, h, w);
    float box[4] = { (float)win.top, (float)win.left, (float)win.height, (float)win.width };
    return be->ops->tensor_write(be, call->out[1], box, 0, sizeof box);
}

static fx_status occlude_launch(const fx_kernel_call *call, const char *kernel, const fx_tensor *src, fx_tensor *dst,
                                int forward)
{
    if (call->n_in == 2)
        return occlude_spans_launch(call, src, dst, forward);
    const fx_shape *s = &call->in[0]->shape;
    int h = (int)s->dim[2], w = (int)s->dim[3];
    occlude_window win = occlude_draw(call, h, w);
    ocl_args a;
    fx_status st = ocl_args_begin(call->backend, PAPER_CL, kernel, &a);
    if (st != FX_OK)
        return st;
    ocl_arg_tensor(&a, src);
    ocl_arg_tensor(&a, dst);
    if (forward)
        ocl_arg_tensor(&a, call->out[1]);
    ocl_arg_int(&a, h);
    ocl_arg_int(&a, w);
    ocl_arg_int(&a, win.top);
    ocl_arg_int(&a, win.left);
    ocl_arg_int(&a, win.height);
    ocl_arg_int(&a, win.width);
    if (forward)
        ocl_arg_float(&a, (float)fx_node_attr_float(call->node, "value"));
    size_t lx = ocl_group_size(call->backend, (size_t)(w < 32 ? w : 32));
    size_t local[3] = { lx, 1, 1 };
    size_t global[3] = { (size_t)w, (size_t)h, (size_t)(s->dim[0] * s->dim[1]) };
    return ocl_launch_nd(call->backend, &a, 3, global, local, kernel);
}

fx_status ocl_occlude_forward(const fx_kernel_call *call)
{
    return occlude_launch(call, "occlude_forward", call->in[0], call->out[0], 1);
}

fx_status ocl_occlude_backward(const fx_kernel_call *call)
{
    if (!call->grad_in[0] || !call->grad_out[0])
        return FX_OK;
    return occlude_launch(call, "occlude_backward", call->grad_out[0], call->grad_in[0], 0);
}
