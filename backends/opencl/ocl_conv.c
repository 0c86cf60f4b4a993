/* backends/opencl/ocl_conv.c - conv2d on OpenCL (op: core/ops/conv2d.c)
 * as im2col + one CLBlast GEMM per chunk of B images:
 *   col[K, B*P] = im2col(x[first .. first+B))          K = C*kh*kw, P = OH*OW
 *   tmp[O, B*P] = W[O, K] col                           (GEMM, n = B*P: wide
 *                                                         even for 6x6 maps)
 *   y[first+b, o, p] = tmp[o, b*P + p] + bias[o]        (conv_scatter)
 * Backward per chunk, with tmp = dy in GEMM layout (conv_gather):
 *   dW += tmp col^T;   col = W^T tmp;   dx += col2im(col)
 * and db += per-channel sums of dy (one reduction over the whole batch).
 * B is chosen so the columns fit a scratch budget (64 MiB, or a quarter of
 * the device's largest allocation); scratch lives in the backend. */
#include "backends/opencl/ocl_backend.h"
#include "core/ops/window2d.h"

#define CONV_SCRATCH_BUDGET ((size_t)64 << 20)

typedef struct ocl_conv_geom {
    int n, c, h, w, o, oh, ow;
    int kh, kw, sh, sw, pt, pl;
    size_t k, p;
    int chunk;
} ocl_conv_geom;

static fx_status geom_get(const fx_kernel_call *call, ocl_conv_geom *g)
{
    const fx_tensor *x = call->in[0], *wt = call->param[0];
    fx_window2d win;
    fx_status st = fx_window2d_resolve(call->ctx, call->node, x->shape.dim[2], x->shape.dim[3], &win);
    if (st != FX_OK)
        return st;
    g->n = (int)x->shape.dim[0];
    g->c = (int)x->shape.dim[1];
    g->h = (int)x->shape.dim[2];
    g->w = (int)x->shape.dim[3];
    g->o = (int)wt->shape.dim[0];
    g->oh = (int)win.out_h;
    g->ow = (int)win.out_w;
    g->kh = (int)win.kernel_h;
    g->kw = (int)win.kernel_w;
    g->sh = (int)win.stride_h;
    g->sw = (int)win.stride_w;
    g->pt = (int)win.pad_top;
    g->pl = (int)win.pad_left;
    g->k = (size_t)g->c * g->kh * g->kw;
    g->p = (size_t)g->oh * g->ow;
    size_t budget = CONV_SCRATCH_BUDGET;
    size_t max_alloc = (size_t)ocl_impl(call->backend)->max_alloc;
    if (max_alloc && max_alloc / 4 < budget)
        budget = max_alloc / 4;
    size_t per_image = (g->k > (size_t)g->o ? g->k : (size_t)g->o) * g->p * sizeof(float);
    size_t chunk = per_image ? budget / per_image : (size_t)g->n;
    if (chunk < 1)
        chunk = 1;
    if (chunk > (size_t)g->n)
        chunk = (size_t)g->n;
    g->chunk = (int)chunk;
    return FX_OK;
}

/* im2col or col2im of images [first, first + batch). */
static fx_status column_pass(fx_backend *be, const char *kernel, const ocl_conv_geom *g, const fx_tensor *x,
                             cl_mem col, int first, int batch)
{
    ocl_args a;
    fx_status st = ocl_args_begin(be, "conv.cl", kernel, &a);
    if (st != FX_OK)
        return st;
    int is_im2col = kernel[0] == 'i';
    if (is_im2col) {
        ocl_arg_tensor(&a, x);
        ocl_arg_mem(&a, col, 0);
    } else {
        ocl_arg_mem(&a, col, 0);
        ocl_arg_tensor(&a, x);
    }
    int ints[] = { first, batch, g->c, g->h, g->w, g->kh, g->kw, g->sh, g->sw, g->pt, g->pl, g->oh, g->ow };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        ocl_arg_int(&a, ints[i]);
    size_t items = is_im2col ? g->k * (size_t)batch * g->p : (size_t)batch * g->c * g->h * g->w;
    return ocl_launch_1d(be, &a, items, 0, kernel);
}

/* conv_scatter (tmp -> y, + bias) or conv_gather (dy -> tmp). */
static fx_status layout_pass(fx_backend *be, int scatter, const ocl_conv_geom *g, const fx_tensor *y,
                             const fx_tensor *bias, cl_mem tmp, int first, int batch)
{
    ocl_args a;
    const char *kernel = scatter ? "conv_scatter" : "conv_gather";
    fx_status st = ocl_args_begin(be, "conv.cl", kernel, &a);
    if (st != FX_OK)
        return st;
    if (scatter) {
        ocl_arg_mem(&a, tmp, 0);
        ocl_arg_tensor(&a, y);
        if (bias)
            ocl_arg_tensor(&a, bias);
        else
            ocl_arg_tensor(&a, y); /* unused */
        ocl_arg_int(&a, bias != NULL);
    } else {
        ocl_arg_tensor(&a, y);
        ocl_arg_mem(&a, tmp, 0);
    }
    ocl_arg_int(&a, first);
    ocl_arg_int(&a, batch);
    ocl_arg_int(&a, g->o);
    ocl_arg_int(&a, (int)g->p);
    return ocl_launch_1d(be, &a, (size_t)batch * g->o * g->p, 0, kernel);
}

