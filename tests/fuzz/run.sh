#!/bin/sh
# tests/fuzz/run.sh - runs every libFuzzer target of tests/fuzz on its seed
# corpus. Usage:
#   tests/fuzz/run.sh BUILD_DIR seconds N   # each target for N seconds (smoke run)
#   tests/fuzz/run.sh BUILD_DIR runs N      # each target for N executions (long run)
# BUILD_DIR is a folder configured with CC=clang -DFX_FUZZ=ON (see
# docs/reliability.md). Seeds are made fresh in BUILD_DIR/fuzz-seeds from
# configs/, tests/data/ and small generated files; what a run finds new is
# kept in BUILD_DIR/fuzz-corpus/<target>. A crash, a leak or a hang (an
# input over 10 s) stops the run with libFuzzer's report and the
# reproducer's path, and the script exits non-zero. FUZZ_TARGETS limits the
# targets (e.g. FUZZ_TARGETS="npy image").
set -eu
build=$(cd "$1" && pwd)
mode=$2
amount=$3
src=$(cd "$(dirname "$0")/../.." && pwd)
seeds=$build/fuzz-seeds
rm -rf "$seeds"
mkdir -p "$seeds"
for t in yaml_graph npy image idx checkpoint plugin_check pairs landmarks; do mkdir -p "$seeds/$t"; done

