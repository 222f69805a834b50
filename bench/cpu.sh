#!/usr/bin/env bash
# CPU benchmark: Kiln vs onnxruntime, side by side, same thread count, same inputs.
#
#   bench/cpu.sh                 # 2 threads, batches 1 and 8, every model
#   THREADS=4 bench/cpu.sh       # another thread count
#   bench/cpu.sh --only resnet50 --batches 1
#
# Installs onnx/onnxruntime/numpy with pip when missing, builds `kiln` in release mode,
# generates the models into .cache/bench/ (random weights; kept between runs), then prints
# the table of bench/bench.py (extra arguments are passed to it).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS="${THREADS:-2}"
MODELS_DIR="${KILN_BENCH_DIR:-.cache/bench}"

if ! python3 -c "import onnx, onnxruntime, numpy" 2>/dev/null; then
    echo "installing onnx, onnxruntime, numpy with pip..." >&2
    python3 -m pip install --quiet "onnx==1.22.0" onnxruntime numpy
fi

cargo build --release -p kiln-cli >&2
python3 bench/gen_models.py "$MODELS_DIR"
exec python3 bench/bench.py --kiln target/release/kiln --models "$MODELS_DIR" \
    --threads "$THREADS" "$@"
