#!/usr/bin/python3
"""bench/torch_train_step.py - the PyTorch peer of `fxrun bench
configs/fashion-mnist.yaml`: the same CNN (conv5x5->32, ReLU, maxpool 2,
conv5x5->64, ReLU, maxpool 2, linear 256, ReLU, dropout 0.3, linear 10),
softmax cross-entropy, Adam, on random data. Prints the median time of
one training step (forward, backward, update) in milliseconds.

Usage: /usr/bin/python3 bench/torch_train_step.py [--threads N] [--batch B] [--steps S]
(Debian's python3-torch lives under /usr/bin/python3.)
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 256), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(256, 10))
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


if __name__ == "__main__":
    main()
