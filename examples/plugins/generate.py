"""Generate the ONNX models of the plugin examples and their numpy references.

plugin_swiglu.onnx: X [N, 8] -> MatMul W [8, 16] -> SwiGLU (domain kiln.example, a custom
layer from plugins/swiglu, beta 1.5) -> Y [N, 8] -> Add b -> out. The reference is computed
with numpy (silu(a; beta) = a * sigmoid(beta * a)).

plugin_unknown.onnx: like plugin_swiglu.onnx plus two nodes no plugin provides
(Frobnicate, Gronk), to check that every unsupported node is reported at once.

Run: python3 examples/plugins/generate.py (needs onnx and numpy).
"""

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
BETA = 1.5


def swiglu(x, beta):
    h = x.shape[-1] // 2
    a, b = x[..., :h], x[..., h:]
    return a / (1.0 + np.exp(-beta * a)) * b


def model(extra_unknown):
    rng = np.random.default_rng(7)
    w = rng.standard_normal((8, 16)).astype(np.float32) * 0.5
    b = rng.standard_normal((8,)).astype(np.float32) * 0.1
    nodes = [
        helper.make_node("MatMul", ["X", "W"], ["h"], name="proj"),
        helper.make_node("SwiGLU", ["h"], ["g"], name="swiglu", domain="kiln.example", beta=BETA),
        helper.make_node("Add", ["g", "b"], ["out" if not extra_unknown else "s"], name="bias"),
    ]
    if extra_unknown:
        nodes += [
            helper.make_node("Frobnicate", ["s"], ["f"], name="frob", domain="com.example"),
            helper.make_node("Gronk", ["f"], ["out"], name="gronk"),
        ]
    graph = helper.make_graph(
        nodes,
        "plugin_swiglu",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 8])],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("kiln.example", 1)]
    if extra_unknown:
        opsets.append(helper.make_opsetid("com.example", 1))
    m = helper.make_model(graph, opset_imports=opsets, producer_name="kiln-examples")
    m.ir_version = 8
    return m, w, b


def main():
    m, w, b = model(False)
    onnx.save(m, os.path.join(HERE, "plugin_swiglu.onnx"))
    x = np.random.default_rng(11).standard_normal((4, 8)).astype(np.float32)
    y = swiglu(x @ w, BETA) + b
    np.save(os.path.join(HERE, "plugin_swiglu_input.npy"), x)
    np.save(os.path.join(HERE, "plugin_swiglu_expected.npy"), y.astype(np.float32))
    u, _, _ = model(True)
    onnx.save(u, os.path.join(HERE, "plugin_unknown.onnx"))


if __name__ == "__main__":
    main()
