"""Replays an fx training stream (FX_DUMP_STREAM=DIR) in the PyTorch reference, in float32 and
float64 side by side, and compares fx with both.

  FX_DUMP_STREAM=DIR FX_DUMP_STREAM_EVERY=K fxrun train CONFIG --steps N ...
  /usr/bin/python3 tools/parity/replay.py DIR [--sad] [--steps N] [--json OUT]

Per step: the losses (fx, torch32, torch64). At every DIR/<step>.fxck: the relative L2 distance
||a - b|| / ||b|| of all weights together, of the worst single tensor, of the BN running
statistics and of Adam's m and v, for fx vs torch64 and (the yardstick) torch32 vs torch64.
"""
import argparse
import glob
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fxck  # noqa: E402
import torch_net  # noqa: E402


def rel(a, b):
    d = np.linalg.norm((a - b).ravel())
    n = np.linalg.norm(b.ravel())
    return d / n if n > 0 else d


def build(tensors, dtype, sad, opt_steps=0, freeze_bn_bias=False):
    """A reference net and Adam from fx tensors (weights, running stats and, when opt_steps > 0,
    Adam's m and v: the state fx had after opt_steps updates). freeze_bn_bias: leave out of Adam
    the conv biases that a BatchNorm cancels (every conv bias of this network: its exact gradient
    is zero, so exact arithmetic never moves it)."""
    # the class count is the checkpoint's (294 for interpret-fr-*-small, 235 for configs/cfp/*)
    classes = next(v.shape[0] for k, v in tensors.items() if k.startswith("logits") and v.ndim == 2)
    net = torch_net.Net(dict(torch_net.SMALL, classes=classes)).to(dtype)
    net.load_fx(tensors)
    net.train()
    opt = torch.optim.Adam(torch_net.trainable(net, freeze_bn_bias), lr=1e-3, betas=(0.5, 0.999), eps=1e-8)
    if opt_steps > 0:
        names = net.fx_names()
        for name, p in net.named_parameters():
            if not p.requires_grad:
                continue
            opt.state[p] = {"step": torch.tensor(float(opt_steps)),
                            "exp_avg": torch.from_numpy(tensors[names[name] + ".m"]).to(dtype).clone(),
                            "exp_avg_sq": torch.from_numpy(tensors[names[name] + ".v"]).to(dtype).clone()}
    return net, opt


def step(net, opt, images, labels, mask, lr, sad):
    for g in opt.param_groups:
        g["lr"] = lr
    dt = next(net.parameters()).dtype
    out = net(torch.from_numpy(images).to(dt), drop_mask=None if mask is None else torch.from_numpy(mask).to(dt))
    loss = 2 * torch.nn.functional.cross_entropy(out["logits"], torch.from_numpy(labels).long())
    if sad:
        loss = loss + torch_net.sad_loss(out["mk5"])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss)


def adam_state(net, opt):
    names = net.fx_names()
    st = {}
    for name, p in net.named_parameters():
        s = opt.state.get(p)
        if s:
            st[names[name] + ".m"] = s["exp_avg"].detach().double().numpy()
            st[names[name] + ".v"] = s["exp_avg_sq"].detach().double().numpy()
    return st


