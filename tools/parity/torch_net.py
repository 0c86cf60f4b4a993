"""PyTorch reference of fx's small interpretable-face network (configs/interpret-fr-*-small.yaml,
configs/interpret-fr/blocks.yaml), written from fx's settings, not from fx's code:

  every conv 3x3 with bias, TF "SAME" padding (stride 2 on an even map: 0 before, 1 after),
  BatchNorm (fx momentum 0.9 = PyTorch momentum 0.1, eps 1e-5, running variance unbiased), ELU;
  hypercolumn: stage 3 output L2-normalised over channels (x / sqrt(max(sum x^2, 1e-12))),
  stages 4 and 5 through 1x1 conv -> bilinear resize (TF1 asymmetric mapping src = d*in/out,
  the second tap clamped to the last row) -> BN -> ELU -> L2; concat; k5 = conv 3x3 + BN;
  top-k mask (keep |x| > k-th largest |x| of the map, k = map height); global average pool;
  dropout (masks replayed from fx, or drawn here); linear; 2 * softmax cross-entropy; SAD.

Parameter and buffer names are fx's checkpoint names, so fx checkpoints load directly
(load_fx / state_fx). Works in float32 and float64 (net.double()).
"""
import math

import torch
import torch.nn.functional as F

SMALL = dict(w11=16, w12=32, w21=32, w22=32, w23=64, w31=64, w32=48, w33=96, w41=96, w42=64, w43=128,
             w51=128, w52=80, w53=160, hc=96, size=12, k5=160, classes=294)
BACKBONE = [("c11", "w11", 1), ("c12", "w12", 1), ("c21", "w21", 2), ("c22", "w22", 1), ("c23", "w23", 1),
            ("c31", "w31", 2), ("c32", "w32", 1), ("c33", "w33", 1), ("c41", "w41", 2), ("c42", "w42", 1),
            ("c43", "w43", 1), ("c51", "w51", 2), ("c52", "w52", 1)]
GAUSS = (0.0947416, 0.118318, 0.147761)  # corner, edge, centre (docs/losses.md, not renormalised)


