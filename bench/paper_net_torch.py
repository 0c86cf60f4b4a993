#!/usr/bin/python3
"""bench/paper_net_torch.py - the PyTorch peer of `fxrun bench
configs/interpret-fr*.yaml`: the paper's network (configs/interpret-fr/blocks.yaml,
docs/losses.md) written as a user would write it in
PyTorch, one training step (forward, backward, Adam update) on random
data, timed; prints the median ms/step.

Network: 14 conv 3x3 (+bias) -> BN (momentum 0.1 in PyTorch's convention
= 0.9 in TF's, eps 1e-5) -> ELU (the last one BN only); stride-2 convs with
TensorFlow's SAME padding (0 before, 1 after: F.pad then an unpadded
conv); hypercolumn: stage 4 and 5 outputs through 1x1 conv -> bilinear
resize (align_corners=False is not TF1's legacy mapping; the cost is the
same) -> BN -> ELU -> L2 over channels, concatenated with the L2-normalised
stage-3 output; k5 3x3 conv -> BN; top-k mask (k = map height); global
average pool; dropout 0.4; linear to 294 classes.

Losses (--loss):
  base  2 CE(clean)
  sad   2 CE(clean) + SAD(clean)
  full  2 CE(clean) + 2 CE(occluded, masked to the 260 kept filters)
        + 100 L_A + SAD(clean) + SAD(occluded) + L_FAD; the occluded batch
        (a -1 window 12 high, 32 wide, on every image) goes through the same modules in
        a second call, so each branch's BN uses its own batch statistics,
        as in fx.

--small: the small variants (configs/interpret-fr*-small.yaml: 48x48
input, half the widths, 160 k5 filters).

--device cuda: the step on the first CUDA GPU in float32 with TF32 off
(torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32
= False, so convolutions and matrix products round as fp32, as fx's
OpenCL kernels do); each timed step is bracketed by
torch.cuda.synchronize(), and the peak memory PyTorch allocated on the
GPU is printed as TORCH_CUDA_PEAK_MIB. cudnn.benchmark stays off (the
default). Without a CUDA device it exits with status 3 and says why
(tools/gpu-check.sh relies on that). The default, --device cpu, is the
CPU run as before.

Usage: /usr/bin/python3 bench/paper_net_torch.py [--loss base|sad|full]
       [--batch 64] [--threads 2] [--steps 5] [--small] [--device cpu|cuda]
Prints: TORCH_MEDIAN_MS x (median of the timed steps, after 2 warm-up
steps). Needs Debian's python3-torch (/usr/bin/python3)."""
import argparse
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

GAUSS = [[0.0947416, 0.118318, 0.0947416],
         [0.118318, 0.147761, 0.118318],
         [0.0947416, 0.118318, 0.0947416]]
FULL = dict(w=[32, 64, 64, 64, 128, 128, 96, 192, 192, 128, 256, 256, 160, 320], hc=192, k5=320, size=96)
SMALL = dict(w=[16, 32, 32, 32, 64, 64, 48, 96, 96, 64, 128, 128, 80, 160], hc=96, k5=160, size=48)
STRIDE2 = {2, 5, 8, 11}   # 0-based index of c21, c31, c41, c51


class ConvBnElu(nn.Module):
    def __init__(self, cin, cout, stride, act=True):
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1 if stride == 1 else 0)
        self.bn = nn.BatchNorm2d(cout, momentum=0.1, eps=1e-5)
        self.act = act

    def forward(self, x):
        if self.stride == 2:
            x = F.pad(x, (0, 1, 0, 1))   # TF SAME at even sizes: 0 before, 1 after
        x = self.bn(self.conv(x))
        return F.elu(x) if self.act else x


class HcBranch(nn.Module):
    def __init__(self, cin, ch, size):
        super().__init__()
        self.conv = nn.Conv2d(cin, ch, 1)
        self.bn = nn.BatchNorm2d(ch, momentum=0.1, eps=1e-5)
        self.size = size

    def forward(self, x):
        x = F.interpolate(self.conv(x), size=(self.size, self.size), mode="bilinear", align_corners=False)
        return F.normalize(F.elu(self.bn(x)), dim=1, eps=1e-12)


def topk_mask(x):
    n, c, h, w = x.shape
    flat = x.reshape(n, c, h * w)
    t = torch.topk(flat.detach().abs(), h, dim=2).values[:, :, -1:]
    return (flat * (flat.detach().abs() > t)).reshape(n, c, h, w)


