#!/usr/bin/env python3
"""Kiln vs PyTorch on one NVIDIA GPU: throughput and latency, side by side.

For every (model, batch): `kiln bench --device cuda --json` on the ONNX model of
bench/gen_models.py, in each Kiln precision asked for (default FP16), without and with CUDA
graphs; PyTorch eager FP16 (channels_last and cudnn.benchmark for CNNs) and torch.compile
(FP16) on the same architecture in PyTorch, random weights. Prints a table with the ratios
Kiln / PyTorch (throughput; > 1 means Kiln is faster), Kiln's GPU compute time alone (no
copies, like trtexec's GPU compute), and, where measured, the error of Kiln's output against
Kiln's FP32 CPU result (max |gpu - cpu| / max |cpu|).

Usage: gpu_bench.py --kiln PATH --models DIR [--only resnet50 bert_base] [--no-compile]
                    [--cases resnet50:1 ...] [--compile-cases resnet50:128 ...]
                    [--precisions fp16 fp32 tf32] [--accuracy-batches 1] [--iters 50]
"""

import argparse
import json
import subprocess
import sys
import time

DEFAULT_CASES = ["resnet50:1", "resnet50:32", "resnet50:128", "bert_base:1", "bert_base:32"]
PRECISION_FLAGS = {"fp32": [], "tf32": ["--tf32"], "fp16": ["--fp16"], "bf16": ["--bf16"]}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--cases", nargs="*", default=DEFAULT_CASES)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--compile-cases", nargs="*", default=None,
                    help="cases measured with torch.compile (default: all)")
    ap.add_argument("--precisions", nargs="*", default=["fp16"], choices=sorted(PRECISION_FLAGS))
    ap.add_argument("--no-graph", action="store_true", help="skip the Kiln CUDA graph rows")
    ap.add_argument("--accuracy-batches", nargs="*", type=int, default=[1],
                    help="batch sizes at which Kiln's output is compared with its CPU FP32 run")
    ap.add_argument("--iters", type=int, default=50)
    return ap.parse_args()


def kiln_bench(kiln, model, batch, iters, precision, graph, accuracy):
    cmd = [kiln, "bench", model, "--device", "cuda", "-b", str(batch), "--warmup", "5",
           "-n", str(iters), "--json"] + PRECISION_FLAGS[precision]
    if graph:
        cmd.append("--use-cuda-graph")
    if accuracy:
        cmd.append("--check-accuracy")
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        err = p.stderr.strip().splitlines()
        return None, (err[-1] if err else "failed")
    line = [l for l in p.stdout.splitlines() if l.startswith("{")][-1]
    r = json.loads(line)
    ms = r["latency_ms"]["median"]
    gpu = r.get("gpu_ms") or {}
    acc = r.get("accuracy") or []
    return {
        "ms": ms,
        "per_s": batch * 1000.0 / ms,
        "gpu_ms": gpu.get("compute_median"),
        "graph": bool(r.get("cuda_graph")),
        "rel_err": max((a["max_rel"] for a in acc), default=None),
        "seconds": time.time() - t0,
    }, None


# --- PyTorch versions of the benchmark models (same shapes as gen_models.py) ---

def torch_models():
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, cin, mid, cout, stride):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
                nn.Conv2d(mid, mid, 3, stride, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
                nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout))
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x):
            s = x if self.down is None else self.down(x)
            return self.relu(self.body(x) + s)

    def resnet50():
        layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
        cin = 64
        for mid, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
            for b in range(blocks):
                layers.append(Bottleneck(cin, mid, mid * 4, stride if b == 0 else 1))
                cin = mid * 4
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000), nn.Softmax(dim=1)]
        return nn.Sequential(*layers)

    def bert_base():
        layer = nn.TransformerEncoderLayer(768, 12, 3072, dropout=0.0, activation="gelu", batch_first=True, norm_first=False)
        return nn.TransformerEncoder(layer, 12, enable_nested_tensor=False)

    return {"resnet50": (resnet50, lambda b: torch.randn(b, 3, 224, 224)),
            "bert_base": (bert_base, lambda b: torch.randn(b, 128, 768))}


