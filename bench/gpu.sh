#!/usr/bin/env bash
# GPU benchmark: Kiln (--device cuda) vs PyTorch on the same GPU, same models and batches.
#
#   bench/gpu.sh                              # ResNet-50 bs 1/32/128, BERT-base bs 1/32
#   bench/gpu.sh --only resnet50 --no-compile # skip torch.compile (slow to warm up)
#   bench/gpu.sh --precisions fp32 tf32 fp16  # Kiln rows per precision (default fp16),
#                                             # each without and with CUDA graphs
#
# Needs an NVIDIA GPU, python3 with torch, onnx and numpy. Builds `kiln` in release mode
# unless KILN_BIN names a binary (the GPU machine has no Rust: build elsewhere and copy it),
# generates the models with bench/gen_models.py into .cache/bench/ (random weights), then
# prints the table of bench/gpu_bench.py (extra arguments are passed to it).
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS_DIR="${KILN_BENCH_DIR:-.cache/bench}"
KILN_BIN="${KILN_BIN:-}"
if [ -z "$KILN_BIN" ]; then
    cargo build --release -p kiln-cli >&2
    KILN_BIN=target/release/kiln
fi
# cuDNN / cuBLASLt / NVRTC from the pip `nvidia-*` packages (as PyTorch installs them), if any.
NV=$(python3 -c "import nvidia, os, glob; print(':'.join(sorted(glob.glob(os.path.join(nvidia.__path__[0], '*', 'lib')))))" 2>/dev/null || true)
if [ -n "$NV" ]; then
    export LD_LIBRARY_PATH="$NV:${LD_LIBRARY_PATH:-}"
fi
python3 bench/gen_models.py "$MODELS_DIR" --only resnet50 bert_base >&2
exec python3 bench/gpu_bench.py --kiln "$KILN_BIN" --models "$MODELS_DIR" "$@"
