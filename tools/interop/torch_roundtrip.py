#!/usr/bin/python3
"""tools/interop/torch_roundtrip.py - the paper's small network moved between
PyTorch and fx, both ways, with the features compared (issue 13,
docs/interop.md).

  PyTorch -> fx: the PyTorch model of tools/parity/torch_net.py (Net, the
     network of configs/interpret-fr-base-small.yaml) is trained a few steps
     in PyTorch (so its weights and BatchNorm running statistics are a
     trained model's, not an initialiser's), its state_dict saved with
     safetensors.torch.save_file, loaded into fx with
     `fxrun import --map tools/interop/interpret_fr_torch.map.yaml`, and the
     eval-mode features of both compared on real faces (random images
     when shared/data is absent).
  fx -> PyTorch: fx trains the same graph a few steps (`fxrun train`; from
     `fxrun init` when the face data is absent), `fxrun export --map`
     writes the weights under PyTorch's names, load_state_dict(strict)
     takes them, and the features are compared again.

Compared: k5 after BatchNorm (clean.k5bn) and the feature (clean.feat,
the average pool of the top-k masked k5), fx float32 against PyTorch
float64. Tolerance: max |fx - torch| <= 1e-4 * max |torch| for each
(float32 accumulation over ~20 layers is ~1e-6 relative; a top-k
position flipping on a near-tie would show up as a larger error and is
reported as a failure).

Run: /usr/bin/python3 tools/interop/torch_roundtrip.py --fxrun build/fxrun
Exit 0 = agree, 1 = disagree, 77 = skipped (no torch, no safetensors
package and no tools/parity/torch_net.py: the reason is printed).
"""
import argparse
import glob
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "configs", "interpret-fr-base-small.yaml")
MAP = os.path.join(ROOT, "tools", "interop", "interpret_fr_torch.map.yaml")
FACES = os.path.join(ROOT, "..", "shared", "data", "cfp-nonlfw")
TOL = 1e-4


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


try:
    import numpy as np
    import torch
except ImportError as e:
    skip("PyTorch/numpy not importable (%s); use Debian's /usr/bin/python3 with python3-torch" % e)
sys.path.insert(0, os.environ.get("FX_TORCH_NET_DIR", os.path.join(ROOT, "tools", "parity")))
try:
    from torch_net import Net
except ImportError as e:
    skip("tools/parity/torch_net.py (the PyTorch model of the network) not importable: %s" % e)
try:
    from safetensors.torch import load_file, save_file
except ImportError:
    skip("the safetensors package is missing: pip install --user --break-system-packages safetensors")


def run(cmd):
    print("$ " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.stdout.strip():
        print(r.stdout.strip())
    if r.returncode != 0:
        sys.exit("command failed (exit %d)" % r.returncode)


def load_faces(n, size=48):
    """n aligned faces as fx's data pipeline gives them at evaluation time:
    resized to 55x55 (the config's data.resize), centre crop 48, scaled to
    [-1, 1]. Random images when the data or PIL is absent."""
    files = sorted(glob.glob(os.path.join(FACES, "*", "*")))[:: 97][:n]
    try:
        from PIL import Image
    except ImportError:
        files = []
    if len(files) < n:
        print("note: no faces (or no PIL) at %s: random images in [-1, 1]" % FACES)
        return np.random.RandomState(3).uniform(-1, 1, (n, 3, size, size)).astype(np.float32)
    out = []
    for f in files:
        im = Image.open(f).convert("RGB").resize((55, 55), Image.BILINEAR)
        a = np.asarray(im, dtype=np.float32) / 255.0
        o = (55 - size) // 2
        a = a[o:o + size, o:o + size]
        out.append(((a - 0.5) / 0.5).transpose(2, 0, 1))
    print("faces: %d images from %s" % (n, FACES))
    return np.ascontiguousarray(np.stack(out)).astype(np.float32)


def torch_features(net, x):
    net = net.double().eval()
    with torch.no_grad():
        f = net.features(torch.from_numpy(x).double())
    return {"k5": f["k5"].numpy(), "feat": f["feat"].numpy()}


def fx_features(fxrun, ckpt, x, tmp):
    xp = os.path.join(tmp, "x.npy")
    np.save(xp, x)
    k5p, fp = os.path.join(tmp, "k5.npy"), os.path.join(tmp, "feat.npy")
    run([fxrun, "infer", CONFIG, "--checkpoint", ckpt, "--feed", "image=" + xp,
         "--fetch", "clean.k5bn=" + k5p, "--fetch", "clean.feat=" + fp, "-q"])
    return {"k5": np.load(k5p), "feat": np.load(fp)}


def compare(what, fx, ref):
    ok = True
    for k in ("k5", "feat"):
        err = float(np.abs(fx[k].astype(np.float64) - ref[k]).max())
        scale = float(np.abs(ref[k]).max())
        good = err <= TOL * scale
        ok &= good
        print("%s %-4s max |fx - torch| = %.3g, max |torch| = %.3g, relative %.3g (tolerance %g): %s"
              % (what, k, err, scale, err / scale, TOL, "ok" if good else "DIFFERENT"))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fxrun", default=os.path.join(ROOT, "build", "fxrun"))
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--keep", help="keep the files in this folder")
    args = ap.parse_args()
    tmp = args.keep or tempfile.mkdtemp(prefix="fx-interop.")
    os.makedirs(tmp, exist_ok=True)
    torch.manual_seed(13)
    x = load_faces(args.images)

    # PyTorch -> fx: a few training steps in PyTorch, then save_file.
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.5, 0.999))
    net.train()
    for step in range(3):
        xb = torch.from_numpy(x) + 0.05 * torch.randn(x.shape)
        loss = torch.nn.functional.cross_entropy(net(xb)["logits"], torch.arange(len(x)) % 294)
        opt.zero_grad()
        loss.backward()
        opt.step()
    st_path = os.path.join(tmp, "torch.safetensors")
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, st_path)
    ck = os.path.join(tmp, "from_torch.fxck")
    run([args.fxrun, "import", CONFIG, "--weights", st_path, "--map", MAP, "--checkpoint", ck])
    ok = compare("torch->fx", fx_features(args.fxrun, ck, x, tmp), torch_features(net, x))

    # fx -> PyTorch: fx trains, exports under PyTorch's names.
    ck2 = os.path.join(tmp, "fx_trained.fxck")
    if os.path.isdir(FACES):
        run([args.fxrun, "train", CONFIG, "--checkpoint", ck2, "--steps", "3", "--batch", "8", "--seed", "5", "-q"])
    else:
        print("note: no face data at %s: fx's weights come from `fxrun init`, not training" % FACES)
        run([args.fxrun, "init", CONFIG, "--checkpoint", ck2, "--seed", "5", "-q"])
    out = os.path.join(tmp, "fx.safetensors")
    run([args.fxrun, "export", CONFIG, "--checkpoint", ck2, "--weights", out, "--map", MAP])
    back = Net()
    state = load_file(out)
    missing, unexpected = back.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("num_batches_tracked")]
    if missing or unexpected:
        sys.exit("fx's export does not fit the PyTorch model: missing %s, unexpected %s" % (missing, unexpected))
    ok &= compare("fx->torch", fx_features(args.fxrun, ck2, x, tmp), torch_features(back, x))
    print("files in %s" % tmp)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