def torch_bench(name, batch, compiled, iters):
    import torch
    make, make_input = torch_models()[name]
    torch.backends.cudnn.benchmark = True
    model = make().cuda().eval().half()
    x = make_input(batch).cuda().half()
    if name == "resnet50":
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    if compiled:
        model = torch.compile(model)
    with torch.inference_mode():
        for _ in range(10):
            model(x)
        torch.cuda.synchronize()
        times = []
        for _ in range(iters):
            t0 = time.perf_counter()
            model(x)
            torch.cuda.synchronize()
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    ms = times[len(times) // 2]
    return {"ms": ms, "per_s": batch * 1000.0 / ms}


def fmt(v, spec, width):
    return f"{v:{width}{spec}}" if v is not None else f"{'-':>{width}}"


def main():
    args = parse_args()
    rows = []
    for case in args.cases:
        name, batch = case.split(":")
        batch = int(batch)
        if args.only and name not in args.only:
            continue
        model = f"{args.models}/{name}.onnx"
        kilns = []
        for prec in args.precisions:
            for graph in ([False] if args.no_graph else [False, True]):
                acc = batch in args.accuracy_batches and not graph
                k, err = kiln_bench(args.kiln, model, batch, args.iters, prec, graph, acc)
                kilns.append((prec, graph, k, err))
                print(f"kiln {name} bs{batch} {prec}{' graph' if graph else ''}: "
                      f"{json.dumps(k) if k else err}", file=sys.stderr, flush=True)
        e = torch_bench(name, batch, False, args.iters)
        want_compile = not args.no_compile and (args.compile_cases is None or case in args.compile_cases)
        c = torch_bench(name, batch, True, args.iters) if want_compile else None
        rows.append((name, batch, kilns, e, c))
        print(f"done {name} bs{batch}: eager {e} compile {c}", file=sys.stderr, flush=True)
    try:
        import torch
        gpu = torch.cuda.get_device_name(0)
        tv = torch.__version__
    except Exception:  # noqa: BLE001 - only for the title
        gpu, tv = "?", "?"
    print(f"GPU: {gpu}   PyTorch {tv}: FP16 eager (channels_last, cudnn.benchmark) / torch.compile (FP16), inputs already on the GPU")
    print("Kiln: 'wall' = per-run latency with the H2D input and D2H output copies; 'gpu' = GPU compute only")
    print("      (like trtexec's GPU compute time; comparable to PyTorch, whose inputs live on the GPU). Ratios > 1: Kiln faster")
    print(f"{'model':<10} {'batch':>5} {'kiln':<10} {'wall ms':>8} {'gpu ms':>8} {'wall /s':>9} {'gpu /s':>9} "
          f"{'eager /s':>9} {'x eager':>12} {'compile /s':>11} {'x compile':>12} {'rel err':>9}")
    for name, batch, kilns, e, c in rows:
        for prec, graph, k, err in kilns:
            label = prec + ("+graph" if graph else "")
            if k is None:
                print(f"{name:<10} {batch:>5} {label:<10}  kiln failed: {err}")
                continue
            gpu_s = batch * 1000.0 / k["gpu_ms"] if k["gpu_ms"] else None
            ratio = lambda ref: (f"{gpu_s / ref:>5.2f}/{k['per_s'] / ref:<5.2f}x" if gpu_s
                                 else f"{'-':>5}/{k['per_s'] / ref:<5.2f}x")
            cs = f"{c['per_s']:>11.1f} {ratio(c['per_s']):>12}" if c else f"{'-':>11} {'-':>12}"
            print(f"{name:<10} {batch:>5} {label:<10} {k['ms']:>8.3f} {fmt(k['gpu_ms'], '.3f', 8)} "
                  f"{k['per_s']:>9.1f} {fmt(gpu_s, '.1f', 9)} {e['per_s']:>9.1f} {ratio(e['per_s']):>12} "
                  f"{cs} {fmt(k['rel_err'], '.2e', 9)}")
    print("x eager / x compile: gpu-compute ratio / wall ratio")

if __name__ == "__main__":
    main()
