"""Test networks for the Caffe importer: one small prototxt per layer type, LeNet (current
and legacy forms), a MobileNet-style network (BatchNorm + Scale + depthwise groups), and
the BVLC deploy prototxts (AlexNet, CaffeNet, R-CNN, Flickr style, GoogLeNet) with reduced
batch and, where the network allows it, reduced input size."""

import re


def layer(name, ty, bottoms, tops, params=""):
    b = " ".join(f'bottom: "{x}"' for x in bottoms)
    t = " ".join(f'top: "{x}"' for x in tops)
    return f'layer {{ name: "{name}" type: "{ty}" {b} {t} {params} }}'


def net(name, inputs, layers):
    out = [f'name: "{name}"']
    for n, shape in inputs:
        dims = " ".join(f"dim: {d}" for d in shape)
        out.append(f'layer {{ name: "{n}" type: "Input" top: "{n}" input_param {{ shape {{ {dims} }} }} }}')
    out.extend(layers)
    return "\n".join(out) + "\n"


def one(ty, variants, shape=(2, 3, 4, 5), extra_inputs=()):
    """A net applying `ty` to input `x` with each parameter variant, each an output."""
    layers = [layer(f"{ty.lower()}{i}", ty, ["x"], [f"y{i}"], p) for i, p in enumerate(variants)]
    return net(ty.lower(), [("x", shape), *extra_inputs], layers)


