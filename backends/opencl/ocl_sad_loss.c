/* backends/opencl/ocl_sad_loss.c - sad_loss on OpenCL (kernels:
 * clkernels/sad_loss.cl, whose header has the mathematics; op definition
 * core/ops/sad_loss.c; CPU reference backends/cpu/sad_loss.c; semantics
 * docs/losses.md §2, the kernels §8).
 *
 * Two kernel sets (ocl_paper_variant; FX_OPENCL_PAPER=tiled|direct forces
 * one):
 *
 * Tiled (GPUs), dense products through local-memory tiles:
 *   forward:  sad_smooth_norms -> N (normalised smoothed maps), r
 *             sad_gram         -> per-tile sums of squared cosines
 *             loss_finish      -> L_b (aux) and the batch mean (output);
 *   backward: sad_smooth_norms -> N, A N, r (the forward recomputed:
 *             nothing but L_b is saved between the passes)
 *             sad_gram -> G^ per image; sad_gram_diag -> P's diagonal;
 *             sad_backward_apply -> dm += c r_i (P A N)_i.
 *   Tiles follow the device's work-group limit: 64 x 64 on 16 x 16
 *   work-items where 256 are allowed, else 32 (8 x 8), else 16.
 *
 * Direct (CPU devices such as PoCL: no barriers, no local memory), the
 * top-k sparsity exploited as on the CPU backend:
 *   forward:  sadd_prepare   -> non-zero lists, r, T = A A M^T
 *             sadd_gram_rows -> per-row sums of squared cosines
 *             loss_finish;
 *   backward: sadd_prepare, sadd_gram_rows -> P (and the non-zero lists
 *             by position); sadd_apply -> Q^T = M^T P, then
 *             dm += (A A Q^T)^T.
 *
 * Intermediates live in the backend's two scratch buffers; the batch runs
 * in chunks of images so that each stays under SAD_SCRATCH_BYTES (and half
 * the device's largest allocation). */
#include <stdio.h>

#include "backends/opencl/ocl_paper.h"

#define SAD_CL "sad_loss.cl"
#define SAD_SCRATCH_BYTES ((size_t)256 << 20)
#define SADD_CB 64 /* sad_loss.cl: the direct kernels' rows are padded to a multiple */

typedef struct sad_plan {
    int batch, k, h, w, hw;
    int direct;            /* the CPU-device kernels */
    int ts, rt, wg;        /* tiled: tile side, entries per work-item per side, work-group side */
    int tiles;             /* tiled: channel tiles */
    int parts;             /* loss partials per image: tile pairs (tiled), K (direct) */
    int kp;                /* direct: K padded to a multiple of SADD_CB */
    int chunk;             /* images per pass */
    float eps;
    char options[64];
    size_t norm_local;     /* tiled: sad_smooth_norms / sad_gram_diag work-group */
} sad_plan;

/* The scratch layout of one chunk (element offsets into s0 and s1). */
typedef struct sad_buffers {
    cl_mem s0, s1;
    /* tiled: N in s0; A N, the Gram, r + eps flags, partials in s1 */
    size_t an, gram;
    /* direct: T (then Q^T) in s0; S^T (then A Q^T), the non-zero lists by
     * channel and their counts, r + eps flags, P, the lists by position
     * (counts, channels, values), partials in s1 */
    size_t st, pos, cnt, pm, ccnt, cch, cval;
    size_t rinfo, part;
} sad_buffers;

/* Floats of scratch per image in slot 0 and slot 1, and the layout. */
static void sad_layout(const sad_plan *p, int backward, size_t images, size_t *s0, sad_buffers *bu)
{
    size_t khw = (size_t)p->k * p->hw, o = 0;
    if (p->direct) {
        *s0 = images * p->hw * p->kp;
        bu->st = o, o += images * p->hw * p->kp;
        bu->pos = o, o += images * khw;
        bu->cnt = o, o += images * p->k;
        bu->rinfo = o, o += 2 * images * p->kp;
        bu->pm = o, o += backward ? images * p->k * p->kp : 0;
        bu->ccnt = o, o += backward ? images * p->hw : 0;
        bu->cch = o, o += backward ? images * khw : 0;
        bu->cval = o, o += backward ? images * khw : 0;
    } else {
        *s0 = images * khw;
        bu->an = o, o += backward ? images * khw : 0;
        bu->gram = o, o += backward ? images * p->k * p->k : 0;
        bu->rinfo = o, o += 2 * images * p->k;
    }
    bu->part = o;
}

