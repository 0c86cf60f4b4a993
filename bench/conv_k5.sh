#!/bin/sh
# bench/conv_k5.sh - the paper network's k5 conv (3x3, 576 -> 320 at
# 24x24, configs/bench/k5.yaml) and the small variant's (288 -> 160 at
# 12x12, k5-small.yaml) on the CPU backend, before and after Winograd, in
# one run: `fxrun bench` with FX_CONV_WINOGRAD=off (the implicit-im2col
# GEMM path) and with the default rule (Winograd F(4x4,3x3) for both),
# alternately ROUNDS times. Prints the medians of the k5 row of the
# per-layer table (forward; backward = input + weight gradient) as ms and
# as effective GFLOP/s counted as direct-conv FLOPs (forward 2 N O C 9 P,
# backward twice that), and the speed-up; also the CPU time (user + sys)
# of each whole fxrun process, which a busy shared machine disturbs less
# than wall time. A measurement, never a pass/fail.
#
# With BASE=path/to/another/fxrun, each round also runs that binary with
# its default rule (e.g. a build of the branch's base, to compare one
# change of the Winograd code against the version before it).
#
# Usage: bench/conv_k5.sh [BATCH] [ROUNDS] [THREADS] [STEPS]   (defaults: 64, 3, nproc, 3)
# Needs: a build in build/ (or FXRUN), /usr/bin/time.
set -eu
cd "$(dirname "$0")/.."
batch=${1:-64}
rounds=${2:-3}
threads=${3:-$(nproc)}
steps=${4:-3}
fxrun=${FXRUN:-build/fxrun}
[ -x "$fxrun" ] || { echo "bench: $fxrun not found; build first or set FXRUN" >&2; exit 1; }
base=${BASE:-}
[ -z "$base" ] || [ -x "$base" ] || { echo "bench: BASE=$base is not an executable fxrun" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time missing: apt-get install time" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT INT TERM
echo "k5 conv, batch $batch, $threads threads, $steps steps x $rounds rounds; $(lscpu | sed -n 's/^Model name: *//p')"
for cfg in k5 k5-small; do
    i=1
    while [ "$i" -le "$rounds" ]; do
        for algo in off ${base:+base} rule; do
            if [ "$algo" = off ]; then w=off; else w=""; fi
            if [ "$algo" = base ]; then exe=$base; else exe=$fxrun; fi
            FX_CONV_WINOGRAD=$w /usr/bin/time -f "%U %S" -o "$out/time" "$exe" bench "configs/bench/$cfg.yaml" \
                --threads "$threads" --batch "$batch" --steps "$steps" >"$out/bench"
            row=$(awk '$1 == "k5" { print $3, $4 }' "$out/bench")
            cpu=$(awk '{ print $1 + $2 }' "$out/time")
            echo "$cfg $algo $row $cpu" >>"$out/rows"
            echo "  $cfg round $i $algo: k5 forward/backward ms $row, process CPU ${cpu}s"
        done
        i=$((i + 1))
    done
done
/usr/bin/python3 - "$out/rows" "$batch" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    cfg, algo, f, b, cpu = line.split()
    rows.setdefault((cfg, algo), []).append((float(f), float(b), float(cpu)))
n = int(sys.argv[2])
shape = {"k5": (576, 320, 24 * 24), "k5-small": (288, 160, 12 * 12)}
print("\nmedians; GFLOP/s as direct-conv FLOPs (forward 2 N O C 9 P; backward twice that)")
print(f"{'conv':<9} {'path':<9} {'fwd ms':>8} {'GFLOP/s':>8} {'bwd ms':>8} {'GFLOP/s':>8} {'CPU s':>7}")
for cfg in ("k5", "k5-small"):
    c, o, p = shape[cfg]
    flops = 2.0 * n * o * c * 9 * p
    med = {}
    for algo, name in (("off", "GEMM"), ("base", "BASE"), ("rule", "Winograd")):
        if (cfg, algo) not in rows:
            continue
        r = rows[(cfg, algo)]
        f = statistics.median(v[0] for v in r)
        b = statistics.median(v[1] for v in r)
        cpu = statistics.median(v[2] for v in r)
        med[algo] = (f, b, cpu)
        print(f"{cfg:<9} {name:<9} {f:8.1f} {flops / f / 1e6:8.1f} {b:8.1f} {2 * flops / b / 1e6:8.1f} {cpu:7.2f}")
    w = med["rule"]
    for ref, label in (("off", "speed-up"), ("base", "vs BASE")):
        if ref not in med:
            continue
        g = med[ref]
        print(f"{cfg:<9} {label:<9} {g[0] / w[0]:8.2f} {'':>8} {g[1] / w[1]:8.2f} {'':>8} {g[2] / w[2]:7.2f}"
              f"   (forward+backward {(g[0] + g[1]) / (w[0] + w[1]):.2f})")
PY