fx_status ocl_conv2d_forward(const fx_kernel_call *call)
{
    fx_backend *be = call->backend;
    ocl_conv_geom g;
    fx_status st = geom_get(call, &g);
    const fx_tensor *x = call->in[0], *w = call->param[0];
    const fx_tensor *bias = call->n_params > 1 && ocl_has_tensor(call->param[1]) ? call->param[1] : NULL;
    cl_mem col = NULL, tmp = NULL;
    if (st == FX_OK)
        st = ocl_scratch(be, 0, g.k * g.chunk * g.p * sizeof(float), &col);
    if (st == FX_OK)
        st = ocl_scratch(be, 1, (size_t)g.o * g.chunk * g.p * sizeof(float), &tmp);
    for (int first = 0; first < g.n && st == FX_OK; first += g.chunk) {
        int b = g.n - first < g.chunk ? g.n - first : g.chunk;
        size_t cols = (size_t)b * g.p;
        st = column_pass(be, "im2col", &g, x, col, first, b);
        if (st == FX_OK)
            st = ocl_gemm(be, 0, 0, (size_t)g.o, cols, g.k, 1.0f, ocl_mem(w), ocl_elem_offset(w), g.k, col, 0, cols,
                          0.0f, tmp, 0, cols, fx_node_name(call->node));
        if (st == FX_OK)
            st = layout_pass(be, 1, &g, call->out[0], bias, tmp, first, b);
    }
    return st;
}

fx_status ocl_conv2d_backward(const fx_kernel_call *call)
{
    fx_backend *be = call->backend;
    ocl_conv_geom g;
    fx_status st = geom_get(call, &g);
    const fx_tensor *x = call->in[0], *w = call->param[0], *dy = call->grad_out[0];
    fx_tensor *dx = call->grad_in ? call->grad_in[0] : NULL;
    fx_tensor *dw = call->param_grad ? call->param_grad[0] : NULL;
    fx_tensor *db = call->param_grad && call->n_params > 1 ? call->param_grad[1] : NULL;
    const char *what = fx_node_name(call->node);
    if (st == FX_OK && ocl_has_tensor(db)) {
        ocl_args a;
        st = ocl_args_begin(be, "conv.cl", "channel_sum", &a);
        if (st != FX_OK)
            return st;
        size_t local = ocl_group_size(be, 256);
        ocl_arg_tensor(&a, dy);
        ocl_arg_tensor(&a, db);
        ocl_arg_int(&a, g.n);
        ocl_arg_int(&a, g.o);
        ocl_arg_int(&a, (int)g.p);
        ocl_arg_float(&a, 1.0f);
        ocl_arg_local(&a, local * sizeof(float));
        st = ocl_launch_groups(be, &a, (size_t)g.o, local, "channel_sum");
    }
    int need_dx = ocl_has_tensor(dx), need_dw = ocl_has_tensor(dw);
    if (st != FX_OK || (!need_dx && !need_dw))
        return st;
    cl_mem col = NULL, tmp = NULL;
    st = ocl_scratch(be, 0, g.k * g.chunk * g.p * sizeof(float), &col);
    if (st == FX_OK)
        st = ocl_scratch(be, 1, (size_t)g.o * g.chunk * g.p * sizeof(float), &tmp);
    for (int first = 0; first < g.n && st == FX_OK; first += g.chunk) {
        int b = g.n - first < g.chunk ? g.n - first : g.chunk;
        size_t cols = (size_t)b * g.p;
        st = layout_pass(be, 0, &g, dy, NULL, tmp, first, b);
        if (st == FX_OK && need_dw) {
            st = column_pass(be, "im2col", &g, x, col, first, b);
            if (st == FX_OK)
                st = ocl_gemm(be, 0, 1, (size_t)g.o, g.k, cols, 1.0f, tmp, 0, cols, col, 0, cols, 1.0f, ocl_mem(dw),
                              ocl_elem_offset(dw), g.k, what);
        }
        if (st == FX_OK && need_dx) {
            st = ocl_gemm(be, 1, 0, g.k, cols, (size_t)g.o, 1.0f, ocl_mem(w), ocl_elem_offset(w), g.k, tmp, 0, cols,
                          0.0f, col, 0, cols, what);
            if (st == FX_OK)
                st = column_pass(be, "col2im", &g, dx, col, first, b);
        }
    }
    return st;
}
