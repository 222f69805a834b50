#!/usr/bin/env python3
"""Kiln vs PyTorch on one NVIDIA GPU: throughput and latency, side by side.

For every (model, batch): `kiln bench --device cuda --json` on the ONNX model of
bench/gen_models.py, PyTorch eager FP16 (channels_last and cudnn.benchmark for CNNs) and
torch.compile (FP16) on the same architecture in PyTorch, random weights. Prints a table with
the ratios Kiln / PyTorch (throughput; > 1 means Kiln is faster). Kiln runs FP32 until its
FP16 path lands, and the table says which precision each column used.

Usage: gpu_bench.py --kiln PATH --models DIR [--only resnet50 bert_base] [--no-compile]
                    [--cases resnet50:1 resnet50:32 ...] [--iters 50]
"""

import argparse
import json
import subprocess
import sys
import time

DEFAULT_CASES = ["resnet50:1", "resnet50:32", "resnet50:128", "bert_base:1", "bert_base:32"]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--cases", nargs="*", default=DEFAULT_CASES)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--iters", type=int, default=50)
    return ap.parse_args()


def kiln_bench(kiln, model, batch, iters):
    cmd = [kiln, "bench", model, "--device", "cuda", "-b", str(batch), "--warmup", "5", "-n", str(iters), "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        return None, p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "failed"
    line = [l for l in p.stdout.splitlines() if l.startswith("{")][-1]
    r = json.loads(line)
    return {"ms": r["latency_ms"]["median"], "per_s": batch * 1000.0 / r["latency_ms"]["median"]}, None


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


def main():
    args = parse_args()
    rows = []
    for case in args.cases:
        name, batch = case.split(":")
        batch = int(batch)
        if args.only and name not in args.only:
            continue
        k, err = kiln_bench(args.kiln, f"{args.models}/{name}.onnx", batch, args.iters)
        e = torch_bench(name, batch, False, args.iters)
        c = None if args.no_compile else torch_bench(name, batch, True, args.iters)
        rows.append((name, batch, k, err, e, c))
        print(f"done {name} bs{batch}", file=sys.stderr, flush=True)
    try:
        import torch
        gpu = torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001 - only for the title
        gpu = "?"
    print(f"GPU: {gpu}   Kiln: FP32 (cuBLASLt/NVRTC)   PyTorch: FP16 eager (channels_last, cudnn.benchmark) / torch.compile")
    print(f"{'model':<10} {'batch':>5} {'kiln ms':>9} {'kiln /s':>9} {'eager ms':>9} {'eager /s':>9} {'x eager':>8} {'compile /s':>11} {'x compile':>10}")
    for name, batch, k, err, e, c in rows:
        if k is None:
            print(f"{name:<10} {batch:>5}  kiln failed: {err}")
            continue
        cs = f"{c['per_s']:>11.1f} {k['per_s'] / c['per_s']:>9.2f}x" if c else f"{'-':>11} {'-':>10}"
        print(f"{name:<10} {batch:>5} {k['ms']:>9.3f} {k['per_s']:>9.1f} {e['ms']:>9.3f} {e['per_s']:>9.1f} {k['per_s'] / e['per_s']:>7.2f}x {cs}")


if __name__ == "__main__":
    main()
