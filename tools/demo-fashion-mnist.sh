#!/bin/sh
# tools/demo-fashion-mnist.sh - the first demo of fx (a small CNN, no faces):
# installs missing packages, builds fx, trains the demo network on the
# embedded default data set (Fashion-MNIST, from Debian's
# dataset-fashion-mnist) and prints its test accuracy.
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFX_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)"
exec build/fxrun configs/fashion-mnist.yaml "$@"
