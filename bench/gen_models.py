#!/usr/bin/env python3
"""Generate the CPU benchmark models with random weights (onnx.helper + numpy).

Models (batch dimension symbolic, "N"):
  resnet50.onnx          ResNet-50 v1.5, NCHW, Conv + BatchNormalization + Relu, 224x224
  resnet50_nhwc.onnx     the same network with an NHWC input and a Transpose pair around
                         every NCHW op (Conv, BatchNormalization, pooling), as tf2onnx writes
  mobilenetv2.onnx       MobileNetV2 1.0, NCHW, Clip(0, 6) activations, 224x224
  mobilenetv2_nhwc.onnx  the NHWC / Transpose variant
  bert_base.onnx         BERT-base-shaped encoder: 12 layers, hidden 768, 12 heads, FFN 3072,
                         sequence length 128, word/position embeddings, LayerNormalization,
                         Erf-based GELU as exporters write it

Usage: gen_models.py OUT_DIR [--only NAME ...]
"""

import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class Net:
    """A tiny graph builder: unique names, initializers, NCHW or NHWC layout."""

    def __init__(self, seed, nhwc=False):
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.inits = []
        self.count = 0
        self.nhwc = nhwc

    def name(self, prefix):
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, prefix, array):
        n = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(array), n))
        return n

    def weight(self, prefix, shape, fan_in):
        w = self.rng.standard_normal(shape).astype(np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        return self.const(prefix, w)

    def node(self, op, inputs, n_out=1, **attrs):
        outs = [self.name(op.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=self.name(op), **attrs))
        return outs[0] if n_out == 1 else outs

    def nchw_op(self, op, inputs, **attrs):
        """An op that needs NCHW: wrapped in Transposes in the NHWC variant."""
        if not self.nhwc:
            return self.node(op, inputs, **attrs)
        x = self.node("Transpose", [inputs[0]], perm=[0, 3, 1, 2])
        y = self.node(op, [x] + inputs[1:], **attrs)
        return self.node("Transpose", [y], perm=[0, 2, 3, 1])

    def conv_bn(self, x, cin, cout, k, stride=1, group=1, act="relu"):
        w = self.weight("w", (cout, cin // group, k, k), cin // group * k * k)
        pad = k // 2
        y = self.nchw_op(
            "Conv", [x, w], kernel_shape=[k, k], strides=[stride, stride],
            pads=[pad] * 4, group=group,
        )
        scale = self.const("bn_scale", (1.0 + 0.1 * self.rng.standard_normal(cout)).astype(np.float32))
        bias = self.const("bn_bias", (0.1 * self.rng.standard_normal(cout)).astype(np.float32))
        mean = self.const("bn_mean", (0.1 * self.rng.standard_normal(cout)).astype(np.float32))
        var = self.const("bn_var", (1.0 + 0.1 * self.rng.random(cout)).astype(np.float32))
        y = self.nchw_op("BatchNormalization", [y, scale, bias, mean, var], epsilon=1e-5)
        if act == "relu":
            y = self.node("Relu", [y])
        elif act == "relu6":
            lo = self.const("clip_min", np.array(0.0, np.float32))
            hi = self.const("clip_max", np.array(6.0, np.float32))
            y = self.node("Clip", [y, lo, hi])
        return y

    def classifier(self, x, channels, classes=1000):
        y = self.nchw_op("GlobalAveragePool", [x])
        y = self.node("Flatten", [y], axis=1)
        w = self.weight("fc_w", (classes, channels), channels)
        b = self.const("fc_b", np.zeros(classes, np.float32))
        return self.node("Gemm", [y, w, b], transB=1)

    def model(self, name, inputs, output, out_shape):
        graph = helper.make_graph(
            self.nodes, name, inputs,
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, out_shape)],
            initializer=self.inits,
        )
        # Rename the output to a stable name.
        graph.output[0].name = "output"
        for n in graph.node:
            n.output[:] = ["output" if o == output else o for o in n.output]
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        m.ir_version = 8
        return m


def image_input(nhwc):
    shape = ["N", 224, 224, 3] if nhwc else ["N", 3, 224, 224]
    return helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)


def resnet50(nhwc):
    net = Net(50, nhwc)
    x = net.conv_bn("input", 3, 64, 7, stride=2)
    x = net.nchw_op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 64
    for width, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
        for i in range(blocks):
            s = stride if i == 0 else 1
            cout = width * 4
            y = net.conv_bn(x, cin, width, 1)
            y = net.conv_bn(y, width, width, 3, stride=s)
            y = net.conv_bn(y, width, cout, 1, act=None)
            short = net.conv_bn(x, cin, cout, 1, stride=s, act=None) if i == 0 else x
            x = net.node("Relu", [net.node("Add", [y, short])])
            cin = cout
    out = net.classifier(x, 2048)
    return net.model("resnet50" + ("_nhwc" if nhwc else ""), [image_input(nhwc)], out, ["N", 1000])


