/* clkernels/sad_loss.cl - sad_loss on OpenCL, forward and backward
 * (wrapper: backends/opencl/ocl_sad_loss.c; CPU reference:
 * backends/cpu/sad_loss.c; the mathematics: docs/losses.md §2).
 *
 * Per image b with maps m_i (i < K, HW positions each), A the zero-padded
 * 3x3 Gaussian (symmetric, so its own adjoint):
 *   s_i = A m_i,  r_i = 1 / max(|s_i|, eps),  n_i = r_i s_i,
 *   G^_ij = n_i . n_j,  L_b = sum_{i != j} G^_ij^2 / (K (K - 1)).
 * Backward, c = 4 g / (B K (K - 1)):
 *   dm_i = c r_i sum_j P_ij (A n_j),  P_ij = G^_ij (i != j),
 *   P_ii = -sum_{j != i} G^_ij^2 (0 when |s_i| <= eps)
 * (the CPU's dm = P M A A with its P = c r_i r_j G^_ij; moving r_j and one
 * A onto n_j leaves a plain product with the twice-smoothed maps A n_j, so
 * no smoothing runs after the product).
 *
 * Kernels for GPUs (the tiled set):
 *   sad_smooth_norms    a work-group per map: s = A m into N, |s| (tree
 *                       reduction), n = r s in place, r and the eps flag;
 *                       in backward also A n into AN.
 *   sad_gram            the Gram of the normalised maps in SAD_TS x SAD_TS
 *                       tiles, only tiles (ti <= tj) (the Gram is symmetric),
 *                       through local-memory tiles of SAD_TQ positions;
 *                       every tile reduces its squared off-diagonal entries
 *                       to one partial (forward: the Gram is never stored);
 *                       in backward it also writes G^ and its mirror.
 *   sad_gram_diag       a work-group per row: P_ii from the row.
 *   sad_backward_apply  dm += c r_i (P AN)_iq, the same tiling.
 * The loss partials are summed per image by loss_finish (paper.cl). CPU
 * devices run the direct set at the end of this file instead (sadd_*:
 * the top-k sparsity, no barriers), which has its own header.
 *
 * Tiles: a work-group of SAD_WG x SAD_WG work-items computes a
 * SAD_TS x SAD_TS tile, SAD_RT x SAD_RT entries each, strided by SAD_WG
 * so that neighbouring work-items read neighbouring local words (no bank
 * conflicts) and write neighbouring global words (coalesced). Global loads
 * of a tile run along the contiguous axis. K and HW need not be multiples
 * of anything: loads past the edge read zeros, stores are guarded. */

#ifndef SAD_TS
#define SAD_TS 64
#endif
#ifndef SAD_RT
#define SAD_RT 4
#endif
#define SAD_TQ 16                   /* positions (or channels) per local-memory step */
#define SAD_WG (SAD_TS / SAD_RT)    /* work-group side */
#define SAD_ITEMS (SAD_WG * SAD_WG)
#define SAD_LD (SAD_TS + 1)         /* padded row of a transposed local tile */
#define SAD_LMEM ((SAD_TS > 2 * SAD_TQ ? SAD_TS : 2 * SAD_TQ) * SAD_LD)

/* The paper's 3x3 Gaussian (sigma 1.5), row-major, as the CPU writes it. */
__constant float sad_gauss[9] = { 0.0947416f, 0.118318f, 0.0947416f, 0.118318f, 0.147761f,
                                  0.118318f,  0.0947416f, 0.118318f, 0.0947416f };

inline int sad_div(int n, uint m, int sh) { return (int)(((ulong)(uint)n * m) >> sh); }

/* (A x)_q for one h x w map x: its in-image 3x3 neighbours (zero
 * padding). Branch-free: every load is made (at a clamped, valid address)
 * and taps outside the map are weighted by 0, so a CPU driver's loop over
 * work-items becomes one vector loop; taps added row by row as on the CPU. */
