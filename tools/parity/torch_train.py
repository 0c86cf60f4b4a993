"""Trains the PyTorch reference of the small face network (torch_net.py) with PyTorch's own data
pipeline, random numbers and initial weights: the independent half of issue 14's statistical
comparison. Nothing here comes from fx's stream (replay.py is the step-level check); what is
shared with fx is only the recipe, read from the same config:

  configs/cfp/base-small.yaml (2 CE) or configs/cfp/sad-small.yaml (2 CE + SAD on clean.mk5):
  the CFP identities kept by data.split {holdout: 0.2, seed: 7} (the rule of core/io/data_split.c,
  re-implemented below and checked against the expected count), every image resized to 55 x 55
  by area averaging (PIL's BOX filter, aspect not kept; fx: INTER_AREA-style), a random 48 x 48
  crop (offsets 0..7 each way) and a horizontal flip with probability 1/2, scaled to [-1, 1];
  batch 64, a fresh shuffle per epoch, the last partial batch dropped; conv and linear weights
  truncated normal (std 0.02, redrawn beyond 2 std), biases 0, BN scale 1 and shift 0;
  dropout 0.4 on the pooled feature; Adam lr 1e-3, betas (0.5, 0.999), eps 1e-8.

The final state is written as an fx checkpoint (fxck.py), so `fxrun verify` and `fxrun explain`
measure the PyTorch model with exactly the code that measures fx's (tools/cfp-experiment.sh).

  /usr/bin/python3 tools/parity/torch_train.py --data ../shared/data/cfp-nonlfw --seed 1 \
      --epochs 12 [--sad] --out /tmp/torch-base-s1.fxck
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fxck  # noqa: E402
import torch_net  # noqa: E402

M64 = (1 << 64) - 1


def mix(x):
    """SplitMix64 finaliser (include/fx/rng.h, fx_rng_mix)."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def fnv1a64(s):
    h = 0xCBF29CE484222325
    for c in s.encode():
        h = ((h ^ c) * 0x100000001B3) & M64
    return h


def kept_identities(root, holdout, seed):
    """core/io/data_split.c: rank names by (derive(seed, fnv1a64(name)), name); the first
    round(holdout * n) are held out."""
    names = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    key = lambda n: (mix((seed + 0x632BE59BD9B4E019 * (fnv1a64(n) + 1)) & M64), n)  # noqa: E731
    ranked = sorted(names, key=key)
    held = min(max(int(np.floor(holdout * len(names) + 0.5)), 1), len(names) - 1)
    return sorted(ranked[held:]), sorted(ranked[:held])


def files(root, names):
    """(path, class) of every image, identities and files in sorted order."""
    exts = (".jpg", ".jpeg", ".png", ".pgm")
    return [(os.path.join(root, n, f), c) for c, n in enumerate(names)
            for f in sorted(os.listdir(os.path.join(root, n))) if f.lower().endswith(exts)]


def load(root, names, resize, pixels=""):
    """uint8 [N, 3, resize, resize] and labels. Pillow decodes and area-resizes (BOX), unless
    `pixels` names a .npy (8-bit values) of the same images in the same order as fx's loader stores them
    (tools/parity/fx_decode.c: `fx_decode 55 OUT.npy $(torch_train.py --list-files ...)`)."""
    fl = files(root, names)
    labels = np.array([c for _, c in fl], dtype=np.int64)
    if pixels:
        images = np.load(pixels)
        if images.shape != (len(fl), 3, resize, resize) or (images != np.round(images)).any() \
                or images.min() < 0 or images.max() > 255:
            sys.exit("torch_train: %s holds %s %s; expected %s 8-bit values (the --list-files order)"
                     % (pixels, images.dtype, images.shape, (len(fl), 3, resize, resize)))
        return images.astype(np.uint8), labels
    images = [np.asarray(Image.open(f).convert("RGB").resize((resize, resize), Image.BOX), dtype=np.uint8)
              .transpose(2, 0, 1) for f, _ in fl]
    return np.stack(images), labels


