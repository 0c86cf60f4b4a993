/* clkernels/paper.cl - the small ops of Yin et al. on OpenCL: topk_mask,
 * fad_loss, filter_diversity, occlude, and loss_finish (the per-row sums
 * and batch mean shared with sad_loss.cl's partials). Wrapper:
 * backends/opencl/ocl_paper.c; CPU references backends/cpu/{topk_mask,
 * fad_loss,filter_diversity,occlude}.c; semantics docs/losses.md. */

#ifdef cl_khr_fp64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double real_t; /* the CPU sums these in double; so do we where the device can */
#else
typedef float real_t;
#endif

inline int paper_div(int n, uint m, int sh) { return (int)(((ulong)(uint)n * m) >> sh); }

/* ---- loss_finish -------------------------------------------------------- */

/* One work-group: rows_out[b] = row_scale * sum_t part[b * cols + t] for
 * b < rows (in t order), then out[0] = sum_b rows_out[b] / rows (in b
 * order): per-image losses (aux) and the batch mean, as the CPU does. */
__kernel void loss_finish(__global const float *part, uint po, int cols, int rows, float row_scale,
                          __global float *rows_out, uint ro, __global float *out, uint oo)
{
    int lid = get_local_id(0), ls = get_local_size(0);
    for (int b = lid; b < rows; b += ls) {
        real_t s = 0;
        for (int t = 0; t < cols; t++)
            s += part[po + (size_t)b * cols + t];
        rows_out[ro + b] = (float)(s * row_scale);
    }
    barrier(CLK_GLOBAL_MEM_FENCE);
    if (lid == 0) {
        real_t total = 0;
        for (int b = 0; b < rows; b++)
            total += rows_out[ro + b];
        out[oo] = (float)(total / rows);
    }
}

/* ---- topk_mask ---------------------------------------------------------- */

/* Bits of |v| with NaN as +inf: non-negative floats order like their bit
 * patterns read as integers. */
inline uint topk_bits(float v)
{
    uint u = as_uint(v) & 0x7fffffffu;
    return min(u, 0x7f800000u);
}

inline float topk_magnitude(float v)
{
    float a = fabs(v);
    return isnan(a) ? INFINITY : a;
}

/* One work-group per map (N x C of them, hw positions, 1 <= k <= hw): the
 * threshold t = the k-th largest |x| exactly, by a radix select on the bit
 * patterns, eight bits at a time from the top: each round builds a
 * 256-bin histogram (local atomics) of the next digit among the patterns
 * that share the digits chosen so far, and picks the digit holding the
 * k-th largest. Four rounds, no sort; the same value as the CPU's bitwise
 * search (both return the k-th largest pattern). Then y = |x| > t ? x : 0
 * and t is saved for backward. */
__kernel void topk_forward(__global const float *x, uint xo, __global float *y, uint yo, __global float *thresh,
                           uint to, int hw, int k)
{
    __local int hist[256];
    __local uint chosen[2]; /* prefix so far, rank still to find */
    int map = get_group_id(0), lid = get_local_id(0), ls = get_local_size(0);
    __global const float *xm = x + xo + (size_t)map * hw;
    uint prefix = 0, rank = (uint)k;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int d = lid; d < 256; d += ls)
            hist[d] = 0;
        barrier(CLK_LOCAL_MEM_FENCE);
        uint above = shift == 24 ? 0u : 0xffffffffu << (shift + 8); /* digits already chosen */
        for (int p = lid; p < hw; p += ls) {
            uint u = topk_bits(xm[p]);
            if ((u & above) == prefix)
                atomic_inc(&hist[(u >> shift) & 255u]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid == 0) {
            uint cum = 0;
            int d = 255;
            for (; d > 0; d--) {
                uint c = (uint)hist[d];
                if (cum + c >= rank)
                    break;
                cum += c;
            }
            chosen[0] = prefix | ((uint)d << shift);
            chosen[1] = rank - cum;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        prefix = chosen[0];
        rank = chosen[1];
        barrier(CLK_LOCAL_MEM_FENCE); /* chosen is rewritten next round */
    }
    float t = as_float(prefix);
    if (lid == 0)
        thresh[to + map] = t;
    __global float *ym = y + yo + (size_t)map * hw;
    for (int p = lid; p < hw; p += ls) {
        float v = xm[p];
        ym[p] = topk_magnitude(v) > t ? v : 0.0f;
    }
}