def compare(fx, ref):
    """fx, ref: dicts name -> array. -> summary of relative distances."""
    groups = {"weights": [], "running": [], "adam_m": [], "adam_v": []}
    worst = (0.0, "")
    for name, b in ref.items():
        if name not in fx:
            continue
        a = fx[name].astype(np.float64)
        g = ("adam_m" if name.endswith(".m") else "adam_v" if name.endswith(".v")
             else "running" if "running_" in name else "weights")
        groups[g].append((a.ravel(), b.ravel()))
        if g == "weights":
            r = rel(a, b)
            if r > worst[0]:
                worst = (r, name)
    res = {}
    for g, pairs in groups.items():
        if pairs:
            res[g] = rel(np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs]))
    res["worst_weight"] = worst
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--sad", action="store_true", help="the SAD config (2 CE + SAD)")
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--json", default="")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no64", action="store_true", help="float32 only (no float64 yardstick)")
    ap.add_argument("--save", default="", help="write the float32 reference's final state as an fx checkpoint")
    ap.add_argument("--no32", action="store_true", help="float64 only (with --save64: the float64 trajectory alone)")
    ap.add_argument("--save64", default="", help="write the float64 reference's final state as an fx checkpoint")
    ap.add_argument("--forced", action="store_true",
                    help="teacher forcing at every step: start each step from fx's state after the step before "
                         "(needs FX_DUMP_STREAM_EVERY=1)")
    ap.add_argument("--torch-init", type=int, default=-1, metavar="SEED",
                    help="start from the reference's own initial weights (torch_train.py's recipe, generator SEED) "
                         "instead of fx's: with --torch-dropout, to swap one part of the stream at a time")
    ap.add_argument("--torch-dropout", type=int, default=-1, metavar="SEED",
                    help="draw the dropout masks in PyTorch (torch.manual_seed(SEED)) instead of replaying fx's")
    ap.add_argument("--perturb", type=float, default=0.0, metavar="EPS",
                    help="multiply every initial weight by (1 + EPS * N(0, 1)) (numpy seed 0): EPS 1e-7 (one "
                         "float32 rounding) measures how far two float32 trainings of the same stream end apart")
    ap.add_argument("--freeze-bn-bias", action="store_true",
                    help="keep the conv biases that BatchNorm cancels at their initial values (their exact "
                         "gradient is zero; in float32 Adam turns rounding noise in it into lr-sized steps)")
    ap.add_argument("--native-conv", action="store_true",
                    help="PyTorch's own convolution code instead of oneDNN's (torch.backends.mkldnn.enabled = False; "
                         "float64 always uses it)")
    ap.add_argument("--start", type=int, default=0,
                    help="teacher forcing: start from fx's state after step START-1 (DIR/<START-1>.fxck)")
    a = ap.parse_args()
    if a.no32 and a.no64:
        ap.error("--no32 and --no64 together leave nothing to replay")
    torch.set_num_threads(a.threads)
    torch.use_deterministic_algorithms(True)
    if a.native_conv:
        torch.backends.mkldnn.enabled = False
    lines = [json.loads(l) for l in open(os.path.join(a.dir, "steps.jsonl"))]
    first = lines[0]["step"]
    lines = [l for l in lines if l["step"] >= a.start]
    n = len(lines) if a.steps <= 0 else min(a.steps, len(lines))
    if a.start > first:
        meta, init = fxck.read(os.path.join(a.dir, "%06d.fxck" % (a.start - 1)))
    else:
        meta, init = fxck.read(os.path.join(a.dir, "init.fxck"))
    if a.torch_init >= 0:
        import torch_train  # noqa: E402
        classes = next(v.shape[0] for k, v in init.items() if k.startswith("logits") and v.ndim == 2)
        ref = torch_net.Net(dict(torch_net.SMALL, classes=classes))
        torch_train.init_weights(ref, 0.02, torch.Generator().manual_seed(a.torch_init))
        init = dict(init, **{k: v.astype(np.float32) for k, v in ref.state_fx().items()})
    if a.torch_dropout >= 0:
        torch.manual_seed(a.torch_dropout)
    if a.perturb:
        rs = np.random.RandomState(0)
        init = {k: (v * (1 + a.perturb * rs.standard_normal(v.shape))).astype(v.dtype)
                if k.endswith("weight") and v.ndim >= 2 else v for k, v in init.items()}
    n32, o32 = build(init, torch.float32, a.sad, max(meta["opt_steps"], 0), a.freeze_bn_bias)
    n64, o64 = (None, None) if a.no64 else build(init, torch.float64, a.sad, max(meta["opt_steps"], 0), a.freeze_bn_bias)
    ckpts = {int(os.path.basename(p)[:6]): p for p in glob.glob(os.path.join(a.dir, "[0-9]*.fxck"))}
    report = []
    for s in range(n):
        rec = lines[s]
        sid = rec["step"]
        if a.forced and s > 0:
            meta, prev = fxck.read(ckpts[sid - 1])
            n32, o32 = build(prev, torch.float32, a.sad, meta["opt_steps"], a.freeze_bn_bias)
            n64, o64 = build(prev, torch.float64, a.sad, meta["opt_steps"], a.freeze_bn_bias)
        pre = os.path.join(a.dir, "%06d." % sid)
        images = np.load(pre + "images.npy")
        labels = np.load(pre + "labels.npy")
        masks = sorted(glob.glob(pre + "*.mask.npy"))
        mask = None if a.torch_dropout >= 0 else np.load(masks[0])
        l32 = float("nan") if a.no32 else step(n32, o32, images, labels, mask, rec["lr"], a.sad)
        l64 = float("nan") if a.no64 else step(n64, o64, images, labels, mask, rec["lr"], a.sad)
        row = dict(step=sid, fx=rec["loss"], t32=l32, t64=l64)
        if sid in ckpts and not a.no64 and not a.no32:
            _, fxt = fxck.read(ckpts[sid])
            ref64 = dict(n64.state_fx(), **adam_state(n64, o64))
            ref32 = dict(n32.state_fx(), **adam_state(n32, o32))
            row["fx_vs_t64"] = compare(fxt, ref64)
            row["t32_vs_t64"] = compare({k: v for k, v in ref32.items()}, ref64)
            row["fx_vs_t32"] = compare(fxt, ref32)
            print("step %d  loss fx %.6f t32 %.6f t64 %.6f" % (sid, rec["loss"], l32, l64))
            for k in ("fx_vs_t64", "t32_vs_t64", "fx_vs_t32"):
                r = row[k]
                print("   %-10s weights %.3e  running %.3e  m %.3e  v %.3e  worst %.3e %s" % (
                    k, r.get("weights", 0), r.get("running", 0), r.get("adam_m", 0), r.get("adam_v", 0),
                    r["worst_weight"][0], r["worst_weight"][1]))
            sys.stdout.flush()
        report.append(row)
    rows = [r for r in report if "fx_vs_t64" in r]
    if len(rows) > 1:
        print("median over %d compared steps:" % len(rows))
        for k in ("fx_vs_t64", "t32_vs_t64"):
            print("   %-10s" % k + "".join("  %s %.3e" % (g, np.median([r[k].get(g, 0) for r in rows]))
                                          for g in ("weights", "running", "adam_m", "adam_v")))
        print("   loss |fx - t64| median %.3e, |t32 - t64| median %.3e" % (
            np.median([abs(r["fx"] - r["t64"]) for r in rows]), np.median([abs(r["t32"] - r["t64"]) for r in rows])))
    if a.save:
        st = {k: v.astype(np.float32) for k, v in n32.state_fx().items()}
        fxck.write(a.save, dict(step=n, opt_steps=-1, graph="torch-reference"), st)
    if a.save64:
        st = {k: v.astype(np.float32) for k, v in n64.state_fx().items()}
        fxck.write(a.save64, dict(step=n, opt_steps=-1, graph="torch-reference-float64"), st)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
