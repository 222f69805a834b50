#!/usr/bin/env python3
"""perf_analyzer against `kiln serve`: throughput, p50/p99 latency and server overhead.

Starts `kiln serve` on the example repository (loopback, free ports), then:
  1. runs perf_analyzer over HTTP and gRPC at each concurrency on `simple` and on the CNN
     without (`cnn_classifier`) and with (`cnn_dynamic`) dynamic batching, printing
     throughput, client p50/p99 latency and the server's own time per request from the
     statistics endpoint (request time minus compute time, averaged over the run);
  2. measures the server overhead p50 at concurrency 1 exactly: sequential requests on
     `simple`, reading the statistics after each one, so every request's
     (request duration - compute input/infer/output duration) is known;
  3. prints the dynamic-batching speedup of the CNN at concurrency 16 and checks the targets
     (overhead p50 <= 50 us at concurrency 1; speedup >= 2x). Exit status 1 if one is missed.

Usage: server_bench.py --kiln PATH --perf-analyzer PATH --repo DIR [--seconds 2]
       [--concurrency 1 8 64] [--cnn-concurrency 1 8 16 64] [--only simple|cnn]
       [--server-cpus 0,1 --client-cpus 2-15] [--cnn-instances N] [--cnn-queue-delay-us US]
Needs: tritonclient (any 2.x, for step 2), numpy.
"""

import argparse
import csv
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--perf-analyzer", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--seconds", type=float, default=2.0, help="perf_analyzer measurement window")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    ap.add_argument("--cnn-concurrency", type=int, nargs="+", default=[1, 8, 16, 64])
    ap.add_argument("--overhead-requests", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=None, help="kiln serve --threads")
    ap.add_argument("--only", choices=["simple", "cnn"], default=None)
    ap.add_argument("--json-out", default=None)
    ap.add_argument("--server-cpus", default=None,
                    help="pin `kiln serve` to these CPUs (taskset list, e.g. 0,1) for quiet runs")
    ap.add_argument("--client-cpus", default=None,
                    help="pin perf_analyzer to these CPUs (taskset list, e.g. 2-15)")
    ap.add_argument("--cnn-instances", type=int, default=None,
                    help="serve both CNN models with this instance_group count (a copy of the "
                         "repository in a temporary folder; default: as configured)")
    ap.add_argument("--cnn-queue-delay-us", type=int, default=None,
                    help="max_queue_delay_microseconds of cnn_dynamic in that copy")
    return ap.parse_args()


