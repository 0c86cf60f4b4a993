#!/bin/sh
# tools/install-deps.sh - installs the Debian 12 packages fx needs to build,
# test and run its demo, skipping those already installed. Run as root
# (or with sudo available). Usage: tools/install-deps.sh [--tests]
set -eu

# OpenCL: the ICD loader, headers and CLBlast build the OpenCL backend module
# (libfx-opencl.so; libfx itself never links them); PoCL
# (an OpenCL device on the CPU) is needed only to run it without a GPU.
# Open MPI: the MPI transport of data-parallel training (docs/scaling.md);
# iproute2 makes the network namespaces of the two-"host" MPI test.
# protobuf-c: the ONNX export (docs/interop.md). bzip2: the demo face set's tarball.
PACKAGES="build-essential cmake pkg-config bzip2 libyaml-dev libopenblas-dev libpng-dev libjpeg-dev zlib1g-dev dataset-fashion-mnist ocl-icd-opencl-dev opencl-headers libclblast-dev openmpi-bin libopenmpi-dev libprotobuf-c-dev protobuf-c-compiler"
if [ "${1:-}" = "--tests" ]; then
    # time: /usr/bin/time -v in bench/paper_net.sh; chromium: test_explain renders the report;
    # clang: libFuzzer (tests/fuzz); python3-torch, python3-pip: test_torch_interop (PyTorch <-> fx
    # weights, docs/interop.md) runs on every machine, not only where torch happens to be
    PACKAGES="$PACKAGES check valgrind pocl-opencl-icd clinfo time iproute2 chromium clang libclang-rt-14-dev python3-torch python3-pip"
fi

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    echo "fx: installing missing Debian packages:$missing"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
            echo "fx: please install as root: apt-get install$missing" >&2; exit 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -q --no-install-recommends $missing
fi

# The PyTorch interop check (tests: test_torch_interop, docs/interop.md)
# needs safetensors and Pillow next to Debian's python3-torch; PyPI is the
# only source of safetensors. Best effort: without them that test is
# skipped, saying why.
# test_onnx_runtime runs the ONNX exports in ONNX Runtime with the python3
# on PATH (PyPI's onnxruntime; Debian has no package). Best effort too.
if [ "${1:-}" = "--tests" ] && command -v python3 >/dev/null 2>&1 &&
    ! python3 -c "import onnxruntime, numpy, PIL" 2>/dev/null; then
    python3 -m pip install -q onnxruntime numpy pillow ||
        python3 -m pip install -q --user --break-system-packages onnxruntime numpy pillow ||  # Debian's python3 (PEP 668)
        echo "fx: note: could not pip-install onnxruntime for $(command -v python3); test_onnx_runtime will be skipped" >&2
fi
if [ "${1:-}" = "--tests" ] && /usr/bin/python3 -c "import torch" 2>/dev/null; then
    for m in safetensors:safetensors PIL:pillow; do
        if ! /usr/bin/python3 -c "import ${m%%:*}" 2>/dev/null; then
            /usr/bin/python3 -m pip install -q --user --break-system-packages "${m#*:}" ||
                echo "fx: note: could not pip-install ${m#*:} for /usr/bin/python3; test_torch_interop will be skipped" >&2
        fi
    done
fi
