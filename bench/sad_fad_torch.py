#!/usr/bin/python3
"""bench/sad_fad_torch.py - the SAD and FAD losses in plain (unfused)
PyTorch, as a user would write them from the paper, timed forward +
backward: the peer that bench/sad_fad.sh compares fx against.

SAD: input m [B, K, H, W] (top-k masked like k5: per image and channel
only the positions above the k-th largest |m| are kept), depthwise 3x3
Gaussian (conv2d with groups=K), normalise, batched Gram (bmm), mean
squared off-diagonal entry, backward to m.
FAD: f, fo [B, K]; mean |f - fo| over the batch, the n_keep smallest,
sum * 0.1, plus fo masked to them, backward to f and fo.

Usage: /usr/bin/python3 bench/sad_fad_torch.py [--threads 2] [--batch 64]
       [--channels 320] [--size 24] [--steps 20] [--which sad|fad|both]
Prints one line per loss: TORCH_SAD_MEDIAN_MS x / TORCH_FAD_MEDIAN_MS x.
Needs Debian's python3-torch (use /usr/bin/python3)."""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

GAUSS = [[0.0947416, 0.118318, 0.0947416],
         [0.118318, 0.147761, 0.118318],
         [0.0947416, 0.118318, 0.0947416]]


def sad_loss(m, kernel, eps=1e-8):
    b, k, h, w = m.shape
    s = F.conv2d(m, kernel, padding=1, groups=k).reshape(b, k, h * w)
    n = s / s.norm(dim=2, keepdim=True).clamp_min(eps)
    gram = torch.bmm(n, n.transpose(1, 2))
    off = gram - torch.diag_embed(torch.diagonal(gram, dim1=1, dim2=2))
    return ((off ** 2).sum((1, 2)) / (k * (k - 1))).mean()


def fad_loss(f, fo, n_keep=260, scale=0.1):
    delta = (f - fo).abs().mean(0)
    keep = torch.topk(delta, n_keep, largest=False).indices
    mask = torch.zeros_like(delta)
    mask[keep] = 1.0
    return scale * (delta * mask).sum(), fo * mask


def median_ms(fn, steps):
    for _ in range(3):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--channels", type=int, default=320)
    ap.add_argument("--size", type=int, default=24)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--which", choices=["sad", "fad", "both"], default="both")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    b, k, s = a.batch, a.channels, a.size
    if a.which in ("sad", "both"):
        x = torch.randn(b, k, s, s)
        flat = x.abs().reshape(b, k, s * s)
        t = torch.topk(flat, s, dim=2).values[:, :, -1:]
        m = (x * (flat > t).reshape(b, k, s, s)).requires_grad_(True)
        kernel = torch.tensor(GAUSS).expand(k, 1, 3, 3).contiguous()

        def sad_step():
            m.grad = None
            sad_loss(m, kernel).backward()
        print(f"TORCH_SAD_MEDIAN_MS {median_ms(sad_step, a.steps):.2f}")
    if a.which in ("fad", "both"):
        f = torch.randn(b, k, requires_grad=True)
        fo = torch.randn(b, k, requires_grad=True)
        r = torch.randn(b, k)

        def fad_step():
            f.grad = fo.grad = None
            loss, masked = fad_loss(f, fo, min(260, k))
            (loss + (masked * r).sum()).backward()
        print(f"TORCH_FAD_MEDIAN_MS {median_ms(fad_step, a.steps):.3f}")


if __name__ == "__main__":
    main()
