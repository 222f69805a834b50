#!/usr/bin/env python3
"""Kiln vs onnxruntime on the CPU, side by side, same thread count, same inputs.

For every model and batch size: run onnxruntime (intra_op_num_threads=THREADS, inter 1) and
`kiln bench --json --threads THREADS`, take medians, check with `kiln run` on the same input
that the outputs agree (max |kiln - ort| / max |ort| <= 1e-4), and print a table with the
achieved GFLOP/s of conv/matmul work against a GEMM ceiling measured here (numpy sgemm).

Usage: bench.py --kiln PATH --models DIR [--threads 2] [--batches 1 8] [--only NAME ...]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

THREADS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", required=True, help="path of the kiln binary")
    ap.add_argument("--models", required=True, help="folder of gen_models.py output")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--seconds", type=float, default=6.0, help="time budget per measurement")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--json-out", default=None, help="also write the rows as JSON here")
    return ap.parse_args()


ARGS = parse_args()
for var in THREADS_ENV:
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402  (after the thread variables are set)
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402

MODELS = ["resnet50", "resnet50_nhwc", "mobilenetv2", "mobilenetv2_nhwc", "bert_base"]


def gemm_ceiling(threads):
    """Best GFLOP/s of a 2048^3 f32 matrix product on `threads` threads: the faster of numpy's
    BLAS and onnxruntime's MLAS (a one-MatMul model), each the best of five runs."""
    n = 2048
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)

    def best(f):
        f()
        t = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            f()
            t = min(t, time.perf_counter() - t0)
        return 2.0 * n ** 3 / t / 1e9

    from onnx import TensorProto, helper, numpy_helper
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["y"])], "gemm",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])],
        initializer=[numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return max(best(lambda: a @ b), best(lambda: sess.run(None, {"a": a})))


def conv_matmul_flops(model_path, batch):
    """FLOPs (2 per multiply-add) of Conv, MatMul and Gemm nodes at this batch size."""
    m = onnx.load(model_path, load_external_data=False)
    for inp in m.graph.input:
        dims = inp.type.tensor_type.shape.dim
        if dims and dims[0].dim_param:
            dims[0].dim_value = batch
    inferred = onnx.shape_inference.infer_shapes(m)
    shapes = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    for init in m.graph.initializer:
        shapes[init.name] = list(init.dims)
    total = 0
    for node in m.graph.node:
        if node.op_type == "Conv":
            w = shapes[node.input[1]]
            y = shapes.get(node.output[0])
            if y:
                total += 2 * int(np.prod(y)) * int(np.prod(w[1:]))
        elif node.op_type in ("MatMul", "Gemm"):
            a = shapes.get(node.input[0])
            y = shapes.get(node.output[0])
            if a and y:
                k = a[-1]
                if node.op_type == "Gemm" and any(at.name == "transA" and at.i for at in node.attribute):
                    k = a[0]
                total += 2 * int(np.prod(y)) * k
    return total


def make_input(model_path, batch, rng):
    m = onnx.load(model_path, load_external_data=False)
    inp = m.graph.input[0]
    dims = [batch if d.dim_param else d.dim_value for d in inp.type.tensor_type.shape.dim]
    if inp.type.tensor_type.elem_type == onnx.TensorProto.INT64:
        return inp.name, rng.integers(0, 30522, size=dims, dtype=np.int64)
    return inp.name, rng.standard_normal(dims, dtype=np.float32)


def time_ort(sess, feeds, budget):
    sess.run(None, feeds)
    times = []
    t_end = time.perf_counter() + budget
    while len(times) < 5 or (time.perf_counter() < t_end and len(times) < 50):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times)), len(times)


def kiln(*args):
    r = subprocess.run([ARGS.kiln, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"kiln {' '.join(args)} failed:\n{r.stderr.strip()[-2000:]}")
    return r.stdout


def main():
    print(f"measuring the GEMM ceiling ({ARGS.threads} threads)...", file=sys.stderr)
    ceiling = gemm_ceiling(ARGS.threads)
    print(f"GEMM ceiling: {ceiling:.1f} GFLOP/s", file=sys.stderr)
    rows = []
    rng = np.random.default_rng(2026)
    work = tempfile.mkdtemp(prefix="kiln-bench-")
    for name in ARGS.only or MODELS:
        path = os.path.join(ARGS.models, name + ".onnx")
        if not os.path.exists(path):
            sys.exit(f"error: {path} is missing: run bench/gen_models.py {ARGS.models}")
        so = ort.SessionOptions()
        so.intra_op_num_threads = ARGS.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        for batch in ARGS.batches:
            print(f"{name} batch {batch}...", file=sys.stderr)
            in_name, x = make_input(path, batch, rng)
            feeds = {in_name: x}
            ort_ms, ort_n = time_ort(sess, feeds, ARGS.seconds)
            ref = sess.run(None, feeds)[0]
            # Correctness: kiln run on the same input.
            in_file = os.path.join(work, f"{name}_b{batch}.npy")
            np.save(in_file, x)
            out_dir = os.path.join(work, f"{name}_b{batch}_out")
            kiln("run", path, "-i", f"{in_name}={in_file}", "-o", out_dir,
                 "--threads", str(ARGS.threads))
            outs = [f for f in os.listdir(out_dir) if f.endswith(".npy")]
            got = np.load(os.path.join(out_dir, outs[0]))
            err = float(np.max(np.abs(got.astype(np.float64) - ref)) / max(np.max(np.abs(ref)), 1e-30))
            # Timing: kiln bench (builds and tunes for this batch first).
            iters = int(min(50, max(5, ARGS.seconds * 1e3 / max(ort_ms, 1e-3))))
            out = kiln("bench", path, "--json", "--threads", str(ARGS.threads), "--batch", str(batch),
                       "-n", str(iters), "--warmup", "2")
            kiln_ms = json.loads(out)["latency_ms"]["median"]
            flops = conv_matmul_flops(path, batch)
            row = {
                "model": name, "batch": batch, "kiln_ms": kiln_ms, "ort_ms": ort_ms,
                "ratio": kiln_ms / ort_ms, "kiln_gflops": flops / kiln_ms / 1e6,
                "ort_gflops": flops / ort_ms / 1e6, "ceiling_gflops": ceiling,
                "rel_err": err, "agree": err <= ARGS.tolerance, "ort_runs": ort_n, "kiln_runs": iters,
            }
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    print()
    print(f"threads: {ARGS.threads}   GEMM ceiling (best of numpy / onnxruntime sgemm 2048^3): {ceiling:.1f} GFLOP/s")
    hdr = (f"{'model':<18} {'batch':>5} {'kiln ms':>9} {'ort ms':>9} {'ratio':>6} "
           f"{'kiln GF/s':>9} {'ort GF/s':>9} {'% ceil':>6} {'rel err':>9} agree")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['model']:<18} {r['batch']:>5} {r['kiln_ms']:>9.2f} {r['ort_ms']:>9.2f} {r['ratio']:>6.2f} "
              f"{r['kiln_gflops']:>9.1f} {r['ort_gflops']:>9.1f} {100 * r['kiln_gflops'] / ceiling:>5.0f}% "
              f"{r['rel_err']:>9.2e} {'yes' if r['agree'] else 'NO'}")
    if ARGS.json_out:
        with open(ARGS.json_out, "w") as f:
            json.dump(rows, f, indent=1)
    bad = [r for r in rows if not r["agree"]]
    if bad:
        print(f"\n{len(bad)} row(s) disagree with onnxruntime beyond {ARGS.tolerance}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
