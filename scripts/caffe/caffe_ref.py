"""Independent numpy reference of Caffe's inference layers (float64), and random weights.

Written from Caffe's documented layer semantics; it does not use Kiln. Each layer type has
a weight-shape function (what the caffemodel must hold) and a forward function.
"""

import math

import numpy as np

V1_TYPES = {
    "ABSVAL": "AbsVal", "ARGMAX": "ArgMax", "BNLL": "BNLL", "CONCAT": "Concat",
    "CONVOLUTION": "Convolution", "DECONVOLUTION": "Deconvolution", "DROPOUT": "Dropout",
    "ELTWISE": "Eltwise", "EXP": "Exp", "FLATTEN": "Flatten", "INNER_PRODUCT": "InnerProduct",
    "LRN": "LRN", "POOLING": "Pooling", "POWER": "Power", "RELU": "ReLU",
    "SIGMOID": "Sigmoid", "SOFTMAX": "Softmax", "SPLIT": "Split", "SLICE": "Slice",
    "TANH": "TanH",
}


def norm_axis(a, rank):
    return a + rank if a < 0 else a


# ---------------------------------------------------------------- convolution


def conv_geometry(p, nsp):
    def rep(vals, h, w, hset, default):
        if hset:
            return [h, w]
        vals = list(vals)
        if not vals:
            return [default] * nsp
        if len(vals) == 1:
            return vals * nsp
        return vals

    k = rep(p.kernel_size, p.kernel_h, p.kernel_w, p.HasField("kernel_h"), 1)
    s = rep(p.stride, p.stride_h, p.stride_w, p.HasField("stride_h") or p.HasField("stride_w"), 1)
    pad = rep(p.pad, p.pad_h, p.pad_w, p.HasField("pad_h") or p.HasField("pad_w"), 0)
    d = list(p.dilation) or [1]
    d = d * nsp if len(d) == 1 else d
    return k, s, pad, d


def conv_forward(x, w, b, k, s, pad, d, g):
    n, c, h, wd = x.shape
    m = w.shape[0]
    oh = (h + 2 * pad[0] - (d[0] * (k[0] - 1) + 1)) // s[0] + 1
    ow = (wd + 2 * pad[1] - (d[1] * (k[1] - 1) + 1)) // s[1] + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    out = np.zeros((n, m, oh, ow))
    cg, mg = c // g, m // g
    for gi in range(g):
        xs = xp[:, gi * cg:(gi + 1) * cg]
        ws = w[gi * mg:(gi + 1) * mg]
        acc = np.zeros((n, mg, oh, ow))
        for i in range(k[0]):
            for j in range(k[1]):
                hs, js = i * d[0], j * d[1]
                patch = xs[:, :, hs:hs + s[0] * (oh - 1) + 1:s[0], js:js + s[1] * (ow - 1) + 1:s[1]]
                acc += np.einsum("nchw,mc->nmhw", patch, ws[:, :, i, j])
        out[:, gi * mg:(gi + 1) * mg] = acc
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def deconv_forward(x, w, b, k, s, pad, d, g):
    n, c, h, wd = x.shape
    m = w.shape[1] * g
    fh = s[0] * (h - 1) + d[0] * (k[0] - 1) + 1
    fw = s[1] * (wd - 1) + d[1] * (k[1] - 1) + 1
    full = np.zeros((n, m, fh, fw))
    cg, mg = c // g, m // g
    for gi in range(g):
        xs = x[:, gi * cg:(gi + 1) * cg]
        ws = w[gi * cg:(gi + 1) * cg]  # (cg, mg, kh, kw)
        for i in range(k[0]):
            for j in range(k[1]):
                contrib = np.einsum("nchw,cm->nmhw", xs, ws[:, :, i, j])
                full[:, gi * mg:(gi + 1) * mg,
                     i * d[0]:i * d[0] + s[0] * (h - 1) + 1:s[0],
                     j * d[1]:j * d[1] + s[1] * (wd - 1) + 1:s[1]] += contrib
    out = full[:, :, pad[0]:fh - pad[0], pad[1]:fw - pad[1]]
    if b is not None:
        out = out + b.reshape(1, -1, 1, 1)
    return out


# ---------------------------------------------------------------- pooling


