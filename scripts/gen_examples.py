#!/usr/bin/env python3
"""Generate the example models under examples/ (deterministic).

Writes:
  examples/small_cnn.onnx            conv/bn/relu/maxpool/conv/relu/gap/flatten/gemm/softmax,
                                     input `input` [N,3,32,32] (symbolic batch N)
  examples/small_cnn_input.npy       one 1x3x32x32 float32 input
  examples/small_cnn_expected.npy    output `probs` computed with onnxruntime
  examples/tiny_encoder.onnx         one BERT-shaped transformer encoder layer
                                     (hidden 64, 4 heads, seq 16, Erf GELU, LayerNormalization),
                                     input `hidden_states` [N,16,64]
  examples/tiny_encoder_input.npy    a 2x16x64 float32 input
  examples/tiny_encoder_expected.npy output `output` computed with onnxruntime
  examples/bad/unknown_op.onnx       a model using an op type no runtime knows

Usage: python3 scripts/gen_examples.py [OUT_DIR]   (default: examples/ next to scripts/)
Needs: numpy, onnx, onnxruntime.
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
SEED = 20240601


def init(name, array):
    """An initializer from a numpy array."""
    return numpy_helper.from_array(np.ascontiguousarray(array), name)


def finish(graph, producer="kiln gen_examples.py"):
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=producer,
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def small_cnn(rng):
    """A small image classifier on NCHW 3x32x32 inputs with a symbolic batch."""
    f = np.float32
    inits = [
        init("conv1.weight", (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(f)),
        init("conv1.bias", (rng.standard_normal(8) * 0.1).astype(f)),
        init("bn1.scale", (1.0 + rng.standard_normal(8) * 0.1).astype(f)),
        init("bn1.bias", (rng.standard_normal(8) * 0.1).astype(f)),
        init("bn1.mean", (rng.standard_normal(8) * 0.1).astype(f)),
        init("bn1.var", (0.5 + rng.random(8)).astype(f)),
        init("conv2.weight", (rng.standard_normal((16, 8, 3, 3)) * 0.15).astype(f)),
        init("conv2.bias", (rng.standard_normal(16) * 0.1).astype(f)),
        init("fc.weight", (rng.standard_normal((10, 16)) * 0.5).astype(f)),
        init("fc.bias", (rng.standard_normal(10) * 0.1).astype(f)),
    ]
    nodes = [
        helper.make_node(
            "Conv", ["input", "conv1.weight", "conv1.bias"], ["conv1"],
            name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1],
        ),
        helper.make_node(
            "BatchNormalization",
            ["conv1", "bn1.scale", "bn1.bias", "bn1.mean", "bn1.var"], ["bn1"],
            name="bn1", epsilon=1e-5,
        ),
        helper.make_node("Relu", ["bn1"], ["relu1"], name="relu1"),
        helper.make_node(
            "MaxPool", ["relu1"], ["pool1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]
        ),
        helper.make_node(
            "Conv", ["pool1", "conv2.weight", "conv2.bias"], ["conv2"],
            name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
        ),
        helper.make_node("Relu", ["conv2"], ["relu2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["relu2"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten", axis=1),
        helper.make_node(
            "Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1
        ),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "small_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 10])],
        inits,
    )
    x = rng.standard_normal((1, 3, 32, 32)).astype(f)
    return finish(graph), {"input": x}


def tiny_encoder(rng, seq=16, hidden=64, heads=4, ffn=256):
    """One post-LN transformer encoder layer (BERT layout) with a symbolic batch."""
    f = np.float32
    hd = hidden // heads
    w = lambda *s: (rng.standard_normal(s) * (1.0 / np.sqrt(s[0]))).astype(f)  # noqa: E731
    b = lambda n: (rng.standard_normal(n) * 0.02).astype(f)  # noqa: E731
    inits = [
        init("q.weight", w(hidden, hidden)), init("q.bias", b(hidden)),
        init("k.weight", w(hidden, hidden)), init("k.bias", b(hidden)),
        init("v.weight", w(hidden, hidden)), init("v.bias", b(hidden)),
        init("o.weight", w(hidden, hidden)), init("o.bias", b(hidden)),
        init("ln1.scale", (1.0 + rng.standard_normal(hidden) * 0.05).astype(f)),
        init("ln1.bias", b(hidden)),
        init("ffn1.weight", w(hidden, ffn)), init("ffn1.bias", b(ffn)),
        init("ffn2.weight", w(ffn, hidden)), init("ffn2.bias", b(hidden)),
        init("ln2.scale", (1.0 + rng.standard_normal(hidden) * 0.05).astype(f)),
        init("ln2.bias", b(hidden)),
        init("heads_shape", np.array([-1, seq, heads, hd], dtype=np.int64)),
        init("merge_shape", np.array([-1, seq, hidden], dtype=np.int64)),
        init("scale", np.array(1.0 / np.sqrt(hd), dtype=f)),
        init("sqrt2", np.array(np.sqrt(2.0), dtype=f)),
        init("one", np.array(1.0, dtype=f)),
        init("half", np.array(0.5, dtype=f)),
    ]
    n = helper.make_node
    nodes = []
    for p in "qkv":
        nodes += [
            n("MatMul", ["hidden_states", f"{p}.weight"], [f"{p}_mm"], name=f"{p}_proj"),
            n("Add", [f"{p}_mm", f"{p}.bias"], [f"{p}_b"], name=f"{p}_bias"),
            n("Reshape", [f"{p}_b", "heads_shape"], [f"{p}_heads"], name=f"{p}_split_heads"),
        ]
    nodes += [
        n("Transpose", ["q_heads"], ["q_t"], name="q_transpose", perm=[0, 2, 1, 3]),
        n("Transpose", ["k_heads"], ["k_t"], name="k_transpose", perm=[0, 2, 3, 1]),
        n("Transpose", ["v_heads"], ["v_t"], name="v_transpose", perm=[0, 2, 1, 3]),
        n("MatMul", ["q_t", "k_t"], ["scores_raw"], name="qk_matmul"),
        n("Mul", ["scores_raw", "scale"], ["scores"], name="qk_scale"),
        n("Softmax", ["scores"], ["attn"], name="attn_softmax", axis=-1),
        n("MatMul", ["attn", "v_t"], ["ctx_heads"], name="attn_v_matmul"),
        n("Transpose", ["ctx_heads"], ["ctx_t"], name="ctx_transpose", perm=[0, 2, 1, 3]),
        n("Reshape", ["ctx_t", "merge_shape"], ["ctx"], name="merge_heads"),
        n("MatMul", ["ctx", "o.weight"], ["o_mm"], name="o_proj"),
        n("Add", ["o_mm", "o.bias"], ["o_b"], name="o_bias"),
        n("Add", ["o_b", "hidden_states"], ["res1"], name="residual1"),
        n("LayerNormalization", ["res1", "ln1.scale", "ln1.bias"], ["ln1"],
          name="ln1", axis=-1, epsilon=1e-12),
        n("MatMul", ["ln1", "ffn1.weight"], ["ffn1_mm"], name="ffn1"),
        n("Add", ["ffn1_mm", "ffn1.bias"], ["ffn1_b"], name="ffn1_bias"),
        # GELU(x) = 0.5 * x * (1 + erf(x / sqrt(2)))
        n("Div", ["ffn1_b", "sqrt2"], ["gelu_div"], name="gelu_div"),
        n("Erf", ["gelu_div"], ["gelu_erf"], name="gelu_erf"),
        n("Add", ["gelu_erf", "one"], ["gelu_add"], name="gelu_add"),
        n("Mul", ["ffn1_b", "gelu_add"], ["gelu_mul"], name="gelu_mul"),
        n("Mul", ["gelu_mul", "half"], ["gelu"], name="gelu_half"),
        n("MatMul", ["gelu", "ffn2.weight"], ["ffn2_mm"], name="ffn2"),
        n("Add", ["ffn2_mm", "ffn2.bias"], ["ffn2_b"], name="ffn2_bias"),
        n("Add", ["ffn2_b", "ln1"], ["res2"], name="residual2"),
        n("LayerNormalization", ["res2", "ln2.scale", "ln2.bias"], ["output"],
          name="ln2", axis=-1, epsilon=1e-12),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_encoder",
        [helper.make_tensor_value_info("hidden_states", TensorProto.FLOAT, ["N", seq, hidden])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", seq, hidden])],
        inits,
    )
    x = rng.standard_normal((2, seq, hidden)).astype(f)
    return finish(graph), {"hidden_states": x}


def unknown_op():
    """A valid ONNX file whose middle node uses an op type nobody implements."""
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="relu"),
        helper.make_node("FrobnicateTensor", ["a"], ["b"], name="frob", domain="com.example"),
        helper.make_node("NoSuchOp", ["b"], ["y"], name="nosuch"),
    ]
    graph = helper.make_graph(
        nodes,
        "unknown_op",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("com.example", 1)],
        producer_name="kiln gen_examples.py",
    )
    model.ir_version = IR_VERSION
    return model


def main():
    import onnxruntime as ort

    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "examples")
    os.makedirs(os.path.join(out, "bad"), exist_ok=True)
    rng = np.random.default_rng(SEED)
    for name, (model, feeds) in [
        ("small_cnn", small_cnn(rng)),
        ("tiny_encoder", tiny_encoder(rng)),
    ]:
        path = os.path.join(out, f"{name}.onnx")
        onnx.save(model, path)
        (input_name, x), = feeds.items()
        np.save(os.path.join(out, f"{name}_input.npy"), x)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        (y,) = sess.run(None, feeds)
        np.save(os.path.join(out, f"{name}_expected.npy"), y)
        print(f"{path}: input {input_name} {x.shape} -> {sess.get_outputs()[0].name} {y.shape}")
    path = os.path.join(out, "bad", "unknown_op.onnx")
    onnx.save(unknown_op(), path)
    print(path)


if __name__ == "__main__":
    main()
