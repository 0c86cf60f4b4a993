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
 *   sad_smooth          s = A m into N (B x K x HW), elementwise; in
 *                       backward again, A n into AN.
 *   sad_norms           a work-group per map: |s| (tree reduction), n = r s
 *                       in place, r and the eps flag.
 *   sad_gram            the Gram of the normalised maps in SAD_TS x SAD_TS
 *                       tiles, only tiles (ti <= tj) (the Gram is symmetric),
 *                       through local-memory tiles of SAD_TQ positions;
 *                       every tile reduces its squared off-diagonal entries
 *                       to one partial (forward: the Gram is never stored);
 *                       in backward it also writes G^ and its mirror.
 *   sad_gram_diag       a work-group per row: P_ii from the row.
 *   sad_backward_apply  dm += c r_i (P AN)_iq, the same tiling.
 * The loss partials are summed per image by loss_finish (paper.cl). On CPU
 * devices sad_smooth_rows, sad_gram_direct and sad_backward_apply_direct
 * (end of this file) replace sad_smooth, sad_gram and sad_backward_apply.
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

/* One work-item per position of `total` = maps x h x w: dst = A src, each
 * map on its own; taps outside the map are the zero padding. Elementwise:
 * coalesced on GPUs, a vector loop over work-items on CPU drivers.
 * (hwm, hwsh) and (wm, wsh): divisors of h w and of w. */
__kernel void sad_smooth(__global const float *src, uint so, __global float *dst, uint dso, int total, int h, int w,
                         uint hwm, int hwsh, uint wm, int wsh)
{
    int i = get_global_id(0);
    if (i >= total)
        return;
    int map = sad_div(i, hwm, hwsh), hw = h * w, q = i - map * hw;
    dst[dso + i] = sad_smooth_at(src + so + (size_t)map * hw, q, h, w, wm, wsh);
}

/* CPU devices: one work-item per map row (rows = maps x h), a plain loop
 * along the row that the compiler vectorises (the elementwise sad_smooth
 * gathers its 9 taps per work-item, ~4x slower on PoCL). The same sums,
 * grouped by row of the stencil. */
__kernel void sad_smooth_rows(__global const float *src, uint so, __global float *dst, uint dso, int rows, int h,
                              int w, uint hm, int hsh)
{
    int row = get_global_id(0);
    if (row >= rows)
        return;
    const float corner = sad_gauss[0], edge = sad_gauss[1], centre = sad_gauss[4];
    int map = sad_div(row, hm, hsh), y = row - map * h;
    __global const float *m = src + so + (size_t)row * w;
    __global const float *a = y > 0 ? m - w : m, *b = y + 1 < h ? m + w : m;
    const float fa = y > 0 ? 1.0f : 0.0f, fb = y + 1 < h ? 1.0f : 0.0f;
    __global float *out = dst + dso + (size_t)row * w;
    for (int x = 0; x < w; x++) {
        int l = x > 0 ? x - 1 : x, r = x + 1 < w ? x + 1 : x;
        float fl = x > 0 ? 1.0f : 0.0f, fr = x + 1 < w ? 1.0f : 0.0f;
        float s = fa * (corner * fl * a[l] + edge * a[x] + corner * fr * a[r]);
        s += edge * fl * m[l] + centre * m[x] + edge * fr * m[r];
        s += fb * (corner * fl * b[l] + edge * b[x] + corner * fr * b[r]);
        out[x] = s;
    }
}

/* One work-group per map: r = 1 / max(|s|, eps) (tree reduction in a
 * fixed order), s scaled in place to n = r s; r to rinfo[map], the eps
 * flag (1: |s| > eps) to rinfo[maps + map]. */
