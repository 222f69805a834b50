#!/usr/bin/env python3
"""Accuracy of Kiln on the GPU against Kiln's FP32 CPU result, per model and precision.

For each model of bench/gen_models.py (ResNet-50, MobileNetV2, BERT-base encoder with
sequence 128; random weights, generated into --models when missing) one random input is
written as .npy (seeded), `kiln run MODEL --device cpu` gives the FP32 reference, and
`kiln run MODEL --device DEVICE <flags>` runs each precision on the same input:

  fp32  no extra flag     target rel err <= 1e-4 (true FP32: catches a TF32 leak)
  tf32  --tf32            target rel err <= 1e-3 (issue 4)
  fp16  --fp16            target rel err <= 1e-2 (issue 4)
  bf16  --bf16            target rel err <= 5e-2

rel err = max|gpu - cpu| / max|cpu| over the whole output (the error relative to the
output's scale, so near-zero elements do not blow it up); max abs err = max|gpu - cpu|.

When `kiln run` does not take a precision flag, the plan is built with
`kiln build MODEL --device DEVICE <flag> --shapes ... -o PLAN` and run with `kiln run PLAN`;
a flag that neither takes is reported as "unsupported by this kiln". A run that fails (no
GPU, a kernel error) is an ERROR row with its message. The exit status is 1 when any row
is FAIL or ERROR.

Usage: gpu_accuracy.py --kiln PATH [--models DIR] [--only resnet50 mobilenetv2 bert_base]
                       [--precisions fp32,tf32,fp16] [--device cuda] [--batch 1] [--seed 0]
                       [--json FILE]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# name: (input name, per-sample shape, dtype, integer upper bound for ids or None)
MODELS = {
    "resnet50": ("input", (3, 224, 224), np.float32, None),
    "mobilenetv2": ("input", (3, 224, 224), np.float32, None),
    "bert_base": ("input_ids", (128,), np.int64, 30522),
}

# precision: (extra build flags, target on the relative error)
PRECISIONS = {
    "fp32": ([], 1e-4),
    "tf32": (["--tf32"], 1e-3),
    "fp16": (["--fp16"], 1e-2),
    "bf16": (["--bf16"], 5e-2),
}

TIMEOUT_S = 1800


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", required=True, help="the kiln binary")
    ap.add_argument("--models", default=os.path.join(ROOT, ".cache", "bench"),
                    help="folder of the gen_models.py models (default .cache/bench)")
    ap.add_argument("--only", nargs="*", default=list(MODELS), choices=sorted(MODELS))
    ap.add_argument("--precisions", default="fp32,tf32,fp16",
                    help="comma-separated, of: " + ", ".join(PRECISIONS))
    ap.add_argument("--device", default="cuda", help="device under test (cuda, cuda:N, or cpu to check the script)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the rows as JSON to this file")
    args = ap.parse_args()
    args.precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    bad = [p for p in args.precisions if p not in PRECISIONS]
    if bad:
        ap.error(f"unknown precision(s) {bad}: use {', '.join(PRECISIONS)}")
    return args


def ensure_model(models_dir, name):
    path = os.path.join(models_dir, name + ".onnx")
    if not os.path.exists(path):
        print(f"generating {path} with bench/gen_models.py...", file=sys.stderr)
        subprocess.run([sys.executable, os.path.join(HERE, "gen_models.py"), models_dir, "--only", name],
                       check=True)
    return path


def make_input(name, batch, seed, path):
    _, shape, dtype, high = MODELS[name]
    rng = np.random.default_rng(seed)
    full = (batch,) + shape
    if high is None:
        x = rng.standard_normal(full).astype(dtype)
    else:
        x = rng.integers(0, high, size=full, dtype=dtype)
    np.save(path, x)
    return full


def last_error(stderr):
    lines = [l.strip() for l in stderr.splitlines() if l.strip()]
    errs = [l for l in lines if l.startswith("error")]
    msg = errs[-1] if errs else lines[-1] if lines else "failed"
    return re.sub(r"^error:\s*", "", msg)[:300]


def rejects_flags(stderr, flags):
    """True when clap refused one of `flags` (usage error)."""
    return any(f"unexpected argument '{f}'" in stderr for f in flags)


def placement(stderr):
    m = re.search(r"\((\d+) of (\d+) layers on the GPU", stderr)
    return f"{m.group(1)}/{m.group(2)}" if m else "-"


def kiln_run(kiln, model, device, flags, input_name, input_file, out_dir, shape):
    """Run once; returns (output file, stderr) or raises RuntimeError / NotImplementedError."""
    os.makedirs(out_dir, exist_ok=True)
    run = [kiln, "run", model, "--device", device, "-i", f"{input_name}={input_file}",
           "-o", out_dir, "--show", "0"]
    p = subprocess.run(run + flags, capture_output=True, text=True, timeout=TIMEOUT_S)
    if p.returncode != 0 and flags and rejects_flags(p.stderr, flags):
        # `kiln run` has no such flag: build a plan with it, then run the plan.
        plan = os.path.join(out_dir, "model.plan")
        dims = "x".join(str(d) for d in shape)
        build = [kiln, "build", model, "--device", device, "--shapes", f"{input_name}:{dims}", "-o", plan]
        b = subprocess.run(build + flags, capture_output=True, text=True, timeout=TIMEOUT_S)
        if b.returncode != 0:
            if rejects_flags(b.stderr, flags):
                raise NotImplementedError(" ".join(flags))
            raise RuntimeError("build: " + last_error(b.stderr))
        run[2] = plan
        p = subprocess.run(run, capture_output=True, text=True, timeout=TIMEOUT_S)
    if p.returncode != 0:
        raise RuntimeError(last_error(p.stderr))
    out = os.path.join(out_dir, "output.npy")
    if not os.path.exists(out):
        files = sorted(f for f in os.listdir(out_dir) if f.endswith(".npy"))
        if not files:
            raise RuntimeError(f"kiln run wrote no .npy output into {out_dir}")
        out = os.path.join(out_dir, files[0])
    return out, p.stderr


def compare(got, ref):
    a = np.load(got).astype(np.float64)
    b = np.load(ref).astype(np.float64)
    if a.shape != b.shape:
        raise RuntimeError(f"output shape {a.shape} != reference {b.shape}")
    if not np.all(np.isfinite(a)):
        return float("inf"), float("inf")
    diff = np.abs(a - b)
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = float(np.abs(b).max()) if b.size else 0.0
    rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    return max_abs, rel


def main():
    args = parse_args()
    if not os.access(args.kiln, os.X_OK):
        sys.exit(f"gpu_accuracy.py: --kiln {args.kiln} is not an executable")
    rows = []
    with tempfile.TemporaryDirectory(prefix="kiln-accuracy-") as tmp:
        for name in args.only:
            model = ensure_model(args.models, name)
            input_name = MODELS[name][0]
            x = os.path.join(tmp, f"{name}_input.npy")
            shape = make_input(name, args.batch, args.seed, x)
            ref_dir = os.path.join(tmp, f"{name}_cpu")
            try:
                ref, _ = kiln_run(args.kiln, model, "cpu", [], input_name, x, ref_dir, shape)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                for prec in args.precisions:
                    rows.append(row(name, prec, status="ERROR", note=f"CPU reference failed: {e}"))
                continue
            for prec in args.precisions:
                flags, target = PRECISIONS[prec]
                out_dir = os.path.join(tmp, f"{name}_{prec}")
                try:
                    got, stderr = kiln_run(args.kiln, model, args.device, flags, input_name, x, out_dir, shape)
                    max_abs, rel = compare(got, ref)
                except NotImplementedError as e:
                    rows.append(row(name, prec, target=target, status="unsupported by this kiln",
                                    note=f"{e} is not a kiln run/build flag"))
                    continue
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    rows.append(row(name, prec, target=target, status="ERROR", note=str(e)))
                    continue
                status = "PASS" if rel <= target else "FAIL"
                rows.append(row(name, prec, max_abs, rel, target, status, gpu_layers=placement(stderr)))
    print_table(rows, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 1 if any(r["status"] in ("FAIL", "ERROR") for r in rows) else 0


def row(model, precision, max_abs=None, rel=None, target=None, status="", note="", gpu_layers="-"):
    return {"model": model, "precision": precision, "max_abs_err": max_abs, "max_rel_err": rel,
            "target": target, "status": status, "gpu_layers": gpu_layers, "note": note}


def print_table(rows, args):
    print(f"Kiln accuracy: --device {args.device} vs --device cpu (FP32), batch {args.batch}, seed {args.seed}")
    print("rel err = max|out - cpu| / max|cpu| over the output; PASS when rel err <= target")
    head = f"{'model':<12} {'precision':<9} {'max abs err':>12} {'max rel err':>12} {'target':>8} {'GPU layers':>10}  result"
    print(head)
    print("-" * len(head))
    fmt = lambda v: "-" if v is None else f"{v:.3e}"
    for r in rows:
        target = "-" if r["target"] is None else f"{r['target']:.0e}"
        line = (f"{r['model']:<12} {r['precision']:<9} {fmt(r['max_abs_err']):>12} {fmt(r['max_rel_err']):>12} "
                f"{target:>8} {r['gpu_layers']:>10}  {r['status']}")
        if r["note"]:
            line += f": {r['note']}"
        print(line)


if __name__ == "__main__":
    sys.exit(main())