/* CPU devices: one work-item per map, no barriers, no local memory (on
 * CPU drivers barriers split the work-group loop and local atomics
 * serialise). The threshold by the bitwise search of the CPU kernel:
 * T = the largest pattern with count(u >= T) >= k, built from bit 30 down
 * (bit 31, the sign, is clear in every |x|) with one counting pass per
 * bit; once count(u >= T) is exactly k, T's answer is the smallest
 * pattern >= T, found in one more pass. The same value as topk_forward. */
__kernel void topk_forward_direct(__global const float *x, uint xo, __global float *y, uint yo,
                                  __global float *thresh, uint to, int maps, int hw, int k)
{
    int map = get_global_id(0);
    if (map >= maps)
        return;
    __global const float *xm = x + xo + (size_t)map * hw;
    uint t = 0;
    int exact = 0;
    for (int bit = 30; bit >= 0 && !exact; bit--) {
        uint cand = t | (1u << bit);
        int c = 0;
        for (int p = 0; p < hw; p++)
            c += topk_bits(xm[p]) >= cand;
        if (c >= k)
            t = cand;
        exact = c == k;
    }
    if (exact) { /* the k-th largest is the smallest pattern >= t */
        uint low = 0x7f800000u;
        for (int p = 0; p < hw; p++) {
            uint u = topk_bits(xm[p]);
            low = u >= t ? min(low, u) : low;
        }
        t = low;
    }
    float tf = as_float(t);
    thresh[to + map] = tf;
    __global float *ym = y + yo + (size_t)map * hw;
    for (int p = 0; p < hw; p++) {
        float v = xm[p];
        ym[p] = topk_magnitude(v) > tf ? v : 0.0f;
    }
}

/* Grid: dim 0 = positions, dim 1 = maps. gx += |x| > t ? gy : 0. */
__kernel void topk_backward(__global const float *x, uint xo, __global const float *gy, uint gyo, __global float *gx,
                            uint gxo, __global const float *thresh, uint to, int hw)
{
    int p = get_global_id(0), map = get_global_id(1);
    if (p >= hw)
        return;
    size_t i = (size_t)map * hw + p;
    float t = thresh[to + map];
    if (topk_magnitude(x[xo + i]) > t)
        gx[gxo + i] += gy[gyo + i];
}

/* ---- fad_loss ----------------------------------------------------------- */

/* s / n rounded to nearest (ties to even) whatever the device's division
 * accuracy (OpenCL allows 2.5 ulp): the candidates around the quotient
 * are judged by their exact remainders s - q n (one rounding in fma, and
 * the remainder of a near quotient is representable). So Delta, and the
 * set S chosen from it, are bit-identical to the CPU's. */
inline float fad_div_rn(float s, float n)
{
    float q = s / n;
    if (!isfinite(q) || q == 0.0f)
        return q;
    float best = q, best_r = fabs(fma(-q, n, s));
    float lo = q, hi = q;
    for (int step = 0; step < 3; step++) {
        lo = nextafter(lo, -INFINITY);
        hi = nextafter(hi, INFINITY);
        float rl = fabs(fma(-lo, n, s)), rh = fabs(fma(-hi, n, s));
        if (rl < best_r || (rl == best_r && (as_uint(lo) & 1u) == 0u)) {
            best = lo;
            best_r = rl;
        }
        if (rh < best_r || (rh == best_r && (as_uint(hi) & 1u) == 0u)) {
            best = hi;
            best_r = rh;
        }
    }
    return best;
}

/* Filter (e, j) comes before (d, k): Delta ascending, NaN after every
 * number, then index ascending (a total order: S is well defined). */
inline int fad_before(float e, int j, float d, int k)
{
    int ne = isnan(e), nd = isnan(d);
    if (ne != nd)
        return nd;
    if (!ne && e != d)
        return e < d;
    return j < k;
}

/* One work-group: Delta_k = (sum_b |f - fo|) / n in float, b in order
 * (into delta), then the rank of each filter by counting those before it
 * (K^2 comparisons, no sort), the mask of the first n_keep (aux and output
 * 2) and L = scale * sum_{k in S} Delta_k (output 0). */
