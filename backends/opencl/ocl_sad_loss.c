/* backends/opencl/ocl_sad_loss.c - sad_loss on OpenCL (kernels:
 * clkernels/sad_loss.cl, whose header has the mathematics; op definition
 * core/ops/sad_loss.c; CPU reference backends/cpu/sad_loss.c; semantics
 * docs/losses.md §2).
 *
 * Forward:  sad_smooth, sad_norms -> N (normalised smoothed maps), r
 *           sad_gram      -> per-tile sums of squared cosines (no Gram kept)
 *           loss_finish   -> L_b (aux) and the batch mean (output).
 * Backward: the same and sad_smooth again -> N, A N, r (the forward is
 *           recomputed: nothing but L_b is saved between the passes)
 *           sad_gram      -> G^ per image (K x K)
 *           sad_gram_diag -> P's diagonal
 *           sad_backward_apply -> dm += c r_i (P A N)_i.
 *
 * Intermediates: N (forward and backward) and A N (backward) are the size
 * of the input, and the Gram is K x K per image in backward. They live in
 * the backend's two scratch buffers (slot 0: N; slot 1: A N, the Gram, r
 * and the loss partials). N cannot be avoided without recomputing the
 * smoothing and the norms in every Gram tile (each map is read by K / TS
 * tiles); A N saves a smoothing pass over the gradient. The batch runs in
 * chunks of images so that each scratch buffer stays under
 * SAD_SCRATCH_BYTES (and the device's largest allocation).
 *
 * Tile sizes come from the device's work-group limit: 64 x 64 tiles on
 * 16 x 16 work-items where 256 are allowed, else 32 (8 x 8), else 16.
 * On CPU devices (PoCL), where barriers and local memory cost more than
 * they save, the Gram and the backward product run barrier-free instead
 * (sad_gram_direct, sad_backward_apply_direct) and the smoothing a row per
 * work-item (sad_smooth_rows); ocl_paper_variant decides,
 * FX_OPENCL_PAPER=tiled or direct overrides. */
#include <stdio.h>

#include "backends/opencl/ocl_paper.h"

#define SAD_CL "sad_loss.cl"
#define SAD_SCRATCH_BYTES ((size_t)256 << 20)

typedef struct sad_plan {
    int batch, k, h, w, hw;
    int ts, rt, wg;        /* tile side, entries per work-item per side, work-group side */
    int direct;            /* barrier-free kernels (CPU devices) */
    int tiles, pairs;      /* tiled: channel tiles, tile pairs (ti <= tj); direct: blocks, blocks^2 */
    int chunk;             /* images per pass */
    float eps;
    char options[64];
    size_t norm_local;     /* sad_norms / sad_gram_diag work-group */
} sad_plan;

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
    p->rt = 4;
    p->ts = b->max_work_group >= 256 ? 64 : b->max_work_group >= 64 ? 32 : 16;
    p->wg = p->ts / p->rt;
    if (p->direct) {
        p->tiles = (p->k + 3) / 4; /* SADD_B */
        p->pairs = p->tiles * p->tiles;
    } else {
        p->tiles = (p->k + p->ts - 1) / p->ts;
        p->pairs = p->tiles * (p->tiles + 1) / 2;
    }
    snprintf(p->options, sizeof p->options, "-DSAD_TS=%d -DSAD_RT=%d", p->ts, p->rt);
    /* Per-map and per-row reductions: wide work-groups on GPUs; on CPU
     * drivers each barrier costs a pass over the work-items, so few. */
    p->norm_local = ocl_group_size(call->backend, p->direct ? 16 : 256);
    /* Per image: slot 0 holds N; slot 1 holds A N and the Gram (backward)
     * and r plus the eps flags. The partials of all images sit after them. */
    size_t map_bytes = (size_t)p->k * (size_t)p->hw * sizeof(float);
    size_t slot1 = (backward ? map_bytes + (size_t)p->k * p->k * sizeof(float) : 0) + 2 * (size_t)p->k * sizeof(float);
    size_t per_image = map_bytes > slot1 ? map_bytes : slot1;
    size_t budget = SAD_SCRATCH_BYTES;
    if (b->max_alloc && b->max_alloc / 2 < budget)
        budget = (size_t)(b->max_alloc / 2);
    size_t chunk = budget / (per_image ? per_image : 1);
    p->chunk = chunk < 1 ? 1 : chunk > (size_t)p->batch ? p->batch : (int)chunk;
    if (call->n_aux < 1 || !ocl_has_tensor(call->aux[0]))
        return fx_node_fail(call->ctx, call->node, FX_ERR_INTERNAL, "the per-image loss buffer was not allocated");
    return FX_OK;
}

