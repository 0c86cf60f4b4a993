#!/bin/sh
# bench/allreduce.sh - the time to average the paper network's gradient
# (configs/interpret-fr.yaml: 4,730,022 learnable floats, the number the
# training banner prints) over 2 ranks, through fx/comm.h as training
# does: over shared memory (one host) and over TCP between two network
# namespaces joined by a veth pair (two "hosts"; tests/mpi/netns_two_ranks.sh,
# needs root). Prints fx_bench_allreduce's medians for both, side by side.
# Figures and the scaling model built on them: docs/scaling.md.
#
# Usage: bench/allreduce.sh [COUNT] [ITERS]   (defaults: 4730022, 20)
# Needs: a build with MPI in build/ (fx_bench_allreduce), mpirun.
set -eu
cd "$(dirname "$0")/.."
count=${1:-4730022}
iters=${2:-20}
bench=${FX_BENCH_ALLREDUCE:-build/fx_bench_allreduce}
[ -x "$bench" ] || { echo "bench: $bench not found; build with MPI first (cmake -DFX_MPI=ON)" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "bench: mpirun not found: apt-get install openmpi-bin" >&2; exit 1; }
echo "shared memory (1 host, 2 ranks):"
nice mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 "$bench" "$count" "$iters"
work=$(mktemp -d /tmp/fx-allreduce.XXXXXX)
echo "TCP over a veth pair (2 network namespaces, 2 ranks):"
sh tests/mpi/netns_two_ranks.sh "$work" "$PWD/$bench" "$count" "$iters" 2>&1 | grep -v "^rank " || true
rm -rf "$work"