__kernel void fad_select(__global const float *f, uint f_o, __global const float *fo, uint fo_o, __global float *delta,
                         uint dlo, __global float *mask, uint mo, __global float *mask_out, uint moo,
                         __global float *loss, uint lo, int n, int k, int n_keep, float scale, __local real_t *part)
{
    int lid = get_local_id(0), ls = get_local_size(0);
    for (int c = lid; c < k; c += ls) {
        float s = 0.0f;
        for (int b = 0; b < n; b++)
            s += fabs(f[f_o + (size_t)b * k + c] - fo[fo_o + (size_t)b * k + c]);
        delta[dlo + c] = fad_div_rn(s, (float)n);
    }
    barrier(CLK_GLOBAL_MEM_FENCE);
    real_t sum = 0;
    for (int c = lid; c < k; c += ls) {
        float d = delta[dlo + c];
        int rank = 0;
        for (int j = 0; j < k; j++)
            rank += fad_before(delta[dlo + j], j, d, c);
        float in = rank < n_keep ? 1.0f : 0.0f;
        mask[mo + c] = in;
        mask_out[moo + c] = in;
        if (rank < n_keep)
            sum += d;
    }
    part[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = ls / 2; s > 0; s >>= 1) {
        if (lid < s)
            part[lid] += part[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0)
        loss[lo] = (float)(scale * part[0]);
}

/* Grid: dim 0 = filters, dim 1 = examples. Output 1: fo on S, else 0 (a
 * select: a NaN outside S becomes 0). */
__kernel void fad_apply(__global const float *fo, uint fo_o, __global const float *mask, uint mo, __global float *out,
                        uint oo, int k)
{
    int c = get_global_id(0), b = get_global_id(1);
    if (c >= k)
        return;
    size_t i = (size_t)b * k + c;
    out[oo + i] = mask[mo + c] != 0.0f ? fo[fo_o + i] : 0.0f;
}

/* Grid: dim 0 = filters, dim 1 = examples. On S: gf += a sign(f - fo),
 * gfo += g1 - a sign(f - fo), a = scale g0 / n (sign(0) = 0); g0 is the
 * loss's incoming gradient, read on the device. */
__kernel void fad_backward(__global const float *f, uint f_o, __global const float *fo, uint fo_o,
                           __global const float *mask, uint mo, __global const float *g0, uint g0o, int has_g0,
                           __global const float *g1, uint g1o, int has_g1, __global float *gf, uint gf_o, int has_gf,
                           __global float *gfo, uint gfo_o, int has_gfo, float scale, int n, int k)
{
    int c = get_global_id(0), b = get_global_id(1);
    if (c >= k || mask[mo + c] == 0.0f)
        return;
    size_t i = (size_t)b * k + c;
    float a = has_g0 ? (float)((real_t)scale * g0[g0o] / n) : 0.0f;
    float d = f[f_o + i] - fo[fo_o + i];
    float s = d > 0.0f ? a : d < 0.0f ? -a : 0.0f;
    if (has_gf)
        gf[gf_o + i] += s;
    if (has_gfo)
        gfo[gfo_o + i] += (has_g1 ? g1[g1o + i] : 0.0f) - s;
}

/* ---- filter_diversity --------------------------------------------------- */

/* Filter o's P x P Gram of its spatial weight vectors (C channels; w[o, c,
 * p], p contiguous) into g (local), r_p = 1 / max(|v_p|, eps) and the eps
 * flags; returns nothing (the caller reads g, r, big after the barrier). */
inline void fd_gram(__global const float *w, int c_n, int p_n, float eps, __local float *g, __local float *r,
                    __local int *big, int lid, int ls)
{
    for (int e = lid; e < p_n * p_n; e += ls) {
        int p = e / p_n, q = e - p * p_n;
        if (q < p)
            continue;
        real_t s = 0;
        for (int c = 0; c < c_n; c++)
            s += (real_t)w[(size_t)c * p_n + p] * w[(size_t)c * p_n + q];
        g[p * p_n + q] = g[q * p_n + p] = (float)s;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int p = lid; p < p_n; p += ls) {
        float norm = sqrt(g[p * p_n + p]);
        big[p] = norm > eps;
        r[p] = 1.0f / (big[p] ? norm : eps);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}

/* One work-group per filter: filter_loss[o] = sum_{p != q} G^_pq^2 / (P (P-1)). */
__kernel void fd_forward(__global const float *w, uint wo, __global float *filter_loss, uint flo, int c_n, int p_n,
                         float eps, __local float *g, __local float *r, __local int *big)
{
    int o = get_group_id(0), lid = get_local_id(0), ls = get_local_size(0);
    fd_gram(w + wo + (size_t)o * c_n * p_n, c_n, p_n, eps, g, r, big, lid, ls);
    if (lid == 0) {
        real_t sum = 0;
        for (int p = 0; p < p_n; p++)
            for (int q = p + 1; q < p_n; q++) {
                real_t gh = (real_t)r[p] * r[q] * g[p * p_n + q];
                sum += gh * gh;
            }
        filter_loss[flo + o] = (float)(2 * sum / ((real_t)p_n * (p_n - 1)));
    }
}

/* One work-group per filter: dw[o, c, p] += sum_q Pm_pq w[o, c, q] with
 * Pm_pq = coef g r_p r_q G^_pq (q != p), Pm_pp = -coef g r_p^2
 * sum_{q != p} G^_pq^2 (0 when |v_p| <= eps); g is the loss's incoming
 * gradient, read on the device. Pm overwrites G in place: work-item p
 * reads and writes only row p. (pdm, pds): the divisor of P. */
__kernel void fd_backward(__global const float *w, uint wo, __global float *gw, uint gwo, __global const float *gout,
                          uint gouto, float coef, int c_n, int p_n, uint pdm, int pds, float eps, __local float *g,
                          __local float *r, __local int *big)
{
    int o = get_group_id(0), lid = get_local_id(0), ls = get_local_size(0);
    __global const float *wf = w + wo + (size_t)o * c_n * p_n;
    fd_gram(wf, c_n, p_n, eps, g, r, big, lid, ls);
    real_t cg = (real_t)coef * gout[gouto];
    for (int p = lid; p < p_n; p += ls) {
        __local float *row = g + p * p_n;
        real_t rowsum = 0;
        for (int q = 0; q < p_n; q++) {
            if (q == p)
                continue;
            real_t gh = (real_t)r[p] * r[q] * row[q];
            rowsum += gh * gh;
            row[q] = (float)(cg * r[p] * r[q] * gh);
        }
        row[p] = big[p] ? (float)(-cg * r[p] * r[p] * rowsum) : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    __global float *gwf = gw + gwo + (size_t)o * c_n * p_n;
    for (int e = lid; e < c_n * p_n; e += ls) {
        int c = paper_div(e, pdm, pds), p = e - c * p_n;
        __global const float *wrow = wf + (size_t)c * p_n;
        float s = 0.0f;
        for (int q = 0; q < p_n; q++)
            s += g[p * p_n + q] * wrow[q];
        gwf[e] += s;
    }
}

/* ---- occlude ------------------------------------------------------------ */

/* Grid: dim 0 = columns, dim 1 = rows, dim 2 = planes (N x C). The window
 * [top, top + height) x [left, left + width) was drawn on the host;
 * work-item (0, 0, 0) also writes it to output 1 as floats. */
__kernel void occlude_forward(__global const float *x, uint xo, __global float *y, uint yo, __global float *box,
                              uint bo, int h, int w, int top, int left, int height, int width, float value)
{
    int xx = get_global_id(0), yy = get_global_id(1), plane = get_global_id(2);
    if (xx >= w || yy >= h)
        return;
    size_t i = ((size_t)plane * h + yy) * w + xx;
    int inside = yy >= top && yy < top + height && xx >= left && xx < left + width;
    y[yo + i] = inside ? value : x[xo + i];
    if (xx == 0 && yy == 0 && plane == 0) {
        box[bo + 0] = (float)top;
        box[bo + 1] = (float)left;
        box[bo + 2] = (float)height;
        box[bo + 3] = (float)width;
    }
}

/* gx += gy outside the window, nothing inside. */
__kernel void occlude_backward(__global const float *gy, uint gyo, __global float *gx, uint gxo, int h, int w, int top,
                               int left, int height, int width)
{
    int xx = get_global_id(0), yy = get_global_id(1), plane = get_global_id(2);
    if (xx >= w || yy >= h)
        return;
    size_t i = ((size_t)plane * h + yy) * w + xx;
    int inside = yy >= top && yy < top + height && xx >= left && xx < left + width;
    if (!inside)
        gx[gxo + i] += gy[gyo + i];
}

/* occlude with landmarks: the painted columns of each image and row were
 * computed on the host (fx_occlude_spans, the mesh-warped quadrilateral),
 * spans[(b * h + row) * 4 ..] = [j0, j1) and [j2, j3); planes are N x C.
 * backward (forward == 0): gx += gy outside the painted pixels. */
__kernel void occlude_spans(__global const float *x, uint xo, __global float *y, uint yo,
                            __global const int *spans, uint so, int h, int w, int channels, float value, int forward)
{
    int xx = get_global_id(0), yy = get_global_id(1), plane = get_global_id(2);
    if (xx >= w || yy >= h)
        return;
    __global const int *sp = spans + so + ((size_t)(plane / channels) * h + yy) * 4;
    int inside = (xx >= sp[0] && xx < sp[1]) || (xx >= sp[2] && xx < sp[3]);
    size_t i = ((size_t)plane * h + yy) * w + xx;
    if (forward)
        y[yo + i] = inside ? value : x[xo + i];
    else if (!inside)
        y[yo + i] += x[xo + i];
}
