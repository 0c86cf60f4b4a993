/* clkernels/conv.cl - the non-GEMM parts of conv2d and linear on OpenCL
 * (wrappers: backends/opencl/ocl_conv.c, ocl_linear.c, ocl_gemm.c):
 * im2col/col2im over a chunk of B images, bias rows and planes,
 * per-channel gradient sums and the batch sum of CLBlast's partial
 * weight gradients.
 * Shapes: x [N, C, H, W], y [N, O, OH, OW], P = OH*OW, K = C*kh*kw;
 * col [B, K, P]: image b's columns are a [K, P] matrix (row (c*kh + i)*kw
 * + j, column oy*OW + ox), so W[O, K] col_b is image b's output plane in
 * NCHW order and the GEMMs read and write the tensors in place. */

/* y[r, o] = b[o] for r < rows (linear: the GEMM then adds x W^T). */
__kernel void bias_rows(__global float *y, uint yo, __global const float *b, uint bo, int rows, int cols)
{
    int i = get_global_id(0);
    if (i < rows * cols)
        y[yo + i] = b[bo + i % cols];
}

/* out[c] += scale * sum_{n < N, p < P} x[(n*C + c)*P + p]: one work-group
 * per channel, a tree reduction in local memory (fixed order, so the
 * result does not depend on timing). */
__kernel void channel_sum(__global const float *x, uint xo, __global float *out, uint oo, int n, int channels,
                          int plane, float scale, __local float *part)
{
    int c = get_group_id(0), lid = get_local_id(0), ls = get_local_size(0);
    float s = 0.0f;
    int total = n * plane;
    for (int i = lid; i < total; i += ls) {
        int b = i / plane, p = i - b * plane;
        s += x[xo + ((size_t)b * channels + c) * plane + p];
    }
    part[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = ls / 2; w > 0; w >>= 1) {
        if (lid < w)
            part[lid] += part[lid + w];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0)
        out[oo + c] += scale * part[0];
}

/* col[b, (c*kh + i)*kw + j, oy*OW + ox] = x[first + b, c, oy*sh - pt + i,
 * ox*sw - pl + j] (0 outside): one work-item per (b, c, i, j) plane of P
 * values. The valid ox range is computed once per plane, so the inner
 * loops are plain copies (contiguous for stride 1) without bounds tests. */
__kernel void im2col_planes(__global const float *x, uint xo, __global float *col, uint co, int first, int batch,
                            int c_in, int h, int w, int kh, int kw, int sh, int sw, int pt, int pl, int oh, int ow)
{
    int gid = get_global_id(0);
    int kk = kh * kw, k_total = c_in * kk;
    if (gid >= batch * k_total)
        return;
    int b = gid / k_total, k = gid - b * k_total;
    int c = k / kk, ij = k - c * kk;
    int i = ij / kw, j = ij - i * kw;
    __global const float *xp = x + xo + ((size_t)(first + b) * c_in + c) * h * w;
    __global float *out = col + co + (size_t)gid * oh * ow;
    /* ox with 0 <= ox*sw - pl + j < w: [lo, hi). */
    int lo = pl - j > 0 ? (pl - j + sw - 1) / sw : 0;
    int hi = w - 1 + pl - j >= 0 ? (w - 1 + pl - j) / sw + 1 : 0;
    lo = min(lo, ow);
    hi = clamp(hi, lo, ow);
    for (int oy = 0; oy < oh; oy++, out += ow) {
        int iy = oy * sh - pt + i;
        if (iy < 0 || iy >= h) {
            for (int ox = 0; ox < ow; ox++)
                out[ox] = 0.0f;
            continue;
        }
        __global const float *row = xp + (size_t)iy * w;
        int shift = j - pl; /* ix = ox*sw + shift */
        for (int ox = 0; ox < lo; ox++)
            out[ox] = 0.0f;
        if (sw == 1)
            for (int ox = lo; ox < hi; ox++)
                out[ox] = row[ox + shift];
        else
            for (int ox = lo; ox < hi; ox++)
                out[ox] = row[ox * sw + shift];
        for (int ox = hi; ox < ow; ox++)
            out[ox] = 0.0f;
    }
}

/* The adjoint of im2col_planes: dx[first + b, c, iy, :] += every column
 * entry that im2col read from that row. One work-item per input row
 * (b, c, iy), which no other work-item writes: no atomics, a fixed order. */
