#!/usr/bin/python3
"""bench/torch_train_step.py - the PyTorch peer of `fxrun bench
configs/fashion-mnist.yaml`: the same CNN (conv5x5->32, ReLU, maxpool 2,
conv5x5->64, ReLU, maxpool 2, linear 256, ReLU, dropout 0.3, linear 10),
softmax cross-entropy, Adam, on random data. Prints the median time of
one training step (forward, backward, update) in milliseconds.

--per-layer adds a table like fxrun bench's: the median forward and
backward time of each layer, named as in configs/fashion-mnist.yaml.
Forward: module pre- and post-hooks. Backward: a hook on each layer's
output tensor fires when the gradient with respect to that output is
ready, so a layer's backward runs from its own output-gradient time to
the next such event (the previous layer's output gradient) or, for the
first layer, to the end of backward(); the loss's backward is from the
start of backward() to the logits' gradient. Autograd runs the CPU ops
in sequence, so these spans partition the backward pass.

Usage: /usr/bin/python3 bench/torch_train_step.py [--threads N] [--batch B] [--steps S] [--per-layer]
(Debian's python3-torch lives under /usr/bin/python3.)
"""
import argparse
import collections
import statistics
import time

import torch
import torch.nn as nn

LAYERS = [("c1", "conv2d"), ("r1", "relu"), ("p1", "maxpool2d"), ("c2", "conv2d"), ("r2", "relu"),
          ("p2", "maxpool2d"), ("flatten", "flatten"), ("f1", "linear"), ("r3", "relu"), ("d1", "dropout"),
          ("logits", "linear")]


def build_net():
    mods = [nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 256), nn.ReLU(), nn.Dropout(0.3),
            nn.Linear(256, 10)]
    return nn.Sequential(collections.OrderedDict((name, m) for (name, _), m in zip(LAYERS, mods)))


class LayerTimer:
    """Forward and backward wall time per named child of a Sequential."""

    def __init__(self, net):
        self.names = [name for name, _ in net.named_children()]
        self.fwd = {n: [] for n in self.names}
        self.bwd = {n: [] for n in self.names + ["softmax_cross_entropy"]}
        self.fwd_loss = []
        self.t_start = {}
        self.grad_ready = {}
        for name, mod in net.named_children():
            mod.register_forward_pre_hook(self._pre(name))
            mod.register_forward_hook(self._post(name))

    def _pre(self, name):
        def hook(mod, inp):
            self.t_start[name] = time.perf_counter()
        return hook

    def _post(self, name):
        def hook(mod, inp, out):
            self.fwd[name].append((time.perf_counter() - self.t_start[name]) * 1e3)
            if out.requires_grad:
                out.register_hook(self._grad(name))
        return hook

    def _grad(self, name):
        def hook(grad):
            self.grad_ready[name] = time.perf_counter()
        return hook

    def step_backward(self, t_backward_start, t_backward_end):
        """Turns this step's output-gradient times into backward spans."""
        order = self.names
        self.bwd["softmax_cross_entropy"].append((self.grad_ready[order[-1]] - t_backward_start) * 1e3)
        for i, name in enumerate(order):
            end = self.grad_ready[order[i - 1]] if i > 0 else t_backward_end
            self.bwd[name].append((end - self.grad_ready[name]) * 1e3)
        self.grad_ready.clear()

    def print_table(self, skip=1):
        """Medians over the steps after the first `skip` (warm-up)."""
        def med(v):
            return statistics.median(v[skip:] if len(v) > skip else v)
        print(f"{'layer':<20} {'op':<22} {'forward ms':>12} {'backward ms':>12}")
        ops = dict(LAYERS)
        for name in self.names:
            print(f"{name:<20} {ops.get(name, name):<22} {med(self.fwd[name]):12.3f} {med(self.bwd[name]):12.3f}")
        print(f"{'softmax_cross_entropy0':<20} {'softmax_cross_entropy':<22} {med(self.fwd_loss):12.3f} "
              f"{med(self.bwd['softmax_cross_entropy']):12.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--per-layer", action="store_true",
                    help="also time each layer's forward and backward (separate steps, after the timed ones)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    net = build_net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(args.batch, 1, 28, 28)
    y = torch.randint(0, 10, (args.batch,))
    times = []
    for step in range(args.steps + 3):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        dt = (time.perf_counter() - t0) * 1e3
        if step >= 3:
            times.append(dt)
    med = statistics.median(times)
    print(f"torch {torch.__version__}: batch {args.batch}, {args.threads} threads, {args.steps} steps: "
          f"median {med:.2f} ms/step (min {min(times):.2f}), {1e3 * args.batch / med:.1f} images/s")
    print(f"TORCH_MEDIAN_MS {med:.4f}")
    if args.per_layer:
        timer = LayerTimer(net)
        for step in range(min(args.steps, 10) + 1):
            opt.zero_grad(set_to_none=True)
            scores = net(x)
            t0 = time.perf_counter()
            loss = loss_fn(scores, y)
            timer.fwd_loss.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            loss.backward()
            timer.step_backward(t0, time.perf_counter())
            opt.step()
        timer.print_table()


if __name__ == "__main__":
    main()
