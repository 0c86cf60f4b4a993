#!/bin/sh
# tools/demo.sh - the main job end to end on a fresh Debian 12 machine:
# installs missing packages, builds fx, fetches the default face set (dlib's
# example faces, through apt's source mechanism: tools/fetch-faces.sh),
# trains the small paper network twice - the baseline (cross-entropy) and
# the interpretable model (SAD + FAD + filter diversity) - then verifies
# both on held-out photos, clean and occluded, explains what their filters
# learned, and prints where the report is.
#
# Usage: tools/demo.sh [--data DIR] [--out DIR] [--epochs N] [--backend B]
#   --data DIR    your own faces instead: an ImageFolder root
#                 (DIR/<person>/<image>, JPEG/PNG/PGM, aligned faces); a
#                 DIR/landmarks.csv (image,x1,y1,...,x68,y68) is used when
#                 present
#   --out DIR     where models, results and the report go (default
#                 build/face-demo)
#   --epochs N    training epochs of each model (default 60)
#   --backend B   cpu (default) or opencl (see build/fxrun devices)
set -eu
cd "$(dirname "$0")/.."
repo=$PWD

data=""
out="$repo/build/face-demo"
epochs=60
backend=cpu
while [ $# -gt 0 ]; do
    case "$1" in
    --data) [ $# -ge 2 ] || { echo "demo: --data needs a folder" >&2; exit 2; }; data=$2; shift 2;;
    --out) [ $# -ge 2 ] || { echo "demo: --out needs a folder" >&2; exit 2; }; out=$2; shift 2;;
    --epochs) [ $# -ge 2 ] || { echo "demo: --epochs needs a number" >&2; exit 2; }; epochs=$2; shift 2;;
    --backend) [ $# -ge 2 ] || { echo "demo: --backend needs a name" >&2; exit 2; }; backend=$2; shift 2;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
    *) echo "demo: unknown argument '$1' (see tools/demo.sh --help)" >&2; exit 2;;
    esac
done
case "$epochs" in ''|*[!0-9]*) echo "demo: --epochs expects a positive integer, got '$epochs'" >&2; exit 2;; esac
[ "$epochs" -ge 1 ] || { echo "demo: --epochs must be at least 1" >&2; exit 2; }
case "$out" in /*) ;; *) out="$PWD/$out";; esac

step() { printf '\n== %s\n' "$*"; }

step "packages and build"
tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFX_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
fxrun="$repo/build/fxrun"

mkdir -p "$out"
if [ -z "$data" ]; then
    step "the default face set (dlib's example faces, Debian's dlib source package)"
    examples=$(tools/fetch-faces.sh)
    faces="$examples/johns"
    explain_xml="$examples/faces/training_with_face_landmarks.xml $examples/faces/testing_with_face_landmarks.xml"
else
    [ -d "$data" ] || { echo "demo: --data $data is not a folder" >&2; exit 2; }
    faces=$(cd "$data" && pwd)
    explain_xml=""
fi

# Photos of each person: the first three quarters train, the rest (at least
# one) are held out for verification. Links, not copies.
step "splitting $faces: 3/4 of each person's photos to train, 1/4 held out"
rm -rf "$out/data"
mkdir -p "$out/data/train" "$out/data/test"
n_people=0
for person in "$faces"/*/; do
    person=${person%/}
    name=$(basename "$person")
    files=$(ls "$person" | grep -i -E '\.(jpe?g|png|pgm|ppm|pnm)$' | sort || true)
    n=$(printf '%s\n' "$files" | grep -c . || true)
    [ "$n" -ge 2 ] || { echo "demo: skipping $name: fewer than 2 images" >&2; continue; }
    held=$(( (n + 3) / 4 ))
    mkdir -p "$out/data/train/$name" "$out/data/test/$name"
    i=0
    for f in $files; do
        i=$((i + 1))
        if [ "$i" -le $((n - held)) ]; then dst="$out/data/train/$name"; else dst="$out/data/test/$name"; fi
        ln -s "$person/$f" "$dst/$f"
    done
    n_people=$((n_people + 1))
