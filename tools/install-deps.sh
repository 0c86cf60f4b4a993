#!/bin/sh
# tools/install-deps.sh - installs the Debian 12 packages fx needs to build,
# test and run its demo, skipping those already installed. Run as root
# (or with sudo available). Usage: tools/install-deps.sh [--tests]
set -eu

# OpenCL: the ICD loader, headers and CLBlast build the OpenCL backend; PoCL
# (an OpenCL device on the CPU) is needed only to run it without a GPU.
PACKAGES="build-essential cmake pkg-config libyaml-dev libopenblas-dev libpng-dev libjpeg-dev zlib1g-dev dataset-fashion-mnist ocl-icd-opencl-dev opencl-headers libclblast-dev"
if [ "${1:-}" = "--tests" ]; then
    PACKAGES="$PACKAGES check valgrind pocl-opencl-icd clinfo time"   # time: /usr/bin/time -v in bench/paper_net.sh
fi

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    exit 0
fi
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