def same_pad(x, k, s):
    """TensorFlow SAME padding: out = ceil(in / s), the odd extra pixel after."""
    h, w = x.shape[-2:]
    ph = max((math.ceil(h / s) - 1) * s + k - h, 0)
    pw = max((math.ceil(w / s) - 1) * s + k - w, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


def resize_asymmetric(x, size):
    """Bilinear resize with TF1's legacy mapping src = d * in / out."""
    def axis(n_in, n_out, dtype):
        src = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
        i0 = src.floor().long().clamp(max=n_in - 1)
        i1 = (i0 + 1).clamp(max=n_in - 1)
        return i0, i1, (src - i0.double()).to(dtype)
    h0, h1, fh = axis(x.shape[2], size, x.dtype)
    w0, w1, fw = axis(x.shape[3], size, x.dtype)
    top, bot = x[:, :, h0, :], x[:, :, h1, :]
    rows = top + (bot - top) * fh.view(1, 1, -1, 1)
    left, right = rows[:, :, :, w0], rows[:, :, :, w1]
    return left + (right - left) * fw.view(1, 1, 1, -1)


def l2n(x):
    return x / torch.sqrt(torch.clamp((x * x).sum(1, keepdim=True), min=1e-12))


def topk_mask(x):
    k = x.shape[2]
    a = x.abs().flatten(2)
    t = a.topk(k, dim=2).values[:, :, -1:]
    return x * (a > t).view_as(x).to(x.dtype)


def sad_loss(m, eps=1e-8):
    b, k = m.shape[:2]
    c, e, z = GAUSS
    ker = torch.tensor([[c, e, c], [e, z, e], [c, e, c]], dtype=torch.float32).to(m.dtype)
    s = F.conv2d(m, ker.view(1, 1, 3, 3).repeat(k, 1, 1, 1), padding=1, groups=k).flatten(2)
    n = s / torch.clamp(s.norm(dim=2, keepdim=True), min=eps)
    g = n @ n.transpose(1, 2)
    off = (g * g).sum((1, 2)) - (torch.diagonal(g, dim1=1, dim2=2) ** 2).sum(1)
    return (off / (k * (k - 1))).mean()


class CBE(torch.nn.Module):
    def __init__(self, cin, cout, stride, act=True):
        super().__init__()
        self.conv = torch.nn.Conv2d(cin, cout, 3, stride)
        self.bn = torch.nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
        self.stride, self.act = stride, act

    def forward(self, x):
        y = self.bn(self.conv(same_pad(x, 3, self.stride)))
        return F.elu(y) if self.act else y


class HC(torch.nn.Module):
    def __init__(self, cin, cout, size):
        super().__init__()
        self.conv = torch.nn.Conv2d(cin, cout, 1)
        self.bn = torch.nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
        self.size = size

    def forward(self, x):
        return l2n(F.elu(self.bn(resize_asymmetric(self.conv(x), self.size))))


class Net(torch.nn.Module):
    """One clean branch + dropout + linear (the base and SAD small configs)."""

    def __init__(self, w=SMALL, in_ch=3):
        super().__init__()
        self.w = dict(w)
        cin = in_ch
        self.bb = torch.nn.ModuleDict()
        for name, key, s in BACKBONE:
            self.bb[name] = CBE(cin, w[key], s)
            cin = w[key]
        self.bb["c53"] = CBE(cin, w["w53"], 1, act=False)
        self.h4 = HC(w["w43"], w["hc"], w["size"])
        self.h5 = HC(w["w53"], w["hc"], w["size"])
        self.k5 = CBE(w["w33"] + 2 * w["hc"], w["k5"], 1, act=False)
        self.logits = torch.nn.Linear(w["k5"], w["classes"])

    def features(self, x):
        """-> dict of k5 (after BN), mk5 (masked) and feat (pooled)."""
        out = {}
        for name, _, _ in BACKBONE:
            x = self.bb[name](x)
            out[name] = x
        x = self.bb["c53"](x)
        hyper = torch.cat([l2n(out["c33"]), self.h4(out["c43"]), self.h5(x)], 1)
        k5 = self.k5(hyper)
        mk5 = topk_mask(k5)
        return dict(k5=k5, mk5=mk5, feat=mk5.mean((2, 3)))

    def forward(self, x, drop_mask=None, rate=0.4):
        f = self.features(x)
        feat = f["feat"]
        if self.training:
            if drop_mask is None:
                keep = (torch.rand_like(feat) >= rate).to(feat.dtype)
                drop_mask = keep * (1.0 / (1.0 - rate))
            feat = feat * drop_mask
        f["logits"] = self.logits(feat)
        return f

    # fx names <-> module names
    def _pairs(self):
        for name, t in list(self.named_parameters()) + list(self.named_buffers()):
            if name.endswith("num_batches_tracked"):
                continue
            fx = name.replace("bb.c53.conv.", "bb.c53.").replace("bb.c53.bn.", "bb.c53bn.")
            fx = fx.replace("k5.conv.", "k5.").replace("k5.bn.", "k5bn.")
            fx = fx.replace("bn.weight", "bn.weight")
            fx = fx if fx.startswith("logits") else "clean." + fx
            yield fx, name, t

    def load_fx(self, tensors):
        missing = []
        with torch.no_grad():
            for fx, name, t in self._pairs():
                if fx not in tensors:
                    missing.append(fx)
                    continue
                t.copy_(torch.from_numpy(tensors[fx]).to(t.dtype))
        if missing:
            raise KeyError("not in the checkpoint: %s" % missing)

    def state_fx(self):
        return {fx: t.detach().cpu().double().numpy() for fx, name, t in self._pairs()}

    def fx_names(self):
        return {name: fx for fx, name, t in self._pairs()}


def trainable(net, freeze_bn_bias=False):
    """The parameters Adam updates. freeze_bn_bias: leave out the biases that a BatchNorm cancels:
    every conv's (every conv of this network feeds a BatchNorm, the hypercolumn's through a resize
    that keeps constants) and c53's BatchNorm shift (c53 has no activation and feeds only h5's 1x1
    conv, whose BatchNorm cancels a constant) - the same set as tests/gen_train_trajectory.py
    leaves out. Their exact gradient is zero, so exact arithmetic never moves them, but in float32
    Adam divides the rounding noise in their gradient by its own size and moves them by about lr
    every step (issue 14, docs/results.md)."""
    params = []
    for name, p in net.named_parameters():
        if freeze_bn_bias and (name.endswith("conv.bias") or name == "bb.c53.bn.bias"):
            p.requires_grad_(False)
        else:
            params.append(p)
    return params

