#!/bin/sh
# tools/gpu-check.sh - the GPU check, run INSIDE the bundle that
# tools/gpu-bundle.sh makes (it is copied there as gpu-check.sh), on an
# NVIDIA GPU machine that needs no network and no package registry:
#   1. preflight: the bundle's libraries resolve here, with the symbol
#      versions they need from the machine's glibc (gpu-bundle-ldd.sh);
#      nvidia-smi;
#   2. the NVIDIA OpenCL driver library (libnvidia-opencl.so.1, from
#      ldconfig -p or the usual library folders); when no vendor file
#      (/etc/OpenCL/vendors/*.icd, or $OCL_ICD_VENDORS / $OPENCL_VENDOR_PATH)
#      names it (or one does, but no NVIDIA device comes through it), a
#      vendor folder in the results holding gpu-check.icd is made and
#      OCL_ICD_VENDORS points the bundled ICD loader at it (ocl-icd,
#      the bundled loader, and the Khronos loader both read OCL_ICD_VENDORS
#      as a folder of .icd files; the Khronos loader's OCL_ICD_FILENAMES is
#      not read by ocl-icd 2.3);
#   3. `fxrun devices`: an NVIDIA GPU must be listed under opencl;
#   4. the op x backend matrix (bin/test_backend_ops: every kernel of every
#      backend against the CPU; its OpenCL backend is "opencl", the first
#      GPU);
#   5. the paper's network (configs/interpret-fr-base.yaml and
#      configs/interpret-fr.yaml, batch 64) in fx on OpenCL (`fxrun bench
#      --backend opencl:NVIDIA`) and in this machine's PyTorch on CUDA
#      (bench/paper_net_torch.py --device cuda: fp32, TF32 off), alternating,
#      ROUNDS rounds; median img/s of each and fx / PyTorch.
# Every step runs under `timeout` within an overall budget (default 450 s:
# the whole check stays under 8 minutes); a step that would not fit in
# what is left is skipped and reported. Everything goes to the results
# folder: one log per step, summary.txt (also printed at the end).
#
# Usage: ./gpu-check.sh [--out DIR] [--any-opencl] [--batch N] [--steps N]
#                       [--rounds N] [--losses "base full"] [--small]
#                       [--python PY] [--budget SECONDS] [--bundle DIR]
#                       [--opencl-lib PATH]
#   --out DIR      results folder (default ./gpu-check-YYYYmmdd-HHMMSS)
#   --any-opencl   accept any OpenCL device instead of an NVIDIA GPU (a test
#                  of the script itself, e.g. on PoCL); PyTorch then runs on
#                  the CPU when it has no CUDA device, flagged as such
#   --batch N      batch of the paper's network (64)
#   --steps N      timed steps per run (10; fxrun bench adds 3 warm-up and
#                  up to 10 per-layer profiled steps, PyTorch 2 warm-up)
#   --rounds N     alternating fx / PyTorch rounds per network (2)
#   --losses L     which networks: base, sad, full (default "base full")
#   --small        the 48x48 variants (configs/interpret-fr*-small.yaml)
#   --python PY    the Python with PyTorch (default: $PYTHON, else python3)
#   --budget S     overall time limit in seconds (450)
#   --bundle DIR   the bundle (default: this script's folder)
#   --opencl-lib PATH  the OpenCL driver library to point the loader at,
#                  instead of searching for libnvidia-opencl.so.1
# Exit status: 0 every step passed; 1 the check ran but a step failed, was
# skipped or had no PyTorch to compare with; 2 it could not start (no
# bundle, libraries missing, no NVIDIA driver or OpenCL GPU).
set -u
export LC_ALL=C