def mobilenetv2(nhwc):
    net = Net(2, nhwc)
    x = net.conv_bn("input", 3, 32, 3, stride=2, act="relu6")
    cin = 32
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            y = x
            if t != 1:
                y = net.conv_bn(y, cin, hidden, 1, act="relu6")
            y = net.conv_bn(y, hidden, hidden, 3, stride=stride, group=hidden, act="relu6")
            y = net.conv_bn(y, hidden, c, 1, act=None)
            if stride == 1 and cin == c:
                y = net.node("Add", [x, y])
            x = y
            cin = c
    x = net.conv_bn(x, cin, 1280, 1, act="relu6")
    out = net.classifier(x, 1280)
    return net.model("mobilenetv2" + ("_nhwc" if nhwc else ""), [image_input(nhwc)], out, ["N", 1000])


def bert_base(seq=128, hidden=768, heads=12, layers=12, ffn=3072, vocab=30522):
    net = Net(7)
    head = hidden // heads

    def linear(x, cin, cout):
        w = net.const("w", (net.rng.standard_normal((cin, cout)) * 0.02).astype(np.float32))
        b = net.const("b", (net.rng.standard_normal(cout) * 0.02).astype(np.float32))
        return net.node("Add", [net.node("MatMul", [x, w]), b])

    def layer_norm(x):
        g = net.const("ln_g", np.ones(hidden, np.float32))
        b = net.const("ln_b", np.zeros(hidden, np.float32))
        return net.node("LayerNormalization", [x, g, b], axis=-1, epsilon=1e-12)

    word = net.const("word_emb", (net.rng.standard_normal((vocab, hidden)) * 0.02).astype(np.float32))
    pos = net.const("pos_emb", (net.rng.standard_normal((1, seq, hidden)) * 0.02).astype(np.float32))
    x = net.node("Gather", [word, "input_ids"], axis=0)
    x = layer_norm(net.node("Add", [x, pos]))
    split_shape = net.const("split_shape", np.array([0, 0, heads, head], np.int64))
    merge_shape = net.const("merge_shape", np.array([0, 0, hidden], np.int64))
    scale = net.const("scale", np.array(np.sqrt(head), np.float32))
    sqrt2 = net.const("sqrt2", np.array(np.sqrt(2.0), np.float32))
    one = net.const("one", np.array(1.0, np.float32))
    half = net.const("half", np.array(0.5, np.float32))
    for _ in range(layers):
        q = net.node("Transpose", [net.node("Reshape", [linear(x, hidden, hidden), split_shape])],
                     perm=[0, 2, 1, 3])
        k = net.node("Transpose", [net.node("Reshape", [linear(x, hidden, hidden), split_shape])],
                     perm=[0, 2, 3, 1])
        v = net.node("Transpose", [net.node("Reshape", [linear(x, hidden, hidden), split_shape])],
                     perm=[0, 2, 1, 3])
        scores = net.node("Div", [net.node("MatMul", [q, k]), scale])
        probs = net.node("Softmax", [scores], axis=-1)
        ctx = net.node("Transpose", [net.node("MatMul", [probs, v])], perm=[0, 2, 1, 3])
        ctx = net.node("Reshape", [ctx, merge_shape])
        x = layer_norm(net.node("Add", [linear(ctx, hidden, hidden), x]))
        h = linear(x, hidden, ffn)
        erf = net.node("Erf", [net.node("Div", [h, sqrt2])])
        h = net.node("Mul", [net.node("Mul", [h, net.node("Add", [erf, one])]), half])
        x = layer_norm(net.node("Add", [linear(h, ffn, hidden), x]))
    inp = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["N", seq])
    return net.model("bert_base", [inp], x, ["N", seq, hidden])


MODELS = {
    "resnet50": lambda: resnet50(False),
    "resnet50_nhwc": lambda: resnet50(True),
    "mobilenetv2": lambda: mobilenetv2(False),
    "mobilenetv2_nhwc": lambda: mobilenetv2(True),
    "bert_base": bert_base,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--only", nargs="*", default=None, choices=sorted(MODELS))
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    for name in args.only or MODELS:
        path = os.path.join(args.out_dir, name + ".onnx")
        if os.path.exists(path):
            print(f"{path}: exists", file=sys.stderr)
            continue
        m = MODELS[name]()
        onnx.checker.check_model(m)
        tmp = path + ".tmp"
        onnx.save(m, tmp)
        os.replace(tmp, path)
        print(f"{path}: {len(m.graph.node)} nodes", file=sys.stderr)


if __name__ == "__main__":
    main()
