"""Filter peak locations, deviation and spread (docs/interpretability.md) of trained models, all
evaluated the same way: the PyTorch reference in eval mode (running statistics, no dropout) on one
fixed image set, so fx-trained and PyTorch-trained checkpoints are measured by one evaluator.
(tools/parity/replay.py and the eval-mode check in README.md show that this forward equals fx's
`fxrun infer` to 1e-6 on trained weights.)

  /usr/bin/python3 tools/parity/spread.py --images A.npy [B.npy ...] --ckpts CKPT.fxck [CKPT.fxck ...]

Per filter k of the k5 maps (after its BatchNorm, before the top-k mask; 12x12 on a 48x48 input):
the positive peak of each image (argmax, first in row-major order on ties) at map cell (x, y),
placed on the input at ((x + 0.5) * 48/12 - 0.5, ...), weighted by |peak value|;
  location_k  = weighted mean of the peaks,
  deviation_k = weighted mean distance of the peaks from location_k;
over filters: centroid = mean of the locations,
  spread    = sqrt(mean_k |location_k - centroid|^2)   (RMS distance, pixels of the 48x48 input),
  deviation = mean_k deviation_k.
The same formulas as core/face/interpret.c (helper `explain`, fxrun explain).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fxck  # noqa: E402
import torch_net  # noqa: E402


def k5_maps(ckpt, images, batch=64):
    _, t = fxck.read(ckpt)
    net = torch_net.Net()
    net.load_fx(t)
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            out.append(net.features(torch.from_numpy(images[i:i + batch]))["k5"].numpy())
    return np.concatenate(out)


def spread(maps, input_size):
    n, k, h, w = maps.shape
    flat = maps.reshape(n, k, h * w).astype(np.float64)
    idx = flat.argmax(2)
    wt = np.abs(np.take_along_axis(flat, idx[:, :, None], 2)[:, :, 0])
    px = (idx % w + 0.5) * input_size / w - 0.5
    py = (idx // w + 0.5) * input_size / h - 0.5
    sw = wt.sum(0)
    lx, ly = (wt * px).sum(0) / sw, (wt * py).sum(0) / sw
    dev = (wt * np.hypot(px - lx, py - ly)).sum(0) / sw
    cx, cy = lx.mean(), ly.mean()
    return dict(spread=float(np.sqrt(np.mean((lx - cx) ** 2 + (ly - cy) ** 2))),
                deviation=float(dev.mean()), centroid=[float(cx), float(cy)], images=n, filters=k)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", nargs="+", required=True, help=".npy batches [N, 3, 48, 48] (e.g. FX_DUMP_STREAM's)")
    ap.add_argument("--ckpts", nargs="+", required=True)
    a = ap.parse_args()
    torch.set_num_threads(2)
    images = np.concatenate([np.load(p) for p in a.images]).astype(np.float32)
    for c in a.ckpts:
        r = spread(k5_maps(c, images), images.shape[-1])
        print(json.dumps(dict(checkpoint=c, **r)))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