opencl_lib="" out="" any=0 batch=64 steps=10 rounds=2 losses="base full" small=0 python=${PYTHON:-} budget=450 bundle=""
usage() { sed -n '/^# Usage:/,/^# bundle, libraries/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
need_arg() { [ $# -ge 2 ] || { echo "gpu-check: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
    case $1 in
    --out) need_arg "$@"; out=$2; shift ;;
    --any-opencl) any=1 ;;
    --batch) need_arg "$@"; batch=$2; shift ;;
    --steps) need_arg "$@"; steps=$2; shift ;;
    --rounds) need_arg "$@"; rounds=$2; shift ;;
    --losses) need_arg "$@"; losses=$2; shift ;;
    --small) small=1 ;;
    --python) need_arg "$@"; python=$2; shift ;;
    --budget) need_arg "$@"; budget=$2; shift ;;
    --bundle) need_arg "$@"; bundle=$2; shift ;;
    --opencl-lib) need_arg "$@"; opencl_lib=$2; shift ;;
    -h | --help) usage ;;
    *) echo "gpu-check: unknown argument '$1' (--help lists them)" >&2; exit 2 ;;
    esac
    shift
done
x=""
for v in batch steps rounds budget; do
    eval "x=\$$v"
    case $x in '' | *[!0-9]*) echo "gpu-check: --$v must be a whole number, not '$x'" >&2; exit 2 ;; esac
    [ "$x" -gt 0 ] || { echo "gpu-check: --$v must be > 0" >&2; exit 2; }
done
for l in $losses; do
    case $l in base | sad | full) ;; *) echo "gpu-check: unknown loss '$l' (base, sad, full)" >&2; exit 2 ;; esac
done

start=$(date +%s)
deadline=$((start + budget))
[ -n "$bundle" ] || bundle=$(dirname "$0")
bundle=$(cd "$bundle" 2>/dev/null && pwd -P) || { echo "gpu-check: no folder $bundle" >&2; exit 2; }
if [ ! -x "$bundle/bin/fxrun" ] || [ ! -x "$bundle/bin/test_backend_ops" ]; then
    echo "gpu-check: $bundle is not a GPU bundle (no bin/fxrun, bin/test_backend_ops): run the gpu-check.sh" \
        "inside the folder tools/gpu-bundle.sh made, or pass --bundle DIR" >&2
    exit 2
fi
[ -n "$out" ] || out=$(pwd -P)/gpu-check-$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$out" || { echo "gpu-check: cannot create the results folder $out" >&2; exit 2; }
out=$(cd "$out" && pwd -P)
command -v timeout >/dev/null 2>&1 || { echo "gpu-check: timeout (coreutils) not found" >&2; exit 2; }

fxrun=$bundle/bin/fxrun
summary=$out/summary.txt
steps_file=$out/steps.txt
: >"$steps_file"
: >"$out/rounds.txt"
notes=$out/notes.txt
: >"$notes"
# fx's compiled OpenCL programs (the matrix warms them for bench): in a
# temporary folder, not the results, which stay small enough to copy back.
cache=$(mktemp -d "${TMPDIR:-/tmp}/fx-gpu-check-cache.XXXXXX") || { echo "gpu-check: mktemp failed" >&2; exit 2; }
trap 'rm -rf "$cache"' EXIT
trap 'rm -rf "$cache"; exit 130' INT TERM
export FX_KERNEL_CACHE_DIR="$cache"
failed=0

say() { echo "gpu-check: $*"; }
note() { echo "$*" >>"$notes"; say "$*"; }

# run_step NAME LIMIT_S LOG CMD...: CMD under `timeout`, within what is left
# of the budget (the step is skipped when under 10 s are left); records
# "NAME|status|seconds" and returns CMD's status (124: timed out or skipped).
run_step() {
    name=$1 limit=$2 log=$3
    shift 3
    left=$((deadline - $(date +%s) - 5))
    if [ "$left" -lt 10 ]; then
        echo "$name|skipped: time budget spent|0" >>"$steps_file"
        say "$name: skipped (the ${budget} s budget is spent)"
        echo "skipped: time budget spent" >"$log"
        return 124
    fi
    [ "$limit" -le "$left" ] || limit=$left
    t0=$(date +%s)
    timeout -k 5 "$limit" "$@" >"$log" 2>&1
    rc=$?
    t=$(($(date +%s) - t0))
    case $rc in
    0) st=ok ;;
    124 | 137) st="timed out after ${limit} s" ;;
    *) st="failed (exit $rc)" ;;
    esac
    echo "$name|$st|$t" >>"$steps_file"
    say "$name: $st, $t s (log: ${log#"$out"/})"
    return $rc
}