/* The scratch layout of one chunk (element offsets). */
typedef struct sad_buffers {
    cl_mem n, s1;
    size_t an, gram, rinfo, part; /* offsets in s1 */
} sad_buffers;

static fx_status sad_buffers_get(fx_backend *be, const sad_plan *p, int backward, sad_buffers *out)
{
    size_t maps = (size_t)p->chunk * p->k, map_floats = maps * p->hw;
    out->an = 0;
    out->gram = backward ? map_floats : 0;
    out->rinfo = out->gram + (backward ? (size_t)p->chunk * p->k * p->k : 0);
    out->part = out->rinfo + 2 * maps;
    size_t s1_floats = out->part + (size_t)p->batch * p->pairs;
    fx_status st = ocl_scratch(be, 0, map_floats * sizeof(float), &out->n);
    if (st == FX_OK)
        st = ocl_scratch(be, 1, s1_floats * sizeof(float), &out->s1);
    return st;
}

/* dst = A src over `maps` maps: sad_smooth (a work-item per position) or,
 * on CPU devices, sad_smooth_rows (a work-item per row). */
static fx_status sad_smooth(fx_backend *be, const sad_plan *p, cl_mem src, size_t src_off, cl_mem dst,
                            size_t dst_off, int maps)
{
    const char *name = p->direct ? "sad_smooth_rows" : "sad_smooth";
    ocl_args a;
    fx_status st = ocl_args_begin_opts(be, SAD_CL, p->options, name, &a);
    if (st != FX_OK)
        return st;
    ocl_arg_mem(&a, src, src_off);
    ocl_arg_mem(&a, dst, dst_off);
    size_t total = (size_t)maps * (p->direct ? p->h : p->hw);
    ocl_arg_int(&a, (int)total);
    ocl_arg_int(&a, p->h);
    ocl_arg_int(&a, p->w);
    if (p->direct) {
        ocl_arg_divisor(&a, p->h);
        return ocl_launch_1d(be, &a, total, ocl_group_size(be, 64), name);
    }
    ocl_arg_divisor(&a, p->hw);
    ocl_arg_divisor(&a, p->w);
    return ocl_launch_1d(be, &a, total, ocl_group_size(be, 256), name);
}

/* N = normalised A m for images [b0, b0 + nb): sad_smooth, sad_norms;
 * in backward also AN = A N (sad_smooth again). */
