#!/usr/bin/env python3
"""Generate the Caffe importer's test data (run before `cargo test -p kiln-caffe`).

For every test network (cases.py) this writes, under OUT/<case>/:
  deploy.prototxt, net.caffemodel (random weights, written with protobuf from Kiln's own
  caffe.proto compiled by grpcio-tools), input_<i>.bin / output_<i>.bin (little-endian f32)
and OUT/manifest.json describing every case. Reference outputs come from caffe_ref.py, an
independent numpy (float64) implementation of Caffe's layers; Kiln is not used.

The BVLC deploy prototxts come from the `brocolli-caffe` sdist on PyPI (downloaded with pip
into OUT/sdist unless --sdist names the tar.gz).

Usage: python3 scripts/caffe/gen_tests.py [--out .cache/caffe] [--sdist FILE]
Needs: numpy, protobuf, grpcio-tools (pip).
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tarfile
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import caffe_ref  # noqa: E402
import cases  # noqa: E402

# Bump when the generator or the cases change: the Rust test refuses stale data.
FORMAT_VERSION = 1


def compile_proto(out):
    """Compile Kiln's caffe.proto with grpcio-tools' protoc into a descriptor set and build
    the message classes from it (independent of the installed protobuf runtime's version)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from grpc_tools import protoc

    desc = os.path.join(out, "caffe.desc")
    proto_dir = os.path.join(ROOT, "crates", "parser-caffe", "proto")
    rc = protoc.main(["protoc", f"-I{proto_dir}", f"--descriptor_set_out={desc}", "caffe.proto"])
    if rc != 0:
        sys.exit("protoc failed on caffe.proto")
    with open(desc, "rb") as f:
        fds = descriptor_pb2.FileDescriptorSet.FromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)

    class Caffe:
        pass

    for name in ("NetParameter", "LayerParameter", "V1LayerParameter", "BlobProto", "BlobShape"):
        cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"caffe.{name}"))
        setattr(Caffe, name, cls)
    return Caffe


def bvlc_models(out, sdist):
    if sdist is None:
        d = os.path.join(out, "sdist")
        found = glob.glob(os.path.join(d, "brocolli-caffe-*.tar.gz"))
        if not found:
            subprocess.check_call([sys.executable, "-m", "pip", "download", "--no-deps",
                                   "--no-binary", ":all:", "brocolli-caffe==9.0.2", "-d", d])
            found = glob.glob(os.path.join(d, "brocolli-caffe-*.tar.gz"))
        sdist = found[0]
    dest = os.path.join(out, "sdist", "unpacked")
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if "/models/" in m.name and m.name.endswith("deploy.prototxt")]
        tar.extractall(dest, members=members, filter="data")
    models = glob.glob(os.path.join(dest, "*", "models"))
    if not models:
        sys.exit(f"no models/ folder in {sdist}")
    return models[0]


def in_test_phase(lp):
    if lp.include:
        return any(not r.HasField("phase") or r.phase == 1 for r in lp.include)
    return not any(not r.HasField("phase") or r.phase == 1 for r in lp.exclude)


def blob_proto(pb, arr, legacy):
    b = pb.BlobProto()
    flat = np.asarray(arr, dtype=np.float64).reshape(-1)
    if legacy:
        dims = [1] * (4 - arr.ndim) + list(arr.shape)
        b.num, b.channels, b.height, b.width = dims
        b.double_data.extend(flat.tolist())
    else:
        b.shape.dim.extend(arr.shape)
        b.data.extend(flat.astype(np.float32).tolist())
    return b


def run_case(pb, name, text, outputs, out):
    from google.protobuf import text_format

    netp = text_format.Parse(text, pb.NetParameter())
    legacy = len(netp.layers) > 0
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    env, inputs, order = {}, [], []

    def add_input(n, shape):
        x = rng.normal(0, 1, shape).astype(np.float32).astype(np.float64)
        env[n] = x
        inputs.append(n)
        order.append(n)

    for i, n in enumerate(netp.input):
        if i < len(netp.input_shape):
            add_input(n, list(netp.input_shape[i].dim))
        else:
            add_input(n, list(netp.input_dim[4 * i:4 * i + 4]))
    model = pb.NetParameter(name=netp.name)
    layers = netp.layers if legacy else netp.layer
    for lp in layers:
        if not in_test_phase(lp):
            continue
        ty = caffe_ref.V1_TYPES[pb.V1LayerParameter.LayerType.Name(lp.type)] if legacy else lp.type
        if ty == "Input":
            for j, t in enumerate(lp.top):
                shapes = lp.input_param.shape
                add_input(t, list(shapes[j if len(shapes) > 1 else 0].dim))
            continue
        xs = [env[b] for b in lp.bottom]
        for b in lp.bottom:
            if b in order:
                order.remove(b)
        blobs = caffe_ref.random_blobs(ty, lp, [list(x.shape) for x in xs], rng)
        ys = caffe_ref.forward(ty, lp, xs, blobs)
        for t, y in zip(lp.top, ys):
            env[t] = np.asarray(y, dtype=np.float64)
            if t in order:
                order.remove(t)
            order.append(t)
        if blobs:
            entry = model.layers.add() if legacy else model.layer.add()
            entry.name = lp.name
            if legacy:
                entry.type = lp.type
            else:
                entry.type = ty
            for arr in blobs:
                entry.blobs.append(blob_proto(pb, arr, legacy))
    outs = outputs or order
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "deploy.prototxt"), "w") as f:
        f.write(text)
    with open(os.path.join(d, "net.caffemodel"), "wb") as f:
        f.write(model.SerializeToString())

    def dump(kind, i, n):
        arr = env[n].astype(np.float32)
        fname = f"{kind}_{i}.bin"
        arr.astype("<f4").tofile(os.path.join(d, fname))
        return {"name": n, "shape": list(arr.shape), "file": fname}

    case = {
        "name": name,
        "prototxt": "deploy.prototxt",
        "caffemodel": "net.caffemodel",
        "requested_outputs": outputs,
        "inputs": [dump("input", i, n) for i, n in enumerate(inputs)],
        "outputs": [dump("output", i, n) for i, n in enumerate(outs)],
    }
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(case, f, indent=1)
    return case


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, ".cache", "caffe"))
    ap.add_argument("--sdist", help="brocolli-caffe sdist (.tar.gz); default: pip download")
    ap.add_argument("--only", help="generate only cases whose name contains this")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    pb = compile_proto(args.out)
    models = bvlc_models(args.out, args.sdist)
    names = []
    for name, text, outputs in cases.all_cases(models):
        if args.only and args.only not in name:
            continue
        case = run_case(pb, name, text, outputs, args.out)
        names.append(name)
        print(f"{name}: outputs {[o['name'] for o in case['outputs']]}", flush=True)
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump({"version": FORMAT_VERSION, "cases": names}, f, indent=1)
    print(f"wrote {len(names)} cases to {args.out}")


if __name__ == "__main__":
    main()