# finish STATUS: writes summary.txt, prints it, exits.
finish() {
    status=$1
    {
        echo "fx GPU check ($(date -u '+%Y-%m-%d %H:%M UTC'), $(($(date +%s) - start)) s of a ${budget} s budget)"
        echo "host: $(uname -n), $(uname -srm); $(ldd --version 2>/dev/null | sed -n 1p)"
        sed -n 's/^fx commit: /bundle: fx /p' "$bundle/MANIFEST" 2>/dev/null
        [ "$any" = 1 ] && echo "mode: --any-opencl (any OpenCL device accepted: a test of the script, not a GPU figure)"
        cat "$notes"
        echo
        echo "steps:"
        awk -F'|' '{ printf "  %-28s %-34s %5s s\n", $1, $2, $3 }' "$steps_file"
        if [ -s "$out/matrix.txt" ]; then
            echo
            echo "op x backend matrix (bin/test_backend_ops; worst error / scale per kernel):"
            grep -E '^matrix opencl|^SKIP|^[0-9]+%: Checks' "$out/matrix.txt" | sed 's/^/  /'
        fi
        if [ -s "$out/rounds.txt" ]; then
            echo
            echo "paper network: fx on OpenCL vs PyTorch, batch $batch, $steps timed steps, medians of $rounds alternating rounds"
            awk -v batch="$batch" '
                function med(s,   n, a, i, j, t) {
                    n = split(s, a, " "); if (n == 0) return 0
                    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
                }
                { if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 }
                  if ($3 != "-") fx[$1] = fx[$1] " " $3
                  if ($4 != "-") th[$1] = th[$1] " " $4
                  w = $5; for (i = 6; i <= NF; i++) w = w " " $i; where[$1] = w }
                END {
                    printf "  %-5s %10s %10s %12s %12s %9s  %s\n", "loss", "fx ms", "torch ms", "fx img/s", "torch img/s", "fx/torch", "PyTorch on"
                    for (i = 1; i <= k; i++) {
                        l = order[i]; f = med(fx[l]); t = med(th[l])
                        printf "  %-5s %10s %10s %12s %12s %9s  %s\n", l,
                            f ? sprintf("%.1f", f) : "-", t ? sprintf("%.1f", t) : "-",
                            f ? sprintf("%.1f", 1000 * batch / f) : "-", t ? sprintf("%.1f", 1000 * batch / t) : "-",
                            (f && t && where[l] !~ /^CPU/) ? sprintf("%.2f", t / f) : "-", where[l]
                    }
                }' "$out/rounds.txt"
            echo "  (fx/torch > 1: fx is faster; none against PyTorch on the CPU; per round: rounds.txt)"
            echo "memory, round 1 (fx: its planned buffers and the process's peak RSS; PyTorch: its peak GPU allocation):"
            for l in $losses; do
                m=$(sed -n 's/^memory: //p' "$out/paper-$l-fx-1.log" 2>/dev/null)
                p=$(sed -n 's/^TORCH_CUDA_PEAK_MIB //p' "$out/paper-$l-torch-1.log" 2>/dev/null)
                echo "  $l: fx ${m:--}; PyTorch ${p:+$p MiB on the GPU}${p:--}"
            done
        fi
        echo
        case $status in
        0) echo "result: every step passed" ;;
        1) echo "result: INCOMPLETE or FAILED: see the steps above and their logs in $out" ;;
        *) echo "result: COULD NOT RUN: see above and the logs in $out" ;;
        esac
    } >"$summary"
    echo
    cat "$summary"
    exit "$status"
}

