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
 * Kernels:
 *   sad_normalize       a work-group per map: s = A m, |s| (tree reduction),
 *                       n = r s into N (B x K x HW), r and the eps flag; in
 *                       backward also A n into AN.
 *   sad_gram            the Gram of the normalised maps in SAD_TS x SAD_TS
 *                       tiles, only tiles (ti <= tj) (the Gram is symmetric),
 *                       through local-memory tiles of SAD_TQ positions;
 *                       every tile reduces its squared off-diagonal entries
 *                       to one partial (forward: the Gram is never stored);
 *                       in backward it also writes G^ and its mirror.
 *   sad_gram_diag       a work-group per row: P_ii from the row.
 *   sad_backward_apply  dm += c r_i (P AN)_iq, the same tiling.
 * The loss partials are summed per image by loss_finish (paper.cl).
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

/* (A x)_q for one h x w map x: its in-image 3x3 neighbours (zero padding). */
inline float sad_smooth_at(__global const float *x, int q, int h, int w, uint wm, int wsh)
{
    int y = sad_div(q, wm, wsh), xx = q - y * w;
    float s = 0.0f;
    for (int dy = -1; dy <= 1; dy++) {
        int yy = y + dy;
        if (yy < 0 || yy >= h)
            continue;
        for (int dx = -1; dx <= 1; dx++) {
            int xc = xx + dx;
            if (xc >= 0 && xc < w)
                s += sad_gauss[(dy + 1) * 3 + dx + 1] * x[yy * w + xc];
        }
    }
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

/* One work-group per map (maps = images x K of this launch): smooths,
 * normalises into nh, writes r (rinfo[map]) and the eps flag
 * (rinfo[maps + map]: 1 when |s| > eps); with smooth_twice also A n into
 * an (the work-group's own map, after a global fence: its work-items read
 * each other's n). */
__kernel void sad_normalize(__global const float *m, uint mo, __global float *nh, uint nho, __global float *an,
                            uint ano, __global float *rinfo, uint ro, int maps, int h, int w, uint wm, int wsh,
                            float eps, int smooth_twice, __local float *part)
{
    int map = get_group_id(0), lid = get_local_id(0), ls = get_local_size(0);
    int hw = h * w;
    __global const float *src = m + mo + (size_t)map * hw;
    __global float *dst = nh + nho + (size_t)map * hw;
    float ss = 0.0f;
    for (int q = lid; q < hw; q += ls) {
        float s = sad_smooth_at(src, q, h, w, wm, wsh);
        dst[q] = s;
        ss += s * s;
    }
    part[lid] = ss;
    sad_reduce(part, lid, ls);
    float norm = sqrt(part[0]);
    int big = norm > eps;
    float r = 1.0f / (big ? norm : eps);
    for (int q = lid; q < hw; q += ls)
        dst[q] *= r;
    if (lid == 0) {
        rinfo[ro + map] = r;
        rinfo[ro + maps + map] = big ? 1.0f : 0.0f;
    }
    if (smooth_twice) {
        barrier(CLK_GLOBAL_MEM_FENCE);
        __global float *dst2 = an + ano + (size_t)map * hw;
        for (int q = lid; q < hw; q += ls)
            dst2[q] = sad_smooth_at(dst, q, h, w, wm, wsh);
    }
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
