#!/bin/sh
# tools/gpu-bundle.sh - builds fx (Release) and assembles a self-contained
# bundle to carry to an NVIDIA GPU machine that reaches no package
# registry, where its gpu-check.sh (tools/gpu-check.sh) runs the GPU check
# (docs/performance.md, "GPU check").
#
# Usage: tools/gpu-bundle.sh [OUT]
#   OUT   the bundle folder (default build-bundle/fx-gpu-bundle); OUT.tar.gz
#         is written beside it.
# Env:    FX_BUNDLE_BUILD_DIR  the build folder (default build-bundle; its own
#                              folder: the bundle's run paths differ from a
#                              normal build's)
#         JOBS                 parallel build jobs (default 2)
#
# The bundle:
#   bin/fxrun, bin/test_backend_ops   (the op x backend matrix)
#   lib/          libfx.so.0 and every non-C-runtime library ldd names:
#                 OpenBLAS (+ libgfortran, libquadmath), libyaml, libpng,
#                 libjpeg, zlib, protobuf-c, CLBlast, the OpenCL ICD loader
#                 (libOpenCL.so.1, ocl-icd), Check's libsubunit
#   backends/libfx-opencl.so  (fx looks for modules in backends/ next to
#                 fxrun and one folder up: bin/../backends)
#   plugins/ref.so, prelu.so, optimizers.so  (the matrix loads them: the
#                 example plugins and the test plugin that adds the
#                 sign_sgd and adagrad optimisers; FX_TEST_PLUGIN_BUILD_DIR
#                 points the test there)
#   configs/interpret-fr*.yaml, configs/interpret-fr/  the paper's network
#   bench/paper_net_torch.py  the same network in PyTorch (--device cuda)
#   gpu-check.sh, gpu-bundle-ldd.sh, MANIFEST (versions, checksums)
# Every ELF file has a $ORIGIN-relative DT_RPATH (not RUNPATH: DT_RPATH is
# searched before LD_LIBRARY_PATH, so a CUDA install's own libOpenCL.so.1
# on LD_LIBRARY_PATH cannot replace the bundled loader): fx's own binaries
# get $ORIGIN/../lib from the build (CMAKE_INSTALL_RPATH, linked with
# --disable-new-dtags), the copied libraries $ORIGIN (patchelf). Only the C
# runtime (glibc, libgcc_s, libstdc++) comes from the machine:
# tools/gpu-bundle-ldd.sh checks that here and there. The bundle runs on a
# machine whose glibc is at least the version MANIFEST names.
# Needs: cmake, a C compiler, the build dependencies of fx with OpenCL and
# CLBlast (tools/install-deps.sh), patchelf and strip (binutils).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd -P)
out=${1:-$root/build-bundle/fx-gpu-bundle}
build=${FX_BUNDLE_BUILD_DIR:-$root/build-bundle}
jobs=${JOBS:-2}
limit_mib=64