# YAML: every shipped graph, and a graph with include: (main, the separator
# line, the included file) as fuzz_yaml_graph splits it.
cp "$src"/configs/*.yaml "$src"/tests/data/yaml/*.yaml "$src"/tests/fuzz/checkpoint_net.yaml "$seeds/yaml_graph/"
{
    printf 'name: inc\ninclude: blocks.yaml\ninput: {image: [3, 8, 8], label: []}\nlayers:\n'
    printf '  - {name: u, use: unit, in: image, ch: 4}\n  - {name: g, op: global_avgpool}\n'
    printf '  - {name: logits, op: linear, out_features: 2}\nlosses:\n  - {op: softmax_cross_entropy, in: [logits, label]}\n'
    printf '\n#--include--\n'
    printf 'blocks:\n  unit:\n    params: {ch: 8}\n    layers:\n'
    printf "      - {name: c, op: conv2d, out_channels: '\${ch}', kernel: 3, pad: 1}\n"
    printf '      - {name: b, op: batchnorm}\n      - {name: e, op: elu}\n'
} > "$seeds/yaml_graph/with-include.yaml"

# Pairs files: both LFW forms (View 1 "N", View 2 "FOLDS PER_FOLD").
printf '2\nAnn 1 2\nBob 1 3\nAnn 1 Bob 2\nCid 4 Dee 1\n' > "$seeds/pairs/view1.txt"
printf '2 1\nAnn 1 2\nAnn 1 Bob 2\nBob 1 3\nCid 4 Dee 1\n' > "$seeds/pairs/view2.txt"
find "$src/tests/data" -name 'pairs*.txt' -size -64k -exec cp {} "$seeds/pairs/" \; 2>/dev/null || true

# Landmarks CSVs for fuzz_landmarks' root (a/01.pgm, a/02.pgm, b/01.pgm):
# the first byte picks the configuration (odd: resize + landmark_box).
printf '\000image,x1,y1,x2,y2\na/01.pgm,1,2,4.5,3\n# a comment\n\nb/01.pgm,0,0,5,4\n' > "$seeds/landmarks/header.csv"
printf '\001a/01.pgm,1,1,4,1,2.5,3\r\na/02.pgm,0.5,0.5,5,4,nan,2\r\n' > "$seeds/landmarks/box-crlf.csv"
awk -F, 'BEGIN { printf "\001a/02.pgm" } { printf ",%g,%g", $1 * 6, $2 * 5 } END { print "" }' \
    "$src/configs/landmarks/mean68.csv" > "$seeds/landmarks/68.csv"

# .npy: the committed fixtures.
find "$src/tests/data" -name '*.npy' -size -64k -exec cp {} "$seeds/npy/" \;

# Images: tiny PGM, PPM, PNG and JPEG files (python3, and Pillow when present).
python3 - "$seeds" <<'PY'
import os, struct, sys, zlib
d = sys.argv[1]
px = bytes((i * 37) % 256 for i in range(6 * 5))
open(os.path.join(d, "image", "a.pgm"), "wb").write(b"P5\n6 5\n255\n" + px)
open(os.path.join(d, "image", "a.ppm"), "wb").write(b"P6\n2 5\n255\n" + px)
open(os.path.join(d, "image", "b.pgm"), "wb").write(b"P2\n3 2\n255\n0 1 2\n3 4 255\n")
def chunk(t, b):
    return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b) & 0xffffffff)
raw = b"".join(b"\0" + px[r * 6:(r + 1) * 6] for r in range(5))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 6, 5, 8, 0, 0, 0, 0)) + \
      chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(os.path.join(d, "image", "a.png"), "wb").write(png)
try:
    from PIL import Image
    im = Image.frombytes("RGB", (4, 4), bytes((i * 11) % 256 for i in range(48)))
    im.save(os.path.join(d, "image", "a.jpg"), quality=80)
    im.save(os.path.join(d, "image", "p.jpg"), quality=60, progressive=True)
    im.convert("L").save(os.path.join(d, "image", "g.jpg"))
    im.save(os.path.join(d, "image", "rgb.png"))
except ImportError:
    print("note: no Pillow for python3: no JPEG seeds")
# IDX: images and labels in one input, split at "#--labels--"; plain and gzip.
import gzip
n, h, w = 3, 4, 4
imgs = struct.pack(">IIII", 0x803, n, h, w) + bytes(range(n * h * w))
labs = struct.pack(">II", 0x801, n) + bytes([0, 1, 2])
open(os.path.join(d, "idx", "plain"), "wb").write(imgs + b"#--labels--" + labs)
open(os.path.join(d, "idx", "gz"), "wb").write(gzip.compress(imgs) + b"#--labels--" + gzip.compress(labs))
# The checkpoint net's training data (6x6, 3 classes).
n, h, w = 8, 6, 6
open(os.path.join(d, "ck-img.idx"), "wb").write(struct.pack(">IIII", 0x803, n, h, w) + bytes((i * 7) % 256 for i in range(n * h * w)))
open(os.path.join(d, "ck-lab.idx"), "wb").write(struct.pack(">II", 0x801, n) + bytes(i % 3 for i in range(n)))
PY

# Checkpoints of checkpoint_net.yaml, after 1 and after 4 steps.
sed -e "s|^train: {|data: {train: {idx: {images: $seeds/ck-img.idx, labels: $seeds/ck-lab.idx}}}\ntrain: {checkpoint: $seeds/checkpoint/one.fxck, max_steps: 1, |" \
    "$src/tests/fuzz/checkpoint_net.yaml" > "$seeds/ck1.yaml"
sed -e "s|one.fxck, max_steps: 1|four.fxck, max_steps: 4|" "$seeds/ck1.yaml" > "$seeds/ck4.yaml"
ASAN_OPTIONS=detect_leaks=0 "$build/fxrun" train "$seeds/ck1.yaml" >/dev/null
ASAN_OPTIONS=detect_leaks=0 "$build/fxrun" train "$seeds/ck4.yaml" >/dev/null

# Plugin files: the example plugins, whole and cut short.
for so in "$build"/plugins/*.so; do
    [ -f "$so" ] || continue
    b=$(basename "$so" .so)
    cp "$so" "$seeds/plugin_check/$b.so"
    head -c 3000 "$so" > "$seeds/plugin_check/$b-cut.so"
done

status=0
for t in ${FUZZ_TARGETS:-yaml_graph npy image idx checkpoint plugin_check pairs landmarks}; do
    bin=$build/tests/fuzz/fuzz_$t
    corpus=$build/fuzz-corpus/$t
    mkdir -p "$corpus"
    if [ "$mode" = seconds ]; then limit="-max_total_time=$amount"; else limit="-runs=$amount"; fi
    echo "fuzz_$t: $mode $amount"
    if ! ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$bin" $limit -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$build/fuzz-" "$corpus" "$seeds/$t" 2>"$build/fuzz-$t.log"; then
        echo "fuzz_$t FAILED; see $build/fuzz-$t.log:" >&2
        tail -40 "$build/fuzz-$t.log" >&2
        status=1
    fi
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$build/fuzz-$t.log" | tr '\n' ' '
    echo
done
exit $status
