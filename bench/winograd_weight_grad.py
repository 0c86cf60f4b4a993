#!/usr/bin/python3
"""bench/winograd_weight_grad.py - the transforms of the Winograd weight
gradient of a 3x3 stride-1 conv (backends/cpu/conv2d_winograd.c), checked
and measured before they were written in C.

The weight gradient of y = x (*) g (correlation, pads pt/pl) is
  dW[o][c][i][j] = sum_{n, oy, ox} dy[n][o][oy][ox] x[n][c][oy - pt + i][ox - pl + j].
Cut dy into m x m tiles; tile t reads the alpha x alpha input patch d_t
(alpha = m + 2) the forward's tile t reads. The forward identity
  y_t = A^T [(G g G^T) . (B^T d_t B)] A      (. elementwise)
holds for every g, so sum_ab dY_t[a][b] y_t[a][b] = <A dY_t A^T, (G g G^T) . V_t>
and differentiating by g:
  dW = G^T [ sum_t (A dY_t A^T) . (B^T d_t B) ] G
i.e. the same B^T as the forward on the input, A (the transpose of the
forward's A^T) on the dy tile, and G^T to go from alpha x alpha to 3x3.

This script (1) checks that identity in float64 against a direct sum on
random data with pads 0, 1, 2 and sizes that are not multiples of m, and
(2) measures the float32 error of the whole weight gradient (transforms
rounded to float32, the sum over tiles in float32 in chunks of 256 tiles
as the C code's GEMM accumulates it) per weight, as a multiple of
S = sum |dy| |x| over the terms of that weight, for F(2x2) and F(4x4)
with fx's points (0, 1, -1, 1/2, -2) and Lavin's (0, +-1, +-2).

Usage: /usr/bin/python3 bench/winograd_weight_grad.py   (needs numpy)"""
import numpy as np

from winograd_points import matrices


