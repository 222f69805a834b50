#!/usr/bin/env bash
# Server benchmark: NVIDIA's perf_analyzer against `kiln serve` on examples/model_repository.
#
#   bench/server.sh                      # everything (about 5 minutes)
#   bench/server.sh --only simple        # only `simple` (+ the overhead measurement)
#   bench/server.sh --seconds 5          # longer perf_analyzer windows
#
# Sets up perf_analyzer in .cache/perf_analyzer/ (kept between runs) without touching the
# Python environment: the binary is unpacked from the tritonclient==2.51.0 manylinux1 wheel
# (newer wheels need glibc 2.38), libb64 comes from the Debian package libb64-0d (installed
# with apt-get when possible, else unpacked from `apt-get download`), libcudart.so.12 from
# the nvidia-cuda-runtime-cu12 wheel (perf_analyzer links it; no GPU is used). Then builds
# `kiln` in release mode and runs bench/server_bench.py (extra arguments are passed to it),
# which prints the table and checks the targets.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="${KILN_PA_DIR:-.cache/perf_analyzer}"
mkdir -p "$TOOLS"
TOOLS="$(cd "$TOOLS" && pwd)"
PA="$TOOLS/bin/perf_analyzer"

if [ ! -x "$PA" ]; then
    echo "fetching perf_analyzer (tritonclient==2.51.0 wheel)..." >&2
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
        --platform manylinux1_x86_64 -d "$TOOLS/wheels" "tritonclient==2.51.0"
    python3 - "$TOOLS" <<'EOF'
import glob, os, sys, zipfile
tools = sys.argv[1]
wheel = glob.glob(os.path.join(tools, "wheels", "tritonclient-2.51.0-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    data = z.read("tritonclient-2.51.0.data/data/bin/perf_analyzer")
os.makedirs(os.path.join(tools, "bin"), exist_ok=True)
path = os.path.join(tools, "bin", "perf_analyzer")
with open(path, "wb") as f:
    f.write(data)
os.chmod(path, 0o755)
EOF
fi

LIBS="$TOOLS/lib"
mkdir -p "$LIBS"
if [ ! -e "$LIBS/libcudart.so.12" ]; then
    echo "fetching libcudart.so.12 (nvidia-cuda-runtime-cu12 wheel)..." >&2
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
        --platform manylinux2014_x86_64 -d "$TOOLS/wheels" nvidia-cuda-runtime-cu12
    python3 - "$TOOLS" <<'EOF'
import glob, os, sys, zipfile
tools = sys.argv[1]
wheel = sorted(glob.glob(os.path.join(tools, "wheels", "nvidia_cuda_runtime_cu12-*.whl")))[-1]
with zipfile.ZipFile(wheel) as z:
    data = z.read("nvidia/cuda_runtime/lib/libcudart.so.12")
with open(os.path.join(tools, "lib", "libcudart.so.12"), "wb") as f:
    f.write(data)
EOF
fi
if ! ldconfig -p 2>/dev/null | grep -q libb64.so.0d && [ ! -e "$LIBS/libb64.so.0d" ]; then
    echo "installing libb64-0d..." >&2
    if ! { [ "$(id -u)" = 0 ] && apt-get install -y -qq libb64-0d >/dev/null 2>&1; }; then
        (cd "$TOOLS" && apt-get download libb64-0d >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null 2>&1 && apt-get download libb64-0d; })
        dpkg -x "$(ls "$TOOLS"/libb64-0d_*.deb | tail -1)" "$TOOLS/libb64"
        cp "$TOOLS"/libb64/usr/lib/*/libb64.so.0d "$LIBS/"
    fi
fi
export LD_LIBRARY_PATH="$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if ldd "$PA" | grep -q "not found"; then
    ldd "$PA" | grep "not found" >&2
    echo "perf_analyzer is missing the libraries above" >&2
    exit 1
fi

if ! python3 -c "import tritonclient.http, tritonclient.grpc, numpy" 2>/dev/null; then
    echo "installing tritonclient[all] and numpy with pip..." >&2
    python3 -m pip install --quiet "tritonclient[all]" numpy
fi

cargo build --release -p kiln-cli >&2
exec python3 bench/server_bench.py --kiln target/release/kiln --perf-analyzer "$PA" \
    --repo examples/model_repository "$@"
