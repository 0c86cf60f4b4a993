#!/bin/sh
# tools/cfp-experiment.sh - the face experiment of docs/results.md: the
# small paper network trained twice per seed on the kept 80 % of the CFP
# identities (configs/cfp/base-small.yaml: cross-entropy only;
# configs/cfp/sadfad-small.yaml: the paper's whole loss), then, for every
# model, verification on identity-disjoint pairs of the 59 held-out people
# (clean and with the paper's occluding window) and the spread of its k5
# filters over the held-out people's frontal photos. Prints one table.
# Models: base, sad (configs/cfp/sad-small.yaml: 2 CE + SAD), sadfad, and
# torch-base, torch-sad: the same recipes trained by the independent
# PyTorch reference (tools/parity/torch_train.py, /usr/bin/python3 with
# torch), evaluated by the same fxrun commands as fx's models (issue 14).
# A model whose checkpoint is already in DIR is not trained again.
#
# Usage: tools/cfp-experiment.sh [--seeds "1 2 3"] [--epochs N] [--out DIR]
#                                [--models "base sadfad"] [--threads T]
# Needs a build (cmake --build build) and ../shared/data/cfp-nonlfw.
set -eu
cd "$(dirname "$0")/.."
repo=$PWD
seeds="1 2 3"
epochs=4
out="$repo/build/cfp-experiment"
models="base sadfad"
threads=2
while [ $# -gt 0 ]; do
    case "$1" in
    --seeds) seeds=$2; shift 2;;
    --epochs) epochs=$2; shift 2;;
    --out) out=$2; shift 2;;
    --models) models=$2; shift 2;;
    --threads) threads=$2; shift 2;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
    *) echo "cfp-experiment: unknown argument '$1'" >&2; exit 2;;
    esac
done
fxrun="$repo/build/fxrun"
cfp="$repo/../shared/data/cfp-nonlfw"
[ -x "$fxrun" ] || { echo "cfp-experiment: build fx first (cmake --build build)" >&2; exit 1; }
[ -d "$cfp" ] || { echo "cfp-experiment: $cfp not found" >&2; exit 1; }
for m in $models; do
    case "$m" in
    base|sad|sadfad) ;;
    torch-base|torch-sad)
        /usr/bin/python3 -c 'import torch, PIL' 2>/dev/null ||
            { echo "cfp-experiment: $m needs PyTorch and Pillow for /usr/bin/python3 (apt-get install python3-torch python3-pil)" >&2; exit 1; };;
    *) echo "cfp-experiment: unknown model '$m' (base, sad, sadfad, torch-base, torch-sad)" >&2; exit 2;;
    esac
done
cfp=$(cd "$cfp" && pwd)
mkdir -p "$out"

# Pairs of the held-out people: the base config with its held-out part as
# data.test (the configs themselves have no test set: classification
# accuracy on people the classifier never saw means nothing).
sed -e "s|^  split: \(.*\)|  split: \1\n  test: {imagefolder: $cfp, part: held_out}|" \
    -e "s|include: \.\./|include: $repo/configs/|" -e "s|imagefolder: \.\./\.\./\.\./shared/data/cfp-nonlfw|imagefolder: $cfp|" \
    configs/cfp/base-small.yaml > "$out/heldout.yaml"
# (Made once per DIR, so a second invocation, e.g. more --models, can run
# beside the first and every model is measured on the same pairs.)
[ -f "$out/pairs.txt" ] ||
    "$fxrun" pairs "$out/heldout.yaml" --folds 10 --per-fold 100 --seed 1 --output "$out/pairs.txt"
# The held-out people's frontal photos, for explain.
[ -d "$out/heldout-frontal" ] || for p in $(awk 'NR > 1 { print $1; if (NF == 4) print $3 }' "$out/pairs.txt" | sort -u); do
    mkdir -p "$out/heldout-frontal/$p"
    ln -s "$cfp/$p"/frontal_*.jpg "$out/heldout-frontal/$p/"