__kernel void col2im_rows(__global const float *col, uint co, __global float *dx, uint xo, int first, int batch,
                          int c_in, int h, int w, int kh, int kw, int sh, int sw, int pt, int pl, int oh, int ow)
{
    int gid = get_global_id(0);
    if (gid >= batch * c_in * h)
        return;
    int iy = gid % h, t = gid / h;
    int c = t % c_in, b = t / c_in;
    __global float *row = dx + xo + (((size_t)(first + b) * c_in + c) * h + iy) * w;
    __global const float *cb = col + co + ((size_t)b * c_in + c) * kh * kw * oh * ow;
    for (int i = 0; i < kh; i++) {
        int ny = iy + pt - i;
        if (ny < 0 || ny % sh != 0 || ny / sh >= oh)
            continue;
        int oy = ny / sh;
        for (int j = 0; j < kw; j++) {
            __global const float *src = cb + ((size_t)(i * kw + j) * oh + oy) * ow;
            int lo = pl - j > 0 ? (pl - j + sw - 1) / sw : 0;
            int hi = w - 1 + pl - j >= 0 ? (w - 1 + pl - j) / sw + 1 : 0;
            lo = min(lo, ow);
            hi = clamp(hi, lo, ow);
            int shift = j - pl; /* ix = ox*sw + shift */
            if (sw == 1)
                for (int ox = lo; ox < hi; ox++)
                    row[ox + shift] += src[ox];
            else
                for (int ox = lo; ox < hi; ox++)
                    row[ox * sw + shift] += src[ox];
        }
    }
}

/* y[z, r, col] += bias[r] for planes z < batch of [rows, cols] with row
 * stride ld and plane stride (conv2d bias after a CLBlast GEMM). */
__kernel void bias_planes(__global float *y, uint yo, int ld, int stride, __global const float *bias, uint bo,
                          int rows, int cols, int batch)
{
    int gid = get_global_id(0);
    if (gid >= batch * rows * cols)
        return;
    int col = gid % cols, t = gid / cols;
    int r = t % rows, z = t / rows;
    y[yo + (size_t)z * stride + (size_t)r * ld + col] += bias[bo + r];
}

/* c[r, col] = alpha sum_z part[z, r, col] + beta c[r, col] (part dense
 * [batch, rows, cols]); z in order, so the result does not depend on
 * timing. beta 0 does not read c. */
__kernel void sum_batches(__global const float *part, uint po, __global float *c, uint co, int ldc, int rows,
                          int cols, int batch, float alpha, float beta)
{
    int gid = get_global_id(0);
    if (gid >= rows * cols)
        return;
    int r = gid / cols, col = gid - r * cols;
    float s = 0.0f;
    for (int z = 0; z < batch; z++)
        s += part[po + (size_t)z * rows * cols + gid];
    __global float *cp = c + co + (size_t)r * ldc + col;
    *cp = beta != 0.0f ? alpha * s + beta * *cp : alpha * s;
}

/* ---- col2im of stride-1 "same size" convolutions (OH = H, OW = W) -------
 * Then plane position q = y*W + x of the output and of the input line up:
 * tap (i, j) of output q reads input q + (i - pt)*W + (j - pl), a shift
 * that is the same for every q. col2im_same_s1 handles 16 consecutive q
 * per work-item with explicit float16 vectors (one AVX-512 register) and
 * lane masks for the borders, instead of col2im_rows' short per-row loops
 * (2.5x faster on PoCL for 14x14 maps). im2col needs no such variant:
 * im2col_planes' plane-long copies already stream at memory speed. */

/* Loads t[i + l] for the 16 lanes l, where t holds n floats: one vector
 * load whenever the 16 floats lie inside t (lanes that fall outside the
 * plane of interest read a neighbouring plane and are masked off by the
 * caller), lane by lane only at the very ends of t. */
inline float16 load16_in(__global const float *t, long i, long n)
{
    if (i >= 0 && i + 16 <= n)
        return vload16(0, t + i);
    float v[16];
    for (int l = 0; l < 16; l++)
        v[l] = i + l >= 0 && i + l < n ? t[i + l] : 0.0f;
    return vload16(0, v);
}

/* Row and column of the 16 positions q0 .. q0+15 of a plane of width w. */
inline void lanes_yx(int q0, int w, int16 *y, int16 *x)
{
    int yy[16], xx[16];
    int cy = q0 / w, cx = q0 - cy * w;
    for (int l = 0; l < 16; l++) {
        yy[l] = cy;
        xx[l] = cx;
        if (++cx == w) {
            cx = 0;
            cy++;
        }
    }
    *y = vload16(0, yy);
    *x = vload16(0, xx);
}

/* The adjoint: dx[first + b, c, q] += sum over taps of col[b, (c, i, j),
 * q - (i - pt)*W - (j - pl)] where that output position exists. One
 * work-item per (b, c, 16 positions): a fixed order, no atomics. */