LAYER_CASES = {
    "convolution": one("Convolution", [
        "convolution_param { num_output: 4 kernel_size: 3 }",
        "convolution_param { num_output: 6 kernel_size: 3 pad: 1 stride: 2 group: 3 bias_term: false }",
        "convolution_param { num_output: 2 kernel_h: 3 kernel_w: 2 pad_h: 1 pad_w: 0 stride_h: 2 stride_w: 1 }",
        "convolution_param { num_output: 3 kernel_size: 3 pad: 2 dilation: 2 }",
        "convolution_param { num_output: 6 kernel_size: [3, 1] pad: [0, 1] stride: [1, 2] group: 6 }",
    ], shape=(2, 6, 9, 11)),
    "deconvolution": one("Deconvolution", [
        "convolution_param { num_output: 4 kernel_size: 3 stride: 2 pad: 1 }",
        "convolution_param { num_output: 4 kernel_size: 2 stride: 2 group: 2 bias_term: false }",
        "convolution_param { num_output: 3 kernel_size: 3 dilation: 2 }",
    ], shape=(2, 4, 5, 6)),
    "pooling": net("pooling", [("x", (2, 3, 9, 11)), ("z", (2, 3, 6, 7))], [
        layer("p0", "Pooling", ["x"], ["y0"], "pooling_param { pool: MAX kernel_size: 3 stride: 2 }"),
        layer("p1", "Pooling", ["x"], ["y1"], "pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 }"),
        layer("p2", "Pooling", ["x"], ["y2"], "pooling_param { pool: MAX kernel_size: 2 stride: 2 pad: 1 }"),
        layer("p3", "Pooling", ["x"], ["y3"], "pooling_param { pool: AVE global_pooling: true }"),
        layer("p4", "Pooling", ["x"], ["y4"], "pooling_param { pool: MAX global_pooling: true }"),
        layer("p5", "Pooling", ["x"], ["y5"], "pooling_param { pool: AVE kernel_size: 3 stride: 2 round_mode: FLOOR }"),
        layer("p6", "Pooling", ["x"], ["y6"],
              "pooling_param { pool: AVE kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 1 pad_h: 1 pad_w: 0 }"),
        layer("p7", "Pooling", ["z"], ["y7"], "pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 }"),
        layer("p8", "Pooling", ["z"], ["y8"], "pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 }"),
        layer("p9", "Pooling", ["z"], ["y9"], "pooling_param { pool: AVE kernel_size: 2 stride: 3 pad: 1 }"),
    ]),
    "inner_product": one("InnerProduct", [
        "inner_product_param { num_output: 5 }",
        "inner_product_param { num_output: 3 axis: 2 }",
        "inner_product_param { num_output: 4 transpose: true }",
        "inner_product_param { num_output: 2 bias_term: false axis: -1 }",
    ]),
    "relu": net("relu", [("x", (2, 3, 4, 5))], [
        layer("r0", "ReLU", ["x"], ["y0"]),
        layer("r1", "ReLU", ["x"], ["y1"], "relu_param { negative_slope: 0.1 }"),
        layer("copy", "Power", ["x"], ["y2"]),
        layer("r2", "ReLU", ["y2"], ["y2"], "relu_param { negative_slope: -0.5 }"),
    ]),
    "prelu": one("PReLU", ["", "prelu_param { channel_shared: true }"]),
    "elu": one("ELU", ["", "elu_param { alpha: 0.5 }"]),
    "sigmoid": one("Sigmoid", [""]),
    "tanh": one("TanH", [""]),
    "absval": one("AbsVal", [""]),
    "bnll": one("BNLL", [""]),
    "power": one("Power", [
        "power_param { power: 2 scale: 0.5 shift: 1 }",
        "power_param { power: 0.5 scale: 0.5 shift: 5 }",
        "power_param { scale: 2 shift: -1 }",
        "power_param { power: 3 }",
    ]),
    "exp": one("Exp", ["", "exp_param { base: 2 scale: 0.5 shift: 0.3 }"]),
    "log": one("Log", ["log_param { shift: 4 scale: 0.5 }", "log_param { base: 10 shift: 5 scale: 0.5 }"]),
    "softmax": one("Softmax", ["", "softmax_param { axis: -1 }", "softmax_param { axis: 2 }"]),
    "lrn": one("LRN", [
        "lrn_param { local_size: 5 alpha: 0.5 beta: 0.75 k: 2 }",
        "lrn_param { local_size: 3 alpha: 0.3 beta: 0.6 norm_region: WITHIN_CHANNEL }",
        "lrn_param { local_size: 1 alpha: 1 beta: 0.5 }",
    ], shape=(2, 7, 5, 6)),
    "concat": net("concat", [("a", (2, 3, 4, 5)), ("b", (2, 2, 4, 5)), ("c", (2, 3, 4, 2))], [
        layer("c0", "Concat", ["a", "b"], ["y0"]),
        layer("c1", "Concat", ["b", "a", "b"], ["y1"], "concat_param { concat_dim: 1 }"),
        layer("c2", "Concat", ["a", "c"], ["y2"], "concat_param { axis: -1 }"),
    ]),
    "slice": net("slice", [("x", (2, 6, 4, 5))], [
        layer("s0", "Slice", ["x"], ["a0", "a1", "a2"], "slice_param { slice_point: 1 slice_point: 4 }"),
        layer("s1", "Slice", ["x"], ["b0", "b1"], "slice_param { axis: 2 }"),
        layer("s2", "Slice", ["x"], ["c0", "c1", "c2"], "slice_param { slice_dim: 1 }"),
    ]),
    "split": net("split", [("x", (2, 3, 4, 5))], [
        layer("s", "Split", ["x"], ["a", "b"]),
        layer("r", "ReLU", ["a"], ["a"]),
    ]),
    "eltwise": net("eltwise", [("a", (2, 3, 4, 5)), ("b", (2, 3, 4, 5)), ("c", (2, 3, 4, 5))], [
        layer("e0", "Eltwise", ["a", "b"], ["y0"]),
        layer("e1", "Eltwise", ["a", "b", "c"], ["y1"], "eltwise_param { operation: SUM coeff: 0.5 coeff: -1.5 coeff: 1 }"),
        layer("e2", "Eltwise", ["a", "b", "c"], ["y2"], "eltwise_param { operation: PROD }"),
        layer("e3", "Eltwise", ["a", "b", "c"], ["y3"], "eltwise_param { operation: MAX }"),
    ]),
    "scale": net("scale", [("x", (2, 3, 4, 5)), ("s", (3, 4))], [
        layer("s0", "Scale", ["x"], ["y0"], "scale_param { bias_term: true }"),
        layer("s1", "Scale", ["x", "s"], ["y1"]),
        layer("s2", "Scale", ["x"], ["y2"], "scale_param { num_axes: 0 }"),
        layer("s3", "Scale", ["x"], ["y3"], "scale_param { axis: 2 num_axes: -1 bias_term: true }"),
        layer("s4", "Scale", ["x", "s"], ["y4"], "scale_param { bias_term: true }"),
    ]),
    "bias": net("bias", [("x", (2, 3, 4, 5)), ("b", (4, 5))], [
        layer("b0", "Bias", ["x"], ["y0"]),
        layer("b1", "Bias", ["x", "b"], ["y1"], "bias_param { axis: 2 }"),
        layer("b2", "Bias", ["x"], ["y2"], "bias_param { axis: -2 num_axes: 2 }"),
    ]),
    "batch_norm": one("BatchNorm", ["", "batch_norm_param { eps: 0.001 use_global_stats: true }"]),
    "flatten": one("Flatten", ["", "flatten_param { axis: 2 }", "flatten_param { axis: 1 end_axis: 2 }"]),
    "reshape": one("Reshape", [
        "reshape_param { shape { dim: 0 dim: -1 } }",
        "reshape_param { shape { dim: -1 } axis: 1 num_axes: 2 }",
        "reshape_param { shape { dim: 0 dim: 2 dim: -1 dim: 5 } }",
        "reshape_param { shape { dim: 1 dim: 1 } axis: -1 num_axes: 0 }",
    ]),
    "permute": one("Permute", ["permute_param { order: 0 order: 2 order: 3 order: 1 }",
                               "permute_param { order: 0 order: 3 }"]),
    "dropout": one("Dropout", ["dropout_param { dropout_ratio: 0.3 }"]),
    "crop": net("crop", [("a", (2, 3, 9, 11)), ("r", (2, 3, 5, 6)), ("q", (2, 2, 5, 6))], [
        layer("c0", "Crop", ["a", "r"], ["y0"], "crop_param { axis: 2 offset: 1 offset: 2 }"),
        layer("c1", "Crop", ["a", "q"], ["y1"], "crop_param { axis: 1 offset: 1 }"),
        layer("c2", "Crop", ["a", "r"], ["y2"]),
    ]),
    "reduction": one("Reduction", [
        "reduction_param { operation: SUM axis: 1 }",
        "reduction_param { operation: ASUM axis: 2 }",
        "reduction_param { operation: SUMSQ axis: -1 coeff: 0.5 }",
        "reduction_param { operation: MEAN }",
    ]),
    "argmax": one("ArgMax", [
        "",
        "argmax_param { top_k: 3 out_max_val: true }",
        "argmax_param { axis: 1 top_k: 2 }",
        "argmax_param { axis: 3 out_max_val: true }",
    ]),
}

