#!/usr/bin/env bash
# On the GPU machine, from the repository root of the working-tree copy, run what
# tests/gpu/stage.sh staged in .device/conformance (KILN_BIN=PATH: another kiln binary for the
# accuracy step, e.g. one already staged elsewhere under .device/):
#
#   tests/gpu/run.sh                         # the ONNX node tests on the GPU
#   tests/gpu/run.sh conformance accuracy    # ... then bench/gpu_accuracy.py (needs
#                                            # `stage.sh --with-kiln`)
#
# conformance: unpacks the node tests, points the test executable at them and at this tree's
#   tests/conformance lists, and runs it (a missing GPU fails: KILN_REQUIRE_GPU=1). Output in
#   $OUT/gpu_conformance.txt, per-test table in $OUT/gpu_conformance_cases.tsv (name, outcome,
#   GPU layers, layers, fallback ops, message).
# accuracy: ResNet-50, MobileNetV2, BERT-base (generated into ${KILN_BENCH_DIR:-.cache/bench}
#   when missing) on the GPU in FP32/TF32/FP16 against the CPU; table in $OUT/gpu_accuracy.txt
#   and $OUT/gpu_accuracy.json.
# Without $OUT, output goes to stdout only. Exit status: non-zero when any step failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
staged=.device/conformance
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(conformance)
for s in "${steps[@]}"; do
    case "$s" in
        conformance | accuracy) ;;
        *) echo "run.sh: unknown step '$s': conformance or accuracy" >&2; exit 2 ;;
    esac
done

# The CUDA libraries of the machine's Python wheels (NVRTC, cuBLASLt, cuDNN) and toolkit.
nv=$(python3 -c "import nvidia, os, glob; print(':'.join(sorted(glob.glob(os.path.join(list(nvidia.__path__)[0], '*', 'lib')))))" 2>/dev/null)
export LD_LIBRARY_PATH="${nv:+$nv:}/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PYTHONUNBUFFERED=1

out() { # out NAME: the file to tee into ($OUT/NAME, emptied first), or /dev/null
    if [ -n "${OUT:-}" ]; then
        mkdir -p "$OUT"
        : >"$OUT/$1"
        echo "$OUT/$1"
    else
        echo /dev/null
    fi
}

status=0
work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-gpu.XXXXXX")
trap 'rm -rf "$work"' EXIT

for step in "${steps[@]}"; do
    if [ "$step" = conformance ]; then
        log=$(out gpu_conformance.txt)
        if [ ! -f "$staged/onnx_conformance_gpu.xz" ] || [ ! -f "$staged/node.tar.xz" ]; then
            echo "run.sh: nothing staged in $staged: run tests/gpu/stage.sh first (and carry .device)" | tee -a "$log" >&2
            status=1
            continue
        fi
        if command -v nvidia-smi >/dev/null; then
            nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$log"
        fi
        mkdir -p "$work/node"
        # python3 rather than xz(1), which the machine may lack.
        if ! python3 - "$staged" "$work" <<'PY'; then
import lzma, os, shutil, sys, tarfile
staged, work = sys.argv[1], sys.argv[2]
with tarfile.open(os.path.join(staged, "node.tar.xz")) as t:
    t.extractall(os.path.join(work, "node"))
exe = os.path.join(work, "onnx_conformance_gpu")
with lzma.open(os.path.join(staged, "onnx_conformance_gpu.xz")) as src, open(exe, "wb") as dst:
    shutil.copyfileobj(src, dst)
os.chmod(exe, 0o755)
PY
            echo "run.sh: cannot unpack $staged" | tee -a "$log" >&2
            status=1
            continue
        fi
        [ -n "${OUT:-}" ] && export KILN_GPU_CONFORMANCE_REPORT="$OUT/gpu_conformance_cases.tsv"
        start=$(date +%s)
        KILN_ONNX_NODE_TESTS="$work/node" KILN_TESTS_DIR="$root/tests" KILN_REQUIRE_GPU=1 \
            "$work/onnx_conformance_gpu" --nocapture --test-threads=1 2>&1 | tee -a "$log"
        rc=${PIPESTATUS[0]}
        echo "conformance: exit status $rc after $(($(date +%s) - start)) s" | tee -a "$log"
        [ "$rc" = 0 ] || status=1
    else
        log=$(out gpu_accuracy.txt)
        kiln="${KILN_BIN:-$work/kiln}"
        if [ -z "${KILN_BIN:-}" ] && [ -f "$staged/kiln.xz" ]; then
            python3 -c 'import lzma, os, shutil, sys
with lzma.open(sys.argv[1]) as s, open(sys.argv[2], "wb") as d: shutil.copyfileobj(s, d)
os.chmod(sys.argv[2], 0o755)' "$staged/kiln.xz" "$kiln" || status=1
        fi
        if [ ! -x "$kiln" ]; then
            echo "run.sh: no kiln binary at $kiln: stage with tests/gpu/stage.sh --with-kiln or set KILN_BIN" | tee -a "$log" >&2
            status=1
            continue
        fi
        json=()
        [ -n "${OUT:-}" ] && json=(--json "$OUT/gpu_accuracy.json")
        start=$(date +%s)
        python3 bench/gpu_accuracy.py --kiln "$kiln" --models "${KILN_BENCH_DIR:-.cache/bench}" \
            --precisions "${KILN_PRECISIONS:-fp32,tf32,fp16}" "${json[@]}" 2>&1 | tee -a "$log"
        rc=${PIPESTATUS[0]}
        echo "accuracy: exit status $rc after $(($(date +%s) - start)) s" | tee -a "$log"
        [ "$rc" = 0 ] || status=1
    fi
done
exit "$status"