inline float sad_smooth_at(__global const float *x, int q, int h, int w, uint wm, int wsh)
{
    const float corner = sad_gauss[0], edge = sad_gauss[1], centre = sad_gauss[4];
    int y = sad_div(q, wm, wsh), xx = q - y * w;
    float up = y > 0 ? 1.0f : 0.0f, down = y + 1 < h ? 1.0f : 0.0f;
    float left = xx > 0 ? 1.0f : 0.0f, right = xx + 1 < w ? 1.0f : 0.0f;
    int ia = y > 0 ? q - w : q, ib = y + 1 < h ? q + w : q;
    int l = xx > 0 ? -1 : 0, r = xx + 1 < w ? 1 : 0;
    float a0 = x[ia + l], a1 = x[ia], a2 = x[ia + r];
    float m0 = x[q + l], m1 = x[q], m2 = x[q + r];
    float b0 = x[ib + l], b1 = x[ib], b2 = x[ib + r];
    float s = up * (corner * left * a0 + edge * a1 + corner * right * a2);
    s += edge * left * m0 + centre * m1 + edge * right * m2;
    s += down * (corner * left * b0 + edge * b1 + corner * right * b2);
    return s;
}

/* Tree reduction of part[0..ls) (ls a power of two) into part[0]. */
inline void sad_reduce(__local float *part, int lid, int ls)
{
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = ls / 2; s > 0; s >>= 1) {
        if (lid < s)
            part[lid] += part[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* One work-group per map (maps of h x w; (wm, wsh) divides by w):
 * s = A m into nh, r = 1 / max(|s|, eps) (tree reduction in a fixed
 * order), n = r s in place (each work-item rescales the positions it
 * wrote: no barrier), r to rinfo[map] and the eps flag (1: |s| > eps) to
 * rinfo[maps + map]; with write_an (backward) also A n into an, after a
 * barrier, since the whole map belongs to the work-group. One kernel where
 * smoothing, norms and the second smoothing were three. */
__kernel void sad_smooth_norms(__global const float *src, uint so, __global float *nh, uint nho, __global float *an,
                               uint ano, __global float *rinfo, uint ro, int maps, int h, int w, uint wm, int wsh,
                               float eps, int write_an, __local float *part)
{
    int map = get_group_id(0), lid = get_local_id(0), ls = get_local_size(0);
    const int hw = h * w;
    __global const float *x = src + so + (size_t)map * hw;
    __global float *n = nh + nho + (size_t)map * hw;
    float ss = 0.0f;
    for (int q = lid; q < hw; q += ls) {
        float v = sad_smooth_at(x, q, h, w, wm, wsh);
        n[q] = v;
        ss = fma(v, v, ss);
    }
    part[lid] = ss;
    sad_reduce(part, lid, ls);
    float norm = sqrt(part[0]);
    int big = norm > eps;
    float r = 1.0f / (big ? norm : eps);
    for (int q = lid; q < hw; q += ls)
        n[q] *= r;
    if (lid == 0) {
        rinfo[ro + map] = r;
        rinfo[ro + maps + map] = big ? 1.0f : 0.0f;
    }
    if (!write_an)
        return;
    barrier(CLK_GLOBAL_MEM_FENCE);
    __global float *o = an + ano + (size_t)map * hw;
    for (int q = lid; q < hw; q += ls)
        o[q] = sad_smooth_at(n, q, h, w, wm, wsh);
}

/* Tile pair (ti, tj), ti <= tj, of the upper triangle, numbered row by row. */
inline void sad_pair(int pair, int tiles, int *ti, int *tj)
{
    int i = 0, rem = pair;
    while (rem >= tiles - i) {
        rem -= tiles - i;
        i++;
    }
    *ti = i;
    *tj = i + rem;
}

/* Grid: dim 0 = tile pairs (tiles (tiles + 1) / 2), dim 1 = images.
 * part[b * pairs + pair] = sum over the tile's entries (i != j) of G^_ij^2,
 * counted twice for tiles off the diagonal (their mirror is not computed).
 * write_gram: also G^ (both triangles) into gram (images x K x K). */
__kernel __attribute__((reqd_work_group_size(SAD_WG, SAD_WG, 1))) void
sad_gram(__global const float *nh, uint nho, __global float *gram, uint go, __global float *part, uint po, int k,
         int hw, int tiles, int write_gram)
{
    __local float lmem[SAD_LMEM];
    __local float red[SAD_ITEMS];
    int pair = get_group_id(0), b = get_group_id(1), pairs = get_num_groups(0);
    int ti, tj;
    sad_pair(pair, tiles, &ti, &tj);
    const int i0 = ti * SAD_TS, j0 = tj * SAD_TS, diag = ti == tj;
    const int tx = get_local_id(0), ty = get_local_id(1), lid = ty * SAD_WG + tx;
    __global const float *base = nh + nho + (size_t)b * k * hw;
    __local float *ai = lmem, *aj = diag ? lmem : lmem + SAD_TQ * SAD_LD;
    float acc[SAD_RT][SAD_RT];
    for (int r = 0; r < SAD_RT; r++)
        for (int c = 0; c < SAD_RT; c++)
            acc[r][c] = 0.0f;
    for (int q0 = 0; q0 < hw; q0 += SAD_TQ) {
        /* Rows i0.., j0.. x positions q0..q0+SAD_TQ, stored transposed. */
        for (int e = lid; e < SAD_TS * SAD_TQ; e += SAD_ITEMS) {
            int row = e / SAD_TQ, col = e % SAD_TQ, q = q0 + col;
            int gi = i0 + row, gj = j0 + row;
            ai[col * SAD_LD + row] = gi < k && q < hw ? base[(size_t)gi * hw + q] : 0.0f;
            if (!diag)
                aj[col * SAD_LD + row] = gj < k && q < hw ? base[(size_t)gj * hw + q] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < SAD_TQ; kk++) {
            float a[SAD_RT], v[SAD_RT];
            for (int r = 0; r < SAD_RT; r++)
                a[r] = ai[kk * SAD_LD + ty + SAD_WG * r];
            for (int c = 0; c < SAD_RT; c++)
                v[c] = aj[kk * SAD_LD + tx + SAD_WG * c];
            for (int r = 0; r < SAD_RT; r++)
                for (int c = 0; c < SAD_RT; c++)
                    acc[r][c] = fma(a[r], v[c], acc[r][c]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float sq = 0.0f;
    for (int r = 0; r < SAD_RT; r++)
        for (int c = 0; c < SAD_RT; c++) {
            int gi = i0 + ty + SAD_WG * r, gj = j0 + tx + SAD_WG * c;
            if (gi < k && gj < k && gi != gj)
                sq += acc[r][c] * acc[r][c];
        }
    red[lid] = diag ? sq : 2.0f * sq;
    sad_reduce(red, lid, SAD_ITEMS);
    if (lid == 0)
        part[po + (size_t)b * pairs + pair] = red[0];
    if (!write_gram)
        return;
    __global float *gb = gram + go + (size_t)b * k * k;
    for (int r = 0; r < SAD_RT; r++)
        for (int c = 0; c < SAD_RT; c++) {
            int gi = i0 + ty + SAD_WG * r, gj = j0 + tx + SAD_WG * c;
            if (gi < k && gj < k)
                gb[(size_t)gi * k + gj] = acc[r][c];
        }
    if (diag)
        return;
    /* The mirror, through local memory so that both stores run along rows. */
    for (int r = 0; r < SAD_RT; r++)
        for (int c = 0; c < SAD_RT; c++)
            lmem[(ty + SAD_WG * r) * SAD_LD + tx + SAD_WG * c] = acc[r][c];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int e = lid; e < SAD_TS * SAD_TS; e += SAD_ITEMS) {
        int row = e / SAD_TS, col = e % SAD_TS; /* row: j, col: i */
        int gj = j0 + row, gi = i0 + col;
        if (gi < k && gj < k)
            gb[(size_t)gj * k + gi] = lmem[col * SAD_LD + row];
    }
}

/* A work-group per Gram row (images x K rows): the diagonal becomes
 * P_ii = -sum_{j != i} G^_ij^2 (0 when the map's norm was below eps). */
__kernel void sad_gram_diag(__global float *gram, uint go, __global const float *rinfo, uint ro, int k, int maps,
                            __local float *part)
{
    int row = get_group_id(0), lid = get_local_id(0), ls = get_local_size(0);
    int i = row % k;
    __global float *g = gram + go + (size_t)row * k;
    float s = 0.0f;
    for (int j = lid; j < k; j += ls)
        s += j == i ? 0.0f : g[j] * g[j];
    part[lid] = s;
    sad_reduce(part, lid, ls);
    if (lid == 0)
        g[i] = rinfo[ro + maps + row] != 0.0f ? -part[0] : 0.0f;
}

/* Grid: dim 0 = position tiles, dim 1 = channel tiles, dim 2 = images.
 * gm[b, i, q] += coef g r_i sum_j P[b, i, j] an[b, j, q], g = the loss's
 * incoming gradient (read on the device: no host round trip). */
__kernel __attribute__((reqd_work_group_size(SAD_WG, SAD_WG, 1))) void
sad_backward_apply(__global const float *gram, uint go, __global const float *an, uint ano,
                   __global const float *rinfo, uint ro, __global const float *gout, uint gouto, float coef,
                   __global float *gm, uint gmo, int k, int hw)
{
    __local float pl[SAD_TQ * SAD_LD]; /* P tile, transposed: pl[j][i] */
    __local float bl[SAD_TQ * SAD_TS]; /* AN tile: bl[j][q] */
    const int q0 = get_group_id(0) * SAD_TS, i0 = get_group_id(1) * SAD_TS, b = get_group_id(2);
    const int tx = get_local_id(0), ty = get_local_id(1), lid = ty * SAD_WG + tx;
    __global const float *pb = gram + go + (size_t)b * k * k;
    __global const float *ab = an + ano + (size_t)b * k * hw;
    float acc[SAD_RT][SAD_RT];
    for (int r = 0; r < SAD_RT; r++)
        for (int c = 0; c < SAD_RT; c++)
            acc[r][c] = 0.0f;
    for (int j0 = 0; j0 < k; j0 += SAD_TQ) {
        for (int e = lid; e < SAD_TS * SAD_TQ; e += SAD_ITEMS) {
            int row = e / SAD_TQ, col = e % SAD_TQ; /* P[i0 + row, j0 + col] */
            int gi = i0 + row, gj = j0 + col;
            pl[col * SAD_LD + row] = gi < k && gj < k ? pb[(size_t)gi * k + gj] : 0.0f;
            int jr = e / SAD_TS, qc = e % SAD_TS;   /* AN[j0 + jr, q0 + qc] */
            int gq = q0 + qc, gj2 = j0 + jr;
            bl[jr * SAD_TS + qc] = gj2 < k && gq < hw ? ab[(size_t)gj2 * hw + gq] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < SAD_TQ; kk++) {
            float a[SAD_RT], v[SAD_RT];
            for (int r = 0; r < SAD_RT; r++)
                a[r] = pl[kk * SAD_LD + ty + SAD_WG * r];
            for (int c = 0; c < SAD_RT; c++)
                v[c] = bl[kk * SAD_TS + tx + SAD_WG * c];
            for (int r = 0; r < SAD_RT; r++)
                for (int c = 0; c < SAD_RT; c++)
                    acc[r][c] = fma(a[r], v[c], acc[r][c]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float cg = coef * gout[gouto];
    __global float *gb = gm + gmo + (size_t)b * k * hw;
    for (int r = 0; r < SAD_RT; r++) {
        int gi = i0 + ty + SAD_WG * r;
        if (gi >= k)
            continue;
        float ci = cg * rinfo[ro + b * k + gi];
        for (int c = 0; c < SAD_RT; c++) {
            int gq = q0 + tx + SAD_WG * c;
            if (gq < hw)
                gb[(size_t)gi * hw + gq] += ci * acc[r][c];
        }
    }
}

/* ---- CPU devices ----------------------------------------------------------
 * PoCL runs a work-group as a loop over its work-items, and every barrier
 * splits that loop into regions whose live values spill to memory: the
 * tiled kernels above run far below a CPU's speed there. These kernels use
 * neither barriers nor local memory, hold their values in float16
 * registers (one AVX-512 register each), and exploit what dense tiles
 * cannot: after topk_mask each map holds ~23 non-zeros of 576. As on the
 * CPU backend (backends/cpu/sad_loss.c), per image
 *
 *   G_ij = s_i . s_j = sum_p m_ip T[p, j],   T = A S^T = A A M^T  (HW x K),
 *
 * a sum over the non-zeros p of m_i only, each term a contiguous row of T;
 * and backward
 *
 *   dm = (A A Q^T)^T,   Q^T[p, :] = sum_j m_jp P[j, :],
 *   P_ij = c g r_i r_j G^_ij (i != j),  P_ii = -c g r_i^2 sum_{j != i} G^_ij^2
 *          (0 when |s_i| <= eps),
 *
 * the CPU's dm = P M A A (P is symmetric). The position-major arrays
 * (S^T, T, Q^T, A Q^T) have rows of kp channels (K padded to a multiple of
 * SADD_CB, padding 0), and each work-item of sadd_prepare and sadd_apply
 * owns a block of SADD_CB channels of them over every position, so the
 * 3x3 stencil runs on four float16 per position with no other work-item
 * involved. Nothing assumes sparsity: a dense map makes long lists and
 * costs about what the dense products do.
 *
 * Forward:  sadd_prepare   (lists, S^T by scattering the non-zeros, norms,
 *                           r, T), sadd_gram_rows (loss partials),
 *           loss_finish (paper.cl).
 * Backward: sadd_prepare, sadd_gram_rows (P), sadd_apply (Q^T from the
 *           lists, A Q^T, then A of that added into dm). */

#define SADD_CB 64 /* channels per block: four float16 */

/* The statements once for each float16 of a block, with c a constant:
 * arrays indexed by c then live in registers (PoCL leaves short loops
 * rolled, and an array indexed by a loop variable stays in memory, which
 * made every accumulation a load and a store). */
#define SADD_FOR4(...)                                                                                           \
    {                                                                                                            \
        { enum { c = 0 }; __VA_ARGS__ } { enum { c = 1 }; __VA_ARGS__ }                                         \
        { enum { c = 2 }; __VA_ARGS__ } { enum { c = 3 }; __VA_ARGS__ }                                         \
    }

/* Horizontal sum of a float16, in a fixed order. */
inline float sad_hsum(float16 v)
{
    float8 a = v.lo + v.hi;
    float4 b = a.lo + a.hi;
    float2 c = b.lo + b.hi;
    return c.x + c.y;
}

/* Where a position sits in its map: the tap offsets and the 0/1 factors
 * that zero the taps outside it (zero padding). */
typedef struct sadd_pos {
    int q, up, down, left, right; /* position, then offsets of the taps (0 at an edge: a valid address) */
    float fu, fd, fl, fr;         /* 1, or 0 at that edge */
} sadd_pos;

inline sadd_pos sadd_pos_at(int y, int xx, int h, int w)
{
    sadd_pos p;
    p.q = y * w + xx;
    p.up = y > 0 ? -w : 0;
    p.down = y + 1 < h ? w : 0;
    p.left = xx > 0 ? -1 : 0;
    p.right = xx + 1 < w ? 1 : 0;
    p.fu = y > 0 ? 1.0f : 0.0f;
    p.fd = y + 1 < h ? 1.0f : 0.0f;
    p.fl = xx > 0 ? 1.0f : 0.0f;
    p.fr = xx + 1 < w ? 1.0f : 0.0f;
    return p;
}

/* (A X) at position p for float16 c of the block at x (X position-major,
 * rows kp apart): the nine taps as one chain of FMAs in row-major order,
 * as the CPU adds them (taps outside the map weigh 0). Always inlined, so
 * that the four calls per position share the weights and keep everything
 * in registers. */
__attribute__((always_inline)) inline float16 sadd_stencil(__global const float *x, int c, int kp, sadd_pos p)
{
    const float corner = sad_gauss[0], edge = sad_gauss[1], centre = sad_gauss[4];
    const int a = p.q + p.up, b = p.q + p.down;
#define SADD_AT(i) vload16(c, x + (size_t)(i) * kp)
    float16 s = (corner * p.fu * p.fl) * SADD_AT(a + p.left);
    s = fma((float16)(edge * p.fu), SADD_AT(a), s);
    s = fma((float16)(corner * p.fu * p.fr), SADD_AT(a + p.right), s);
    s = fma((float16)(edge * p.fl), SADD_AT(p.q + p.left), s);
    s = fma((float16)(centre), SADD_AT(p.q), s);
    s = fma((float16)(edge * p.fr), SADD_AT(p.q + p.right), s);
    s = fma((float16)(corner * p.fd * p.fl), SADD_AT(b + p.left), s);
    s = fma((float16)(edge * p.fd), SADD_AT(b), s);
    s = fma((float16)(corner * p.fd * p.fr), SADD_AT(b + p.right), s);
#undef SADD_AT
    return s;
}

/* Grid: dim 0 = channel blocks (kp / SADD_CB), dim 1 = images (nb). For
 * the block's maps of image b: the positions of each map's non-zeros in
 * order (pos, count in cnt); S^T = A M^T by scattering each non-zero into
 * its <= 9 neighbours (st); T = A S^T (t) with the squared norms summed
 * along (in position order, as the CPU); r_i = 1 / max(|s_i|, eps) at
 * rinfo[b kp + i] and the eps flag (1: |s_i| > eps) at
 * rinfo[(nb + b) kp + i], both 0 for padded channels. (wm, wsh) divide by w. */
__kernel void sadd_prepare(__global const float *m, uint mo, __global int *pos, uint po, __global int *cnt, uint co,
                           __global float *rinfo, uint ro, __global float *st, uint sto, __global float *t, uint to,
                           int k, int kp, int h, int w, uint wm, int wsh, int nb, float eps)
{
    int cb = get_global_id(0), b = get_global_id(1);
    const int i0 = cb * SADD_CB, hw = h * w;
    if (i0 >= kp || b >= nb)
        return;
    __global float *sb = st + sto + (size_t)b * hw * kp + i0;
    __global float *tb = t + to + (size_t)b * hw * kp + i0;
    for (int q = 0; q < hw; q++)
        SADD_FOR4(vstore16((float16)(0.0f), c, sb + (size_t)q * kp);)
    for (int c = 0; c < SADD_CB && i0 + c < k; c++) {
        const size_t map = (size_t)b * k + i0 + c;
        __global const float *x = m + mo + map * hw;
        __global int *list = pos + po + map * hw;
        int n = 0;
        for (int q = 0; q < hw; q++) { /* branch-free: write always, advance on a non-zero */
            list[n] = q;
            n += x[q] != 0.0f;
        }
        cnt[co + map] = n;
        __global float *col = sb + c;
        for (int e = 0; e < n; e++) {
            const int p = list[e], py = sad_div(p, wm, wsh), px = p - py * w;
            const float v = x[p];
            for (int dy = -1; dy <= 1; dy++) {
                if (py + dy < 0 || py + dy >= h)
                    continue;
                for (int dx = -1; dx <= 1; dx++)
                    if (px + dx >= 0 && px + dx < w)
                        col[(size_t)(p + dy * w + dx) * kp] += sad_gauss[(dy + 1) * 3 + dx + 1] * v;
            }
        }
    }
    float16 n2[SADD_CB / 16];
    SADD_FOR4(n2[c] = (float16)(0.0f);)
    for (int y = 0; y < h; y++)
        for (int xx = 0; xx < w; xx++) {
            const sadd_pos at = sadd_pos_at(y, xx, h, w);
            SADD_FOR4({
                float16 v = vload16(c, sb + (size_t)at.q * kp);
                n2[c] = fma(v, v, n2[c]);
                vstore16(sadd_stencil(sb, c, kp, at), c, tb + (size_t)at.q * kp);
            })
        }
    const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    SADD_FOR4({
        float16 norm = sqrt(n2[c]);
        int16 real = (int16)(i0 + 16 * c) + lane < (int16)(k);
        int16 big = norm > (float16)(eps);
        float16 r = select((float16)(0.0f), 1.0f / select((float16)(eps), norm, big), real);
        vstore16(r, c, rinfo + ro + (size_t)b * kp + i0);
        vstore16(select((float16)(0.0f), (float16)(1.0f), big & real), c, rinfo + ro + (size_t)(nb + b) * kp + i0);
    })
}

/* One image's non-zeros by position (for sadd_apply), from the lists by
 * channel: position p's channels, in order, at ch[p k ...], their values
 * at val[p k ...], their count at pcnt[p]. */
inline void sadd_columns(__global const float *m, __global const int *pos, __global const int *cnt,
                         __global int *pcnt, __global int *ch, __global float *val, int k, int hw)
{
    for (int p = 0; p < hw; p++)
        pcnt[p] = 0;
    for (int j = 0; j < k; j++) {
        __global const float *x = m + (size_t)j * hw;
        __global const int *list = pos + (size_t)j * hw;
        for (int e = 0, n = cnt[j]; e < n; e++) {
            int p = list[e], slot = pcnt[p]++;
            ch[(size_t)p * k + slot] = j;
            val[(size_t)p * k + slot] = x[p];
        }
    }
}

/* Grid: dim 0 = channels, dim 1 = images. Row i of image b's Gram,
 * G_ij = sum over i's non-zeros p of m_ip T[p, j], SADD_CB columns at a
 * time; G^_ij = r_i r_j G_ij. Forward: part[b k + i] = sum_{j != i}
 * G^_ij^2. Backward: row i of P (kp wide) into pm, g read on the device
 * (no host round trip). */
__kernel void sadd_gram_rows(__global const float *m, uint mo, __global const int *pos, uint po,
                             __global const int *cnt, uint co, __global const float *rinfo, uint ro,
                             __global const float *t, uint to, __global float *part, uint pto, __global float *pm,
                             uint pmo, __global int *ccnt, uint cco, __global int *cch, uint ccho,
                             __global float *cval, uint cvo, __global const float *gout, uint gouto, float coef, int k,
                             int kp, int hw, int nb, int backward)
{
    int i = get_global_id(0), b = get_global_id(1);
    if (i >= k || b >= nb)
        return;
    if (backward && i == 0)
        sadd_columns(m + mo + (size_t)b * k * hw, pos + po + (size_t)b * k * hw, cnt + co + (size_t)b * k,
                     ccnt + cco + (size_t)b * hw, cch + ccho + (size_t)b * hw * k, cval + cvo + (size_t)b * hw * k,
                     k, hw);
    const size_t map = (size_t)b * k + i;
    __global const float *x = m + mo + map * hw;
    __global const int *list = pos + po + map * hw;
    const int n = cnt[co + map];
    __global const float *tb = t + to + (size_t)b * hw * kp;
    __global const float *rb = rinfo + ro + (size_t)b * kp;
    __global float *prow = pm + pmo + map * kp;
    const float ri = rb[i], cg = backward ? coef * gout[gouto] : 0.0f;
    const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    /* Forward needs only sum_{i != j} G^_ij^2: the blocks from i's own on
     * (its own counted once, those after twice for their mirrors). */
    const int own = i / SADD_CB * SADD_CB;
    float16 sqv = (float16)(0.0f), sqm = sqv;
    for (int j0 = backward ? 0 : own; j0 < kp; j0 += SADD_CB) {
        float16 acc[SADD_CB / 16];
        SADD_FOR4(acc[c] = (float16)(0.0f);)
        for (int e = 0; e < n; e++) {
            const int p = list[e];
            const float16 v = (float16)(x[p]);
            __global const float *row = tb + (size_t)p * kp + j0;
            SADD_FOR4(acc[c] = fma(v, vload16(c, row), acc[c]);)
        }
        SADD_FOR4({
            float16 rj = vload16(c, rb + j0);
            float16 gh = ri * rj * acc[c];
            int16 jj = (int16)(j0 + 16 * c) + lane;
            float16 sq = select(gh * gh, (float16)(0.0f), jj == (int16)(i));
            if (backward || j0 == own)
                sqv += sq;
            else
                sqm += sq;
            if (backward)
                vstore16(cg * ri * rj * gh, c, prow + j0);
        })
    }
    float sq = sad_hsum(sqv);
    if (!backward) {
        part[pto + map] = sq + 2.0f * sad_hsum(sqm);
        return;
    }
    prow[i] = rinfo[ro + (size_t)(nb + b) * kp + i] != 0.0f ? -cg * ri * ri * sq : 0.0f;
}

/* Grid: dim 0 = channel blocks, dim 1 = images. For the block's SADD_CB
 * columns of image b: Q^T = M^T P, row p the sum over the channels j
 * non-zero at p (in order; the lists sadd_gram_rows wrote) of m_jp P[j, :] (into qt,
 * T's place), A Q^T into y (S^T's place), and A of that added into dm,
 * transposed on the way (the block's rows of dm, a position at a time). */
__kernel void sadd_apply(__global const int *ccnt, uint cco, __global const int *cch, uint ccho,
                         __global const float *cval, uint cvo, __global const float *pm, uint pmo, __global float *qt,
                         uint qto, __global float *y, uint yo, __global float *gm, uint gmo, int k, int kp, int h,
                         int w, int nb)
{
    int cb = get_global_id(0), b = get_global_id(1);
    const int i0 = cb * SADD_CB, hw = h * w;
    if (i0 >= kp || b >= nb)
        return;
    __global float *qb = qt + qto + (size_t)b * hw * kp + i0;
    __global float *yb = y + yo + (size_t)b * hw * kp + i0;
    __global const float *pb = pm + pmo + (size_t)b * k * kp + i0;
    for (int p = 0; p < hw; p++) {
        const int n = ccnt[cco + (size_t)b * hw + p];
        __global const int *ch = cch + ccho + ((size_t)b * hw + p) * k;
        __global const float *val = cval + cvo + ((size_t)b * hw + p) * k;
        float16 a0 = (float16)(0.0f), a1 = a0, a2 = a0, a3 = a0;
        for (int e = 0; e < n; e++) {
            __global const float *row = pb + (size_t)ch[e] * kp;
            const float16 v = (float16)(val[e]);
            a0 = fma(v, vload16(0, row), a0);
            a1 = fma(v, vload16(1, row), a1);
            a2 = fma(v, vload16(2, row), a2);
            a3 = fma(v, vload16(3, row), a3);
        }
        __global float *out = qb + (size_t)p * kp;
        vstore16(a0, 0, out);
        vstore16(a1, 1, out);
        vstore16(a2, 2, out);
        vstore16(a3, 3, out);
    }
    for (int yy = 0; yy < h; yy++)
        for (int xx = 0; xx < w; xx++) {
            const sadd_pos at = sadd_pos_at(yy, xx, h, w);
            SADD_FOR4(vstore16(sadd_stencil(qb, c, kp, at), c, yb + (size_t)at.q * kp);)
        }
    const int rows = min(SADD_CB, k - i0);
    __global float *d = gm + gmo + ((size_t)b * k + i0) * hw;
    for (int yy = 0; yy < h; yy++)
        for (int xx = 0; xx < w; xx++) {
            const sadd_pos at = sadd_pos_at(yy, xx, h, w);
            float z[SADD_CB];
            SADD_FOR4(vstore16(sadd_stencil(yb, c, kp, at), c, z);)
            for (int c = 0; c < rows; c++)
                d[(size_t)c * hw + at.q] += z[c];
        }
}