say "bundle $bundle, results $out, budget $budget s"

# ---- 1. preflight --------------------------------------------------------
case $(uname -sm) in
"Linux x86_64") ;;
*) note "this is $(uname -sm); the bundle is for Linux x86_64"; finish 2 ;;
esac
run_step "libraries (ldd)" 60 "$out/ldd.txt" sh "$bundle/gpu-bundle-ldd.sh" "$bundle"
rc=$?
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    note "the library check did not finish in time (a very slow or overloaded machine?)"
    finish 2
elif [ "$rc" != 0 ]; then
    sed 's/^/  /' "$out/ldd.txt" | tail -20
    note "the bundle's libraries do not resolve here (ldd.txt); MANIFEST names the glibc it needs: $(sed -n 's/^needs on the GPU machine: //p' "$bundle/MANIFEST" 2>/dev/null)"
    finish 2
fi
note "$(tail -1 "$out/ldd.txt" | sed 's/^gpu-bundle-ldd: [0-9]* ELF files in [^:]*: //; s/^/libraries: /')"
gpu=""
if command -v nvidia-smi >/dev/null 2>&1; then
    if run_step "nvidia-smi" 30 "$out/nvidia-smi.txt" nvidia-smi \
        --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader; then
        gpu=$(sed -n 1p "$out/nvidia-smi.txt")
        note "GPU (nvidia-smi): $gpu"
        timeout 30 nvidia-smi >>"$out/nvidia-smi.txt" 2>&1
    fi
else
    note "nvidia-smi: not found (no NVIDIA driver utilities on PATH)"
fi
if [ -z "$gpu" ] && [ "$any" = 0 ]; then
    note "no NVIDIA GPU seen by nvidia-smi: this check needs an NVIDIA GPU and its driver (--any-opencl tests the script on any OpenCL device)"
    finish 2
fi

# ---- 2. the NVIDIA OpenCL library and the ICD loader ---------------------
find_nvidia_opencl() {
    for ldc in ldconfig /sbin/ldconfig /usr/sbin/ldconfig; do
        p=$($ldc -p 2>/dev/null | awk '/libnvidia-opencl\.so\.1 .*x86-64/ { print $NF; exit }')
        [ -n "$p" ] && [ -e "$p" ] && { echo "$p"; return 0; }
    done
    dirs=$(echo "${LD_LIBRARY_PATH:-}" | tr ':' ' ')
    for d in $dirs /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu /usr/lib64 /lib64 /usr/lib /usr/local/nvidia/lib64 \
        /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu/nvidia/current /usr/lib/nvidia /usr/local/cuda/compat \
        /run/nvidia/driver/usr/lib/x86_64-linux-gnu /usr/lib/wsl/lib; do
        for p in "$d"/libnvidia-opencl.so.1 "$d"/libnvidia-opencl.so.[0-9]*.*; do
            [ -e "$p" ] && { echo "$p"; return 0; }
        done
    done
    return 1
}
vendor_dirs() {
    if [ -n "${OCL_ICD_VENDORS:-}" ]; then echo "$OCL_ICD_VENDORS"
    elif [ -n "${OPENCL_VENDOR_PATH:-}" ]; then echo "$OPENCL_VENDOR_PATH"
    else echo /etc/OpenCL/vendors; fi
}
# own_icd WHY: a vendor folder in the results naming the driver library,
# and the loader pointed at it (OCL_ICD_VENDORS).
own_icd() {
    mkdir -p "$out/icd"
    echo "$nvlib" >"$out/icd/gpu-check.icd"
    export OCL_ICD_VENDORS="$out/icd"
    note "ICD: $1: OCL_ICD_VENDORS=$OCL_ICD_VENDORS (gpu-check.icd -> $nvlib)"
}
if [ -n "$opencl_lib" ]; then
    [ -e "$opencl_lib" ] || { note "--opencl-lib $opencl_lib: no such file"; finish 2; }
    nvlib=$(cd "$(dirname "$opencl_lib")" && echo "$(pwd -P)/$(basename "$opencl_lib")")
    pattern=$(basename "$nvlib" | sed 's/\.so.*//')
