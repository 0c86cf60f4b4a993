"""Re-estimates a checkpoint's BatchNorm running statistics from its final weights (issue 14's
evaluation check): every BN layer's running mean and variance are replaced by the plain average
of the batch statistics over one pass of the training set (centre 48-crops, no flip, shuffled
batches of 64, training-mode BN, no gradient), so evaluation no longer depends on how the running averages
lagged behind the weights during training. Writes a new fx checkpoint; everything else is copied.

  /usr/bin/python3 tools/parity/recal_bn.py --data ../shared/data/cfp-nonlfw IN.fxck OUT.fxck
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fxck  # noqa: E402
import torch_net  # noqa: E402
import torch_train  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="the CFP ImageFolder root (../shared/data/cfp-nonlfw)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("src")
    ap.add_argument("dst")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    meta, t = fxck.read(a.src)
    classes = next(v.shape[0] for k, v in t.items() if k.startswith("logits") and v.ndim == 2)
    net = torch_net.Net(dict(torch_net.SMALL, classes=classes))
    net.load_fx(t)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average of the batch statistics
    kept, _ = torch_train.kept_identities(a.data, 0.2, 7)
    images, _ = torch_train.load(a.data, kept, 55)
    images = images[np.random.RandomState(0).permutation(len(images))]  # batches like training's: shuffled
    o = (55 - 48) // 2
    net.train()
    with torch.no_grad():
        for i in range(0, len(images) - 63, 64):
            x = torch.from_numpy(images[i:i + 64, :, o:o + 48, o:o + 48].astype(np.float32) / 127.5 - 1.0)
            net.features(x)
    new = net.state_fx()
    out = dict(t)
    for k, v in new.items():
        if "running_" in k:
            out[k] = v.astype(np.float32)
    fxck.write(a.dst, meta, out)


if __name__ == "__main__":
    main()