die() { echo "gpu-bundle: $*" >&2; exit 1; }
for tool in cmake ldd readelf strip patchelf tar gzip; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (patchelf, strip, readelf: apt-get install patchelf binutils)"
done
case $out in /*) ;; *) out=$(pwd -P)/$out ;; esac
case $out in "$build" | "$root" | /) die "OUT ($out) must be a folder of its own" ;; esac

# ---- build --------------------------------------------------------------
mkdir -p "$build"
echo "gpu-bundle: building in $build (Release, OpenCL on, MPI off)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFX_BUILD_TESTS=ON -DFX_OPENCL=ON -DFX_MPI=OFF \
    -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON '-DCMAKE_INSTALL_RPATH=$ORIGIN/../lib' \
    -DCMAKE_EXE_LINKER_FLAGS=-Wl,--disable-new-dtags -DCMAKE_SHARED_LINKER_FLAGS=-Wl,--disable-new-dtags \
    -DCMAKE_MODULE_LINKER_FLAGS=-Wl,--disable-new-dtags >"$build/gpu-bundle.cmake.log" 2>&1 ||
    { tail -20 "$build/gpu-bundle.cmake.log"; die "cmake configure failed (log: $build/gpu-bundle.cmake.log)"; }
cmake --build "$build" -j"$jobs" --target fxrun fx fx_backend_opencl test_backend_ops fx_plugin_ref fx_plugin_prelu \
    test_plugin_optimizers \
    >"$build/gpu-bundle.build.log" 2>&1 || { tail -30 "$build/gpu-bundle.build.log"; die "build failed (log: $build/gpu-bundle.build.log)"; }

# ---- assemble -----------------------------------------------------------
rm -rf "$out" "$out.tar.gz"
mkdir -p "$out/bin" "$out/lib" "$out/backends" "$out/plugins" "$out/configs" "$out/bench"
cp "$build/fxrun" "$build/tests/test_backend_ops" "$out/bin/"
fxlib=$(readlink -f "$build/libfx.so")
fxsoname=$(readelf -d "$fxlib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ -n "$fxsoname" ] || die "no SONAME in $fxlib"
cp "$fxlib" "$out/lib/$fxsoname"
cp "$build/backends/libfx-opencl.so" "$out/backends/"
cp "$build/plugins/ref.so" "$build/plugins/prelu.so" "$build/tests/plugins/optimizers.so" "$out/plugins/"
cp "$root"/configs/interpret-fr*.yaml "$out/configs/"
cp -R "$root/configs/interpret-fr" "$out/configs/"
cp "$root/bench/paper_net_torch.py" "$out/bench/"
cp "$root/tools/gpu-check.sh" "$root/tools/gpu-bundle-ldd.sh" "$out/"
chmod +x "$out/gpu-check.sh" "$out/gpu-bundle-ldd.sh"
strip --strip-unneeded "$out"/bin/* "$out"/lib/* "$out"/backends/*.so "$out"/plugins/*.so

# Copy what ldd finds outside the bundle (and outside the C runtime) into
# lib/, named by the soname asked for, until nothing new turns up (a copied
# library's own dependencies resolve through the DT_RPATH of the program
# that loads it, so ldd of the programs sees them too).
runtime=" ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1 libgcc_s.so.1 libstdc++.so.6 "
copied=""
pass=0
while :; do
    pass=$((pass + 1))
    [ "$pass" -le 8 ] || die "dependencies still changing after 8 passes"
    new=0
    for f in "$out"/bin/* "$out"/lib/* "$out"/backends/*.so "$out"/plugins/*.so; do
        ldd "$f" 2>/dev/null | sed -n 's/^[[:space:]]*\([^ ]*\) => \(\/[^ ]*\) (.*/\1 \2/p' >"$out/.deps" || true
        while read -r name path; do
            case $runtime in *" $name "*) continue ;; esac
            case $(readlink -f "$path") in "$out"/*) continue ;; esac
            [ -e "$out/lib/$name" ] && continue
            cp "$(readlink -f "$path")" "$out/lib/$name"
            chmod u+w "$out/lib/$name"
            copied="$copied $name=$path"
            new=1
        done <"$out/.deps"
    done
    rm -f "$out/.deps"
    [ "$new" = 1 ] || break
done
for entry in $copied; do
    name=${entry%%=*}
    strip --strip-unneeded "$out/lib/$name"
    patchelf --force-rpath --set-rpath '$ORIGIN' "$out/lib/$name"
done

# ---- check --------------------------------------------------------------
sh "$root/tools/gpu-bundle-ldd.sh" "$out" || die "the bundle is not self-contained (above)"
for f in "$out"/bin/* "$out"/lib/* "$out"/backends/*.so "$out"/plugins/*.so; do
    rp=$(readelf -d "$f" | sed -n 's/.*(RPATH).*\[\(.*\)\]/\1/p')
    case $rp in '$ORIGIN'*) ;; *) die "${f#"$out"/} has no \$ORIGIN run path (DT_RPATH: '${rp}')" ;; esac
done

# ---- manifest -----------------------------------------------------------
# The newest glibc / libstdc++ symbol versions any file needs: the GPU
# machine's C runtime must be at least that new.
need_glibc=$(for f in "$out"/bin/* "$out"/lib/* "$out"/backends/*.so "$out"/plugins/*.so; do
    readelf -V "$f" 2>/dev/null | grep -o 'Name: GLIBC_[0-9.]*' | sed 's/Name: //'
done | sort -uV | tail -1)
need_glibcxx=$(for f in "$out"/bin/* "$out"/lib/* "$out"/backends/*.so "$out"/plugins/*.so; do
    readelf -V "$f" 2>/dev/null | grep -o 'Name: GLIBCXX_[0-9.]*' | sed 's/Name: //'
done | sort -uV | tail -1)
{
    echo "fx GPU bundle (tools/gpu-bundle.sh)"
    echo "fx commit: $(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)')"
    echo "built: $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -srm), $(ldd --version | sed -n 1p)"
    echo "needs on the GPU machine: x86-64 Linux, ${need_glibc:-GLIBC ?} or newer, ${need_glibcxx:-no libstdc++} (the C runtime is the machine's), an NVIDIA driver with its OpenCL library (libnvidia-opencl.so.1)"
    echo "OpenCL ICD loader: ocl-icd (lib/libOpenCL.so.1): honours OCL_ICD_VENDORS (a folder of .icd files, one .icd file, or a driver library)"
    echo "libraries copied from this machine:"
    for entry in $copied; do
        path=${entry#*=}
        pkg=$( (dpkg -S "$path" || dpkg -S "$(readlink -f "$path")") 2>/dev/null | sed -n '1s/:.*//p' || true)
        ver=$( [ -n "$pkg" ] && dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)
        echo "  ${entry%%=*} <- $path${pkg:+ (Debian $pkg $ver)}"
    done
    echo "sha256:"
    (cd "$out" && find . -type f ! -name MANIFEST | LC_ALL=C sort | xargs sha256sum | sed 's/^/  /')
} >"$out/MANIFEST"

# ---- pack and size ------------------------------------------------------
tar -C "$(dirname "$out")" -czf "$out.tar.gz" "$(basename "$out")"
dir_bytes=$(du -sb "$out" | cut -f1)
tar_bytes=$(stat -c %s "$out.tar.gz")
limit=$((limit_mib * 1024 * 1024))
echo "gpu-bundle: $out: $(awk -v b="$dir_bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB unpacked," \
    "$out.tar.gz: $(awk -v b="$tar_bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB (limit $limit_mib MiB each)"
echo "gpu-bundle: needs ${need_glibc:-?}${need_glibcxx:+, $need_glibcxx} on the GPU machine"
[ "$dir_bytes" -lt "$limit" ] || die "the bundle is over $limit_mib MiB"
[ "$tar_bytes" -lt "$limit" ] || die "the archive is over $limit_mib MiB"
echo "gpu-bundle: carry $out.tar.gz; there: tar xzf $(basename "$out").tar.gz && $(basename "$out")/gpu-check.sh --out RESULTS"