else
    nvlib=$(find_nvidia_opencl || true)
    pattern=libnvidia-opencl
fi
if [ -n "$nvlib" ]; then
    note "OpenCL driver library: $nvlib${opencl_lib:+ (--opencl-lib)}"
    vd=$(vendor_dirs)
    icd=$(grep -l "$pattern" "$vd"/*.icd 2>/dev/null | head -1 || true)
    if [ -n "$icd" ]; then
        note "ICD: the vendor file $icd names it ($(head -1 "$icd")); loader environment unchanged"
    else
        own_icd "no vendor file in $vd names it"
    fi
elif [ "$any" = 1 ]; then
    note "NVIDIA OpenCL library: none (--any-opencl: using the machine's own ICDs, $(vendor_dirs): $(ls "$(vendor_dirs)" 2>/dev/null | tr '\n' ' '))"
else
    note "no libnvidia-opencl.so.1 (ldconfig -p, LD_LIBRARY_PATH, the usual library folders): the driver's OpenCL part is missing; in a container it needs NVIDIA_DRIVER_CAPABILITIES with compute (or all), on a host the driver package's OpenCL library (e.g. libnvidia-compute-NNN)"
    finish 2
fi

# ---- 3. fxrun devices ------------------------------------------------------
run_step "fxrun devices" 90 "$out/devices.txt" "$fxrun" devices
sed 's/^/  /' "$out/devices.txt"
ocl_lines=$(grep -E '^ +opencl:[0-9]+:[0-9]+ ' "$out/devices.txt" || true)
nv_line=$(echo "$ocl_lines" | grep -E ' GPU ' | grep -i nvidia | head -1)
# A system vendor file that names the driver but does not work (a bare
# name the loader cannot find, say): once more through our own.
if [ -z "$nv_line" ] && [ -n "$nvlib" ] && [ "${OCL_ICD_VENDORS:-}" != "$out/icd" ]; then
    own_icd "no NVIDIA device through the system's vendor file"
    run_step "fxrun devices (own ICD)" 90 "$out/devices-own-icd.txt" "$fxrun" devices
    sed 's/^/  /' "$out/devices-own-icd.txt"
    ocl_lines=$(grep -E '^ +opencl:[0-9]+:[0-9]+ ' "$out/devices-own-icd.txt" || true)
    nv_line=$(echo "$ocl_lines" | grep -E ' GPU ' | grep -i nvidia | head -1)
fi
if [ -n "$nv_line" ]; then
    device=opencl:NVIDIA
    note "OpenCL device: $(echo "$nv_line" | sed 's/^ *//; s/  */ /g')"
elif [ "$any" = 1 ] && [ -n "$ocl_lines" ]; then
    device=opencl
    note "OpenCL device (--any-opencl, not an NVIDIA GPU): $(echo "$ocl_lines" | head -1 | sed 's/^ *//; s/  */ /g')"
else
    note "fxrun devices lists no NVIDIA GPU under opencl (devices*.txt; OCL_ICD_VENDORS=${OCL_ICD_VENDORS:-unset}); does the driver library load? ldd ${nvlib:-libnvidia-opencl.so.1}"
    finish 2
fi

# ---- PyTorch probe (in the background, while the matrix runs) -------------
if [ -z "$python" ]; then
    python=$(command -v python3 2>/dev/null || true)
fi
torch_ok=0
probe_pid=""
if [ -n "$python" ] && [ -x "$(command -v "$python" 2>/dev/null)" ]; then
    timeout -k 5 120 "$python" -c '
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(0))
' >"$out/torch-probe.txt" 2>&1 &
    probe_pid=$!
else
    echo "no Python: '${python:-python3}' not found (--python PY names the one with PyTorch)" >"$out/torch-probe.txt"
fi

