#!/usr/bin/env python3
"""Generate the example model repository served by `kiln serve` (deterministic).

Writes, next to this script:
  simple/1/model.onnx          INT32 INPUT0, INPUT1 [N,16] -> OUTPUT0 = sum, OUTPUT1 = difference
                               (the model Triton's client examples use); config.pbtxt is
                               written by hand next to it
  cnn_classifier/1/model.onnx  the small CNN of scripts/gen_examples.py (input `input`
                               [N,3,32,32] FP32, output `probs` [N,10]); labels.txt
  cnn_dynamic/1/model.onnx     the same CNN, served with dynamic batching
  mlp_autocomplete/1/model.onnx a two-layer perceptron [N,8] -> [N,4] with NO config.pbtxt:
                               the server completes its configuration from the model

Usage: python3 examples/model_repository/generate.py
Needs: numpy, onnx (onnx==1.22.0).
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
import gen_examples  # noqa: E402  (small_cnn, finish)

SEED = 20240601


def simple():
    """OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 - INPUT1 on INT32 [N,16]."""
    io = lambda name: helper.make_tensor_value_info(name, TensorProto.INT32, ["N", 16])  # noqa: E731
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"], name="add"),
            helper.make_node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"], name="sub"),
        ],
        "simple",
        [io("INPUT0"), io("INPUT1")],
        [io("OUTPUT0"), io("OUTPUT1")],
    )
    return gen_examples.finish(graph, producer="kiln model_repository/generate.py")


def mlp(rng):
    """Gemm(8->16) + Relu + Gemm(16->4) on FP32 [N,8]."""
    f = np.float32
    inits = [
        numpy_helper.from_array((rng.standard_normal((16, 8)) * 0.4).astype(f), "fc1.weight"),
        numpy_helper.from_array((rng.standard_normal(16) * 0.1).astype(f), "fc1.bias"),
        numpy_helper.from_array((rng.standard_normal((4, 16)) * 0.4).astype(f), "fc2.weight"),
        numpy_helper.from_array((rng.standard_normal(4) * 0.1).astype(f), "fc2.bias"),
    ]
    nodes = [
        helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["hr"], name="relu"),
        helper.make_node("Gemm", ["hr", "fc2.weight", "fc2.bias"], ["y"], name="fc2", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        initializer=inits,
    )
    return gen_examples.finish(graph, producer="kiln model_repository/generate.py")


def save(model, *path):
    out = os.path.join(HERE, *path)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    onnx.save(model, out)
    print("wrote", os.path.relpath(out, HERE))


def main():
    save(simple(), "simple", "1", "model.onnx")
    cnn, _feeds = gen_examples.small_cnn(np.random.default_rng(SEED))
    save(cnn, "cnn_classifier", "1", "model.onnx")
    save(cnn, "cnn_dynamic", "1", "model.onnx")
    save(mlp(np.random.default_rng(SEED + 1)), "mlp_autocomplete", "1", "model.onnx")
    labels = ["airplane", "automobile", "bird", "cat", "deer",
              "dog", "frog", "horse", "ship", "truck"]
    with open(os.path.join(HERE, "cnn_classifier", "labels.txt"), "w") as f:
        f.write("\n".join(labels) + "\n")
    print("wrote cnn_classifier/labels.txt")


if __name__ == "__main__":
    main()