__kernel void sad_norms(__global float *nh, uint nho, __global float *rinfo, uint ro, int maps, int hw, float eps,
                        __local float *part)
{
    int map = get_group_id(0), lid = get_local_id(0), ls = get_local_size(0);
    __global float *x = nh + nho + (size_t)map * hw;
    float ss = 0.0f;
    for (int q = lid; q < hw; q += ls)
        ss = fma(x[q], x[q], ss);
    part[lid] = ss;
    sad_reduce(part, lid, ls);
    float norm = sqrt(part[0]);
    int big = norm > eps;
    float r = 1.0f / (big ? norm : eps);
    for (int q = lid; q < hw; q += ls)
        x[q] *= r;
    if (lid == 0) {
        rinfo[ro + map] = r;
        rinfo[ro + maps + map] = big ? 1.0f : 0.0f;
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

/* ---- CPU devices ----------------------------------------------------------
 * PoCL runs a work-group as a loop over its work-items, and every barrier
 * splits that loop into regions whose live values (the accumulators) spill
 * to memory: the tiled kernels above run ~10x below a CPU's speed there.
 * These two replace sad_gram and sad_backward_apply on CPU devices: no
 * local memory, no barriers, each work-item a block of results held in
 * float16 registers (one AVX-512 register each), the caches doing the
 * tiling. Same results up to summation order. */

/* Horizontal sum of a float16, in a fixed order. */
inline float sad_hsum(float16 v)
{
    float8 a = v.lo + v.hi;
    float4 b = a.lo + a.hi;
    float2 c = b.lo + b.hi;
    return c.x + c.y;
}

#define SADD_B 4 /* Gram block: SADD_B x SADD_B entries per work-item */

/* Grid: dim 0 = row blocks, dim 1 = column blocks (blocks = ceil(K / 4)
 * each), dim 2 = images. Blocks below the diagonal only write a zero
 * partial. part[b * blocks^2 + ib * blocks + jb] as in sad_gram. */
__kernel void sad_gram_direct(__global const float *nh, uint nho, __global float *gram, uint go,
                              __global float *part, uint po, int k, int hw, int blocks, int write_gram)
{
    int ib = get_global_id(0), jb = get_global_id(1), b = get_global_id(2);
    if (ib >= blocks || jb >= blocks)
        return;
    __global float *pslot = part + po + ((size_t)b * blocks + ib) * blocks + jb;
    if (jb < ib) {
        *pslot = 0.0f;
        return;
    }
    const int i0 = ib * SADD_B, j0 = jb * SADD_B;
    __global const float *base = nh + nho + (size_t)b * k * hw;
    __global const float *ri[SADD_B], *rj[SADD_B];
    for (int r = 0; r < SADD_B; r++) {
        ri[r] = base + (size_t)min(i0 + r, k - 1) * hw; /* rows past the edge: valid memory, not stored */
        rj[r] = base + (size_t)min(j0 + r, k - 1) * hw;
    }
    float16 acc[SADD_B][SADD_B];
    for (int r = 0; r < SADD_B; r++)
        for (int c = 0; c < SADD_B; c++)
            acc[r][c] = (float16)(0.0f);
    const int hv = hw / 16 * 16;
    for (int p = 0; p < hv; p += 16) {
        float16 a[SADD_B], v[SADD_B];
        for (int r = 0; r < SADD_B; r++) {
            a[r] = vload16(0, ri[r] + p);
            v[r] = vload16(0, rj[r] + p);
        }
        for (int r = 0; r < SADD_B; r++)
            for (int c = 0; c < SADD_B; c++)
                acc[r][c] = fma(a[r], v[c], acc[r][c]);
    }
    float g[SADD_B][SADD_B];
    for (int r = 0; r < SADD_B; r++)
        for (int c = 0; c < SADD_B; c++) {
            float s = sad_hsum(acc[r][c]);
            for (int p = hv; p < hw; p++)
                s = fma(ri[r][p], rj[c][p], s);
            g[r][c] = s;
        }
    float sq = 0.0f;
    for (int r = 0; r < SADD_B; r++)
        for (int c = 0; c < SADD_B; c++) {
            int gi = i0 + r, gj = j0 + c;
            if (gi < k && gj < k && gi != gj)
                sq += g[r][c] * g[r][c];
        }
    *pslot = jb == ib ? sq : 2.0f * sq;
    if (!write_gram)
        return;
    __global float *gb = gram + go + (size_t)b * k * k;
    for (int r = 0; r < SADD_B; r++)
        for (int c = 0; c < SADD_B; c++) {
            int gi = i0 + r, gj = j0 + c;
            if (gi < k && gj < k) {
                gb[(size_t)gi * k + gj] = g[r][c];
                gb[(size_t)gj * k + gi] = g[r][c];
            }
        }
}

#define SADD_TM 8  /* rows of dm per work-item */
#define SADD_TN 32 /* positions per work-item: two float16 */

/* Grid: dim 0 = position blocks (ceil(HW / 32)), dim 1 = row blocks
 * (ceil(K / 8)), dim 2 = images. As sad_backward_apply. */
__kernel void sad_backward_apply_direct(__global const float *gram, uint go, __global const float *an, uint ano,
                                        __global const float *rinfo, uint ro, __global const float *gout,
                                        uint gouto, float coef, __global float *gm, uint gmo, int k, int hw)
{
    int q0 = get_global_id(0) * SADD_TN, i0 = get_global_id(1) * SADD_TM, b = get_global_id(2);
    if (q0 >= hw || i0 >= k)
        return;
    __global const float *pb = gram + go + (size_t)b * k * k;
    __global const float *ab = an + ano + (size_t)b * k * hw;
    __global const float *prow[SADD_TM];
    for (int r = 0; r < SADD_TM; r++)
        prow[r] = pb + (size_t)min(i0 + r, k - 1) * k;
    float16 acc0[SADD_TM], acc1[SADD_TM];
    for (int r = 0; r < SADD_TM; r++)
        acc0[r] = acc1[r] = (float16)(0.0f);
    const int full = q0 + SADD_TN <= hw;
    for (int j = 0; j < k; j++) {
        __global const float *arow = ab + (size_t)j * hw + q0;
        float16 v0, v1;
        if (full) {
            v0 = vload16(0, arow);
            v1 = vload16(0, arow + 16);
        } else {
            float t[SADD_TN];
            for (int c = 0; c < SADD_TN; c++)
                t[c] = q0 + c < hw ? arow[c] : 0.0f;
            v0 = vload16(0, t);
            v1 = vload16(0, t + 16);
        }
        for (int r = 0; r < SADD_TM; r++) {
            float16 pv = (float16)(prow[r][j]);
            acc0[r] = fma(pv, v0, acc0[r]);
            acc1[r] = fma(pv, v1, acc1[r]);
        }
    }
    const float cg = coef * gout[gouto];
    __global float *gb = gm + gmo + (size_t)b * k * hw;
    for (int r = 0; r < SADD_TM && i0 + r < k; r++) {
        float ci = cg * rinfo[ro + b * k + i0 + r];
        __global float *out = gb + (size_t)(i0 + r) * hw + q0;
        if (full) {
            vstore16(vload16(0, out) + ci * acc0[r], 0, out);
            vstore16(vload16(0, out + 16) + ci * acc1[r], 0, out + 16);
        } else {
            float t[SADD_TN];
            vstore16(acc0[r], 0, t);
            vstore16(acc1[r], 0, t + 16);
            for (int c = 0; c < SADD_TN && q0 + c < hw; c++)
                out[c] += ci * t[c];
        }
    }
}