class Branch(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        w = cfg["w"]
        cin = 3
        layers = []
        for i, cout in enumerate(w):
            layers.append(ConvBnElu(cin, cout, 2 if i in STRIDE2 else 1, act=i != len(w) - 1))
            cin = cout
        self.bb = nn.ModuleList(layers)
        self.size = cfg["size"] // 4
        self.h4 = HcBranch(w[10], cfg["hc"], self.size)
        self.h5 = HcBranch(w[13], cfg["hc"], self.size)
        self.k5 = nn.Conv2d(w[7] + 2 * cfg["hc"], cfg["k5"], 3, padding=1)
        self.k5bn = nn.BatchNorm2d(cfg["k5"], momentum=0.1, eps=1e-5)

    def forward(self, x):
        for i, layer in enumerate(self.bb):
            x = layer(x)
            if i == 7:
                s3 = x
            elif i == 10:
                s4 = x
        hyper = torch.cat([F.normalize(s3, dim=1, eps=1e-12), self.h4(s4), self.h5(x)], dim=1)
        mk5 = topk_mask(self.k5bn(self.k5(hyper)))
        return mk5, mk5.mean((2, 3))


def sad_loss(m, kernel, eps=1e-8):
    b, k, h, w = m.shape
    s = F.conv2d(m, kernel, padding=1, groups=k).reshape(b, k, h * w)
    n = s / s.norm(dim=2, keepdim=True).clamp_min(eps)
    gram = torch.bmm(n, n.transpose(1, 2))
    off = gram - torch.diag_embed(torch.diagonal(gram, dim1=1, dim2=2))
    return ((off ** 2).sum((1, 2)) / (k * (k - 1))).mean()


def filter_diversity(wt, eps=1e-8):
    o, c, kh, kw = wt.shape
    p = kh * kw
    v = wt.reshape(o, c, p).transpose(1, 2)
    n = v / v.norm(dim=2, keepdim=True).clamp_min(eps)
    gram = n @ n.transpose(1, 2)
    off = gram - torch.diag_embed(torch.diagonal(gram, dim1=1, dim2=2))
    return ((off ** 2).sum((1, 2)) / (p * (p - 1))).mean()


class PaperNet(nn.Module):
    def __init__(self, cfg, classes, loss):
        super().__init__()
        self.branch = Branch(cfg)
        self.logits = nn.Linear(cfg["k5"], classes)
        self.loss = loss
        self.size = cfg["size"]
        self.register_buffer("gauss", torch.tensor(GAUSS).expand(cfg["k5"], 1, 3, 3).contiguous())

    def forward(self, image, label):
        mk5, f = self.branch(image)
        total = 2 * F.cross_entropy(self.logits(F.dropout(f, 0.4, self.training)), label)
        if self.loss in ("sad", "full"):
            total = total + sad_loss(mk5, self.gauss)
        if self.loss == "full":
            occluded = image.clone()
            y, x = torch.randint(0, self.size - 32, (2,)).tolist()
            occluded[:, :, y:y + 12, x:x + 32] = -1.0
            mk5o, fo = self.branch(occluded)
            delta = (f - fo).abs().mean(0)
            keep = torch.topk(delta.detach(), min(260, delta.numel()), largest=False).indices
            mask = torch.zeros_like(delta)
            mask[keep] = 1.0
            total = total + 0.1 * (delta * mask).sum()
            total = total + 2 * F.cross_entropy(self.logits(F.dropout(fo * mask, 0.4, self.training)), label)
            total = total + sad_loss(mk5o, self.gauss)
            total = total + 100 * filter_diversity(self.branch.k5.weight)
        return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loss", choices=["base", "sad", "full"], default="base")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--classes", type=int, default=294)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    a = ap.parse_args()
    cuda = a.device == "cuda"
    if cuda:
        if not torch.cuda.is_available():
            print(f"paper_net_torch: --device cuda, but torch {torch.__version__} sees no CUDA device "
                  f"(built with CUDA {torch.version.cuda}; a CPU-only build says None)", file=sys.stderr)
            sys.exit(3)
        # fp32 as written: no TF32 tensor-core rounding in convs or GEMMs.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    cfg = SMALL if a.small else FULL
    net = PaperNet(cfg, a.classes, a.loss)
    net.train()
    if cuda:
        net = net.to(a.device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.5, 0.999))
    image = torch.rand(a.batch, 3, cfg["size"], cfg["size"]) * 2 - 1
    label = torch.randint(0, a.classes, (a.batch,))
    if cuda:
        image, label = image.to(a.device), label.to(a.device)

    def step():
        opt.zero_grad(set_to_none=True)
        net(image, label).backward()
        opt.step()

    def sync():
        if cuda:
            torch.cuda.synchronize()

    for _ in range(2):
        step()
    times = []
    for _ in range(a.steps):
        sync()
        t0 = time.perf_counter()
        step()
        sync()
        times.append(1e3 * (time.perf_counter() - t0))
    where = f"{a.threads} threads" if not cuda else \
        f"cuda ({torch.cuda.get_device_name(0)}), fp32, TF32 off, {a.threads} CPU threads"
    print(f"torch {torch.__version__}: {a.loss}{' small' if a.small else ''}, batch {a.batch}, "
          f"{where}, {a.steps} steps")
    print(f"TORCH_MEDIAN_MS {statistics.median(times):.2f}")
    if cuda:
        print(f"TORCH_CUDA_PEAK_MIB {torch.cuda.max_memory_allocated() / 2**20:.0f}")


if __name__ == "__main__":
    main()