def fx_matrices(m):
    """The matrices of conv2d_winograd_transforms.h / conv2d_winograd.c."""
    if m == 2:
        at = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], float)
        bt = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], float)
        g = np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]])
        return at, g, bt
    at = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, .5, -2, 0], [0, 1, 1, .25, 4, 0], [0, 1, -1, .125, -8, 1]])
    bt = np.array([[1, -1.5, -2, 1.5, 1, 0], [0, -1, .5, 2.5, 1, 0], [0, 1, -2.5, .5, 1, 0],
                   [0, -2, -1, 2, 1, 0], [0, .5, -1, -.5, 1, 0], [0, 1, -1.5, -2, 1.5, 1]])
    g = np.array([[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [-1 / 3, 1 / 3, -1 / 3], [-16 / 15, -8 / 15, -4 / 15],
                  [1 / 15, -2 / 15, 4 / 15], [0, 0, 1]])
    return at, g, bt


def direct(x, dy, pad):
    """dW in float64 and S = sum |dy||x| per weight."""
    n, c, h, w = x.shape
    o, oh, ow = dy.shape[1:]
    xp = np.zeros((n, c, h + 4, w + 4))
    xp[:, :, 2:2 + h, 2:2 + w] = x
    dw, s = np.zeros((o, c, 3, 3)), np.zeros((o, c, 3, 3))
    for i in range(3):
        for j in range(3):
            win = xp[:, :, 2 - pad + i:2 - pad + i + oh, 2 - pad + j:2 - pad + j + ow]
            dw[:, :, i, j] = np.einsum("nopq,ncpq->oc", dy, win)
            s[:, :, i, j] = np.einsum("nopq,ncpq->oc", np.abs(dy), np.abs(win))
    return dw, s


def winograd(x, dy, pad, at, g, bt, dtype, chunk=256):
    m, a = at.shape
    n, c, h, w = x.shape
    o, oh, ow = dy.shape[1:]
    th, tw = -(-oh // m), -(-ow // m)
    xp = np.zeros((n, c, th * m + 2 + 4, tw * m + 2 + 4))
    xp[:, :, 2:2 + h, 2:2 + w] = x
    dyp = np.zeros((n, o, th * m, tw * m))
    dyp[:, :, :oh, :ow] = dy
    d = np.stack([xp[:, :, 2 - pad + ty * m:2 - pad + ty * m + a, 2 - pad + tx * m:2 - pad + tx * m + a]
                  for ty in range(th) for tx in range(tw)], 1).reshape(-1, c, a, a)
    e = np.stack([dyp[:, :, ty * m:ty * m + m, tx * m:tx * m + m] for ty in range(th) for tx in range(tw)],
                 1).reshape(-1, o, m, m)
    f = dtype
    btf, af, gf = bt.astype(f), at.T.astype(f), g.astype(f)
    v = np.einsum("rk,tcks,qs->tcrq", btf, d.astype(f), btf).astype(f)
    u = np.einsum("ra,toab,qb->torq", af, e.astype(f), af).astype(f)
    mm = np.zeros((o, c, a, a), f)
    for t0 in range(0, v.shape[0], chunk):
        mm += np.einsum("torq,tcrq->ocrq", u[t0:t0 + chunk], v[t0:t0 + chunk]).astype(f)
    return np.einsum("ri,ocrq,qj->ocij", gf, mm, gf).astype(f)


def main():
    rng = np.random.default_rng(1)
    print("exactness in float64 (max |winograd - direct| / max |direct|):")
    for m in (2, 4):
        for pad in (0, 1, 2):
            for (n, c, h, w, o) in ((2, 3, 7, 5, 4), (1, 2, 9, 11, 3), (3, 1, 4, 4, 2)):
                x = rng.standard_normal((n, c, h, w))
                oh, ow = h + 2 * pad - 2, w + 2 * pad - 2
                dy = rng.standard_normal((n, o, oh, ow))
                ref, _ = direct(x, dy, pad)
                got = winograd(x, dy, pad, *fx_matrices(m), np.float64)
                err = np.abs(got - ref).max() / np.abs(ref).max()
                assert err < 1e-12, (m, pad, n, c, h, w, o, err)
        print(f"  F({m}x{m},3x3): pads 0/1/2, odd sizes: ok")
    print("\nfloat32 error per weight / S (S = sum |dy||x| of the weight):")
    print(f"{'tile, points':<34} {'shape':<24} {'max':>9} {'rms':>9}   GEMM (float32) max")
    shapes = ((16, 64, 24, 24, 64), (4, 96, 48, 48, 32), (64, 32, 12, 12, 32))
    for (n, c, h, w, o) in shapes:
        x = rng.standard_normal((n, c, h, w)).astype(np.float32)
        dy = (0.01 * rng.standard_normal((n, o, h, w))).astype(np.float32)
        ref, s = direct(x.astype(float), dy.astype(float), 1)
        # The im2col GEMM's own float32 error, for scale: a float32 dot
        # product over the same terms.
        g32 = np.zeros_like(ref)
        xp = np.zeros((n, c, h + 2, w + 2), np.float32)
        xp[:, :, 1:1 + h, 1:1 + w] = x
        for i in range(3):
            for j in range(3):
                g32[:, :, i, j] = np.einsum("nopq,ncpq->oc", dy, xp[:, :, i:i + h, j:j + w])
        gemm = (np.abs(g32 - ref) / s).max()
        for name, mats in (("F(2x2), fx", fx_matrices(2)), ("F(4x4), fx 0 1 -1 1/2 -2", fx_matrices(4)),
                           ("F(4x4), Lavin 0 +-1 +-2", matrices((0, 1, -1, 2, -2)))):
            got = winograd(x, dy, 1, *mats, np.float32)
            r = np.abs(got - ref) / s
            print(f"{name:<34} {str((n, c, h, w, o)):<24} {r.max():9.3g} {np.sqrt((r ** 2).mean()):9.3g}   {gemm:.3g}")


if __name__ == "__main__":
    main()
