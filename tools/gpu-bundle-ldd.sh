#!/bin/sh
# tools/gpu-bundle-ldd.sh - checks that a bundle made by tools/gpu-bundle.sh
# is self-contained: every ELF file under DIR (executables, libraries, the
# OpenCL module, plugins) is run through ldd, and every library it loads
# must either lie inside DIR or be one of the C runtime's own libraries,
# which every Linux machine has and which a bundle must not carry (a second
# glibc cannot be mixed with the system's):
#   glibc: ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libpthread.so.0
#          libdl.so.2 librt.so.1; GCC's runtime: libgcc_s.so.1 libstdc++.so.6
# A library "not found", or a symbol version the machine's library lacks
# (ldd: "version `GLIBC_2.34' not found"), is a failure too.
#
# Usage: tools/gpu-bundle-ldd.sh DIR
# Prints one line per problem, then a summary naming the system libraries
# used; exit 0 when self-contained, 1 otherwise, 2 on bad usage.
# Used by tools/gpu-bundle.sh when it builds the bundle and by
# tools/gpu-check.sh on the GPU machine (as its first check).
set -eu
[ $# -eq 1 ] && [ -d "$1" ] || { echo "usage: $0 BUNDLE_DIR" >&2; exit 2; }
command -v ldd >/dev/null 2>&1 || { echo "gpu-bundle-ldd: ldd not found (glibc's libc-bin)" >&2; exit 2; }
dir=$(cd "$1" && pwd -P)
allowed=" ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1 libgcc_s.so.1 libstdc++.so.6 "
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
: >"$tmp/problems"
: >"$tmp/system"
n=0
find "$dir" -type f | LC_ALL=C sort >"$tmp/files"
while IFS= read -r f; do
    # ELF files only (scripts, configs and data are not loaded).
    [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
    n=$((n + 1))
    rel=${f#"$dir"/}
    if ! ldd "$f" >"$tmp/ldd" 2>&1; then
        grep -q "not a dynamic executable" "$tmp/ldd" && continue
    fi
    while IFS= read -r line; do
        case $line in
        *"not a dynamic executable"* | *linux-vdso.so* | *statically\ linked*) ;;
        *"not found"*) echo "$rel: $line" | tr -s ' \t' ' ' >>"$tmp/problems" ;;
        *" => "*)
            name=$(echo "$line" | sed 's/^[[:space:]]*\([^ ]*\) => .*/\1/')
            path=$(echo "$line" | sed 's/.* => \([^ ]*\) (.*/\1/')
            real=$(readlink -f "$path" 2>/dev/null || echo "$path")
            case $real in
            "$dir"/*) ;;
            *)
                case $allowed in
                *" $name "*) echo "$name" >>"$tmp/system" ;;
                *) echo "$rel: $name resolves outside the bundle, to $path" >>"$tmp/problems" ;;
                esac
                ;;
            esac
            ;;
        *ld-linux*) echo "ld-linux-x86-64.so.2" >>"$tmp/system" ;;
        *) ;;
        esac
    done <"$tmp/ldd"
done <"$tmp/files"
system=$(LC_ALL=C sort -u "$tmp/system" | tr '\n' ' ')
if [ -s "$tmp/problems" ]; then
    LC_ALL=C sort -u "$tmp/problems"
    echo "gpu-bundle-ldd: $n ELF files in $dir: NOT self-contained ($(LC_ALL=C sort -u "$tmp/problems" | wc -l) problems above); from the system: ${system:-nothing}"
    exit 1
fi
echo "gpu-bundle-ldd: $n ELF files in $dir: self-contained; from the system (the C runtime only): ${system:-nothing}"