class KilnServer:
    """`kiln serve` on loopback with ports chosen by the system."""

    def __init__(self, kiln, repo, threads, cpus=None):
        cmd = (["taskset", "-c", cpus] if cpus else []) + [kiln, "serve", "--model-repository", repo, "--host", "127.0.0.1",
               "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0"]
        if threads:
            cmd += ["--threads", str(threads)]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        self.http = self.grpc = None
        self.log = []
        deadline = time.time() + 300
        while (self.http is None or self.grpc is None) and time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.append(line.rstrip())
            m = re.match(r"(HTTP|gRPC) listening on (\S+)", line.strip())
            if m:
                if m.group(1) == "HTTP":
                    self.http = m.group(2)
                else:
                    self.grpc = m.group(2)
        if self.http is None or self.grpc is None:
            self.stop()
            sys.exit("kiln serve did not start:\n" + "\n".join(self.log))
        for line in self.log:
            if "UNAVAILABLE" in line:
                self.stop()
                sys.exit(f"a model failed to load: {line}")

    def stats(self, model):
        with urllib.request.urlopen(f"http://{self.http}/v2/models/{model}/stats") as r:
            s = json.load(r)["model_stats"][0]
        inf = s["inference_stats"]
        ns = lambda k: (int(inf[k]["count"]), int(inf[k]["ns"]))  # noqa: E731
        return {
            "success": ns("success"), "queue": ns("queue"), "input": ns("compute_input"),
            "infer": ns("compute_infer"), "output": ns("compute_output"),
            "inferences": int(s["inference_count"]), "executions": int(s["execution_count"]),
        }

    def stop(self):
        """SIGTERM, as an operator would; the server must exit 0 (graceful shutdown)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                sys.exit("kiln serve did not stop within 30 s of SIGTERM")
            if rc != 0:
                sys.exit(f"kiln serve exited with {rc} on SIGTERM")


def delta(a, b):
    """Server time per request between two statistics snapshots (microseconds)."""
    n = b["success"][0] - a["success"][0]
    if n <= 0:
        return None
    us = lambda k: (b[k][1] - a[k][1]) / 1000 / n  # noqa: E731
    request, queue = us("success"), us("queue")
    compute = us("input") + us("infer") + us("output")
    execs = b["executions"] - a["executions"]
    infs = b["inferences"] - a["inferences"]
    return {"request_us": request, "queue_us": queue, "compute_us": compute,
            "overhead_us": request - compute, "avg_batch": infs / execs if execs else 0.0}


def perf_analyzer(args, server, model, protocol, concurrency):
    url = server.http if protocol == "http" else server.grpc
    window = args.seconds
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "pa.csv")
        # On a busy machine perf_analyzer may not see 3 windows within 50% of each other:
        # retry with longer windows.
        for attempt in range(3):
            pin = ["taskset", "-c", args.client_cpus] if args.client_cpus else []
            cmd = pin + [args.perf_analyzer, "-m", model, "-u", url, "-i", protocol,
                   "--concurrency-range", f"{concurrency}:{concurrency}",
                   "-p", str(int(window * 1000)), "-s", "50", "-r", "10",
                   "--max-threads", str(max(16, concurrency)), "-f", out]
            before = server.stats(model)
            p = subprocess.run(cmd, capture_output=True, text=True)
            after = server.stats(model)
            if p.returncode == 0 and os.path.exists(out):
                break
            if "stable" not in p.stdout + p.stderr or attempt == 2:
                sys.exit(f"perf_analyzer failed ({' '.join(cmd)}):\n{p.stdout}\n{p.stderr}")
            window *= 2
        with open(out) as f:
            row = next(csv.DictReader(f))
    srv = delta(before, after) or {}
    return {
        "model": model, "protocol": protocol, "concurrency": concurrency,
        "throughput": float(row["Inferences/Second"]),
        "p50_us": int(row["p50 latency"]), "p99_us": int(row["p99 latency"]),
        "server_overhead_us": srv.get("overhead_us"), "server_queue_us": srv.get("queue_us"),
        "server_compute_us": srv.get("compute_us"), "avg_batch": srv.get("avg_batch"),
    }


def overhead_p50(server, protocol, n):
    """Per-request server overhead at concurrency 1 on `simple` (binary tensors)."""
    import numpy as np
    if protocol == "http":
        import tritonclient.http as tc
        client = tc.InferenceServerClient(url=server.http)
    else:
        import tritonclient.grpc as tc
        client = tc.InferenceServerClient(url=server.grpc)
    a = np.arange(16, dtype=np.int32).reshape(1, 16)
    inputs = []
    for name in ("INPUT0", "INPUT1"):
        t = tc.InferInput(name, [1, 16], "INT32")
        t.set_data_from_numpy(a)
        inputs.append(t)
    for _ in range(50):
        client.infer("simple", inputs)
    over, e2e = [], []
    prev = server.stats("simple")
    for _ in range(n):
        t0 = time.perf_counter()
        client.infer("simple", inputs)
        e2e.append((time.perf_counter() - t0) * 1e6)
        cur = server.stats("simple")
        d = delta(prev, cur)
        if d is not None:
            over.append(d["overhead_us"])
        prev = cur
    return statistics.median(over), statistics.quantiles(over, n=100)[98], statistics.median(e2e)


def variant_repository(args):
    """A copy of the repository with the CNN models' instance count / queue delay changed."""
    import shutil
    dst = os.path.join(tempfile.mkdtemp(prefix="kiln-bench-repo-"), "repo")
    shutil.copytree(args.repo, dst)
    for model in ("cnn_classifier", "cnn_dynamic"):
        path = os.path.join(dst, model, "config.pbtxt")
        with open(path) as f:
            text = f.read()
        if args.cnn_instances:
            text = re.sub(r"count:\s*\d+", f"count: {args.cnn_instances}", text)
        if args.cnn_queue_delay_us is not None:
            text = re.sub(r"max_queue_delay_microseconds:\s*\d+",
                          f"max_queue_delay_microseconds: {args.cnn_queue_delay_us}", text)
        with open(path, "w") as f:
            f.write(text)
    print(f"serving a copy of the repository with changed CNN settings: {dst}", file=sys.stderr)
    return dst