def pool_params(p, shape):
    if p.global_pooling:
        return [shape[2], shape[3]], [1, 1], [0, 0]
    k = [p.kernel_h, p.kernel_w] if p.HasField("kernel_h") else [p.kernel_size] * 2
    s = [p.stride_h, p.stride_w] if (p.HasField("stride_h") or p.HasField("stride_w")) else [p.stride] * 2
    pad = [p.pad_h, p.pad_w] if (p.HasField("pad_h") or p.HasField("pad_w")) else [p.pad] * 2
    return k, s, pad


def pooled_size(size, k, s, pad, ceil):
    span = size + 2 * pad - k
    o = (-(-span // s) if ceil else span // s) + 1
    if pad > 0 and (o - 1) * s >= size + pad:
        o -= 1
    return o


def pool_forward(x, method, k, s, pad, ceil):
    n, c, h, w = x.shape
    oh = pooled_size(h, k[0], s[0], pad[0], ceil)
    ow = pooled_size(w, k[1], s[1], pad[1], ceil)
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            hs, ws = i * s[0] - pad[0], j * s[1] - pad[1]
            he, we = min(hs + k[0], h + pad[0]), min(ws + k[1], w + pad[1])
            size = (he - hs) * (we - ws)
            hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
            win = x[:, :, hs:he, ws:we]
            if method == 0:
                out[:, :, i, j] = win.max(axis=(2, 3))
            else:
                out[:, :, i, j] = win.sum(axis=(2, 3)) / size
    return out


# ---------------------------------------------------------------- helpers


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def bshape(dims, at, rank):
    s = [1] * rank
    s[at:at + len(dims)] = dims
    return s


def reshape_shape(shape, p):
    rank = len(shape)
    start = rank + 1 + p.axis if p.axis < 0 else p.axis
    end = rank if p.num_axes == -1 else start + p.num_axes
    mid = []
    infer = None
    for i, d in enumerate(p.shape.dim):
        if d == 0:
            mid.append(shape[start + i])
        elif d == -1:
            infer = i
            mid.append(1)
        else:
            mid.append(d)
    out = list(shape[:start]) + mid + list(shape[end:])
    if infer is not None:
        out[start + infer] = int(np.prod(shape)) // int(np.prod(out))
    return out


# ---------------------------------------------------------------- weights


def weight_shapes(ty, lp, in_shapes):
    """Shapes of the blobs a layer stores, given its bottoms' shapes."""
    if ty in ("Convolution", "Deconvolution"):
        p = lp.convolution_param
        k, _, _, _ = conv_geometry(p, len(in_shapes[0]) - 2)
        c, m, g = in_shapes[0][1], p.num_output, p.group
        w = [m, c // g] + k if ty == "Convolution" else [c, m // g] + k
        return [w, [m]] if p.bias_term else [w]
    if ty == "InnerProduct":
        p = lp.inner_product_param
        ax = norm_axis(p.axis, len(in_shapes[0]))
        kdim = int(np.prod(in_shapes[0][ax:]))
        w = [kdim, p.num_output] if p.transpose else [p.num_output, kdim]
        return [w, [p.num_output]] if p.bias_term else [w]
    if ty == "PReLU":
        return [[1] if lp.prelu_param.channel_shared else [in_shapes[0][1]]]
    if ty == "BatchNorm":
        c = in_shapes[0][1]
        return [[c], [c], [1]]
    if ty in ("Scale", "Bias"):
        p = lp.scale_param if ty == "Scale" else lp.bias_param
        shapes = []
        if len(in_shapes) == 1:
            ax = norm_axis(p.axis, len(in_shapes[0]))
            end = len(in_shapes[0]) if p.num_axes == -1 else ax + p.num_axes
            shapes.append(list(in_shapes[0][ax:end]))
        if ty == "Scale" and p.bias_term:
            if len(in_shapes) == 2:
                shapes.append(list(in_shapes[1]))
            else:
                shapes.append(shapes[0])
        return shapes
    return []


def random_blobs(ty, lp, in_shapes, rng):
    out = []
    for i, s in enumerate(weight_shapes(ty, lp, in_shapes)):
        if ty == "BatchNorm":
            if i == 0:
                v = rng.normal(0, 0.2, s)
            elif i == 1:
                v = rng.uniform(0.5, 1.5, s)
            else:
                v = np.array([rng.uniform(0.5, 2.0)])
        elif ty in ("Convolution", "Deconvolution") and i == 0:
            v = rng.normal(0, math.sqrt(2.0 / max(int(np.prod(s[1:])), 1)), s)
        elif ty == "InnerProduct" and i == 0:
            fan_in = s[0] if lp.inner_product_param.transpose else s[1]
            v = rng.normal(0, math.sqrt(2.0 / max(fan_in, 1)), s)
        elif ty == "Scale" and i == 0 and len(in_shapes) == 1:
            v = rng.uniform(0.5, 1.5, s)
        elif ty == "PReLU":
            v = rng.uniform(0.05, 0.5, s)
        else:
            v = rng.normal(0, 0.1, s)
        out.append(np.asarray(v, dtype=np.float32).astype(np.float64))
    return out


# ---------------------------------------------------------------- forward


def forward(ty, lp, xs, blobs):
    """Outputs of one layer (a list, one per top)."""
    x = xs[0]
    ntop = len(lp.top)
    if ty in ("Convolution", "Deconvolution"):
        p = lp.convolution_param
        k, s, pad, d = conv_geometry(p, x.ndim - 2)
        b = blobs[1] if p.bias_term else None
        f = conv_forward if ty == "Convolution" else deconv_forward
        return [f(x, blobs[0], b, k, s, pad, d, p.group)]
    if ty == "Pooling":
        p = lp.pooling_param
        k, s, pad = pool_params(p, x.shape)
        return [pool_forward(x, p.pool, k, s, pad, p.round_mode == 0)]
    if ty == "InnerProduct":
        p = lp.inner_product_param
        ax = norm_axis(p.axis, x.ndim)
        flat = x.reshape(int(np.prod(x.shape[:ax])), -1)
        w = blobs[0] if p.transpose else blobs[0].T
        y = flat @ w
        if p.bias_term:
            y = y + blobs[1]
        return [y.reshape(list(x.shape[:ax]) + [p.num_output])]
    if ty == "ReLU":
        return [np.where(x > 0, x, x * lp.relu_param.negative_slope)]
    if ty == "PReLU":
        a = blobs[0]
        if not lp.prelu_param.channel_shared:
            a = a.reshape(bshape([x.shape[1]], 1, x.ndim))
        return [np.maximum(x, 0) + a * np.minimum(x, 0)]
    if ty == "ELU":
        return [np.where(x > 0, x, lp.elu_param.alpha * (np.exp(np.minimum(x, 0)) - 1))]
    if ty == "Sigmoid":
        return [1 / (1 + np.exp(-x))]
    if ty == "TanH":
        return [np.tanh(x)]
    if ty == "AbsVal":
        return [np.abs(x)]
    if ty == "BNLL":
        return [np.where(x > 0, x + np.log1p(np.exp(-np.abs(x))), np.log1p(np.exp(np.minimum(x, 0))))]
    if ty == "Power":
        p = lp.power_param
        return [np.power(p.shift + p.scale * x, p.power)]
    if ty == "Exp":
        p = lp.exp_param
        base = math.e if p.base == -1 else p.base
        return [np.power(base, p.shift + p.scale * x)]
    if ty == "Log":
        p = lp.log_param
        v = np.log(p.shift + p.scale * x)
        return [v if p.base == -1 else v / math.log(p.base)]
    if ty == "Softmax":
        return [softmax(x, norm_axis(lp.softmax_param.axis, x.ndim))]
    if ty == "LRN":
        p = lp.lrn_param
        size = p.local_size
        if p.norm_region == 0:
            pre = (size - 1) // 2
            sq = np.pad(x * x, ((0, 0), (pre, size - 1 - pre), (0, 0), (0, 0)))
            acc = sum(sq[:, i:i + x.shape[1]] for i in range(size))
            return [x * np.power(p.k + p.alpha / size * acc, -p.beta)]
        pad = (size - 1) // 2
        avg = pool_forward(x * x, 1, [size, size], [1, 1], [pad, pad], True)
        return [x * np.power(1 + p.alpha * avg, -p.beta)]
    if ty == "Concat":
        p = lp.concat_param
        ax = p.concat_dim if (p.HasField("concat_dim") and not p.HasField("axis")) else p.axis
        return [np.concatenate(xs, axis=norm_axis(ax, x.ndim))]
    if ty == "Slice":
        p = lp.slice_param
        ax = p.slice_dim if (p.HasField("slice_dim") and not p.HasField("axis")) else p.axis
        ax = norm_axis(ax, x.ndim)
        pts = list(p.slice_point) or [x.shape[ax] // ntop * i for i in range(1, ntop)]
        return np.split(x, pts, axis=ax)
    if ty == "Split":
        return [x.copy() for _ in range(ntop)]
    if ty == "Eltwise":
        p = lp.eltwise_param
        if p.operation == 0:
            y = xs[0].copy()
            for v in xs[1:]:
                y = y * v
            return [y]
        if p.operation == 2:
            return [np.maximum.reduce(xs)]
        coeff = list(p.coeff) or [1.0] * len(xs)
        return [sum(c * v for c, v in zip(coeff, xs))]
    if ty in ("Scale", "Bias"):
        p = lp.scale_param if ty == "Scale" else lp.bias_param
        ax = norm_axis(p.axis, x.ndim)
        if len(xs) == 2:
            operand, rest = xs[1], blobs
        else:
            operand, rest = blobs[0], blobs[1:]
        dims = list(operand.shape)
        operand = operand.reshape(bshape(dims, ax, x.ndim))
        if ty == "Bias":
            return [x + operand]
        y = x * operand
        if p.bias_term:
            y = y + rest[0].reshape(bshape(dims, ax, x.ndim))
        return [y]
    if ty == "BatchNorm":
        sf = blobs[2][0]
        f = 0.0 if sf == 0 else 1.0 / sf
        sh = bshape([x.shape[1]], 1, x.ndim)
        mean, var = blobs[0].reshape(sh) * f, blobs[1].reshape(sh) * f
        return [(x - mean) / np.sqrt(var + lp.batch_norm_param.eps)]
    if ty == "Flatten":
        p = lp.flatten_param
        a, e = norm_axis(p.axis, x.ndim), norm_axis(p.end_axis, x.ndim)
        return [x.reshape(list(x.shape[:a]) + [-1] + list(x.shape[e + 1:]))]
    if ty == "Reshape":
        return [x.reshape(reshape_shape(x.shape, lp.reshape_param))]
    if ty == "Permute":
        order = list(lp.permute_param.order)
        order += [a for a in range(x.ndim) if a not in order]
        return [np.transpose(x, order)]
    if ty == "Dropout":
        return [x.copy()]
    if ty == "Crop":
        p = lp.crop_param
        ref = xs[1]
        ax = norm_axis(p.axis, x.ndim)
        offs = list(p.offset)
        idx = []
        for d in range(x.ndim):
            if d < ax:
                idx.append(slice(None))
            else:
                o = 0 if not offs else (offs[0] if len(offs) == 1 else offs[d - ax])
                idx.append(slice(o, o + ref.shape[d]))
        return [x[tuple(idx)]]
    if ty == "Reduction":
        p = lp.reduction_param
        ax = norm_axis(p.axis, x.ndim)
        axes = tuple(range(ax, x.ndim))
        op = {1: lambda v: v.sum(axes), 2: lambda v: np.abs(v).sum(axes),
              3: lambda v: (v * v).sum(axes), 4: lambda v: v.mean(axes)}[p.operation]
        return [np.asarray(op(x) * p.coeff)]
    if ty == "ArgMax":
        p = lp.argmax_param
        k = p.top_k
        if p.HasField("axis"):
            ax = norm_axis(p.axis, x.ndim)
            order = np.argsort(-x, axis=ax, kind="stable")
            idx = np.take(order, range(k), axis=ax)
            if p.out_max_val:
                return [np.take_along_axis(x, idx, axis=ax)]
            return [idx.astype(np.float64)]
        n = x.shape[0]
        flat = x.reshape(n, -1)
        idx = np.argsort(-flat, axis=1, kind="stable")[:, :k]
        vals = np.take_along_axis(flat, idx, axis=1)
        shape = [1] * max(x.ndim, 3)
        shape[0], shape[2] = n, k
        if p.out_max_val:
            shape[1] = 2
            return [np.concatenate([idx[:, None, :], vals[:, None, :]], axis=1).reshape(shape)]
        return [idx.astype(np.float64).reshape(shape)]
    raise ValueError(f"reference has no layer type {ty}")