static fx_status sad_plan_make(const fx_kernel_call *call, int backward, sad_plan *p)
{
    ocl_backend *b = ocl_impl(call->backend);
    const fx_shape *s = &call->in[0]->shape;
    p->batch = (int)s->dim[0];
    p->k = (int)s->dim[1];
    p->h = (int)s->dim[2];
    p->w = (int)s->dim[3];
    p->hw = p->h * p->w;
    p->eps = (float)fx_node_attr_float(call->node, "eps");
    fx_status st = ocl_paper_variant(call->backend, &p->direct);
    if (st != FX_OK)
        return st;
    if (call->n_aux < 1 || !ocl_has_tensor(call->aux[0]))
        return fx_node_fail(call->ctx, call->node, FX_ERR_INTERNAL, "the per-image loss buffer was not allocated");
    if (p->direct) {
        p->kp = (p->k + SADD_CB - 1) / SADD_CB * SADD_CB;
        p->parts = p->k;
        p->options[0] = '\0';
    } else {
        p->rt = 4;
        p->ts = b->max_work_group >= 256 ? 64 : b->max_work_group >= 64 ? 32 : 16;
        p->wg = p->ts / p->rt;
        p->tiles = (p->k + p->ts - 1) / p->ts;
        p->parts = p->tiles * (p->tiles + 1) / 2;
        snprintf(p->options, sizeof p->options, "-DSAD_TS=%d -DSAD_RT=%d", p->ts, p->rt);
        p->norm_local = ocl_group_size(call->backend, 256);
    }
    /* Images per chunk: what one image needs in the larger slot. */
    size_t s0 = 0;
    sad_buffers one;
    sad_layout(p, backward, 1, &s0, &one);
    size_t per_image = (s0 > one.part ? s0 : one.part) * sizeof(float);
    size_t budget = SAD_SCRATCH_BYTES;
    if (b->max_alloc && b->max_alloc / 2 < budget)
        budget = (size_t)(b->max_alloc / 2);
    size_t chunk = budget / (per_image ? per_image : 1);
    p->chunk = chunk < 1 ? 1 : chunk > (size_t)p->batch ? p->batch : (int)chunk;
    return FX_OK;
}

static fx_status sad_buffers_get(fx_backend *be, const sad_plan *p, int backward, sad_buffers *out)
{
    size_t s0 = 0;
    sad_layout(p, backward, (size_t)p->chunk, &s0, out);
    /* The partials of every image (the tiled Gram writes them in backward
     * too). */
    size_t s1 = out->part + (size_t)p->batch * p->parts;
    fx_status st = ocl_scratch(be, 0, s0 * sizeof(float), &out->s0);
    if (st == FX_OK)
        st = ocl_scratch(be, 1, s1 * sizeof(float), &out->s1);
    return st;
}

/* Tiled: N = normalised A m for images [b0, b0 + nb), and in backward
 * also A N, in one sad_smooth_norms launch. */