LENET_BODY = """
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  param { lr_mult: 1 } param { lr_mult: 2 }
  convolution_param { num_output: 20 kernel_size: 5 stride: 1 weight_filler { type: "xavier" } } }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2"
  convolution_param { num_output: 50 kernel_size: 5 stride: 1 } }
layer { name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "ip1" type: "InnerProduct" bottom: "pool2" top: "ip1"
  inner_product_param { num_output: 500 } }
layer { name: "relu1" type: "ReLU" bottom: "ip1" top: "ip1" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
  inner_product_param { num_output: 10 } }
layer { name: "prob" type: "Softmax" bottom: "ip2" top: "prob" }
"""

LENET = 'name: "LeNet"\ninput: "data"\ninput_dim: 2\ninput_dim: 1\ninput_dim: 28\ninput_dim: 28\n' + LENET_BODY

LENET_V1 = """name: "LeNetV1"
input: "data"
input_dim: 2 input_dim: 1 input_dim: 28 input_dim: 28
layers { name: "conv1" type: CONVOLUTION bottom: "data" top: "conv1" blobs_lr: 1 blobs_lr: 2
  convolution_param { num_output: 20 kernel_size: 5 } }
layers { name: "pool1" type: POOLING bottom: "conv1" top: "pool1"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layers { name: "conv2" type: CONVOLUTION bottom: "pool1" top: "conv2"
  convolution_param { num_output: 50 kernel_size: 5 } }
layers { name: "pool2" type: POOLING bottom: "conv2" top: "pool2"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layers { name: "ip1" type: INNER_PRODUCT bottom: "pool2" top: "ip1"
  inner_product_param { num_output: 500 } }
layers { name: "relu1" type: RELU bottom: "ip1" top: "ip1" }
layers { name: "drop1" type: DROPOUT bottom: "ip1" top: "ip1" dropout_param { dropout_ratio: 0.5 } }
layers { name: "ip2" type: INNER_PRODUCT bottom: "ip1" top: "ip2"
  inner_product_param { num_output: 10 } }
layers { name: "prob" type: SOFTMAX bottom: "ip2" top: "prob" }
layers { name: "loss" type: SOFTMAX_LOSS bottom: "ip2" bottom: "label" top: "loss"
  include { phase: TRAIN } }
"""


