#!/bin/sh
# tests/install/check_install.sh BUILD_DIR - installs the fx build into a
# temporary prefix, then builds and runs a project outside the tree with
# find_package(fx), and a second time with pkg-config. Run by ctest.
set -eu
build=$1
src=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/fx-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
test -x "$tmp/prefix/bin/fxrun"
"$tmp/prefix/bin/fxrun" --version
cmake -S "$src/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
LD_LIBRARY_PATH="$tmp/prefix/lib:$tmp/prefix/lib/x86_64-linux-gnu" "$tmp/consumer/consumer"
PKG_CONFIG_PATH=$(find "$tmp/prefix" -name fx.pc -printf '%h')
export PKG_CONFIG_PATH
cc -std=c11 -o "$tmp/consumer_pc" "$src/consumer/main.c" $(pkg-config --cflags --libs fx)
LD_LIBRARY_PATH="$tmp/prefix/lib:$tmp/prefix/lib/x86_64-linux-gnu" "$tmp/consumer_pc"
echo "install check passed"
