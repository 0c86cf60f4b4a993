#!/bin/sh
# tests/tools/check_gpu_bundle_ldd.sh - ctest test_gpu_bundle_ldd: the
# self-containment check of the GPU bundle (tools/gpu-bundle-ldd.sh) must
# pass a folder whose programs need only the C runtime, fail one whose
# program loads libraries from outside it (naming them), and refuse bad
# usage. Cheap: ldd only, no bundle is built.
# Usage: check_gpu_bundle_ldd.sh TOOLS/gpu-bundle-ldd.sh BUILD/fxrun
set -u
check=$1
fxrun=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
fail() { echo "FAIL: $*"; exit 1; }
true_bin=$(command -v true)
case $true_bin in /*) ;; *) true_bin=/bin/true ;; esac
[ -x "$true_bin" ] || { echo "SKIP: no /bin/true to copy"; exit 77; }

# 1. Needs only libc: self-contained.
mkdir -p "$tmp/good/bin" "$tmp/good/configs"
cp "$true_bin" "$tmp/good/bin/prog"
echo "not: elf" >"$tmp/good/configs/x.yaml"
sh "$check" "$tmp/good" >"$tmp/good.out" 2>&1 || { cat "$tmp/good.out"; fail "a libc-only folder was refused"; }
grep -q "self-contained; from the system (the C runtime only): .*libc.so.6" "$tmp/good.out" ||
    { cat "$tmp/good.out"; fail "no summary naming libc.so.6"; }

# 2. fxrun of the build loads libyaml (and BLAS...) from the system: refused, named.
mkdir -p "$tmp/bad/bin"
cp "$fxrun" "$tmp/bad/bin/fxrun"
sh "$check" "$tmp/bad" >"$tmp/bad.out" 2>&1
rc=$?
[ "$rc" = 1 ] || { cat "$tmp/bad.out"; fail "a folder depending on outside libraries gave status $rc, not 1"; }
grep -q "^bin/fxrun: libyaml-0.so.2 resolves outside the bundle" "$tmp/bad.out" ||
    { cat "$tmp/bad.out"; fail "libyaml-0.so.2 not named as outside the bundle"; }
grep -q "NOT self-contained" "$tmp/bad.out" || fail "no NOT self-contained summary"
grep -q "libc.so.6 resolves outside" "$tmp/bad.out" && fail "libc.so.6 reported although it is the C runtime"

# 3. Usage: no folder.
sh "$check" "$tmp/none" >/dev/null 2>&1
[ $? = 2 ] || fail "a missing folder did not give status 2"
echo "ok: gpu-bundle-ldd passes a C-runtime-only folder, refuses outside libraries (named), refuses bad usage"