static fx_status sad_run_normalize(const fx_kernel_call *call, const sad_plan *p, const sad_buffers *bu, int b0,
                                   int nb, int backward)
{
    fx_backend *be = call->backend;
    int maps = nb * p->k;
    ocl_args a;
    fx_status st = ocl_args_begin_opts(be, SAD_CL, p->options, "sad_smooth_norms", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_mem(&a, ocl_mem(call->in[0]), ocl_elem_offset(call->in[0]) + (size_t)b0 * p->k * p->hw);
    ocl_arg_mem(&a, bu->s0, 0);
    ocl_arg_mem(&a, bu->s1, bu->an);
    ocl_arg_mem(&a, bu->s1, bu->rinfo);
    ocl_arg_int(&a, maps);
    ocl_arg_int(&a, p->h);
    ocl_arg_int(&a, p->w);
    ocl_arg_divisor(&a, p->w);
    ocl_arg_float(&a, p->eps);
    ocl_arg_int(&a, backward);
    ocl_arg_local(&a, p->norm_local * sizeof(float));
    return ocl_launch_groups(be, &a, (size_t)maps, p->norm_local, "sad_smooth_norms");
}

static fx_status sad_run_gram(const fx_kernel_call *call, const sad_plan *p, const sad_buffers *bu, int b0, int nb,
                              int backward)
{
    fx_backend *be = call->backend;
    ocl_args a;
    fx_status st = ocl_args_begin_opts(be, SAD_CL, p->options, "sad_gram", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_mem(&a, bu->s0, 0);
    ocl_arg_mem(&a, bu->s1, bu->gram);
    ocl_arg_mem(&a, bu->s1, bu->part + (size_t)b0 * p->parts);
    ocl_arg_int(&a, p->k);
    ocl_arg_int(&a, p->hw);
    ocl_arg_int(&a, p->tiles);
    ocl_arg_int(&a, backward);
    size_t global[2] = { (size_t)p->parts * p->wg, (size_t)nb * p->wg }, local[2] = { p->wg, p->wg };
    return ocl_launch_nd(be, &a, 2, global, local, "sad_gram");
}

/* Tiled backward for images [b0, b0 + nb): P's diagonal, then
 * dm += c g r_i (P A N)_i. */
static fx_status sad_run_tiled_backward(const fx_kernel_call *call, const sad_plan *p, const sad_buffers *bu, int b0,
                                        int nb, float coef)
{
    fx_backend *be = call->backend;
    ocl_args a;
    fx_status st = ocl_args_begin_opts(be, SAD_CL, p->options, "sad_gram_diag", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_mem(&a, bu->s1, bu->gram);
    ocl_arg_mem(&a, bu->s1, bu->rinfo);
    ocl_arg_int(&a, p->k);
    ocl_arg_int(&a, nb * p->k);
    ocl_arg_local(&a, p->norm_local * sizeof(float));
    st = ocl_launch_groups(be, &a, (size_t)nb * p->k, p->norm_local, "sad_gram_diag");
    if (st == FX_OK)
        st = ocl_args_begin_opts(be, SAD_CL, p->options, "sad_backward_apply", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_mem(&a, bu->s1, bu->gram);
    ocl_arg_mem(&a, bu->s1, bu->an);
    ocl_arg_mem(&a, bu->s1, bu->rinfo);
    ocl_arg_tensor(&a, call->grad_out[0]);
    ocl_arg_float(&a, coef);
    ocl_arg_mem(&a, ocl_mem(call->grad_in[0]), ocl_elem_offset(call->grad_in[0]) + (size_t)b0 * p->k * p->hw);
    ocl_arg_int(&a, p->k);
    ocl_arg_int(&a, p->hw);
    size_t global[3] = { (size_t)((p->hw + p->ts - 1) / p->ts) * p->wg, (size_t)p->tiles * p->wg, (size_t)nb };
    size_t local[3] = { (size_t)p->wg, (size_t)p->wg, 1 };
    return ocl_launch_nd(be, &a, 3, global, local, "sad_backward_apply");
}

/* Direct, images [b0, b0 + nb): sadd_prepare then sadd_gram_rows (loss
 * partials in forward; P in backward, whose c g comes from grad_out). */
static fx_status sad_run_direct(const fx_kernel_call *call, const sad_plan *p, const sad_buffers *bu, int b0, int nb,
                                int backward, float coef)
{
    fx_backend *be = call->backend;
    size_t m_off = ocl_elem_offset(call->in[0]) + (size_t)b0 * p->k * p->hw;
    ocl_args a;
    fx_status st = ocl_args_begin_opts(be, SAD_CL, p->options, "sadd_prepare", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_mem(&a, ocl_mem(call->in[0]), m_off);
    ocl_arg_mem(&a, bu->s1, bu->pos);
    ocl_arg_mem(&a, bu->s1, bu->cnt);
    ocl_arg_mem(&a, bu->s1, bu->rinfo);
    ocl_arg_mem(&a, bu->s1, bu->st);
    ocl_arg_mem(&a, bu->s0, 0);
    ocl_arg_int(&a, p->k);
    ocl_arg_int(&a, p->kp);
    ocl_arg_int(&a, p->h);
    ocl_arg_int(&a, p->w);
    ocl_arg_divisor(&a, p->w);
    ocl_arg_int(&a, nb);
    ocl_arg_float(&a, p->eps);
    size_t global[2] = { (size_t)(p->kp / SADD_CB), (size_t)nb };
    st = ocl_launch_nd(be, &a, 2, global, NULL, "sadd_prepare");
    if (st == FX_OK)
        st = ocl_args_begin_opts(be, SAD_CL, p->options, "sadd_gram_rows", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_mem(&a, ocl_mem(call->in[0]), m_off);
    ocl_arg_mem(&a, bu->s1, bu->pos);
    ocl_arg_mem(&a, bu->s1, bu->cnt);
    ocl_arg_mem(&a, bu->s1, bu->rinfo);
    ocl_arg_mem(&a, bu->s0, 0);
    ocl_arg_mem(&a, bu->s1, bu->part + (size_t)b0 * p->parts);
    ocl_arg_mem(&a, bu->s1, bu->pm);
    ocl_arg_mem(&a, bu->s1, bu->ccnt);
    ocl_arg_mem(&a, bu->s1, bu->cch);
    ocl_arg_mem(&a, bu->s1, bu->cval);
    if (backward)
        ocl_arg_tensor(&a, call->grad_out[0]);
    else
        ocl_arg_mem(&a, bu->s1, bu->rinfo); /* not read */
    ocl_arg_float(&a, coef);
    ocl_arg_int(&a, p->k);
    ocl_arg_int(&a, p->kp);
    ocl_arg_int(&a, p->hw);
    ocl_arg_int(&a, nb);
    ocl_arg_int(&a, backward);
    global[0] = (size_t)p->k;
    return ocl_launch_nd(be, &a, 2, global, NULL, "sadd_gram_rows");
}

/* Direct backward, after sad_run_direct: dm += (A A M^T P)^T, a block
 * of channels per work-item. */
static fx_status sad_run_direct_backward(const fx_kernel_call *call, const sad_plan *p, const sad_buffers *bu, int b0,
                                         int nb)
{
    fx_backend *be = call->backend;
    ocl_args a;
    fx_status st = ocl_args_begin_opts(be, SAD_CL, p->options, "sadd_apply", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_mem(&a, bu->s1, bu->ccnt);
    ocl_arg_mem(&a, bu->s1, bu->cch);
    ocl_arg_mem(&a, bu->s1, bu->cval);
    ocl_arg_mem(&a, bu->s1, bu->pm);
    ocl_arg_mem(&a, bu->s0, 0);
    ocl_arg_mem(&a, bu->s1, bu->st);
    ocl_arg_mem(&a, ocl_mem(call->grad_in[0]), ocl_elem_offset(call->grad_in[0]) + (size_t)b0 * p->k * p->hw);
    ocl_arg_int(&a, p->k);
    ocl_arg_int(&a, p->kp);
    ocl_arg_int(&a, p->h);
    ocl_arg_int(&a, p->w);
    ocl_arg_int(&a, nb);
    size_t global[2] = { (size_t)(p->kp / SADD_CB), (size_t)nb };
    return ocl_launch_nd(be, &a, 2, global, NULL, "sadd_apply");
}

fx_status ocl_sad_loss_forward(const fx_kernel_call *call)
{
    fx_backend *be = call->backend;
    sad_plan p = { 0 };
    sad_buffers bu = { 0 };
    fx_status st = sad_plan_make(call, 0, &p);
    if (st == FX_OK)
        st = sad_buffers_get(be, &p, 0, &bu);
    for (int b0 = 0; b0 < p.batch && st == FX_OK; b0 += p.chunk) {
        int nb = p.batch - b0 < p.chunk ? p.batch - b0 : p.chunk;
        if (p.direct) {
            st = sad_run_direct(call, &p, &bu, b0, nb, 0, 0.0f);
        } else {
            st = sad_run_normalize(call, &p, &bu, b0, nb, 0);
            if (st == FX_OK)
                st = sad_run_gram(call, &p, &bu, b0, nb, 0);
        }
    }
    if (st != FX_OK)
        return st;
    ocl_args a;
    st = ocl_args_begin(be, "paper.cl", "loss_finish", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_mem(&a, bu.s1, bu.part);
    ocl_arg_int(&a, p.parts);
    ocl_arg_int(&a, p.batch);
    ocl_arg_float(&a, (float)(1.0 / ((double)p.k * (double)(p.k - 1))));
    ocl_arg_tensor(&a, call->aux[0]);
    ocl_arg_tensor(&a, call->out[0]);
    size_t local = ocl_group_size(be, 256);
    return ocl_launch_groups(be, &a, 1, local, "loss_finish");
}

fx_status ocl_sad_loss_backward(const fx_kernel_call *call)
{
    if (!call->grad_in[0] || !call->grad_out[0])
        return FX_OK;
    fx_backend *be = call->backend;
    sad_plan p = { 0 };
    sad_buffers bu = { 0 };
    fx_status st = sad_plan_make(call, 1, &p);
    if (st == FX_OK)
        st = sad_buffers_get(be, &p, 1, &bu);
    const float coef = (float)(4.0 / ((double)p.batch * (double)p.k * (double)(p.k - 1)));
    for (int b0 = 0; b0 < p.batch && st == FX_OK; b0 += p.chunk) {
        int nb = p.batch - b0 < p.chunk ? p.batch - b0 : p.chunk;
        if (p.direct) {
            st = sad_run_direct(call, &p, &bu, b0, nb, 1, coef);
            if (st == FX_OK)
                st = sad_run_direct_backward(call, &p, &bu, b0, nb);
        } else {
            st = sad_run_normalize(call, &p, &bu, b0, nb, 1);
            if (st == FX_OK)
                st = sad_run_gram(call, &p, &bu, b0, nb, 1);
            if (st == FX_OK)
                st = sad_run_tiled_backward(call, &p, &bu, b0, nb, coef);
        }
    }
    return st;
}