def init_weights(net, std, gen):
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("bias") or ".bn." in name:
                p.fill_(1.0 if (".bn." in name and name.endswith("weight")) else 0.0)
            else:
                w = torch.randn(p.shape, generator=gen) * std
                bad = w.abs() > 2 * std
                while bad.any():
                    w[bad] = torch.randn(int(bad.sum()), generator=gen) * std
                    bad = w.abs() > 2 * std
                p.copy_(w)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="the CFP ImageFolder root (../shared/data/cfp-nonlfw)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--sad", action="store_true", help="add the SAD loss on the masked k5 maps (sad-small)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="the fx checkpoint to write")
    ap.add_argument("--pixels", default="", help="train on these 8-bit [N, 3, 55, 55] pixels (fx's decoding, "
                    "tools/parity/fx_decode.c) instead of Pillow's")
    ap.add_argument("--freeze-bn-bias", action="store_true",
                    help="keep the conv biases that BatchNorm cancels at their initial values (torch_net.trainable)")
    ap.add_argument("--list-files", action="store_true", help="print the kept images in load order and exit")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)

    kept, held = kept_identities(a.data, 0.2, 7)
    if len(kept) != 235:
        sys.exit("torch_train: expected 235 kept identities (fx's split of CFP), got %d" % len(kept))
    if a.list_files:
        print("\n".join(f for f, _ in files(a.data, kept)))
        return
    if not a.out:
        sys.exit("torch_train: --out FILE.fxck is required")
    t0 = time.time()
    images, labels = load(a.data, kept, 55, a.pixels)
    print("loaded %d images of %d people in %.1f s" % (len(images), len(kept), time.time() - t0), flush=True)

    w = dict(torch_net.SMALL, classes=len(kept))
    net = torch_net.Net(w)
    init_weights(net, 0.02, gen)
    net.train()
    opt = torch.optim.Adam(torch_net.trainable(net, a.freeze_bn_bias), lr=1e-3, betas=(0.5, 0.999), eps=1e-8)
    n, b, size = len(images), a.batch, 48
    steps = n // b
    for epoch in range(a.epochs):
        t0 = time.time()
        order = torch.randperm(n, generator=gen).numpy()
        tot, correct = 0.0, 0
        for s in range(steps):
            idx = order[s * b:(s + 1) * b]
            oy = torch.randint(0, 55 - size + 1, (b,), generator=gen).numpy()
            ox = torch.randint(0, 55 - size + 1, (b,), generator=gen).numpy()
            flip = (torch.rand(b, generator=gen) < 0.5).numpy()
            batch = np.empty((b, 3, size, size), dtype=np.float32)
            for j, i in enumerate(idx):
                crop = images[i, :, oy[j]:oy[j] + size, ox[j]:ox[j] + size]
                if flip[j]:
                    crop = crop[:, :, ::-1]
                batch[j] = crop
            x = torch.from_numpy(batch / 127.5 - 1.0).float()
            y = torch.from_numpy(labels[idx])
            out = net(x)
            loss = 2 * torch.nn.functional.cross_entropy(out["logits"], y)
            if a.sad:
                loss = loss + torch_net.sad_loss(out["mk5"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot += float(loss)
            correct += int((out["logits"].argmax(1) == y).sum())
        print("epoch %d/%d: train loss %.4f, train accuracy %.2f%% [%.1f s]"
              % (epoch + 1, a.epochs, tot / steps, 100.0 * correct / (steps * b), time.time() - t0), flush=True)
    st = {k: v.astype(np.float32) for k, v in net.state_fx().items()}
    tmp = a.out + ".tmp"
    fxck.write(tmp, dict(epoch=a.epochs, step=a.epochs * steps, seed=a.seed, opt_steps=-1,
                         graph="torch-reference"), st)
    os.replace(tmp, a.out)
    print("checkpoint:", a.out)


if __name__ == "__main__":
    main()
