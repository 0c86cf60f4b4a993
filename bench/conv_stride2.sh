#!/bin/sh
# bench/conv_stride2.sh - the paper network's four 3x3 stride-2 convs
# (TF SAME padding: c21 64->64 at 96x96, c31 128->128 at 48x48, c41
# 192->192 at 24x24, c51 256->256 at 12x12) on the CPU backend, two builds
# alternating ROUNDS times: BEFORE (the fx_bench_conv of a build of the
# older commit) and AFTER (this build's). fx_bench_conv (bench/conv_time.c)
# times one conv node's forward and backward (input, weight and bias
# gradients) by the process's CPU clock, which a busy shared machine
# disturbs far less than wall time. Prints the least CPU time over all
# rounds and runs (the least disturbed estimate: load only adds time;
# each round's line also shows the medians) as ms and as effective GFLOP/s counted as direct-conv FLOPs (forward 2 N O C 9 P,
# backward twice that) and the speed-up. A measurement, never a pass/fail.
#
# Usage: BEFORE=/path/to/old/build/fx_bench_conv bench/conv_stride2.sh [BATCH] [ROUNDS] [REPS] [THREADS]
#        (defaults: 16, 3, 5, 1; AFTER defaults to build/fx_bench_conv;
#        CONVS="c31 c41" to choose)
set -eu
cd "$(dirname "$0")/.."
batch=${1:-16}
rounds=${2:-3}
reps=${3:-5}
threads=${4:-1}
after=${AFTER:-build/fx_bench_conv}
before=${BEFORE:-}
convs=${CONVS:-c21 c31 c41 c51}
[ -n "$before" ] || { echo "bench: set BEFORE to the fx_bench_conv to compare against (a build of the older commit)" >&2; exit 1; }
for f in "$before" "$after"; do
    [ -x "$f" ] || { echo "bench: $f not found or not executable; build first" >&2; exit 1; }
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT INT TERM
echo "stride-2 convs, batch $batch, $threads threads, $reps reps x $rounds rounds; $(lscpu | sed -n 's/^Model name: *//p'); load $(cut -d' ' -f1-3 /proc/loadavg)"
for cfg in $convs; do
    case $cfg in
        c21) shape="64 96 64" ;;
        c31) shape="128 48 128" ;;
        c41) shape="192 24 192" ;;
        c51) shape="256 12 256" ;;
        *) echo "bench: unknown conv $cfg (c21 c31 c41 c51)" >&2; exit 1 ;;
    esac
    i=1
    while [ "$i" -le "$rounds" ]; do
        for side in before after; do
            if [ "$side" = before ]; then bin=$before; else bin=$after; fi
            # shellcheck disable=SC2086
            line=$("$bin" $shape 3 2 "$batch" "$reps" "$threads")
            echo "$cfg $side $(echo "$line" | sed 's/.*least forward \([0-9.]*\) backward \([0-9.]*\) ms.*/\1 \2/')" >>"$out/rows"
            echo "  $cfg round $i $side: $line"
        done
        i=$((i + 1))
    done
done
echo "load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$out/rows" "$batch" "$convs" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    cfg, side, f, b = line.split()
    rows.setdefault((cfg, side), []).append((float(f), float(b)))
n = int(sys.argv[2])
shape = {"c21": (64, 64, 48 * 48), "c31": (128, 128, 24 * 24), "c41": (192, 192, 12 * 12), "c51": (256, 256, 6 * 6)}
print("\nleast CPU ms of all runs; GFLOP/s as direct-conv FLOPs (forward 2 N O C 9 P; backward twice that)")
print(f"{'conv':<5} {'build':<9} {'fwd ms':>8} {'GFLOP/s':>8} {'bwd ms':>8} {'GFLOP/s':>8}")
for cfg in sys.argv[3].split():
    c, o, p = shape[cfg]
    flops = 2.0 * n * o * c * 9 * p
    med = {}
    for side in ("before", "after"):
        r = rows[(cfg, side)]
        f = min(v[0] for v in r)
        b = min(v[1] for v in r)
        med[side] = (f, b)
        print(f"{cfg:<5} {side:<9} {f:8.1f} {flops / f / 1e6:8.1f} {b:8.1f} {2 * flops / b / 1e6:8.1f}")
    x, y = med["before"], med["after"]
    print(f"{cfg:<5} {'speed-up':<9} {x[0] / y[0]:8.2f} {'':>8} {x[1] / y[1]:8.2f}")
PY
