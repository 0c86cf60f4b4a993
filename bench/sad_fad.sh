#!/bin/sh
# bench/sad_fad.sh - the SAD and FAD losses, forward + backward, in fx
# (configs/bench/sad.yaml, fad.yaml; the sad_loss / fad_loss rows of
# `fxrun bench`'s per-layer table) and in plain PyTorch
# (bench/sad_fad_torch.py), same batch and threads, side by side, ROUNDS
# times alternately; prints the medians of the per-round medians and the
# ratio. A measurement, never a pass/fail.
#
# Usage: bench/sad_fad.sh [THREADS] [BATCH] [ROUNDS]   (defaults: nproc, 64, 3)
# Needs: a build in build/ (or FXRUN=path/to/fxrun), Debian's python3-torch.
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
sad_fx=""; sad_th=""; fad_fx=""; fad_th=""
i=0
while [ "$i" -lt "$rounds" ]; do
    s=$("$fxrun" bench configs/bench/sad.yaml --threads "$threads" --batch "$batch" --steps 10 | layer_ms sad_loss)
    f=$("$fxrun" bench configs/bench/fad.yaml --threads "$threads" --batch "$batch" --steps 30 | layer_ms fad_loss)
    t=$(/usr/bin/python3 bench/sad_fad_torch.py --threads "$threads" --batch "$batch" --steps 10)
    ts=$(echo "$t" | sed -n 's/^TORCH_SAD_MEDIAN_MS //p'); tf=$(echo "$t" | sed -n 's/^TORCH_FAD_MEDIAN_MS //p')
    echo "round $((i + 1)): SAD fx $s ms, torch $ts ms; FAD fx $f ms, torch $tf ms"
    sad_fx="$sad_fx $s"; sad_th="$sad_th $ts"; fad_fx="$fad_fx $f"; fad_th="$fad_th $tf"
    i=$((i + 1))
done
/usr/bin/python3 - "$sad_fx" "$sad_th" "$fad_fx" "$fad_th" "$batch" "$threads" <<'PY'
import statistics, sys
med = lambda s: statistics.median(float(v) for v in s.split())
sf, st, ff, ft = (med(a) for a in sys.argv[1:5])
print(f"losses forward + backward, batch {sys.argv[5]}, K 320, 24x24, {sys.argv[6]} threads:")
print(f"  SAD  fx {sf:8.2f} ms   torch {st:8.2f} ms   ratio torch/fx = {st/sf:.1f}")
print(f"  FAD  fx {ff:8.3f} ms   torch {ft:8.3f} ms   ratio torch/fx = {ft/ff:.1f}")
PY