done

for seed in $seeds; do
    for m in $models; do
        ck="$out/$m-s$seed.fxck"
        cfg="configs/cfp/${m#torch-}-small.yaml"
        if [ ! -f "$ck" ]; then
            case "$m" in
            torch-*)
                /usr/bin/python3 tools/parity/torch_train.py --data "$cfp" --seed "$seed" --epochs "$epochs" \
                    --threads "$threads" $([ "$m" = torch-sad ] && echo --sad) --out "$ck" > "$out/train-$m-s$seed.log";;
            *)
                "$fxrun" train "$cfg" --seed "$seed" --epochs "$epochs" --no-progress --threads "$threads" \
                    --checkpoint "$ck" --metrics "$out/$m-s$seed.jsonl" > "$out/train-$m-s$seed.log";;
            esac
        fi
        "$fxrun" verify "$cfg" --checkpoint "$ck" --pairs "$out/pairs.txt" --images "$cfp" \
            --json "$out/verify-$m-s$seed.json" > "$out/verify-$m-s$seed.log"
        "$fxrun" verify "$cfg" --checkpoint "$ck" --pairs "$out/pairs.txt" --images "$cfp" \
            --occlude --json "$out/verify-occluded-$m-s$seed.json" > "$out/verify-occluded-$m-s$seed.log"
        "$fxrun" explain "$cfg" --checkpoint "$ck" --images "$out/heldout-frontal" \
            --out "$out/explain-$m-s$seed" > "$out/explain-$m-s$seed.log" 2>&1
    done
done

num() { sed -n "s/.*$2 *\([0-9][0-9.]*\).*/\1/p" "$1" | head -n 1; }
# One row per model and seed, then per model the mean and the sample
# standard deviation over the seeds (drop = clean - occluded accuracy).
{
    for m in $models; do
        for seed in $seeds; do
            printf '%s %s %s %s %s %s %s\n' "$m" "$seed" \
                "$(num "$out/verify-$m-s$seed.log" 'accuracy')" "$(num "$out/verify-occluded-$m-s$seed.log" 'accuracy')" \
                "$(num "$out/verify-$m-s$seed.log" 'AUC')" \
                "$(num "$out/explain-$m-s$seed.log" 'spread of the average peak locations:')" \
                "$(num "$out/explain-$m-s$seed.log" "median deviation of a filter's peaks:")"
        done
    done
} | awk '
    function stats(m, c,   i, s, q, mu) { s = 0; for (i = 1; i <= n[m]; i++) s += v[m, i, c]; mu = s / n[m];
        q = 0; for (i = 1; i <= n[m]; i++) q += (v[m, i, c] - mu) ^ 2;
        return sprintf(c == 4 ? "%.3f +- %.3f" : "%.2f +- %.2f", mu, n[m] > 1 ? sqrt(q / (n[m] - 1)) : 0) }
    BEGIN { printf "%-10s %-5s %16s %16s %14s %14s %16s %16s\n", "model", "seed", "acc clean %", "acc occl %",
            "drop", "AUC", "spread+ px", "deviation px" }
    { k = ++n[$1]; if (k == 1) order[++nm] = $1
      v[$1, k, 1] = $3; v[$1, k, 2] = $4; v[$1, k, 3] = $3 - $4; v[$1, k, 4] = $5; v[$1, k, 5] = $6; v[$1, k, 6] = $7
      printf "%-10s %-5s %16s %16s %14.2f %14s %16s %16s\n", $1, $2, $3, $4, $3 - $4, $5, $6, $7 }
    END { for (j = 1; j <= nm; j++) { m = order[j]
            printf "%-10s %-5s %16s %16s %14s %14s %16s %16s\n", m, "mean", stats(m, 1), stats(m, 2), stats(m, 3),
                   stats(m, 4), stats(m, 5), stats(m, 6) } }'