def main():
    args = parse_args()
    repo = args.repo
    if args.cnn_instances or args.cnn_queue_delay_us:
        repo = variant_repository(args)
    server = KilnServer(args.kiln, repo, args.threads, args.server_cpus)
    rows, summary = [], {}
    try:
        jobs = []
        if args.only in (None, "simple"):
            jobs += [("simple", p, c) for p in ("http", "grpc") for c in args.concurrency]
        if args.only in (None, "cnn"):
            jobs += [(m, p, c) for m in ("cnn_classifier", "cnn_dynamic")
                     for p in ("http", "grpc") for c in args.cnn_concurrency]
        for model, protocol, c in jobs:
            r = perf_analyzer(args, server, model, protocol, c)
            print(f"  {model:15} {protocol:4} c={c:<3} {r['throughput']:9.1f} infer/s", file=sys.stderr)
            rows.append(r)
        if args.only in (None, "simple"):
            for protocol in ("http", "grpc"):
                p50, p99, e2e = overhead_p50(server, protocol, args.overhead_requests)
                summary[f"overhead_p50_us_{protocol}"] = p50
                summary[f"overhead_p99_us_{protocol}"] = p99
                summary[f"client_p50_us_{protocol}"] = e2e
    finally:
        server.stop()

    print()
    print("| model | protocol | dyn. batching | concurrency | infer/s | p50 (µs) | p99 (µs) "
          "| server request−compute (µs) | of which queue (µs) | compute (µs) | avg batch |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    for r in rows:
        dyn = "on" if r["model"] == "cnn_dynamic" else "off"
        print(f"| {r['model']} | {r['protocol']} | {dyn} | {r['concurrency']} | {r['throughput']:.1f} "
              f"| {r['p50_us']} | {r['p99_us']} | {fmt(r['server_overhead_us'])} "
              f"| {fmt(r['server_queue_us'])} | {fmt(r['server_compute_us'])} | {fmt(r['avg_batch'])} |")
    ok = True
    print()
    for protocol in ("http", "grpc"):
        k = f"overhead_p50_us_{protocol}"
        if k in summary:
            good = summary[k] <= 50.0
            ok &= good
            print(f"server overhead at concurrency 1 ({protocol}, simple, {args.overhead_requests} "
                  f"sequential requests): p50 {summary[k]:.1f} µs, p99 "
                  f"{summary[f'overhead_p99_us_{protocol}']:.1f} µs (client round trip p50 "
                  f"{summary[f'client_p50_us_{protocol}']:.0f} µs); target <= 50 µs: "
                  f"{'met' if good else 'MISSED'}")
    for protocol in ("http", "grpc"):
        on = [r for r in rows if r["model"] == "cnn_dynamic" and r["protocol"] == protocol and r["concurrency"] == 16]
        off = [r for r in rows if r["model"] == "cnn_classifier" and r["protocol"] == protocol and r["concurrency"] == 16]
        if on and off:
            x = on[0]["throughput"] / off[0]["throughput"]
            summary[f"dynamic_speedup_c16_{protocol}"] = x
            good = x >= 2.0
            ok &= good
            print(f"CNN dynamic batching at concurrency 16 ({protocol}): {on[0]['throughput']:.0f} vs "
                  f"{off[0]['throughput']:.0f} infer/s = {x:.2f}x; target >= 2x: {'met' if good else 'MISSED'}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"rows": rows, "summary": summary}, f, indent=1)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