done
[ "$n_people" -ge 2 ] || { echo "demo: $faces needs at least 2 people with 2 or more images each" >&2; exit 1; }
echo "$n_people people"

# The two configs, pointed at this data and class count.
for m in base sadfad; do
    sed -e "s|^include: .*# demo: include|include: $repo/configs/interpret-fr/blocks.yaml|" \
        -e "s|imagefolder: demo-data/train}|imagefolder: $out/data/train}|" \
        -e "s|out_features: [0-9]*\(.*# demo: classes\)|out_features: $n_people\1|" \
        -e "s|checkpoint: face-demo-|checkpoint: $out/face-demo-|" \
        "configs/demo/face-$m.yaml" > "$out/face-$m.yaml"
done

for m in base sadfad; do
    step "training the $m model ($epochs epochs)"
    "$fxrun" train "$out/face-$m.yaml" --epochs "$epochs" --backend "$backend" --metrics "$out/train-$m.jsonl"
done

# Landmarked faces for the explanation: dlib's 68-point annotations cropped
# and aligned like the training faces; with --data, DIR/landmarks.csv if
# there is one, else the held-out photos without landmarks.
explain_root="$out/data/test"
explain_lm=""
if [ -n "$explain_xml" ]; then
    step "aligned crops of the faces annotated with 68 landmarks (fxrun crop-faces)"
    rm -rf "$out/faces68"
    # shellcheck disable=SC2086
    "$fxrun" crop-faces $explain_xml --out "$out/faces68"
    explain_root="$out/faces68"
    explain_lm="$out/faces68/landmarks.csv"
elif [ -f "$faces/landmarks.csv" ]; then
    explain_root="$faces"
    explain_lm="$faces/landmarks.csv"
fi

# Verification pairs among the held-out photos: folds of distinct people
# (at most half the people per fold, at least two folds).
folds=$(( n_people / 2 ))
[ "$folds" -le 10 ] || folds=10
[ "$folds" -ge 2 ] || folds=2
step "verification pairs from the held-out photos ($folds folds)"
per_fold=""
for k in 300 100 50 30 20 10 6 4 3 2 1; do
    if "$fxrun" pairs "$out/face-base.yaml" --images "$out/data/test" --folds "$folds" --per-fold "$k" --seed 1 \
        --output "$out/pairs.txt" >"$out/pairs.log" 2>&1; then
        per_fold=$k
        break
    fi
done
[ -n "$per_fold" ] || { cat "$out/pairs.log" >&2; echo "demo: cannot make verification pairs from $out/data/test" >&2; exit 1; }
cat "$out/pairs.log"

mkdir -p "$out/report"
for m in base sadfad; do
    step "verifying the $m model: clean faces, then with the paper's occluding window"
    "$fxrun" verify "$out/face-$m.yaml" --pairs "$out/pairs.txt" --images "$out/data/test" --backend "$backend" \
        --json "$out/report/verify-$m.json" --roc "$out/report/roc-$m.png" | tee "$out/verify-$m.log"
    "$fxrun" verify "$out/face-$m.yaml" --pairs "$out/pairs.txt" --images "$out/data/test" --backend "$backend" \
        --occlude --json "$out/report/verify-occluded-$m.json" | tee "$out/verify-occluded-$m.log"
    step "explaining the $m model's k5 filters"
    if [ -n "$explain_lm" ]; then
        "$fxrun" explain "$out/face-$m.yaml" --images "$explain_root" --landmarks "$explain_lm" --backend "$backend" \
            --out "$out/report/explain-$m" | tee "$out/explain-$m.log"
    else
        "$fxrun" explain "$out/face-$m.yaml" --images "$explain_root" --backend "$backend" \
            --out "$out/report/explain-$m" | tee "$out/explain-$m.log"
    fi
done

