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
