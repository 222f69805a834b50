#!/usr/bin/env bash
# Stage the GPU conformance suite for the GPU machine, which has no Rust: builds the test
# executable of tests/tests/onnx_conformance_gpu.rs in release mode, puts it stripped and
# xz-compressed into .device/conformance/onnx_conformance_gpu.xz, packs the CPU-passing ONNX
# node tests (allow-list) there as node.tar.xz (about 4.5 MB together), and checks that all of
# .device/ stays under the 64 MiB the device run carries. run.sh unpacks both with python3.
#
#   tests/gpu/stage.sh              # then, on the GPU machine: tests/gpu/run.sh
#   tests/gpu/stage.sh --with-kiln  # also the release `kiln` binary, stripped, as
#                                   # .device/conformance/kiln.xz (for bench/gpu_accuracy.py)
#
# Needs the node tests (scripts/fetch-onnx-tests, or $KILN_ONNX_NODE_TESTS).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
with_kiln=0
for a in "$@"; do
    case "$a" in
        --with-kiln) with_kiln=1 ;;
        *) echo "stage.sh: unknown argument '$a' (see the comment at the top)" >&2; exit 2 ;;
    esac
done
dest=.device/conformance
data="${KILN_ONNX_NODE_TESTS:-$root/.cache/onnx-1.22.0/node}"
allow=tests/conformance/onnx_node_allowlist.txt
limit=$((64 * 1024 * 1024))

if [ ! -d "$data" ]; then
    echo "stage.sh: no ONNX node tests under $data: run scripts/fetch-onnx-tests" >&2
    exit 1
fi

echo "building the GPU conformance test executable (release)..." >&2
exe=$(cargo test --release -p kiln-tests --test onnx_conformance_gpu --no-run \
    --message-format=json | python3 -c '
import json, sys
paths = []
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") \
            and m["target"]["name"] == "onnx_conformance_gpu":
        paths.append(m["executable"])
print(paths[-1] if paths else "")
')
if [ -z "$exe" ] || [ ! -x "$exe" ]; then
    echo "stage.sh: cargo did not name the onnx_conformance_gpu test executable" >&2
    exit 1
fi

rm -rf "$dest"
mkdir -p "$dest"
cp "$exe" "$dest/onnx_conformance_gpu"
strip "$dest/onnx_conformance_gpu"
xz -9 "$dest/onnx_conformance_gpu"

if [ "$with_kiln" = 1 ]; then
    echo "building kiln (release)..." >&2
    cargo build --release -p kiln-cli >&2
    cp target/release/kiln "$dest/kiln"
    strip "$dest/kiln"
    xz -9 "$dest/kiln"
    echo "staged $dest/kiln.xz: $(du -sb "$dest/kiln.xz" | cut -f1) bytes" >&2
fi

# Only the tests the GPU suite runs: the allow-listed ones (names checked to exist).
list=$(mktemp)
trap 'rm -f "$list"' EXIT
missing=0
while IFS= read -r name; do
    case "$name" in '' | '#'*) continue ;; esac
    if [ -d "$data/$name" ]; then
        echo "$name" >>"$list"
    else
        echo "stage.sh: allow-listed test $name is missing under $data" >&2
        missing=1
    fi
done <"$allow"
[ "$missing" = 0 ] || exit 1
tar -cJf "$dest/node.tar.xz" -C "$data" -T "$list"

size() { du -sb "$1" | cut -f1; }
echo "staged $dest: onnx_conformance_gpu.xz $(size "$dest/onnx_conformance_gpu.xz") bytes, node.tar.xz $(size "$dest/node.tar.xz") bytes ($(wc -l <"$list") tests)" >&2
total=$(size .device)
echo ".device/ holds $total bytes in all (carry limit $limit)" >&2
if [ "$total" -gt "$limit" ]; then
    echo "stage.sh: .device/ is over the 64 MiB carry limit: make room (other folders under .device/ count too; without --with-kiln, KILN_BIN can name a kiln staged elsewhere):" >&2
    du -sb .device/* >&2
    exit 1
fi
