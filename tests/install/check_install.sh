#!/bin/sh
# tests/install/check_install.sh BUILD_DIR - installs the fx build into a
# temporary prefix, then builds and runs a project outside the tree with
# find_package(fx), and a second time with pkg-config; checks that the
# installed libfx links no OpenCL, and, where the OpenCL backend module was
# installed and this machine has an OpenCL device, that both fxrun and the
# program load the module from the installed tree. Run by ctest.
set -eu
build=$1
src=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/fx-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
test -x "$tmp/prefix/bin/fxrun"
"$tmp/prefix/bin/fxrun" --version
libfx=$(find "$tmp/prefix" -name 'libfx.so' | head -n 1)
test -n "$libfx"
if readelf -d "$libfx" | grep NEEDED | grep -qi -e opencl -e clblast; then
    echo "the installed $libfx links OpenCL or CLBlast: the OpenCL backend must stay in its module" >&2
    exit 1
fi
module=$(find "$tmp/prefix" -path '*/fx/backends/libfx-opencl.so' | head -n 1)
with_opencl=no
if [ -n "$module" ]; then
    # The installed fxrun finds the installed module (no FX_BACKEND_PATH).
    devices=$(env -u FX_BACKEND_PATH "$tmp/prefix/bin/fxrun" devices)
    echo "$devices"
    echo "$devices" | grep -q "^opencl: " || { echo "installed fxrun did not load $module" >&2; exit 1; }
    echo "$devices" | grep -q "opencl:0:0" && with_opencl=yes
fi
cmake -S "$src/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
LD_LIBRARY_PATH="$tmp/prefix/lib:$tmp/prefix/lib/x86_64-linux-gnu" "$tmp/consumer/consumer"
if [ "$with_opencl" = yes ]; then
    # A program linking the installed libfx.so loads the module next to it.
    env -u FX_BACKEND_PATH LD_LIBRARY_PATH="$tmp/prefix/lib:$tmp/prefix/lib/x86_64-linux-gnu" \
        "$tmp/consumer/consumer" opencl
fi
PKG_CONFIG_PATH=$(find "$tmp/prefix" -name fx.pc -printf '%h')
export PKG_CONFIG_PATH
cc -std=c11 -o "$tmp/consumer_pc" "$src/consumer/main.c" $(pkg-config --cflags --libs fx)
LD_LIBRARY_PATH="$tmp/prefix/lib:$tmp/prefix/lib/x86_64-linux-gnu" "$tmp/consumer_pc"
echo "install check passed"
