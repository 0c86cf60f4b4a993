#!/bin/sh
# bench/paper_net.sh - one training step of the paper's network
# (configs/interpret-fr/blocks.yaml, losses in docs/losses.md) in fx (`fxrun bench configs/interpret-fr*.yaml`) and in PyTorch
# (bench/paper_net_torch.py, the same network and losses), side by side in
# one run: for each loss (base, sad, full) and batch, the two run
# alternately ROUNDS times; it prints the medians of the per-round medians
# as images/s, the ratio, and the peak RSS of each process
# (/usr/bin/time -v: "Maximum resident set size"; max over the rounds).
#
# Usage: bench/paper_net.sh [BATCHES] [ROUNDS] [THREADS] [STEPS]
#        (defaults: "16 64", 3, nproc, 3)
# Env:   LOSSES  which networks (default "base sad full")
#        SMALL=1 the small variants (configs/interpret-fr*-small.yaml, 48x48)
#        FXRUN   the fxrun to time (default build/fxrun)
# Needs: a build in build/, /usr/bin/time (apt-get install time; also in
# tools/install-deps.sh), Debian's python3-torch (or a python3 with torch
# set by PYTHON). A full-size step at batch 64 takes seconds on a 2-core
# machine: the whole default run takes tens of minutes.
set -eu
cd "$(dirname "$0")/.."
batches=${1:-16 64}
rounds=${2:-3}
threads=${3:-$(nproc)}
steps=${4:-3}
losses=${LOSSES:-base sad full}
fxrun=${FXRUN:-build/fxrun}
python=${PYTHON:-/usr/bin/python3}
[ -x "$fxrun" ] || { echo "bench: $fxrun not found; build first (cmake) or set FXRUN" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time missing: apt-get install time" >&2; exit 1; }
"$python" -c "import torch" 2>/dev/null || { echo "bench: PyTorch missing for $python: apt-get install python3-torch" >&2; exit 1; }

config() {
    case $1 in
    base) c=configs/interpret-fr-base ;;
    sad) c=configs/interpret-fr-sad ;;
    full) c=configs/interpret-fr ;;
    *) echo "bench: unknown loss '$1' (base, sad, full)" >&2; exit 1 ;;
    esac
    if [ "${SMALL:-0}" = 1 ]; then echo "$c-small.yaml"; else echo "$c.yaml"; fi
}
small_flag=""
[ "${SMALL:-0}" = 1 ] && small_flag=--small

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT INT TERM
echo "paper network, $threads threads, $steps timed steps per round, $rounds rounds; $(lscpu | sed -n 's/^Model name: *//p')"
for loss in $losses; do
    cfg=$(config "$loss")
    for batch in $batches; do
        i=1
        while [ "$i" -le "$rounds" ]; do
            /usr/bin/time -v -o "$out/fx.time" "$fxrun" bench "$cfg" --threads "$threads" --batch "$batch" \
                --steps "$steps" >"$out/fx.out"
            /usr/bin/time -v -o "$out/torch.time" "$python" bench/paper_net_torch.py --loss "$loss" $small_flag \
                --threads "$threads" --batch "$batch" --steps "$steps" >"$out/torch.out"
            fx=$(sed -n 's/.*median \([0-9.]*\) ms\/step.*/\1/p' "$out/fx.out")
            th=$(sed -n 's/^TORCH_MEDIAN_MS //p' "$out/torch.out")
            fx_rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$out/fx.time")
            th_rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$out/torch.time")
            echo "  $loss batch $batch round $i: fx $fx ms/step ($fx_rss KiB), torch $th ms/step ($th_rss KiB)"
            echo "$loss $batch $fx $th $fx_rss $th_rss" >>"$out/rows"
            i=$((i + 1))
        done
    done
done
"$python" - "$out/rows" "$(sed -n 1p "$out/torch.out")" <<'PY'
import collections, statistics, sys
rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    loss, batch, fx, th, fr, tr = line.split()
    rows.setdefault((loss, int(batch)), []).append((float(fx), float(th), int(fr), int(tr)))
print(f"\n{sys.argv[2].split(':')[0]}; medians of the rounds, peak RSS = max over the rounds")
print(f"{'loss':<5} {'batch':>5} {'fx img/s':>9} {'torch img/s':>11} {'fx/torch':>8} "
      f"{'fx RSS MiB':>10} {'torch RSS MiB':>13} {'RSS fx/torch':>12}")
for (loss, batch), r in rows.items():
    f = statistics.median(v[0] for v in r)
    t = statistics.median(v[1] for v in r)
    fr = max(v[2] for v in r) / 1024
    tr = max(v[3] for v in r) / 1024
    print(f"{loss:<5} {batch:>5} {1e3 * batch / f:9.2f} {1e3 * batch / t:11.2f} {t / f:8.2f} "
          f"{fr:10.0f} {tr:13.0f} {fr / tr:12.2f}")
print("fx/torch > 1: fx is faster; RSS fx/torch < 1: fx uses less memory")
PY