def mobilenet():
    """A MobileNet-v1-style network: conv/BN/Scale/ReLU blocks, depthwise 3x3 + pointwise
    1x1 pairs, global average pooling, a 1x1 classifier and Softmax. Input via `input` +
    `input_shape`."""
    out = ['name: "MobileNetStyle"', 'input: "data"',
           "input_shape { dim: 2 dim: 3 dim: 64 dim: 64 }"]

    def block(name, bottom, cout, k, s, group):
        pad = (k - 1) // 2
        g = f" group: {group}" if group > 1 else ""
        out.append(layer(name, "Convolution", [bottom], [name],
                         f"convolution_param {{ num_output: {cout} kernel_size: {k} stride: {s} pad: {pad}"
                         f" bias_term: false{g} }}"))
        out.append(layer(f"{name}/bn", "BatchNorm", [name], [name],
                         "batch_norm_param { use_global_stats: true eps: 0.00001 }"))
        out.append(layer(f"{name}/scale", "Scale", [name], [name], "scale_param { bias_term: true }"))
        out.append(layer(f"{name}/relu", "ReLU", [name], [name]))
        return name

    x = block("conv1", "data", 16, 3, 2, 1)
    cin = 16
    for i, (cout, s) in enumerate([(32, 1), (64, 2), (64, 1), (128, 2)]):
        x = block(f"conv{i + 2}_dw", x, cin, 3, s, cin)
        x = block(f"conv{i + 2}_sep", x, cout, 1, 1, 1)
        cin = cout
    out.append(layer("pool6", "Pooling", [x], ["pool6"], "pooling_param { pool: AVE global_pooling: true }"))
    out.append(layer("fc7", "Convolution", ["pool6"], ["fc7"],
                     "convolution_param { num_output: 10 kernel_size: 1 }"))
    out.append(layer("flat", "Flatten", ["fc7"], ["flat"]))
    out.append(layer("prob", "Softmax", ["flat"], ["prob"]))
    return "\n".join(out) + "\n"


def resize_input(text, dims):
    shape = " ".join(f"dim: {d}" for d in dims)
    new, n = re.subn(r"shape: \{[^}]*\}", f"shape: {{ {shape} }}", text, count=1)
    assert n == 1, "no input_param shape to resize"
    return new


def bvlc_cases(models_dir):
    """(name, prototxt text, outputs) for the BVLC deploy prototxts in the sdist."""
    read = lambda m: open(f"{models_dir}/{m}/deploy.prototxt").read()
    return [
        ("alexnet", resize_input(read("bvlc_alexnet"), (1, 3, 227, 227)), ["norm1", "fc8", "prob"]),
        ("caffenet", resize_input(read("bvlc_reference_caffenet"), (2, 3, 131, 131)), ["pool5", "fc8", "prob"]),
        ("rcnn_ilsvrc13", resize_input(read("bvlc_reference_rcnn_ilsvrc13"), (1, 3, 99, 99)), []),
        ("flickr_style", resize_input(read("finetune_flickr_style"), (1, 3, 99, 99)), []),
        ("googlenet", resize_input(read("bvlc_googlenet"), (1, 3, 224, 224)),
         ["prob", "inception_3a/output"]),
    ]


def all_cases(models_dir):
    cases = [(f"layer_{k}", v, []) for k, v in LAYER_CASES.items()]
    cases += [("lenet", LENET, []), ("lenet_v1", LENET_V1, []), ("mobilenet_style", mobilenet(), [])]
    cases += bvlc_cases(models_dir)
    return cases
