#!/bin/sh
# bench/train_step.sh - one training step of the Fashion-MNIST CNN in fx
# and in PyTorch, side by side in one run (same network, batch, threads),
# printing both medians and the ratio. Runs the two alternately ROUNDS
# times and compares medians of the per-round medians, since this machine
# is noisy.
#
# Usage: bench/train_step.sh [THREADS] [BATCH] [ROUNDS]   (defaults: nproc, 64, 3)
# Needs: a build in build/ (tools/demo.sh or cmake), Debian's python3-torch.
set -eu
cd "$(dirname "$0")/.."
threads=${1:-$(nproc)}
batch=${2:-64}
rounds=${3:-3}
steps=20   # as bench/opencl_vs_cpu.sh, so the two report the same step
fxrun=${FXRUN:-build/fxrun}
[ -x "$fxrun" ] || { echo "bench: $fxrun not found; build first (tools/demo.sh or cmake)" >&2; exit 1; }
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "bench: PyTorch missing: apt-get install python3-torch" >&2; exit 1; }
fx_all=""; torch_all=""
i=0
while [ $i -lt "$rounds" ]; do
    fx=$("$fxrun" bench configs/fashion-mnist.yaml --threads "$threads" --batch "$batch" --steps "$steps" \
         | sed -n 's/.*median \([0-9.]*\) ms\/step.*/\1/p')
    th=$(/usr/bin/python3 bench/torch_train_step.py --threads "$threads" --batch "$batch" --steps "$steps" \
         | sed -n 's/^TORCH_MEDIAN_MS //p')
    echo "round $((i + 1)): fx ${fx} ms/step, torch ${th} ms/step"
    fx_all="$fx_all $fx"; torch_all="$torch_all $th"
    i=$((i + 1))
done
/usr/bin/python3 - "$fx_all" "$torch_all" "$batch" "$threads" <<'PY'
import statistics, sys
fx = [float(v) for v in sys.argv[1].split()]
th = [float(v) for v in sys.argv[2].split()]
f, t = statistics.median(fx), statistics.median(th)
print(f"fashion-mnist CNN training step, batch {sys.argv[3]}, {sys.argv[4]} threads, median of the rounds x 20 steps:")
print(f"  fx     {f:8.2f} ms/step  ({1e3*int(sys.argv[3])/f:7.1f} images/s)")
print(f"  torch  {t:8.2f} ms/step  ({1e3*int(sys.argv[3])/t:7.1f} images/s)")
print(f"  fx CPU speed / PyTorch speed = {t/f:.2f}  (> 1: fx is faster; as bench/opencl_vs_cpu.sh)")
PY
