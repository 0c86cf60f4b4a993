#!/bin/sh
# tools/test.sh - the whole test suite: installs missing packages, builds
# fx twice (Release, and RelWithDebInfo with AddressSanitizer + UBSan) and runs every
# test with ctest in both builds, then a smoke run of the fuzz targets
# (a third build, with clang and libFuzzer).
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh --tests
jobs=$(nproc)
# PoCL's own compiled-kernel cache: one folder for both builds' tests (fx's
# cache is per build folder, set by tests/CMakeLists.txt), independent of
# $HOME.
export POCL_CACHE_DIR="${POCL_CACHE_DIR:-$PWD/build/pocl-cache}"
mkdir -p "$POCL_CACHE_DIR"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFX_BUILD_TESTS=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFX_SANITIZE=ON -DFX_BUILD_TESTS=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    FX_TEST_QUICK=1 ctest --output-on-failure -j"$jobs")
# Fuzz smoke run: every libFuzzer target of tests/fuzz for 15 s on its seed
# corpus (8 targets, about 2 minutes in all; long runs: docs/reliability.md).
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFX_FUZZ=ON -DFX_BUILD_TESTS=OFF \
    -DFX_OPENCL=OFF -DFX_MPI=OFF >/dev/null
cmake --build build-fuzz -j"$jobs"
tests/fuzz/run.sh build-fuzz seconds "${FX_FUZZ_SECONDS:-15}"
echo "fx: all tests passed (Release and ASan+UBSan builds, fuzz smoke run)"
