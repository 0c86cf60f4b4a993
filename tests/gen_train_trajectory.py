#!/usr/bin/python3
"""tests/gen_train_trajectory.py - the float64 reference trajectory that
tests/test_train_trajectory.c holds fx's training to (issue 14: fx must
follow float64 over many steps at least as closely as PyTorch float32 does).

Regenerate (Debian's python3 with python3-torch 1.13, after building fx):

    /usr/bin/python3 tests/gen_train_trajectory.py [build/fxrun]

1. Writes the data set tests/data/trajectory/images.idx, labels.idx: 24
   fixed 48x48 grey images of 6 classes (a class-placed blob plus noise;
   fixed numpy seed).
2. Runs fx once on tests/data/trajectory/net.yaml (the narrow paper network,
   30 steps of batch 8 = 10 epochs of 3 steps) with FX_DUMP_STREAM: fx's
   initial state (init.fxck), each step's images, labels and dropout mask.
3. Replays that stream in the PyTorch reference (tools/parity/torch_net.py,
   written from fx's settings, not its code) in float64 and float32 from fx's
   initial weights, and commits:
     init.fxck        fx's initial state (the test checks fx still starts there)
     stream.npy       per step: the 8 labels and the 8x16 dropout mask
                      (float32 [steps, 8 + 8*16]) - the test checks fx still
                      consumes this stream, so a changed shuffle or dropout
                      stream fails with its own message, not as drift
     ref64.fxck       float64's final weights and BN running statistics
                      (rounded to float32: 6e-8 relative, far below the drift)
     loss64.npy       float64's loss per step as float32 [steps, 2]: high and
                      low part (hi + lo = the float64 value to 1e-14), as
                      fx reads .npy into float32
     yardstick.npy    float64 [steps + 1, 3]: rows 0..steps-1 per step
                      |loss32 - loss64|, weights and running-statistics
                      distance of float32 from float64 after that step; the
                      last row: the final distances again (weights, running)
                      and the loss at step 0 (unused)
   Distances are ||a - b|| / ||b|| over all tensors of a kind together,
   leaving out the biases a BatchNorm cancels (IGNORED below): their true
   gradient is 0, Adam turns the rounding noise of their computed gradient
   into +-lr steps, in every implementation differently (tools/parity/README.md).
   For the same reason "running" means the running variances only: a
   running mean adds up its conv's (cancelled, noisy) bias.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "data", "trajectory")
sys.path.insert(0, os.path.join(ROOT, "tools", "parity"))
import fxck  # noqa: E402
import replay  # noqa: E402
import torch_net  # noqa: E402

STEPS, BATCH, K5, N, CLASSES = 30, 8, 16, 24, 6
NARROW = dict({k: 8 for k in torch_net.SMALL}, hc=8, size=12, k5=K5, classes=CLASSES)


def ignored(name):
    """The biases a BatchNorm cancels: every conv's (all are followed by a BN,
    through a resize for the hypercolumn's 1x1 convs) and c53bn's (before h5's
    1x1 conv + BN)."""
    if not name.endswith(".bias") or name.startswith("logits"):
        return False
    return "bn." not in name or name == "clean.bb.c53bn.bias"


def rel(fx, ref, kind):
    """kind "weights": the learnable tensors; "running": the BN running variances."""
    a, b = [], []
    for name, v in ref.items():
        if ignored(name) or "running_mean" in name or (("running_" in name) != (kind == "running")):
            continue
        a.append(fx[name].astype(np.float64).ravel())
        b.append(v.ravel())
    return replay.rel(np.concatenate(a), np.concatenate(b))


def write_idx(path, magic, arr):
    with open(path, "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in arr.shape))
        f.write(arr.astype(np.uint8).tobytes())


def make_data():
    rng = np.random.RandomState(14)
    labels = np.arange(N) % CLASSES
    yy, xx = np.mgrid[0:48, 0:48]
    images = np.empty((N, 48, 48))
    for i, c in enumerate(labels):
        cy, cx = 12 + 24 * (c // 3), 8 + 16 * (c % 3)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 6.0 ** 2))
        images[i] = 60 + 150 * blob + rng.normal(0, 25, (48, 48))
    write_idx(os.path.join(OUT, "images.idx"), 0x803, np.clip(images, 0, 255).round())
    write_idx(os.path.join(OUT, "labels.idx"), 0x801, labels)


def build(init, dtype):
    net = torch_net.Net(NARROW, in_ch=1).to(dtype)
    net.load_fx(init)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.5, 0.999), eps=1e-8)
    return net, opt


def main():
    fxrun = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "fxrun")
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    make_data()
    tmp = tempfile.mkdtemp()
    try:
        dump = os.path.join(tmp, "stream")
        env = dict(os.environ, FX_DUMP_STREAM=dump)
        env.pop("FX_DUMP_STREAM_EVERY", None)
        subprocess.run([fxrun, "train", os.path.join(OUT, "net.yaml"), "--checkpoint",
                        os.path.join(tmp, "fx.fxck"), "--threads", "1"], env=env, check=True)
        shutil.copyfile(os.path.join(dump, "init.fxck"), os.path.join(OUT, "init.fxck"))
        _, init = fxck.read(os.path.join(dump, "init.fxck"))
        _, fxfinal = fxck.read(os.path.join(tmp, "fx.fxck"))
        lines = [json.loads(l) for l in open(os.path.join(dump, "steps.jsonl"))]
        assert len(lines) == STEPS, len(lines)
        n64, o64 = build(init, torch.float64)
        n32, o32 = build(init, torch.float32)
        stream = np.zeros((STEPS, BATCH + BATCH * K5), np.float32)
        loss64 = np.zeros(STEPS)
        yard = np.zeros((STEPS + 1, 3))
        fxloss = []
        for s, rec in enumerate(lines):
            pre = os.path.join(dump, "%06d." % s)
            images = np.load(pre + "images.npy")
            labels = np.load(pre + "labels.npy")
            mask = np.load(pre + "drop.mask.npy")
            stream[s, :BATCH] = labels
            stream[s, BATCH:] = mask.ravel()
            l64 = replay.step(n64, o64, images, labels, mask, rec["lr"], False)
            l32 = replay.step(n32, o32, images, labels, mask, rec["lr"], False)
            s64, s32 = n64.state_fx(), n32.state_fx()
            loss64[s] = l64
            yard[s] = (abs(l32 - l64), rel(s32, s64, "weights"), rel(s32, s64, "running"))
            fxloss.append(rec["loss"])
            print("step %2d  loss fx %.7f t32 %.7f t64 %.7f  t32-t64 weights %.2e running %.2e" % (
                s, rec["loss"], l32, l64, yard[s, 1], yard[s, 2]))
        s64 = n64.state_fx()
        yard[STEPS] = (yard[STEPS - 1, 1], yard[STEPS - 1, 2], loss64[0])
        fxck.write(os.path.join(OUT, "ref64.fxck"), dict(step=STEPS, opt_steps=-1, graph="trajectory-float64"),
                   {k: v.astype(np.float32) for k, v in s64.items()})
        hi = loss64.astype(np.float32)
        np.save(os.path.join(OUT, "loss64.npy"), np.stack([hi, (loss64 - hi).astype(np.float32)], 1))
        np.save(os.path.join(OUT, "yardstick.npy"), yard)
        np.save(os.path.join(OUT, "stream.npy"), stream)
        dl_fx = np.abs(np.array(fxloss) - loss64)
        print("max |loss - loss64|: fx %.3e  t32 %.3e" % (dl_fx.max(), yard[:STEPS, 0].max()))
        print("final weights distance from float64: fx %.3e  t32 %.3e" % (
            rel(fxfinal, s64, "weights"), yard[STEPS, 0]))
        print("final running-statistics distance:   fx %.3e  t32 %.3e" % (
            rel(fxfinal, s64, "running"), yard[STEPS, 1]))
        worst = sorted(((replay.rel(fxfinal[k].astype(np.float64), v), k) for k, v in s64.items()
                        if not ignored(k)), reverse=True)[:3]
        print("worst tensors fx vs t64:", ", ".join("%s %.2e" % (k, r) for r, k in worst))
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