# ---- 4. the op x backend matrix --------------------------------------------
run_step "op x backend matrix" 180 "$out/matrix.txt" env FX_TEST_PLUGIN_BUILD_DIR="$bundle/plugins" \
    CK_DEFAULT_TIMEOUT=170 FX_TEST_THREADS="$(nproc 2>/dev/null || echo 1)" "$bundle/bin/test_backend_ops" || failed=1
if ! grep -qE '^matrix opencl +[0-9]+ kernels' "$out/matrix.txt"; then
    note "the matrix did not run the opencl backend (matrix.txt)"
    failed=1
else
    note "matrix: $(grep -E '^matrix opencl +[0-9]+ kernels' "$out/matrix.txt" | sed 's/^matrix //; s/  */ /g'); $(grep -E '^[0-9]+%: Checks' "$out/matrix.txt" | tail -1)"
fi

# ---- 5. the paper's network: fx (OpenCL) and PyTorch, alternating ----------
torch_dev=cuda
torch_where=""
if [ -n "$probe_pid" ]; then
    wait "$probe_pid"
    rc=$?
    if [ "$rc" = 0 ] && grep -q '^torch ' "$out/torch-probe.txt"; then
        torch_ok=1
        if grep -q 'available True' "$out/torch-probe.txt"; then
            torch_where="CUDA $(sed -n 's/^device //p' "$out/torch-probe.txt"), fp32, TF32 off"
        elif [ "$any" = 1 ]; then
            torch_dev=cpu
            torch_where="CPU (no CUDA device: --any-opencl fallback, not a GPU figure)"
        else
            torch_ok=0
        fi
    fi
fi
probe=$( (grep '^torch ' "$out/torch-probe.txt" || tail -1 "$out/torch-probe.txt") 2>/dev/null | cut -c1-200)
note "PyTorch ($python): ${probe:-no answer}${torch_where:+; runs on $torch_where}"
if [ "$torch_ok" = 0 ]; then
    note "PyTorch: cannot run the comparison here (no torch, or no CUDA device for it); fx runs alone"
    failed=1
fi
suffix=""
small_flag=""
if [ "$small" = 1 ]; then
    suffix=-small
    small_flag=--small
fi
nthreads=$(nproc 2>/dev/null || echo 1)
# Rounds outside, networks inside: when the budget runs out, every network
# has its first rounds rather than the last network none.
r=1
while [ "$r" -le "$rounds" ]; do
    for loss in $losses; do
        case $loss in
        base) cfg=configs/interpret-fr-base$suffix.yaml ;;
        sad) cfg=configs/interpret-fr-sad$suffix.yaml ;;
        full) cfg=configs/interpret-fr$suffix.yaml ;;
        esac
        fx_ms=- th_ms=-
        log=$out/paper-$loss-fx-$r.log
        if run_step "paper $loss fx round $r" 150 "$log" "$fxrun" bench "$bundle/$cfg" --backend "$device" \
            --batch "$batch" --steps "$steps"; then
            fx_ms=$(sed -n 's/.*median \([0-9.]*\) ms\/step.*/\1/p' "$log" | head -1)
            [ -n "$fx_ms" ] || fx_ms=-
        else
            failed=1
        fi
        if [ "$torch_ok" = 1 ]; then
            log=$out/paper-$loss-torch-$r.log
            if run_step "paper $loss torch round $r" 150 "$log" "$python" "$bundle/bench/paper_net_torch.py" \
                --loss "$loss" $small_flag --batch "$batch" --steps "$steps" --threads "$nthreads" --device "$torch_dev"; then
                th_ms=$(sed -n 's/^TORCH_MEDIAN_MS //p' "$log")
                [ -n "$th_ms" ] || th_ms=-
            else
                failed=1
            fi
        fi
        echo "$loss $r $fx_ms $th_ms ${torch_where:-none}" >>"$out/rounds.txt"
        say "paper $loss round $r: fx $fx_ms ms/step, PyTorch $th_ms ms/step"
    done
    r=$((r + 1))
done
finish "$failed"