__kernel void col2im_same_s1(__global const float *col, uint co, __global float *dx, uint xo, int first, int batch,
                             int c_in, int h, int w, int kh, int kw, int pt, int pl)
{
    int plane = h * w, chunks = (plane + 15) / 16;
    int gid = get_global_id(0);
    if (gid >= batch * c_in * chunks)
        return;
    int bc = gid / chunks, q0 = (gid - bc * chunks) * 16;
    int b = bc / c_in, c = bc - b * c_in;
    __global const float *ct = col + co;
    long cn = (long)batch * c_in * kh * kw * plane, cbase = (long)bc * kh * kw * plane + q0;
    int16 y, xx;
    lanes_yx(q0, w, &y, &xx);
    float16 s = (float16)(0.0f);
    for (int i = 0; i < kh; i++)
        for (int j = 0; j < kw; j++, cbase += plane) {
            /* output (oy, ox) = (y + pt - i, x + pl - j) */
            int16 oy = y + (int16)(pt - i), ox = xx + (int16)(pl - j);
            int16 ok = (oy >= (int16)(0)) & (oy < (int16)(h)) & (ox >= (int16)(0)) & (ox < (int16)(w));
            s += select((float16)(0.0f), load16_in(ct, cbase + (pt - i) * w + (pl - j), cn), ok);
        }
    __global float *dp = dx + xo + ((size_t)(first + b) * c_in + c) * plane + q0;
    if (q0 + 16 <= plane) {
        vstore16(vload16(0, dp) + s, 0, dp);
    } else {
        float t[16];
        vstore16(s, 0, t);
        for (int l = 0; l < 16 && q0 + l < plane; l++)
            dp[l] += t[l];
    }
}

/* ---- the same passes in GPU style (backends choose by device: see
 * ocl_gemm_select): one work-item per element, neighbouring work-items on
 * neighbouring addresses (coalesced), no loops but the taps. ---- */

/* col[b, k, p] of im2col_planes, one work-item per element (p fastest). */
__kernel void im2col_elements(__global const float *x, uint xo, __global float *col, uint co, int first, int batch,
                              int c_in, int h, int w, int kh, int kw, int sh, int sw, int pt, int pl, int oh, int ow)
{
    int gid = get_global_id(0);
    int plane = oh * ow, k_total = c_in * kh * kw;
    if (gid >= batch * k_total * plane)
        return;
    int p = gid % plane, t = gid / plane;
    int k = t % k_total, b = t / k_total;
    int c = k / (kh * kw), ij = k - c * kh * kw;
    int i = ij / kw, j = ij - i * kw;
    int oy = p / ow, ox = p - oy * ow;
    int iy = oy * sh - pt + i, ix = ox * sw - pl + j;
    float v = 0.0f;
    if (iy >= 0 && iy < h && ix >= 0 && ix < w)
        v = x[xo + (((size_t)(first + b) * c_in + c) * h + iy) * w + ix];
    col[co + gid] = v;
}

/* dx[first + b, c, iy, ix] += the column entries im2col took from it: a
 * gather per input pixel over the taps, in tap order. */
__kernel void col2im_elements(__global const float *col, uint co, __global float *dx, uint xo, int first, int batch,
                              int c_in, int h, int w, int kh, int kw, int sh, int sw, int pt, int pl, int oh, int ow)
{
    int gid = get_global_id(0);
    if (gid >= batch * c_in * h * w)
        return;
    int ix = gid % w, t = gid / w;
    int iy = t % h;
    t /= h;
    int c = t % c_in, b = t / c_in;
    int plane = oh * ow;
    __global const float *cb = col + co + ((size_t)b * c_in + c) * kh * kw * plane;
    float s = 0.0f;
    for (int i = 0; i < kh; i++) {
        int ny = iy + pt - i;
        if (ny < 0 || ny % sh != 0 || ny / sh >= oh)
            continue;
        for (int j = 0; j < kw; j++) {
            int nx = ix + pl - j;
            if (nx < 0 || nx % sw != 0 || nx / sw >= ow)
                continue;
            s += cb[(size_t)(i * kw + j) * plane + (ny / sh) * ow + nx / sw];
        }
    }
    dx[xo + (((size_t)(first + b) * c_in + c) * h + iy) * w + ix] += s;
}

/* out[c] += scale * sum_{b < n, p < plane} x[(b*C + c)*plane + p], CPU
 * style: one work-item per channel summing whole planes with a float16
 * accumulator (channel_sum's work-group tree spends its time in barriers
 * on PoCL). Planes not a multiple of 16 add their tail separately. */
__kernel void channel_sum_rows(__global const float *x, uint xo, __global float *out, uint oo, int n, int channels,
                               int plane, float scale)
{
    int c = get_global_id(0);
    if (c >= channels)
        return;
    float16 acc = (float16)(0.0f);
    float tail = 0.0f;
    int pv = plane / 16 * 16;
    for (int b = 0; b < n; b++) {
        __global const float *row = x + xo + ((size_t)b * channels + c) * plane;
        for (int p = 0; p < pv; p += 16)
            acc += vload16(0, row + p);
        for (int p = pv; p < plane; p++)
            tail += row[p];
    }
    float8 a8 = acc.lo + acc.hi;
    float4 a4 = a8.lo + a8.hi;
    float2 a2 = a4.lo + a4.hi;
    out[oo + c] += scale * (a2.x + a2.y + tail);
}
