#!/bin/sh
# bench/sad_fad.sh - the SAD and FAD losses, forward + backward, in fx on
# the CPU backend and on the OpenCL backend (configs/bench/sad.yaml,
# fad.yaml; the sad_loss / fad_loss rows of `fxrun bench`'s per-layer
# table) and in plain PyTorch (bench/sad_fad_torch.py), same batch and
# threads, side by side, ROUNDS times alternately; prints the medians of
# the per-round medians and the ratios. A measurement, never a pass/fail.
#
# Usage: bench/sad_fad.sh [THREADS] [BATCH] [ROUNDS]   (defaults: nproc, 64, 3)
# Needs: a build in build/ (or FXRUN=path/to/fxrun), Debian's python3-torch.
# The OpenCL column uses `--backend ${FX_BENCH_OPENCL:-opencl}` (the best
# device; e.g. FX_BENCH_OPENCL=opencl:0:0) and is left out, with the
# reason, when fx has no OpenCL device. THREADS does not apply to it (an
# OpenCL CPU driver such as PoCL uses every core).
set -eu
cd "$(dirname "$0")/.."
threads=${1:-$(nproc)}
batch=${2:-64}
rounds=${3:-3}
fxrun=${FXRUN:-build/fxrun}
[ -x "$fxrun" ] || { echo "bench: $fxrun not found; build first or set FXRUN" >&2; exit 1; }
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "bench: PyTorch missing: apt-get install python3-torch" >&2; exit 1; }
# fx: forward + backward ms of one node from the per-layer table.
layer_ms() { awk -v op="$1" '$2 == op { printf "%.3f\n", $3 + $4 }'; }
ocl=${FX_BENCH_OPENCL:-opencl}
# The OpenCL column only when fx finds a device (and builds the kernels,
# which also warms the program cache before the timed rounds).
if err=$("$fxrun" bench configs/bench/sad.yaml --backend "$ocl" --batch 2 --steps 1 2>&1 >/dev/null); then
    have_ocl=1
else
    have_ocl=0; echo "bench: no OpenCL column: $(echo "$err" | tail -n 1)"
fi
sad_fx=""; sad_th=""; fad_fx=""; fad_th=""; sad_cl=""; fad_cl=""
i=0
while [ "$i" -lt "$rounds" ]; do
    s=$("$fxrun" bench configs/bench/sad.yaml --threads "$threads" --batch "$batch" --steps 10 | layer_ms sad_loss)
    f=$("$fxrun" bench configs/bench/fad.yaml --threads "$threads" --batch "$batch" --steps 30 | layer_ms fad_loss)
    sc=0; fc=0
    if [ "$have_ocl" = 1 ]; then
        sc=$("$fxrun" bench configs/bench/sad.yaml --backend "$ocl" --batch "$batch" --steps 10 | layer_ms sad_loss)
        fc=$("$fxrun" bench configs/bench/fad.yaml --backend "$ocl" --batch "$batch" --steps 30 | layer_ms fad_loss)
    fi
    t=$(/usr/bin/python3 bench/sad_fad_torch.py --threads "$threads" --batch "$batch" --steps 10)
    ts=$(echo "$t" | sed -n 's/^TORCH_SAD_MEDIAN_MS //p'); tf=$(echo "$t" | sed -n 's/^TORCH_FAD_MEDIAN_MS //p')
    echo "round $((i + 1)): SAD fx-cpu $s ms, fx-opencl $sc ms, torch $ts ms; FAD fx-cpu $f ms, fx-opencl $fc ms, torch $tf ms"
    sad_fx="$sad_fx $s"; sad_th="$sad_th $ts"; fad_fx="$fad_fx $f"; fad_th="$fad_th $tf"
    sad_cl="$sad_cl $sc"; fad_cl="$fad_cl $fc"
    i=$((i + 1))
done
device=""
[ "$have_ocl" = 1 ] && device=$("$fxrun" bench configs/bench/fad.yaml --backend "$ocl" --batch 2 --steps 1 2>/dev/null |
    sed -n 's/.* on OpenCL [0-9:]* \(.*\) (OpenCL.*/\1/p' | head -n 1)
/usr/bin/python3 - "$sad_fx" "$sad_th" "$fad_fx" "$fad_th" "$batch" "$threads" "$sad_cl" "$fad_cl" "$have_ocl" "$device" <<'PY'
import statistics, sys
med = lambda s: statistics.median(float(v) for v in s.split())
sf, st, ff, ft = (med(a) for a in sys.argv[1:5])
sc, fc = med(sys.argv[7]), med(sys.argv[8])
ocl = sys.argv[9] == "1"
print(f"losses forward + backward, batch {sys.argv[5]}, K 320, 24x24, {sys.argv[6]} threads (medians):")
if ocl:
    print(f"  OpenCL device: {sys.argv[10] or '?'}")
def row(name, f, c, t, fmt):
    line = f"  {name}  fx-cpu {f:{fmt}} ms"
    if ocl:
        line += f"   fx-opencl {c:{fmt}} ms"
    line += f"   torch {t:{fmt}} ms   torch/fx-cpu = {t/f:.1f}"
    if ocl:
        line += f"   torch/fx-opencl = {t/c:.1f}   fx-opencl/fx-cpu = {c/f:.1f}"
    print(line)
row("SAD", sf, sc, st, "8.2f")
row("FAD", ff, fc, ft, "8.3f")
PY