# The summary page: the figures the two models' logs print, side by side.
figure() { # figure LOG PATTERN: what follows PATTERN, from a digit up to a '(', on its first such line
    sed -n "s/.*$2 *\([0-9][^(]*\).*/\1/p" "$1" | head -n 1 | sed 's/+-/\&plusmn;/'
}
row() { # row LABEL PATTERN LOGSUFFIX
    printf '<tr><td>%s</td><td>%s</td><td>%s</td></tr>\n' "$1" \
        "$(figure "$out/$3-base.log" "$2")" "$(figure "$out/$3-sadfad.log" "$2")"
}
{
    cat <<HTML
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>fx face demo</title>
<style>
body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222;background:#f7f7f9}
h1{font-size:1.6em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:.35em .8em;text-align:right}
td:first-child,th:first-child{text-align:left}.pics{display:flex;gap:1em;flex-wrap:wrap}
.pics figure{margin:0;background:#fff;border:1px solid #ddd;padding:.5em}.pics img{max-width:460px;width:100%}
code{background:#eee;padding:0 .2em}p.note{color:#555;font-size:.92em}
</style></head><body>
<h1>Interpretable face recognition with fx: the demo</h1>
<p>Two copies of the small network of Yin et al. (ICCV 2019) were trained on $n_people people
($(find "$out/data/train" -type l | wc -l) photos) for $epochs epochs each: the <b>base</b> model with
cross-entropy only, and the <b>SAD+FAD</b> model with the paper's whole loss (spatial and feature
activation diversity, filter diversity). Both were then verified on held-out photos
($(sed -n '1p' "$out/pairs.txt" | awk '{print $1 " folds of " $2 " matched + " $2 " mismatched pairs"}')),
clean and with the paper's black window over part of the face, and their k5 filters explained
over $(ls "$explain_root"/*/ 2>/dev/null | grep -c -i -E '\.(jpe?g|png|pgm|ppm)$') faces.</p>
<h2>Verification</h2>
<table><tr><th></th><th>base</th><th>SAD+FAD</th></tr>
$(row "accuracy (clean)" "accuracy" verify)
$(row "accuracy (occluded)" "accuracy" verify-occluded)
$(row "equal error rate (clean)" "EER" verify)
$(row "area under the ROC (clean)" "AUC" verify)
</table>
<div class="pics">
<figure><img src="roc-base.png" alt="ROC of the base model"><figcaption>ROC, base</figcaption></figure>
<figure><img src="roc-sadfad.png" alt="ROC of the SAD+FAD model"><figcaption>ROC, SAD+FAD</figcaption></figure>
</div>
<h2>What the filters learned</h2>
<table><tr><th></th><th>base</th><th>SAD+FAD</th></tr>
$(row "spread of the filters' peaks (px; larger = filters on more distinct face parts)" "spread of the average peak locations:" explain)
$(row "median deviation of a filter's peaks (px; smaller = keeps to one part)" "median deviation of a filter's peaks:" explain)
</table>
<div class="pics">
<figure><a href="explain-base/explain.html"><img src="explain-base/peaks.png" alt="filter peaks, base"></a>
<figcaption>Average peak of every filter, base model (<a href="explain-base/explain.html">full report</a>)</figcaption></figure>
<figure><a href="explain-sadfad/explain.html"><img src="explain-sadfad/peaks.png" alt="filter peaks, SAD+FAD"></a>
<figcaption>Average peak of every filter, SAD+FAD model (<a href="explain-sadfad/explain.html">full report</a>)</figcaption></figure>
</div>
<p class="note">A demo on a handful of people shows the workflow, not the paper's figures: the numbers
vary with the seed at this size. <code>docs/results.md</code> has the experiment on 294 CFP people
(several seeds), and <code>tools/demo.sh --data DIR</code> runs all of this on your own faces.</p>
</body></html>
HTML
} > "$out/report/index.html"

step "done"
echo "report: $out/report/index.html"
echo "        (open it in a browser; each model's full explanation is linked from it)"
