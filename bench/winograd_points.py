#!/usr/bin/python3
"""bench/winograd_points.py - why conv2d_winograd uses the points
0, 1, -1, 1/2, -2 for F(4x4,3x3): builds the Winograd matrices A^T, G,
B^T of F(m, 3) from a set of interpolation points (Toom-Cook, plus the
point at infinity; B^T solved from the bilinear identity), runs the 2-D
algorithm in float32 over C input channels (numpy, the transforms and
the channel sum rounded to float32 as the C code does) and prints the
maximum and RMS absolute error against float64 direct convolution, and
the output RMS for scale. Data: x ~ N(0, 1), w ~ 0.5 N(0, 1) (the scale
of tests/test_op_conv2d.c's large case), C = 40, 400 tiles.

Usage: /usr/bin/python3 bench/winograd_points.py   (needs numpy)"""
import numpy as np


def matrices(points, m=4, r=3):
    a = m + r - 1
    at = np.zeros((m, a))
    g = np.zeros((a, r))
    for k, p in enumerate(points):
        at[:, k] = [p ** i for i in range(m)]
        norm = np.prod([p - q for q in points if q != p])
        g[k, :] = [p ** j / norm for j in range(r)]
    at[m - 1, a - 1] = 1
    g[a - 1, r - 1] = 1
    # sum_k AT[i][k] G[k][j] BT[k][l] = [l == i + j] for all i, j, l.
    rows, rhs = [], []
    for i in range(m):
        for j in range(r):
            for l in range(a):
                row = np.zeros(a * a)
                for k in range(a):
                    row[k * a + l] = at[i, k] * g[k, j]
                rows.append(row)
                rhs.append(1.0 if l == i + j else 0.0)
    bt = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0].reshape(a, a)
    return at, g, bt


def error(at, g, bt, channels=40, tiles=400, seed=0):
    rng = np.random.default_rng(seed)
    a, m = bt.shape[0], at.shape[0]
    f = np.float32
    d = rng.standard_normal((tiles, channels, a, a)).astype(f)
    w = (0.5 * rng.standard_normal((channels, 3, 3))).astype(f)
    u = np.einsum("ri,cij,qj->crq", g, w.astype(np.float64), g).astype(f)
    btf, atf = bt.astype(f), at.astype(f)
    v = np.einsum("rk,tcks,qs->tcrq", btf, d, btf).astype(f)
    mm = np.einsum("crq,tcrq->trq", u, v).astype(f)
    y = np.einsum("ir,trq,jq->tij", atf, mm, atf)
    ref = np.zeros((tiles, m, m))
    for i in range(m):
        for j in range(m):
            ref[:, i, j] = np.einsum("tcab,cab->t", d[:, :, i:i + 3, j:j + 3].astype(np.float64), w.astype(np.float64))
    e = np.abs(y - ref)
    return e.max(), np.sqrt((e ** 2).mean()), np.sqrt((ref ** 2).mean())


def main():
    print(f"{'tile':<6} {'points':<26} {'max err':>10} {'rms err':>10} {'output rms':>10}")
    for m, pts in ((2, (0, 1, -1)), (4, (0, 1, -1, 2, -2)), (4, (0, 1, -1, 0.5, -0.5)), (4, (0, 1, -1, 0.5, -2))):
        mx, rms, scale = error(*matrices(pts, m=m))
        print(f"F({m},3) {str(pts):<26} {mx:10.3g} {rms:10.3g} {scale:10.3g}")


if __name__ == "__main__":
    main()