static fx_status sad_run_normalize(const fx_kernel_call *call, const sad_plan *p, const sad_buffers *bu, int b0,
                                   int nb, int backward)
{
    fx_backend *be = call->backend;
    int maps = nb * p->k;
    fx_status st = sad_smooth(be, p, ocl_mem(call->in[0]), ocl_elem_offset(call->in[0]) + (size_t)b0 * p->k * p->hw,
                              bu->n, 0, maps);
    ocl_args a;
    if (st == FX_OK)
        st = ocl_args_begin_opts(be, SAD_CL, p->options, "sad_norms", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_mem(&a, bu->n, 0);
    ocl_arg_mem(&a, bu->s1, bu->rinfo);
    ocl_arg_int(&a, maps);
    ocl_arg_int(&a, p->hw);
    ocl_arg_float(&a, p->eps);
    ocl_arg_local(&a, p->norm_local * sizeof(float));
    st = ocl_launch_groups(be, &a, (size_t)maps, p->norm_local, "sad_norms");
    if (st != FX_OK || !backward)
        return st;
    return sad_smooth(be, p, bu->n, 0, bu->s1, bu->an, maps);
}

static fx_status sad_run_gram(const fx_kernel_call *call, const sad_plan *p, const sad_buffers *bu, int b0, int nb,
                              int backward)
{
    fx_backend *be = call->backend;
    ocl_args a;
    const char *name = p->direct ? "sad_gram_direct" : "sad_gram";
    fx_status st = ocl_args_begin_opts(be, SAD_CL, p->options, name, &a);
    if (st != FX_OK)
        return st;
    ocl_arg_mem(&a, bu->n, 0);
    ocl_arg_mem(&a, bu->s1, bu->gram);
    ocl_arg_mem(&a, bu->s1, bu->part + (size_t)b0 * p->pairs);
    ocl_arg_int(&a, p->k);
    ocl_arg_int(&a, p->hw);
    ocl_arg_int(&a, p->tiles);
    ocl_arg_int(&a, backward);
    if (p->direct) {
        size_t global[3] = { (size_t)p->tiles, (size_t)p->tiles, (size_t)nb };
        return ocl_launch_nd(be, &a, 3, global, NULL, name);
    }
    size_t global[2] = { (size_t)p->pairs * p->wg, (size_t)nb * p->wg }, local[2] = { p->wg, p->wg };
    return ocl_launch_nd(be, &a, 2, global, local, name);
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
        st = sad_run_normalize(call, &p, &bu, b0, nb, 0);
        if (st == FX_OK)
            st = sad_run_gram(call, &p, &bu, b0, nb, 0);
    }
    if (st != FX_OK)
        return st;
    ocl_args a;
    st = ocl_args_begin(be, "paper.cl", "loss_finish", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_mem(&a, bu.s1, bu.part);
    ocl_arg_int(&a, p.pairs);
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
        st = sad_run_normalize(call, &p, &bu, b0, nb, 1);
        if (st == FX_OK)
            st = sad_run_gram(call, &p, &bu, b0, nb, 1);
        ocl_args a;
        if (st == FX_OK)
            st = ocl_args_begin_opts(be, SAD_CL, p.options, "sad_gram_diag", &a);
        if (st != FX_OK)
            break;
        ocl_arg_mem(&a, bu.s1, bu.gram);
        ocl_arg_mem(&a, bu.s1, bu.rinfo);
        ocl_arg_int(&a, p.k);
        ocl_arg_int(&a, nb * p.k);
        ocl_arg_local(&a, p.norm_local * sizeof(float));
        st = ocl_launch_groups(be, &a, (size_t)nb * p.k, p.norm_local, "sad_gram_diag");
        const char *name = p.direct ? "sad_backward_apply_direct" : "sad_backward_apply";
        if (st == FX_OK)
            st = ocl_args_begin_opts(be, SAD_CL, p.options, name, &a);
        if (st != FX_OK)
            break;
        ocl_arg_mem(&a, bu.s1, bu.gram);
        ocl_arg_mem(&a, bu.s1, bu.an);
        ocl_arg_mem(&a, bu.s1, bu.rinfo);
        ocl_arg_tensor(&a, call->grad_out[0]);
        ocl_arg_float(&a, coef);
        ocl_arg_mem(&a, ocl_mem(call->grad_in[0]), ocl_elem_offset(call->grad_in[0]) + (size_t)b0 * p.k * p.hw);
        ocl_arg_int(&a, p.k);
        ocl_arg_int(&a, p.hw);
        if (p.direct) {
            size_t global[3] = { (size_t)(p.hw + 31) / 32, (size_t)(p.k + 7) / 8, (size_t)nb };
            st = ocl_launch_nd(be, &a, 3, global, NULL, name);
        } else {
            size_t global[3] = { (size_t)((p.hw + p.ts - 1) / p.ts) * p.wg, (size_t)p.tiles * p.wg, (size_t)nb };
            size_t local[3] = { (size_t)p.wg, (size_t)p.wg, 1 };
            st = ocl_launch_nd(be, &a, 3, global, local, name);
        }
    }
    return st;
}
