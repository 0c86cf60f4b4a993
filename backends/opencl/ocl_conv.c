/* backends/opencl/ocl_conv.c - conv2d on OpenCL (op: core/ops/conv2d.c)
 * as im2col + batched GEMMs (ocl_gemm.c: fx's kernels or CLBlast) over
 * chunks of B images, K = C*kh*kw, P = OH*OW:
 *   col[b] = im2col(x[first + b])            [K, P] per image (im2col_planes)
 *   y[first + b] = W[O, K] col[b] + bias     one batched GEMM writing the
 *                                            NCHW planes in place
 * Backward per chunk:
 *   dW += sum_b dy[first + b] col[b]^T       (ocl_gemm_nt_sum)
 *   col[b] = W^T dy[first + b];  dx += col2im(col)   (col2im_rows)
 * and db += per-channel sums of dy (one reduction over the whole batch).
 * A 1x1, stride-1, unpadded conv skips im2col: col[b] is x[b] itself, and
 * W^T dy adds straight into dx. When one chunk holds the batch and no
 * other op took the scratch since the forward, backward reuses the
 * forward's columns (the last conv of a network saves an im2col).
 * B is chosen so the columns fit a scratch budget (64 MiB, or a quarter of
 * the device's largest allocation); scratch slot 0 lives in the backend
 * (slot 1 holds CLBlast's partial weight gradients). */
#include "backends/opencl/ocl_backend.h"
#include "fx/geometry.h"

#define CONV_SCRATCH_BUDGET ((size_t)64 << 20)

typedef struct ocl_conv_geom {
    int n, c, h, w, o, oh, ow;
    int kh, kw, sh, sw, pt, pl;
    size_t k, p;
    int chunk;
    int direct;      /* 1x1, stride 1, no padding: columns = x */
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
    g->direct = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 && g->pl == 0 && g->oh == g->h &&
                g->ow == g->w;
    size_t per_image = g->k * g->p * sizeof(float);
    size_t chunk = per_image ? budget / per_image : (size_t)g->n;
    if (chunk < 1)
        chunk = 1;
    if (chunk > (size_t)g->n)
        chunk = (size_t)g->n;
    g->chunk = (int)chunk;
    return FX_OK;
}

/* im2col_planes (x -> col) or col2im_rows (col -> dx, adding) of images
 * [first, first + batch). */
static fx_status column_pass(fx_backend *be, int to_columns, const ocl_conv_geom *g, const fx_tensor *x, cl_mem col,
                             int first, int batch)
{
    ocl_args a;
    int cpu = ocl_impl(be)->cpu_style;
    if (cpu && !to_columns && g->sh == 1 && g->sw == 1 && g->oh == g->h && g->ow == g->w) {
        /* Stride 1, output the size of the input: the vector kernel. */
        const char *kernel = "col2im_same_s1";
        fx_status st = ocl_args_begin(be, "conv.cl", kernel, &a);
        if (st != FX_OK)
            return st;
        ocl_arg_mem(&a, col, 0);
        ocl_arg_tensor(&a, x);
        int ints[] = { first, batch, g->c, g->h, g->w, g->kh, g->kw, g->pt, g->pl };
        for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
            ocl_arg_int(&a, ints[i]);
        size_t chunks = (g->p + 15) / 16;
        return ocl_launch_1d(be, &a, (size_t)batch * g->c * chunks, 0, kernel);
    }
    /* CPU: a work-item per plane (im2col) or input row (col2im) with
     * long contiguous loops; GPU: a work-item per element, coalesced. */
    const char *kernel = to_columns ? (cpu ? "im2col_planes" : "im2col_elements")
                                    : (cpu ? "col2im_rows" : "col2im_elements");
    fx_status st = ocl_args_begin(be, "conv.cl", kernel, &a);
    if (st != FX_OK)
        return st;
    if (to_columns) {
        ocl_arg_tensor(&a, x);
        ocl_arg_mem(&a, col, 0);
    } else {
        ocl_arg_mem(&a, col, 0);
        ocl_arg_tensor(&a, x);
    }
    int ints[] = { first, batch, g->c, g->h, g->w, g->kh, g->kw, g->sh, g->sw, g->pt, g->pl, g->oh, g->ow };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        ocl_arg_int(&a, ints[i]);
    size_t items = to_columns ? (size_t)batch * g->k * (cpu ? 1 : g->p) : (size_t)batch * g->c * g->h * (cpu ? 1 : g->w);
    return ocl_launch_1d(be, &a, items, 0, kernel);
}

/* The [K, P] column matrices of images [first, first + batch): x itself
 * for a direct conv, else scratch filled by im2col. */
static fx_status columns(fx_backend *be, const ocl_conv_geom *g, const fx_tensor *x, cl_mem col, int first,
                         int batch, ocl_matrix *out)
{
    if (g->direct) {
        ocl_matrix m = { ocl_mem(x), ocl_elem_offset(x) + (size_t)first * g->k * g->p, g->p, g->k * g->p };
        *out = m;
        return FX_OK;
    }
    ocl_matrix m = { col, 0, g->p, g->k * g->p };
    *out = m;
    return column_pass(be, 1, g, x, col, first, batch);
}

/* Planes [first, first + batch) of an NCHW tensor with `channels` rows of
 * P: a batch of [channels, P] matrices. */
