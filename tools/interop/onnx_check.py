#!/usr/bin/env python3
"""tools/interop/onnx_check.py - fx's ONNX exports run in ONNX Runtime and
give fx's features (issue 13, docs/interop.md).

For each network -- the paper's small network
(configs/interpret-fr-base-small.yaml), the paper's full network
(configs/interpret-fr-base.yaml) and the Fashion-MNIST CNN
(configs/fashion-mnist.yaml) -- fx trains a few steps (so BatchNorm
running statistics and weights are a trained model's; see the note on
untrained models in docs/interop.md), `fxrun export --onnx` writes the
model up to a value, ONNX Runtime runs it on real images (faces from
shared/data/cfp-nonlfw, Fashion-MNIST test images), and its output is
compared with `fxrun infer --fetch` of the same value on the same
input. Checked values: the feature (clean.feat) and k5 after BatchNorm
for the face networks, the logits for all three.

Tolerance: max |onnxruntime - fx| <= 1e-4 * max |fx| per value (both
float32; measured ~1e-6).

Run: python3 tools/interop/onnx_check.py --fxrun build/fxrun [--quick]
(--quick: the small network and Fashion-MNIST only). Exit 0 = agree,
1 = disagree, 77 = skipped (no onnxruntime/numpy, or fx built without
ONNX export), with the reason printed.
"""
import argparse
import glob
import gzip
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FACES = os.path.join(ROOT, "..", "shared", "data", "cfp-nonlfw")
FMNIST = "/usr/share/datasets/fashion-mnist"
TOL = 1e-4


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


try:
    import numpy as np
    import onnxruntime as ort
except ImportError as e:
    skip("numpy/onnxruntime not importable for %s (%s): pip install onnxruntime numpy" % (sys.executable, e))


def run(cmd, check=True):
    print("$ " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.stdout.strip():
        print(r.stdout.strip())
    if check and r.returncode != 0:
        sys.exit("command failed (exit %d)" % r.returncode)
    return r


def faces(n, resize, size):
    """n faces as fx evaluates them: resized to resize x resize, centre crop
    size, scaled to [-1, 1]; random images when the data or PIL is missing."""
    files = sorted(glob.glob(os.path.join(FACES, "*", "*")))[::97][:n]
    try:
        from PIL import Image
    except ImportError:
        files = []
    if len(files) < n:
        print("note: no faces (or no PIL) at %s: random images in [-1, 1]" % FACES)
        return np.random.RandomState(3).uniform(-1, 1, (n, 3, size, size)).astype(np.float32)
    out = []
    for f in files:
        a = np.asarray(Image.open(f).convert("RGB").resize((resize, resize), Image.BILINEAR), np.float32) / 255
        o = (resize - size) // 2
        out.append(((a[o:o + size, o:o + size] - 0.5) / 0.5).transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(out), dtype=np.float32)


def fmnist(n):
    with gzip.open(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz")) as f:
        raw = np.frombuffer(f.read(), np.uint8, offset=16)[: n * 784]
    return ((raw.reshape(n, 1, 28, 28).astype(np.float32) / 255 - 0.286) / 0.353).astype(np.float32)


def check(fxrun, config, ckpt, x, values, tmp):
    xp = os.path.join(tmp, "x.npy")
    np.save(xp, x)
    ok = True
    for v in values:
        model = os.path.join(tmp, "m.onnx")
        r = run([fxrun, "export", config, "--checkpoint", ckpt, "--onnx", model, "--feature", v, "-q"], check=False)
        if r.returncode != 0 and "built without protobuf-c" in r.stdout:
            skip("this fxrun was built without ONNX export (protobuf-c)")
        if r.returncode != 0:
            sys.exit("export failed")
        fp = os.path.join(tmp, "fx.npy")
        run([fxrun, "infer", config, "--checkpoint", ckpt, "--feed", "image=" + xp, "--fetch", v + "=" + fp, "-q"])
        sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        want = np.load(fp)
        if got.shape != want.shape:
            print("%s %s: onnxruntime gives %s, fx %s: DIFFERENT" % (os.path.basename(config), v, got.shape,
                                                                   want.shape))
            ok = False
            continue
        err = float(np.abs(got.astype(np.float64) - want).max())
        scale = float(np.abs(want).max())
        good = err <= TOL * scale
        ok &= good
        print("%-28s %-10s max |ort - fx| = %.3g, max |fx| = %.3g, relative %.3g (tolerance %g): %s"
              % (os.path.basename(config), v, err, scale, err / scale if scale else 0.0, TOL,
                 "ok" if good else "DIFFERENT"))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fxrun", default=os.path.join(ROOT, "build", "fxrun"))
    ap.add_argument("--quick", action="store_true", help="skip the full-size paper network")
    ap.add_argument("--keep", help="keep the files in this folder")
    args = ap.parse_args()
    tmp = args.keep or tempfile.mkdtemp(prefix="fx-onnx.")
    os.makedirs(tmp, exist_ok=True)
    ok = True
    nets = [("interpret-fr-base-small.yaml", 55, 48), ("fashion-mnist.yaml", 0, 28)]
    if not args.quick:
        nets.insert(1, ("interpret-fr-base.yaml", 110, 96))
    for name, resize, size in nets:
        config = os.path.join(ROOT, "configs", name)
        ckpt = os.path.join(tmp, name + ".fxck")
        have_data = os.path.isdir(FACES) if resize else os.path.exists(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz"))
        if not resize and not have_data:
            print("note: %s missing: Fashion-MNIST skipped" % FMNIST)
            continue
        if have_data:
            run([args.fxrun, "train", config, "--checkpoint", ckpt, "--steps", "3", "--batch", "8",
                 "--seed", "5", "-q"])
        else:
            print("note: no training data for %s: an untrained checkpoint (agreement is then looser, see docs)" % name)
            run([args.fxrun, "init", config, "--checkpoint", ckpt, "--seed", "5", "-q"])
        x = faces(8, resize, size) if resize else fmnist(16)
        values = ["clean.k5bn", "clean.feat", "logits"] if resize else ["logits"]
        ok &= check(args.fxrun, config, ckpt, x, values, tmp)
    print("files in %s" % tmp)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
