#!/usr/bin/python3
"""tests/gen_paper_fixtures.py - reference cases for the paper's ops
(topk_mask, sad_loss, fad_loss, filter_diversity), computed by an
independent PyTorch implementation in float64 (autograd for gradients)
from the float32 inputs that are saved next to them.

Regenerate (Debian's python3 with python3-torch 1.13, not a venv python):

    /usr/bin/python3 tests/gen_paper_fixtures.py

It writes tests/data/paper/*.npy (small: well under 1 MB) and is
deterministic (fixed seeds). The C tests read them with fx_npy_read
(tests/test_op_topk.c, test_op_sad.c, test_op_fad.c,
test_op_filter_diversity.c) and drive `fxrun run` with them.
The mathematics is stated in docs/losses.md; this file restates it in the
direct (dense, unfused) form, which is what makes it a check."""
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "paper")
GAUSS = [[0.0947416, 0.118318, 0.0947416],
         [0.118318, 0.147761, 0.118318],
         [0.0947416, 0.118318, 0.0947416]]


def save(name, array):
    a = np.ascontiguousarray(array)
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    np.save(os.path.join(OUT, name + ".npy"), a)


def f64(a32):
    """The float32 values exactly, as float64 tensors with gradients."""
    return torch.tensor(np.asarray(a32, dtype=np.float32).astype(np.float64), requires_grad=True)


def topk_mask(x, k):
    """y = x where |x| > (k-th largest |x| of the map), else 0."""
    n, c, h, w = x.shape
    k = h if k == 0 else min(k, h * w)
    a = x.detach().abs().reshape(n, c, h * w)
    t = torch.topk(a, k, dim=2).values[:, :, k - 1]
    keep = (x.abs() > t[:, :, None, None]).to(x.dtype)
    return x * keep


def guarded_normalise(v, eps, dim):
    """v / max(|v|, eps) along dim, with a gradient that is finite at 0."""
    sq = (v * v).sum(dim, keepdim=True)
    floor = torch.full_like(sq, eps * eps)
    return v / torch.sqrt(torch.where(sq > floor, sq, floor))


def sad_loss(m, eps=1e-8):
    """Smooth each channel (depthwise 3x3 Gaussian, zero 'same' padding),
    normalise, Gram, mean squared off-diagonal entry, mean over images."""
    b, k, h, w = m.shape
    g = torch.tensor(GAUSS, dtype=m.dtype).expand(k, 1, 3, 3)
    s = F.conv2d(m, g, padding=1, groups=k).reshape(b, k, h * w)
    n = guarded_normalise(s, eps, 2)
    gram = n @ n.transpose(1, 2)
    off = gram - torch.diag_embed(torch.diagonal(gram, dim1=1, dim2=2))
    return ((off ** 2).sum((1, 2)) / (k * (k - 1))).mean()


def fad_loss(f, fo, n_keep, scale):
    delta = (f - fo).abs().mean(0)
    d = delta.detach().numpy()
    order = sorted(range(len(d)), key=lambda i: (d[i], i))
    mask = torch.zeros_like(delta)
    mask[order[:n_keep]] = 1.0
    loss = scale * (delta * mask).sum()
    return loss, fo * mask, mask


def filter_diversity(wt, eps=1e-8):
    o, c, kh, kw = wt.shape
    p = kh * kw
    v = wt.reshape(o, c, p).transpose(1, 2)
    n = guarded_normalise(v, eps, 2)
    gram = n @ n.transpose(1, 2)
    off = gram - torch.diag_embed(torch.diagonal(gram, dim1=1, dim2=2))
    return ((off ** 2).sum((1, 2)) / (p * (p - 1))).mean()


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240611)
    normal = lambda *shape: rng.standard_normal(shape).astype(np.float32)

    # topk_mask: distinct values (no near ties), k = 0 (-> H) and k = 3.
    x = normal(2, 3, 5, 4)
    r = normal(2, 3, 5, 4)
    save("topk_x", x)
    save("topk_r", r)
    for k in (0, 3):
        xt = f64(x)
        y = topk_mask(xt, k)
        (y * torch.tensor(r.astype(np.float64))).sum().backward()
        save(f"topk_k{k}_y", y.detach().numpy())
        save(f"topk_k{k}_dx", xt.grad.numpy())

    # sad_loss on a top-k'd (sparse) input, a dense input, and an input
    # with an all-zero channel; K = 7 and 5 are not multiples of 8 or 16.
    xs = normal(2, 7, 6, 5)
    m_sparse = topk_mask(torch.tensor(xs), 0).numpy().astype(np.float32)
    m_dense = normal(3, 5, 4, 6)
    m_zero = normal(2, 4, 5, 5)
    m_zero[0, 1] = 0.0
    for name, m in (("sparse", m_sparse), ("dense", m_dense), ("zero", m_zero)):
        mt = f64(m)
        loss = sad_loss(mt)
        loss.backward()
        save(f"sad_{name}_m", m)
        save(f"sad_{name}_loss", np.array([loss.item()]))
        save(f"sad_{name}_dm", mt.grad.numpy())

    # The paper's composition: dense maps -> topk_mask (k = H) -> sad_loss.
    xt = f64(xs)
    loss = sad_loss(topk_mask(xt, 0))
    loss.backward()
    save("topk_sad_x", xs)
    save("topk_sad_loss", np.array([loss.item()]))
    save("topk_sad_dx", xt.grad.numpy())

    # fad_loss: K 10, N 4, with two filters whose Delta tie exactly at the
    # border of S (columns 3 and 7 identical), so the tie rule decides.
    f = normal(4, 10)
    fo = f + normal(4, 10)
    f[:, 7] = f[:, 3]
    fo[:, 7] = fo[:, 3]
    d = np.abs(f.astype(np.float64) - fo).mean(0)
    order = sorted(range(10), key=lambda i: (d[i], i))
    n_keep = order.index(3) + 1           # 3 is the last kept, 7 (tied) the first dropped
    assert order[n_keep] == 7, order
    r1 = normal(4, 10)
    ft, fot = f64(f), f64(fo)
    loss, masked, mask = fad_loss(ft, fot, n_keep, 0.1)
    loss.backward()
    save("fad_f", f)
    save("fad_fo", fo)
    save("fad_r1", r1)
    save("fad_n_keep", np.array([n_keep], dtype=np.int32))
    save("fad_loss", np.array([loss.item()]))
    save("fad_masked", masked.detach().numpy())
    save("fad_mask", mask.detach().numpy().reshape(1, 10))
    save("fad_loss_df", ft.grad.numpy())
    save("fad_loss_dfo", fot.grad.numpy())
    ft, fot = f64(f), f64(fo)
    loss, masked, _ = fad_loss(ft, fot, n_keep, 0.1)
    (loss + (masked * torch.tensor(r1.astype(np.float64))).sum()).backward()
    save("fad_both_df", ft.grad.numpy())
    save("fad_both_dfo", fot.grad.numpy())

    # filter_diversity: 5 filters of 4 channels, 3x3; one spatial vector 0.
    wt = normal(5, 4, 3, 3)
    wt[2, :, 1, 1] = 0.0
    wtt = f64(wt)
    loss = filter_diversity(wtt)
    loss.backward()
    save("fdiv_w", wt)
    save("fdiv_loss", np.array([loss.item()]))
    save("fdiv_dw", wtt.grad.numpy())

    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, to {OUT}")


if __name__ == "__main__":
    main()