static ocl_matrix planes(const fx_tensor *t, int first, size_t channels, size_t p)
{
    ocl_matrix m = { ocl_mem(t), ocl_elem_offset(t) + (size_t)first * channels * p, p, channels * p };
    return m;
}

fx_status ocl_channel_sum(fx_backend *be, const fx_tensor *x, fx_tensor *out, int n, int channels, int plane,
                          float scale)
{
    ocl_args a;
    int cpu = ocl_impl(be)->cpu_style;
    fx_status st = ocl_args_begin(be, "conv.cl", cpu ? "channel_sum_rows" : "channel_sum", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_tensor(&a, x);
    ocl_arg_tensor(&a, out);
    ocl_arg_int(&a, n);
    ocl_arg_int(&a, channels);
    ocl_arg_int(&a, plane);
    ocl_arg_float(&a, scale);
    if (cpu) /* one work-item per channel, each its own group: spread over the cores */
        return ocl_launch_1d(be, &a, (size_t)channels, 1, "channel_sum_rows");
    size_t local = ocl_group_size(be, plane == 1 ? 64 : 256);
    ocl_arg_local(&a, local * sizeof(float));
    return ocl_launch_groups(be, &a, (size_t)channels, local, "channel_sum");
}

fx_status ocl_conv2d_forward(const fx_kernel_call *call)
{
    fx_backend *be = call->backend;
    ocl_conv_geom g;
    fx_status st = geom_get(call, &g);
    const fx_tensor *x = call->in[0], *w = call->param[0];
    const fx_tensor *bias = call->n_params > 1 && ocl_has_tensor(call->param[1]) ? call->param[1] : NULL;
    cl_mem col = NULL;
    if (st == FX_OK && !g.direct)
        st = ocl_scratch(be, 0, g.k * g.chunk * g.p * sizeof(float), &col);
    ocl_matrix wm = { ocl_mem(w), ocl_elem_offset(w), g.k, 0 };
    for (int first = 0; first < g.n && st == FX_OK; first += g.chunk) {
        int b = g.n - first < g.chunk ? g.n - first : g.chunk;
        ocl_matrix cols;
        st = columns(be, &g, x, col, first, b, &cols);
        if (st == FX_OK)
            st = ocl_gemm_batched(be, 0, (size_t)g.o, g.p, g.k, 1.0f, wm, cols, 0.0f,
                                  planes(call->out[0], first, (size_t)g.o, g.p), (size_t)b, bias,
                                  fx_node_name(call->node));
    }
    ocl_backend *ob = ocl_impl(be);
    if (st == FX_OK && !g.direct && g.chunk >= g.n) {
        /* The whole batch's columns stay in slot 0 until someone takes it. */
        ob->cols_node = call->node;
        ob->cols_x = ocl_mem(x);
        ob->cols_x_offset = x->offset;
        ob->cols_gen = ob->scratch_gen[0];
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
    if (st == FX_OK && ocl_has_tensor(db))
        st = ocl_channel_sum(be, dy, db, g.n, g.o, (int)g.p, 1.0f);
    int need_dx = ocl_has_tensor(dx), need_dw = ocl_has_tensor(dw);
    if (st != FX_OK || (!need_dx && !need_dw))
        return st;
    /* The columns of this node's forward are still in scratch when it was
     * the last to take the slot (the last conv of a network, typically):
     * the weight gradient then needs no second im2col. x has not changed:
     * nothing writes a value between the forward that read it and the
     * backward that needs it. */
    ocl_backend *ob = ocl_impl(be);
    int reuse = !g.direct && g.chunk >= g.n && ob->cols_node == (const void *)call->node &&
                ob->cols_x == ocl_mem(x) && ob->cols_x_offset == x->offset && ob->cols_gen == ob->scratch_gen[0];
    cl_mem col = NULL;
    if (!g.direct)
        st = ocl_scratch(be, 0, g.k * g.chunk * g.p * sizeof(float), &col);
    ocl_matrix wm = { ocl_mem(w), ocl_elem_offset(w), g.k, 0 };
    for (int first = 0; first < g.n && st == FX_OK; first += g.chunk) {
        int b = g.n - first < g.chunk ? g.n - first : g.chunk;
        ocl_matrix dym = planes(dy, first, (size_t)g.o, g.p);
        if (need_dw) {
            ocl_matrix cols = { col, 0, g.p, g.k * g.p };
            if (!reuse)
                st = columns(be, &g, x, col, first, b, &cols);
            if (st == FX_OK)
                st = ocl_gemm_nt_sum(be, (size_t)g.o, g.k, g.p, 1.0f, dym, cols, (size_t)b, 1.0f, ocl_mem(dw),
                                     ocl_elem_offset(dw), g.k, what);
        }
        if (st == FX_OK && need_dx) {
            if (g.direct) {
                st = ocl_gemm_batched(be, 1, g.k, g.p, (size_t)g.o, 1.0f, wm, dym, 1.0f, planes(dx, first, g.k, g.p),
                                      (size_t)b, NULL, what);
            } else {
                ocl_matrix cm = { col, 0, g.p, g.k * g.p };
                st = ocl_gemm_batched(be, 1, g.k, g.p, (size_t)g.o, 1.0f, wm, dym, 0.0f, cm, (size_t)b, NULL, what);
                if (st == FX_OK)
                    st = column_pass(be, 0, &g, dx, col, first, b);
            }
        }
    }
    return st;
}
