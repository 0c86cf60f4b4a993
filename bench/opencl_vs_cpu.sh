#!/bin/sh
# bench/opencl_vs_cpu.sh - one training step of the Fashion-MNIST CNN
# (configs/fashion-mnist.yaml) side by side in one run: fx on OpenCL, fx on
# the CPU and PyTorch (bench/torch_train_step.py, the same network), each
# ROUNDS times in turn (this machine is shared and noisy: the figures are
# medians of the per-round medians), with ratios; then the time of each
# layer for all three, where the OpenCL step time goes per kernel
# (fxrun bench --profile), and the start-up time of
# `fxrun bench ... --backend opencl --steps 1` (the whole command, which
# runs 3 warm-up steps, 1 timed and 1 per-layer step), cold (empty fx and
# PoCL kernel caches) and warm (the same caches again).
#
# Usage: bench/opencl_vs_cpu.sh [BATCH] [ROUNDS] [THREADS]   (defaults: 64, 3, nproc)
# Env:   FXRUN   fxrun to time (default build/fxrun)
#        OPENCL  the OpenCL backend spec (default opencl: the best device)
# Needs: a build with the OpenCL backend, an OpenCL driver (PoCL on a CPU
# machine: apt-get install pocl-opencl-icd), Debian's python3-torch.
# THREADS sets the CPU backend's and PyTorch's threads; PoCL runs one
# thread per core (POCL_MAX_PTHREAD_COUNT caps it).
set -eu
cd "$(dirname "$0")/.."
batch=${1:-64}
rounds=${2:-3}
threads=${3:-$(nproc)}
fxrun=${FXRUN:-build/fxrun}
opencl=${OPENCL:-opencl}
config=configs/fashion-mnist.yaml
[ -x "$fxrun" ] || { echo "bench: $fxrun not found; build first (cmake) or set FXRUN" >&2; exit 1; }
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "bench: PyTorch missing: apt-get install python3-torch" >&2; exit 1; }
"$fxrun" bench "$config" --backend "$opencl" --batch 2 --steps 1 >/dev/null 2>&1 ||
    { echo "bench: fxrun cannot use the OpenCL backend '$opencl' (see fxrun devices)" >&2; exit 1; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT INT TERM
steps=20
i=1
while [ "$i" -le "$rounds" ]; do
    "$fxrun" bench "$config" --backend "$opencl" --batch "$batch" --steps "$steps" >"$out/opencl.$i"
    "$fxrun" bench "$config" --backend cpu --threads "$threads" --batch "$batch" --steps "$steps" >"$out/cpu.$i"
    /usr/bin/python3 bench/torch_train_step.py --threads "$threads" --batch "$batch" --steps "$steps" --per-layer \
        >"$out/torch.$i"
    echo "round $i: opencl $(sed -n 's/.*median \([0-9.]*\) ms\/step.*/\1/p' "$out/opencl.$i") ms," \
        "cpu $(sed -n 's/.*median \([0-9.]*\) ms\/step.*/\1/p' "$out/cpu.$i") ms," \
        "torch $(sed -n 's/^TORCH_MEDIAN_MS //p' "$out/torch.$i") ms per step"
    i=$((i + 1))
done
"$fxrun" bench "$config" --backend "$opencl" --batch "$batch" --steps 10 --profile >"$out/profile"

# Start-up: a fresh pair of caches (cold), then the same caches 3 times (warm).
fx_cache=$(mktemp -d)
pocl_cache=$(mktemp -d)
startup() {
    t0=$(date +%s.%N)
    FX_KERNEL_CACHE_DIR=$fx_cache POCL_CACHE_DIR=$pocl_cache \
        "$fxrun" bench "$config" --backend "$opencl" --batch "$batch" --steps 1 >/dev/null
    t1=$(date +%s.%N)
    echo "$t0 $t1" | awk '{printf "%.3f\n", $2 - $1}'
}
cold=$(startup)
warm="$(startup) $(startup) $(startup)"
rm -rf "$fx_cache" "$pocl_cache"

/usr/bin/python3 - "$out" "$rounds" "$batch" "$threads" "$cold" "$warm" <<'PY'
import re, statistics, sys
out, rounds, batch, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
cold, warm = float(sys.argv[5]), [float(v) for v in sys.argv[6].split()]

def text(name):
    with open(f"{out}/{name}") as f:
        return f.read()

def fx_median(t):
    return float(re.search(r"median ([0-9.]+) ms/step", t).group(1))

def device(t):
    return re.search(r" on (.*?): batch", t).group(1)

def layers(t):
    """{layer: (op, fwd, bwd)} from a per-layer table."""
    rows, on = {}, False
    for line in t.splitlines():
        if line.startswith("layer "):
            on = True
            continue
        parts = line.split()
        if on and len(parts) == 4:
            try:
                rows[parts[0]] = (parts[1], float(parts[2]), float(parts[3]))
            except ValueError:
                pass
    return rows

ocl = [fx_median(text(f"opencl.{i}")) for i in range(1, rounds + 1)]
cpu = [fx_median(text(f"cpu.{i}")) for i in range(1, rounds + 1)]
th = [float(re.search(r"TORCH_MEDIAN_MS ([0-9.]+)", text(f"torch.{i}")).group(1)) for i in range(1, rounds + 1)]
o, c, t = statistics.median(ocl), statistics.median(cpu), statistics.median(th)
torch_version = re.search(r"torch (\S+):", text("torch.1")).group(1)
print(f"\nfashion-mnist CNN training step, batch {batch}, median of {rounds} rounds x 20 steps:")
print(f"  fx OpenCL   {o:8.2f} ms/step  {1e3 * batch / o:7.1f} images/s  ({device(text('opencl.1'))})")
print(f"  fx CPU      {c:8.2f} ms/step  {1e3 * batch / c:7.1f} images/s  ({device(text('cpu.1'))})")
print(f"  PyTorch     {t:8.2f} ms/step  {1e3 * batch / t:7.1f} images/s  (torch {torch_version}, {threads} threads)")
print(f"  ratios: OpenCL/CPU {o / c:.2f}, OpenCL/PyTorch {o / t:.2f}, CPU/PyTorch {c / t:.2f}  (> 1: the first is slower)")
print(f"  fx CPU speed / PyTorch speed = {t / c:.2f}  (> 1: fx is faster; as bench/train_step.sh)")

def layer_medians(prefix):
    tables = [layers(text(f"{prefix}.{i}")) for i in range(1, rounds + 1)]
    names = list(tables[0])
    return {n: (tables[0][n][0], statistics.median(tb[n][1] for tb in tables if n in tb),
                statistics.median(tb[n][2] for tb in tables if n in tb)) for n in names}

lo, lc, lt = layer_medians("opencl"), layer_medians("cpu"), layer_medians("torch")
print("\nper layer, median ms (forward / backward); fx synchronises after each layer, PyTorch uses hooks:")
print(f"  {'layer':<22} {'op':<22} {'fx OpenCL':>17} {'fx CPU':>17} {'PyTorch':>17}")
def cell(d, n):
    return f"{d[n][1]:7.2f} /{d[n][2]:7.2f}" if n in d else f"{'-':>17}"
sums = [[0, 0], [0, 0], [0, 0]]
for n in lo:
    print(f"  {n:<22} {lo[n][0]:<22} {cell(lo, n):>17} {cell(lc, n):>17} {cell(lt, n):>17}")
    for k, d in enumerate((lo, lc, lt)):
        if n in d:
            sums[k][0] += d[n][1]
            sums[k][1] += d[n][2]
if "flatten" in lt:
    sums[2][0] += lt["flatten"][1]
    sums[2][1] += lt["flatten"][2]
print(f"  {'sum of layers':<22} {'':<22} " + " ".join(f"{s[0]:7.2f} /{s[1]:7.2f}" for s in sums))

print("\nwhere the OpenCL step goes (fxrun bench --profile, 10 steps):")
prof = text("profile")
start = prof.find("opencl profile")
end = prof.find("\nlayer ", start)
print(prof[start:end if end > 0 else None].rstrip())

print("\nstart-up of `fxrun bench configs/fashion-mnist.yaml --backend opencl --steps 1`"
      " (whole command: load, plan, 5 steps):")
print(f"  cold (empty FX_KERNEL_CACHE_DIR and POCL_CACHE_DIR): {cold:6.2f} s")
print(f"  warm (the same caches, median of 3):                 {statistics.median(warm):6.2f} s")
PY
