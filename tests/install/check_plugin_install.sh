#!/bin/sh
# tests/install/check_plugin_install.sh BUILD_DIR - the plugin tutorial's
# path, run by ctest: installs the fx build into a temporary prefix, builds
# plugins/prelu OUT OF TREE against the installed package (with
# find_package(fx), and again with pkg-config), checks the result does not
# link libfx, then trains 3 steps of a tiny graph that uses its op with the
# installed fxrun. Also checks that the installed fxrun finds the installed
# example plugins by name, and builds the ref backend (plugins/ref) out of
# tree and uses it as a backend module (libfx-ref.so in a backend folder,
# loaded by --backend ref alone), as docs/plugins.md describes.
set -eu
build=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/fx-plugin-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
fxrun="$tmp/prefix/bin/fxrun"

# The installed fxrun finds the installed example plugins by name.
"$fxrun" plugins --plugin prelu --plugin ref | grep -q "prelu@cpu"
"$fxrun" plugins --plugin ref | grep -q "relu@ref"

# find_package(fx): the plugin's own CMakeLists.txt, unchanged.
cmake -S "$src/plugins/prelu" -B "$tmp/prelu" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/prelu" >/dev/null
so="$tmp/prelu/prelu.so"
test -f "$so"
if readelf -d "$so" | grep NEEDED | grep -q libfx; then
    echo "the out-of-tree plugin links libfx: a plugin must not" >&2
    exit 1
fi

cat > "$tmp/tiny.yaml" <<YAML
name: tiny-prelu
plugins: [prelu/prelu.so]          # relative to this file
input: {image: [1, 28, 28], label: []}
layers:
  - {name: f, op: flatten, in: image}
  - {name: h, op: linear, out_features: 16}
  - {name: a, op: prelu}
  - {name: logits, op: linear, out_features: 10}
losses:
  - {op: softmax_cross_entropy, in: [logits, label]}
data:
  train: {idx: {images: /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz,
                labels: /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz}, limit: 128}
  test:  {idx: {images: /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz,
                labels: /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz}, limit: 64}
  channels: 1
train: {optimizer: adam, lr: 1.0e-3, batch: 16, epochs: 1, predict: logits, checkpoint: tiny.fxck}
YAML
"$fxrun" train "$tmp/tiny.yaml" --steps 3 --threads 1 | tee "$tmp/train.log"
grep -q "done: 3 steps" "$tmp/train.log"
"$fxrun" plugins "$tmp/tiny.yaml" | grep -q "$tmp/prelu/prelu.so"

# An out-of-tree backend as a backend module: no --plugin, found by name.
cmake -S "$src/plugins/ref" -B "$tmp/ref" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/ref" >/dev/null
mkdir -p "$tmp/backends"
cp "$tmp/ref/ref.so" "$tmp/backends/libfx-ref.so"
FX_BACKEND_PATH="$tmp/backends" "$fxrun" devices | grep -q "^ref: "
sed -e 's/^plugins:.*$//' -e 's/op: prelu/op: relu/' -e 's/tiny.fxck/tiny-ref.fxck/' "$tmp/tiny.yaml" > "$tmp/tiny-ref.yaml"
FX_BACKEND_PATH="$tmp/backends" "$fxrun" train "$tmp/tiny-ref.yaml" --backend ref --steps 2 --threads 1 \
    | tee "$tmp/train-ref.log"
grep -q "done: 2 steps" "$tmp/train-ref.log"

# pkg-config: compile flags only (no --libs: nothing to link).
PKG_CONFIG_PATH=$(find "$tmp/prefix" -name fx.pc -printf '%h')
export PKG_CONFIG_PATH
cc -std=c11 -shared -fPIC -fvisibility=hidden $(pkg-config --cflags fx) -o "$tmp/prelu_pc.so" \
    "$src/plugins/prelu/prelu.c" "$src/plugins/prelu/prelu_opencl.c"
"$fxrun" plugins --plugin "$tmp/prelu_pc.so" | grep -q "prelu@cpu"
echo "plugin install check passed"
