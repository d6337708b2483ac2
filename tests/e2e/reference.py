#!/usr/bin/python3
"""reference.py - an independent float64 PyTorch evaluation of .kdl models.

The end-to-end fixtures (tests/e2e/fixtures) are the outputs of this script.
It shares no code with kdl: it reads the models as data from
`kdlc check --dump=json`, the weights from a safetensors file (parsed here
with numpy), and evaluates every layer from Keras 3's definitions with
torch.nn.functional in float64. Needs numpy and torch (Debian's
python3-torch); run it with /usr/bin/python3. CI never runs it.

usage:
  reference.py predict MODEL.kdl --model VAR --weights W.safetensors
                       --input X.npy [--input X2.npy ...] --output Y.npy [--kdlc PATH]
      Writes Y.npy (float32), or Y.0.npy, Y.1.npy, ... for a model with
      several outputs (the naming the generated program uses). One --input
      per model input, in the model's input order.
  reference.py input MODEL.kdl --model VAR --batch N --seed S --output X.npy
                     [--dims D...] [--dist normal|uniform] [--lo A] [--hi B]
                     [--kdlc PATH]
      Writes a random input for the model: float32 from the given
      distribution (normal: mean 0, stddev 1), or, for an int32 input,
      int32 ids in [0, input_dim) of the Embedding layers that read it (or in
      [0, 10) when none does), and for a float32 input that an Embedding reads,
      floats in [0, input_dim).
      A model with several inputs gets X.0.npy, X.1.npy, ... (drawn in
      input order from one generator). --dims gives the sizes of the None
      dimensions of the inputs (other than the batch), in input order and
      axis order; a model with k None dimensions takes the first k values
      (a fully static model ignores them).
  reference.py outputs MODEL.kdl --model VAR [--kdlc PATH]
      Prints the number of outputs of the model.
  reference.py inputs MODEL.kdl --model VAR [--kdlc PATH]
      Prints the number of inputs of the model.
  reference.py models MODEL.kdl [--kdlc PATH]
      Prints the names the models are bound to, one per line.

Conventions (Keras 3, channels_last): images NHWC, sequences NTC. Keras
kernels are (kh, kw, in, out); torch wants (out, in, kh, kw), so tensors are
permuted to NCHW around every torch convolution. "same" padding is
TensorFlow's: total = max((out - 1) * stride + (k - 1) * dilation + 1 - in, 0),
pad_before = total // 2, the rest after.

Dimensions that are None in the dump (None input dimensions and everything
that depends on them) are taken from the tensors themselves: the layers
compute their output shapes from their actual inputs, and the dump's shapes
are checked only where they are known.
"""
import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

DT = torch.float64
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_KDLC = os.path.join(HERE, "..", "..", "build", "kdlc")


# ---- inputs: the model dump and the weights ---------------------------------------------

def load_dump(kdl, kdlc):
    """The JSON dump of every model bound to a top-level name."""
    r = subprocess.run([kdlc, "check", "--dump=json", kdl], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, check=False)
    if r.returncode != 0:
        sys.exit("reference: kdlc check failed:\n" + r.stderr.decode())
    # The program may print (model.summary(), print()) before the dump,
    # which is the last line that starts with {"models":.
    lines = [ln for ln in r.stdout.decode().splitlines() if ln.startswith('{"models":')]
    if not lines:
        sys.exit("reference: no JSON dump in the output of kdlc check")
    return json.loads(lines[-1])["models"]


SAFETENSORS_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I32": "<i4", "I64": "<i8"}


def load_safetensors(path):
    """{name: float64 tensor} from a safetensors file: an 8-byte little-endian
    header length, a JSON header, then the raw little-endian data."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        sys.exit(f"reference: {path}: too short for safetensors")
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        arr = np.frombuffer(data[begin:end], dtype=np.dtype(SAFETENSORS_DTYPES[info["dtype"]]))
        if arr.size != int(np.prod(shape, dtype=np.int64)):
            sys.exit(f"reference: {path}: {name}: size does not match shape {shape}")
        out[name] = torch.from_numpy(arr.reshape(shape).astype(np.float64))
    return out


# ---- helpers ----------------------------------------------------------------------------------

def tup(v, n):
    """Keras's normalisation of an int-or-tuple argument to n values."""
    if isinstance(v, (list, tuple)):
        if len(v) == 1 and n > 1:
            return tuple(int(v[0]) for _ in range(n))
        assert len(v) == n, (v, n)
        return tuple(int(x) for x in v)
    return tuple(int(v) for _ in range(n))


def same_pads(size, k, stride, dilation):
    """TensorFlow "SAME" padding (before, after) of one spatial axis."""
    out = -(-size // stride)
    eff = (k - 1) * dilation + 1
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2


def spatial_pads(padding, sizes, ks, strides, dils):
    padding = padding.lower()
    pads = []
    for size, k, s, d in zip(sizes, ks, strides, dils):
        if padding == "valid":
            pads.append((0, 0))
        elif padding == "same":
            pads.append(same_pads(size, k, s, d))
        elif padding == "causal":
            pads.append(((k - 1) * d, 0))
        else:
            raise ValueError(f"padding {padding!r}")
    return pads


def torch_pad_arg(pads):
    """F.pad's argument (last axis first) for per-spatial-axis (before, after)."""
    arg = []
    for before, after in reversed(pads):
        arg += [before, after]
    return arg


def to_channels_first(x):
    return x.permute(0, x.dim() - 1, *range(1, x.dim() - 1))


def to_channels_last(x):
    return x.permute(0, *range(2, x.dim()), 1)


def check_channels_last(cfg, cls):
    df = cfg.get("data_format")
    if df not in (None, "channels_last"):
        raise NotImplementedError(f"{cls}: data_format={df}")


# ---- activations (keras.activations, Keras 3) -------------------------------------------------

SELU_ALPHA = 1.67326324
SELU_SCALE = 1.05070098


def softplus(x):
    return torch.logaddexp(x, torch.zeros_like(x))    # log(1 + exp(x)), stably


def hard_sigmoid(x):
    return torch.clamp(x + 3.0, 0.0, 6.0) / 6.0


def relu_general(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """keras.activations.relu: x where x > threshold (0 elsewhere), clipped to
    [0, max_value], minus negative_slope * relu(threshold - x)."""
    if threshold != 0.0:
        y = torch.where(x > threshold, x, torch.zeros_like(x))
    else:
        y = torch.clamp(x, min=0.0)
    if max_value is not None:
        y = torch.clamp(y, 0.0, max_value)
    if negative_slope != 0.0:
        y = y - negative_slope * torch.clamp(threshold - x, min=0.0)
    return y


ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: torch.clamp(x, min=0.0),
    "relu6": lambda x: torch.clamp(x, 0.0, 6.0),
    "leaky_relu": lambda x: torch.where(x >= 0, x, 0.2 * x),
    "elu": lambda x: torch.where(x > 0, x, torch.expm1(x)),
    "selu": lambda x: SELU_SCALE * torch.where(x > 0, x, SELU_ALPHA * torch.expm1(x)),
    "gelu": lambda x: 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0))),
    "silu": lambda x: x * torch.sigmoid(x),
    "swish": lambda x: x * torch.sigmoid(x),
    "sigmoid": torch.sigmoid,
    "hard_sigmoid": hard_sigmoid,
    "tanh": torch.tanh,
    "softmax": lambda x: torch.softmax(x, dim=-1),
    "log_softmax": lambda x: torch.log_softmax(x, dim=-1),
    "softplus": softplus,
    "softsign": lambda x: x / (1.0 + torch.abs(x)),
    "exponential": torch.exp,
    "hard_silu": lambda x: x * hard_sigmoid(x),
    "hard_swish": lambda x: x * hard_sigmoid(x),
    "mish": lambda x: x * torch.tanh(softplus(x)),
}


def activation(name):
    if name is None:
        return ACTIVATIONS["linear"]
    if isinstance(name, dict):
        raise NotImplementedError(f"activation {name}")
    return ACTIVATIONS[name]


# ---- layers -------------------------------------------------------------------------------------
# Each takes (cfg, weights dict name->tensor, inputs list, layer) and returns a list of outputs.

def wpath(layer):
    """The prefix of a layer's weight names: a wrapped layer's is
    <wrapper>/<name> (its "path" in the dump)."""
    return layer.get("path", layer["name"])


def W(weights, layer, name):
    key = f"{wpath(layer)}/{name}"
    if key not in weights:
        raise KeyError(f"weight {key} not in the weights file")
    return weights[key]


def has_w(layer, name):
    return any(w["name"] == f"{wpath(layer)}/{name}" for w in layer.get("weights", []))


def bias_act(y, cfg, weights, layer):
    if cfg.get("use_bias", True) and has_w(layer, "bias"):
        y = y + W(weights, layer, "bias")
    return activation(cfg.get("activation"))(y)


def dense(cfg, weights, xs, layer):
    y = torch.matmul(xs[0], W(weights, layer, "kernel"))
    return [bias_act(y, cfg, weights, layer)]


def conv_nd(x, kernel, cfg, rank, groups=1):
    """Keras ConvND (channels_last) with a Keras kernel (k..., in/groups, out):
    explicit padding, then an unpadded torch convolution."""
    ks = tuple(kernel.shape[:rank])
    strides = tup(cfg.get("strides", 1), rank)
    dils = tup(cfg.get("dilation_rate", 1), rank)
    pads = spatial_pads(cfg.get("padding", "valid"), x.shape[1:1 + rank], ks, strides, dils)
    xc = to_channels_first(x)
    xc = F.pad(xc, torch_pad_arg(pads))
    perm = (rank + 1, rank) + tuple(range(rank))     # (out, in, k...)
    wt = kernel.permute(*perm).contiguous()
    conv = F.conv1d if rank == 1 else F.conv2d
    y = conv(xc, wt, stride=strides, dilation=dils, groups=groups)
    return to_channels_last(y)


def conv(cfg, weights, xs, layer, rank):
    check_channels_last(cfg, layer["class"])
    y = conv_nd(xs[0], W(weights, layer, "kernel"), cfg, rank, int(cfg.get("groups", 1) or 1))
    return [bias_act(y, cfg, weights, layer)]


def depthwise(x, kernel, cfg):
    """Depthwise 2-D: kernel (kh, kw, C, dm); output channel c * dm + m."""
    kh, kw, c, dm = kernel.shape
    # As a grouped convolution with groups = C: a Keras-layout kernel
    # (kh, kw, 1, C * dm) whose output channel c * dm + m is kernel[..., c, m].
    return conv_nd(x, kernel.reshape(kh, kw, 1, c * dm), cfg, 2, groups=c)


def depthwise_conv2d(cfg, weights, xs, layer):
    check_channels_last(cfg, layer["class"])
    y = depthwise(xs[0], W(weights, layer, "kernel"), cfg)
    return [bias_act(y, cfg, weights, layer)]


def separable_conv2d(cfg, weights, xs, layer):
    check_channels_last(cfg, layer["class"])
    y = depthwise(xs[0], W(weights, layer, "depthwise_kernel"), cfg)
    pw = W(weights, layer, "pointwise_kernel")      # (1, 1, C * dm, filters)
    y = torch.matmul(y, pw[0, 0])
    return [bias_act(y, cfg, weights, layer)]


def conv_transpose_length(size, k, padding, output_padding, stride, dilation):
    """Keras 3's output length of a transposed convolution along one axis
    (for sizes the dump leaves None)."""
    keff = (k - 1) * dilation + 1
    if output_padding is None:
        if padding == "valid":
            return size * stride + max(keff - stride, 0)
        return size * stride
    pad = keff // 2 if padding == "same" else 0
    return (size - 1) * stride + keff - 2 * pad + output_padding


def conv1d_transpose(cfg, weights, xs, layer, out_shape):
    """Conv1DTranspose as the 2D one over a height of 1 (kernel (k, filters,
    in) is (1, k, filters, in))."""
    op = cfg.get("output_padding")
    cfg2 = dict(cfg, strides=(1, tup(cfg.get("strides", 1), 1)[0]),
                dilation_rate=(1, tup(cfg.get("dilation_rate", 1), 1)[0]),
                output_padding=None if op is None else (0, tup(op, 1)[0]))
    key = f"{layer['name']}/kernel"
    w2 = dict(weights)
    w2[key] = weights[key].unsqueeze(0)
    shape = None if out_shape is None else [out_shape[0], 1, out_shape[1], out_shape[2]]
    y = conv2d_transpose(cfg2, w2, [xs[0].unsqueeze(1)], layer, shape)
    return [y[0].squeeze(1)]


def conv2d_transpose(cfg, weights, xs, layer, out_shape):
    """The full transposed convolution (no padding, size (in - 1) * stride +
    k_eff), then the output window: for "same" it starts where Keras's
    padding arguments put it (which is TensorFlow's pad_before of the forward
    convolution over the output size), for "valid" at 0; positions past the
    end of the full result (output_padding, a stride larger than the kernel)
    are zero before the bias."""
    check_channels_last(cfg, layer["class"])
    x = xs[0]
    kernel = W(weights, layer, "kernel")        # (kh, kw, filters, in)
    ks = tuple(kernel.shape[:2])
    strides = tup(cfg.get("strides", 1), 2)
    dils = tup(cfg.get("dilation_rate", 1), 2)
    padding = cfg.get("padding", "valid").lower()
    ops = cfg.get("output_padding")
    ops = (None, None) if ops is None else tup(ops, 2)
    oh, ow = out_shape[1], out_shape[2]
    if oh is None or ow is None:
        sizes = [conv_transpose_length(size, k, padding, op, s, d) for size, k, op, s, d
                 in zip(x.shape[1:3], ks, ops, strides, dils)]
        oh = sizes[0] if oh is None else oh
        ow = sizes[1] if ow is None else ow
    wt = kernel.permute(3, 2, 0, 1).contiguous()    # torch: (in, out, kh, kw)
    full = F.conv_transpose2d(to_channels_first(x), wt, stride=strides, dilation=dils)
    starts = []
    for i, (size, k, s, d) in enumerate(zip(x.shape[1:3], ks, strides, dils)):
        if padding == "valid":
            starts.append(0)
            continue
        # Keras 3 (backend_utils, the JAX/torch backends): the left pad of the
        # dilated input; the window starts (k_eff - 1) - left_pad into the
        # full result.
        keff = (k - 1) * d + 1
        pad_len = s + keff - 2 if ops[i] is None else keff + keff % 2 - 2 + ops[i]
        left = min(pad_len // 2 + pad_len % 2, keff - 1)
        start = keff - 1 - left
        # TensorFlow derives its padding from the output size instead; the
        # two agree whenever TF accepts the shapes.
        osz = (oh, ow)[i]
        if -(-osz // s) == size:
            assert start == same_pads(osz, k, s, d)[0], (start, osz, k, s, d)
        starts.append(start)
    n, f = full.shape[0], full.shape[1]
    y = torch.zeros((n, f, oh, ow), dtype=DT)
    pt, pl = starts
    hh = min(oh, full.shape[2] - pt)
    ww = min(ow, full.shape[3] - pl)
    y[:, :, :hh, :ww] = full[:, :, pt:pt + hh, pl:pl + ww]
    return [bias_act(to_channels_last(y), cfg, weights, layer)]


def pooling(cfg, xs, layer, rank, kind):
    check_channels_last(cfg, layer["class"])
    x = xs[0]
    ks = tup(cfg["pool_size"], rank)
    strides = tup(cfg["strides"], rank) if cfg.get("strides") is not None else ks
    pads = spatial_pads(cfg.get("padding", "valid"), x.shape[1:1 + rank], ks, strides,
                        (1,) * rank)
    xc = to_channels_first(x)
    arg = torch_pad_arg(pads)
    if rank == 1:
        maxp, avgp = F.max_pool1d, F.avg_pool1d
    else:
        maxp, avgp = F.max_pool2d, F.avg_pool2d
    if kind == "max":
        y = maxp(F.pad(xc, arg, value=-math.inf), ks, strides)
    else:
        # The mean over the valid cells of each window: padded sums over
        # padded counts.
        total = avgp(F.pad(xc, arg), ks, strides) * float(np.prod(ks))
        ones = torch.ones((1, 1) + tuple(xc.shape[2:]), dtype=DT)
        count = avgp(F.pad(ones, arg), ks, strides) * float(np.prod(ks))
        y = total / count
    return [to_channels_last(y)]


def global_pool(cfg, xs, layer, kind, mask=None):
    check_channels_last(cfg, layer["class"])
    x = xs[0]
    dims = tuple(range(1, x.dim() - 1))
    keep = bool(cfg.get("keepdims", False))
    if mask is not None and layer["class"] in ("GlobalAveragePooling1D", "GlobalAvgPool1D"):
        # Keras: the sum over unmasked steps / their count
        m = mask.unsqueeze(2).to(DT)
        return [(x * m).sum(dim=1, keepdim=keep) / m.sum(dim=1, keepdim=keep)]
    if kind == "max":
        y = x.amax(dim=dims, keepdim=keep)
    else:
        y = x.mean(dim=dims, keepdim=keep)
    return [y]


def norm_axes(axis, rank):
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    return sorted(a % rank for a in axes)


def param_shape(x, axes):
    """Broadcast shape of a per-axis parameter over x."""
    return [x.shape[i] if i in axes else 1 for i in range(x.dim())]


def batch_normalization(cfg, weights, xs, layer):
    x = xs[0]
    axes = norm_axes(cfg.get("axis", -1), x.dim())
    shp = param_shape(x, axes)
    mean = W(weights, layer, "moving_mean").reshape(shp)
    var = W(weights, layer, "moving_variance").reshape(shp)
    y = (x - mean) / torch.sqrt(var + float(cfg.get("epsilon", 1e-3)))
    if cfg.get("scale", True):
        y = y * W(weights, layer, "gamma").reshape(shp)
    if cfg.get("center", True):
        y = y + W(weights, layer, "beta").reshape(shp)
    return [y]


def layer_normalization(cfg, weights, xs, layer):
    x = xs[0]
    axes = norm_axes(cfg.get("axis", -1), x.dim())
    shp = param_shape(x, axes)
    eps = float(cfg.get("epsilon", 1e-3))
    if cfg.get("rms_scaling", False):
        y = x / torch.sqrt((x * x).mean(dim=axes, keepdim=True) + eps)
        return [y * W(weights, layer, "gamma").reshape(shp)]
    mean = x.mean(dim=axes, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=axes, keepdim=True)
    y = (x - mean) / torch.sqrt(var + eps)
    if cfg.get("scale", True):
        y = y * W(weights, layer, "gamma").reshape(shp)
    if cfg.get("center", True):
        y = y + W(weights, layer, "beta").reshape(shp)
    return [y]


def relu_layer(cfg, xs):
    mv = cfg.get("max_value")
    return [relu_general(xs[0], float(cfg.get("negative_slope", 0.0) or 0.0),
                         None if mv is None else float(mv),
                         float(cfg.get("threshold", 0.0) or 0.0))]


def leaky_relu_layer(cfg, xs):
    slope = cfg.get("negative_slope", 0.3)
    if cfg.get("alpha") is not None:    # the deprecated spelling wins when given
        slope = cfg["alpha"]
    x = xs[0]
    return [torch.where(x >= 0, x, float(slope) * x)]


def softmax_layer(cfg, xs):
    axis = cfg.get("axis", -1)
    x = xs[0]
    if isinstance(axis, (list, tuple)):
        # Softmax over several axes: exp(x - max) / sum over those axes.
        dims = tuple(a % x.dim() for a in axis)
        e = torch.exp(x - x.amax(dim=dims, keepdim=True))
        return [e / e.sum(dim=dims, keepdim=True)]
    return [torch.softmax(x, dim=int(axis))]


def merge(xs, op):
    # Keras's Merge: inputs of lower rank get size-1 axes inserted at axis 1
    # (after the batch) until the ranks agree; then numpy broadcasting.
    rank = max(x.dim() for x in xs)
    expanded = []
    for x in xs:
        while x.dim() < rank:
            x = x.unsqueeze(1)
        expanded.append(x)
    xs = expanded
    y = xs[0]
    for x in xs[1:]:
        if op == "add" or op == "average":
            y = y + x
        elif op == "subtract":
            y = y - x
        elif op == "multiply":
            y = y * x
        elif op == "maximum":
            y = torch.maximum(y, x)
        elif op == "minimum":
            y = torch.minimum(y, x)
    if op == "average":
        y = y / len(xs)
    return [y]


def concatenate(cfg, xs):
    return [torch.cat(xs, dim=int(cfg.get("axis", -1)))]


def embedding(cfg, weights, xs, layer):
    # Keras casts float ids to int32 (ops.cast: toward zero).
    ids = torch.trunc(xs[0]).long() if xs[0].is_floating_point() else xs[0].long()
    table = W(weights, layer, "embeddings")
    if ids.numel() and (ids.min() < 0 or ids.max() >= table.shape[0]):
        raise ValueError("Embedding id out of range")
    return [table[ids]]


def repeat_vector(cfg, xs):
    x = xs[0]
    return [x.unsqueeze(1).expand(x.shape[0], int(cfg["n"]), x.shape[1])]


def reshape(cfg, xs, out_shape):
    x = xs[0]
    if any(d is None for d in out_shape[1:]):
        # A size the dump does not know: Keras's target_shape, whose one -1
        # takes the rest of the input's (run-time) size.
        return [x.reshape((x.shape[0],) + tuple(int(d) for d in cfg["target_shape"]))]
    return [x.reshape((x.shape[0],) + tuple(out_shape[1:]))]


def flatten(xs):
    x = xs[0]
    return [x.reshape(x.shape[0], -1)]


def zero_padding2d(cfg, xs):
    check_channels_last(cfg, "ZeroPadding2D")
    p = cfg.get("padding", (1, 1))
    if isinstance(p, int):
        (t, b), (l, r) = (p, p), (p, p)
    else:
        ph, pw = p
        t, b = (ph, ph) if isinstance(ph, int) else ph
        l, r = (pw, pw) if isinstance(pw, int) else pw
    x = xs[0]   # NHWC: pad C by 0, W by (l, r), H by (t, b)
    return [F.pad(x, [0, 0, l, r, t, b])]


def up_sampling2d(cfg, xs):
    check_channels_last(cfg, "UpSampling2D")
    sh, sw = tup(cfg.get("size", 2), 2)
    x = xs[0]
    interp = cfg.get("interpolation", "nearest")
    if interp == "bilinear":
        # Half-pixel centres (TF's resize, align_corners=False).
        y = F.interpolate(to_channels_first(x), scale_factor=(sh, sw), mode="bilinear",
                          align_corners=False)
        return [to_channels_last(y)]
    if interp != "nearest":
        raise NotImplementedError("UpSampling2D interpolation")
    return [x.repeat_interleave(sh, dim=1).repeat_interleave(sw, dim=2)]


def pair(v):
    """An int p as (p, p), or a pair as it is."""
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def one_d(cls, cfg, xs):
    """ZeroPadding1D, UpSampling1D, Cropping1D on (N, T, C), written from
    their Keras definitions (not through the 2D layers)."""
    x = xs[0]
    if cls == "ZeroPadding1D":
        a, b = pair(cfg.get("padding", 1))
        return [F.pad(x, [0, 0, a, b])]
    if cls == "UpSampling1D":
        return [x.repeat_interleave(int(cfg.get("size", 2)), dim=1)]
    a, b = pair(cfg.get("cropping", (1, 1)))
    return [x[:, a:x.shape[1] - b, :]]


def cropping2d(cfg, xs):
    check_channels_last(cfg, "Cropping2D")
    cr = cfg.get("cropping", ((0, 0), (0, 0)))
    if isinstance(cr, int):
        (t, b), (l, r) = (cr, cr), (cr, cr)
    else:
        (t, b), (l, r) = pair(cr[0]), pair(cr[1])
    x = xs[0]
    return [x[:, t:x.shape[1] - b, l:x.shape[2] - r, :]]


def random_crop(cfg, xs):
    """RandomCrop at inference, as kdl defines it: the centred window."""
    check_channels_last(cfg, "RandomCrop")
    x = xs[0]
    h, w = x.shape[1], x.shape[2]
    ch, cw = int(cfg["height"]), int(cfg["width"])
    if ch > h or cw > w:
        raise ValueError("RandomCrop: input smaller than the crop")
    t, l = (h - ch) // 2, (w - cw) // 2
    return [x[:, t:t + ch, l:l + cw, :]]


def rescaling(cfg, xs):
    return [xs[0] * float(cfg["scale"]) + float(cfg.get("offset", 0.0) or 0.0)]


# ---- recurrent layers (Keras's cell equations) ---------------------------------------------

# stateful=True layers' states, by layer name: what the previous batch of a
# predict left (Keras keeps them in the layer's state variables).
CARRIED = {}


def run_rnn(cfg, xs, step, nstates, units, mask=None, name=None):
    """Unroll a cell over time. go_backwards reads the steps last to first and
    returns the sequence in that (processing) order, as Keras does. With a
    mask (n, t), a masked step keeps the states and repeats the previous
    output (keras.src.backend rnn() with zero_output_for_mask=False), or, in a
    returned sequence with zero_output_for_mask (which Bidirectional sets),
    outputs zeros. A stateful layer starts from the states its last call left
    (zeros at first) and keeps its final states; xs[1:] are the call's
    initial_state= tensors."""
    x = xs[0]
    n, t = x.shape[0], x.shape[1]
    states = [torch.zeros((n, units), dtype=DT) for _ in range(nstates)]
    if cfg.get("stateful", False) and name in CARRIED:
        states = list(CARRIED[name])
    if len(xs) > 1:     # the call's initial_state= (over carried states, as Keras)
        states = [s.to(DT) for s in xs[1:1 + nstates]]
    order = range(t - 1, -1, -1) if cfg.get("go_backwards", False) else range(t)
    seq = []
    prev_out = torch.zeros((n, units), dtype=DT)
    for i in order:
        new = step(x[:, i, :], states)
        out = new[0]
        if mask is not None:
            keep = mask[:, i].unsqueeze(1)
            new = [torch.where(keep, a, b) for a, b in zip(new, states)]
            out = torch.where(keep, out, prev_out)
        if mask is not None and cfg.get("zero_output_for_mask", False):
            # zeros at a masked step, also the last output of a masked last step
            out = torch.where(mask[:, i].unsqueeze(1), out, torch.zeros_like(out))
        states = new
        prev_out = out
        seq.append(out)
    if cfg.get("stateful", False):
        CARRIED[name] = [st.detach() for st in states]  # (training: no gradient across batches)
    out = torch.stack(seq, dim=1) if cfg.get("return_sequences", False) else prev_out
    if cfg.get("return_state", False):
        return [out] + states
    return [out]


def simple_rnn(cfg, weights, xs, layer, mask=None):
    units = int(cfg["units"])
    k = W(weights, layer, "kernel")
    r = W(weights, layer, "recurrent_kernel")
    b = W(weights, layer, "bias") if cfg.get("use_bias", True) else None
    act = activation(cfg.get("activation", "tanh"))

    def step(x, states):
        z = x @ k + states[0] @ r
        if b is not None:
            z = z + b
        return [act(z)]
    return run_rnn(cfg, xs, step, 1, units, mask, layer["name"])


def lstm(cfg, weights, xs, layer, mask=None):
    u = int(cfg["units"])
    k = W(weights, layer, "kernel")
    r = W(weights, layer, "recurrent_kernel")
    b = W(weights, layer, "bias") if cfg.get("use_bias", True) else None
    act = activation(cfg.get("activation", "tanh"))
    ract = activation(cfg.get("recurrent_activation", "sigmoid"))

    def step(x, states):
        h, c = states
        z = x @ k + h @ r
        if b is not None:
            z = z + b
        i = ract(z[:, :u])
        f = ract(z[:, u:2 * u])
        g = act(z[:, 2 * u:3 * u])
        o = ract(z[:, 3 * u:])
        c = f * c + i * g
        return [o * act(c), c]
    return run_rnn(cfg, xs, step, 2, u, mask, layer["name"])


def gru(cfg, weights, xs, layer, mask=None):
    u = int(cfg["units"])
    k = W(weights, layer, "kernel")
    r = W(weights, layer, "recurrent_kernel")
    use_bias = cfg.get("use_bias", True)
    reset_after = cfg.get("reset_after", True)
    b = W(weights, layer, "bias") if use_bias else None
    act = activation(cfg.get("activation", "tanh"))
    ract = activation(cfg.get("recurrent_activation", "sigmoid"))
    if b is not None and reset_after:
        b_in, b_rec = b[0], b[1]
    else:
        b_in, b_rec = b, None

    def step(x, states):
        h = states[0]
        xz = x @ k
        if b_in is not None:
            xz = xz + b_in
        x_z, x_r, x_h = xz[:, :u], xz[:, u:2 * u], xz[:, 2 * u:]
        if reset_after:
            rz = h @ r
            if b_rec is not None:
                rz = rz + b_rec
            z = ract(x_z + rz[:, :u])
            rr = ract(x_r + rz[:, u:2 * u])
            hh = act(x_h + rr * rz[:, 2 * u:])
        else:
            z = ract(x_z + h @ r[:, :u])
            rr = ract(x_r + h @ r[:, u:2 * u])
            hh = act(x_h + (rr * h) @ r[:, 2 * u:])
        return [z * h + (1.0 - z) * hh]
    return run_rnn(cfg, xs, step, 1, u, mask, layer["name"])


# ---- wrappers -----------------------------------------------------------------------------------

def bidirectional(cfg, weights, xs, layer, mask=None):
    """Keras's Bidirectional.call: both RNNs on the input (zero outputs at
    masked steps of returned sequences), the backward sequence flipped along
    time, merged; then the forward states and the backward states."""
    fwd, bwd = layer["wrapped"]
    seqs = bool(fwd["config"].get("return_sequences", False))
    # initial_state= (xs[1:]): the first half starts the forward layer.
    half = (len(xs) - 1) // 2
    yf = call_layer(dict(fwd, config=dict(fwd["config"], zero_output_for_mask=seqs)), weights,
                    [xs[0]] + xs[1:1 + half], None, mask)
    yb = call_layer(dict(bwd, config=dict(bwd["config"], zero_output_for_mask=seqs)), weights,
                    [xs[0]] + xs[1 + half:], None, mask)
    y, y_rev = yf[0], yb[0]
    if seqs:
        y_rev = torch.flip(y_rev, dims=[1])
    mode = cfg.get("merge_mode", "concat")
    if mode == "concat":
        out = [torch.cat([y, y_rev], dim=-1)]
    elif mode == "sum":
        out = [y + y_rev]
    elif mode == "mul":
        out = [y * y_rev]
    elif mode == "ave":
        out = [(y + y_rev) / 2]
    elif mode is None:
        out = [y, y_rev]
    else:
        raise NotImplementedError(f"reference: merge_mode {mode}")
    return out + yf[1:] + yb[1:]


def time_distributed(weights, xs, layer):
    """Keras's TimeDistributed.call: the wrapped layer on each time slice,
    stacked along axis 1."""
    inner = layer["wrapped"][0]
    x = xs[0]
    ys = [call_layer(inner, weights, [x[:, i]], [None])[0] for i in range(x.shape[1])]
    return [torch.stack(ys, dim=1)]


# ---- the graph --------------------------------------------------------------------------------

DATA_FORMAT_LAYERS = ("Conv1D", "Conv2D", "DepthwiseConv2D", "SeparableConv2D",
                      "Conv2DTranspose", "Conv1DTranspose", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D",
                      "AveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
                      "GlobalMaxPooling1D", "GlobalMaxPooling2D", "ZeroPadding2D",
                      "UpSampling2D", "RandomCrop", "Flatten", "Cropping2D")


def lora_adapted(cfg, weights, layer):
    """Keras's LoRA: the adapted weight w + (a @ b) * lora_alpha / lora_rank
    (a matmul over the last axis of a), under the weight's own name."""
    rank = int(cfg["lora_rank"])
    alpha = float(cfg.get("lora_alpha") or rank)
    name = "embeddings" if layer["class"] == "Embedding" else "kernel"
    a = W(weights, layer, f"lora_{name}_a")
    b = W(weights, layer, f"lora_{name}_b")
    out = dict(weights)
    out[f"{wpath(layer)}/{name}"] = W(weights, layer, name) + (a @ b) * (alpha / rank)
    return out


def call_layer(layer, weights, xs, out_shapes, mask=None):
    cls = layer["class"]
    cfg = layer.get("config", {})
    if cfg.get("lora_rank"):
        weights = lora_adapted(cfg, weights, layer)
    if cls in DATA_FORMAT_LAYERS and cfg.get("data_format") == "channels_first" and \
            xs[0].dim() > 2:
        # The same layer on channels_last data: move the channels last, then
        # back (Flatten: Keras moves them last, then flattens).
        # A softmax/log_softmax activation runs over the output's last axis
        # (axis=-1), after the move back, not over the filters.
        act = cfg.get("activation")
        rowwise = act in ("softmax", "log_softmax")
        last = dict(layer, config=dict(cfg, data_format="channels_last", lora_rank=None,
                                       activation=None if rowwise else act))
        shapes = [None if s is None else [s[0], *s[2:], s[1]] if len(s) > 2 else s
                  for s in out_shapes]
        ys = call_layer(last, weights, [to_channels_last(x) for x in xs], shapes)
        if cls == "Flatten":
            return ys
        ys = [to_channels_first(y) if y.dim() > 2 else y for y in ys]
        return [activation(act)(y) for y in ys] if rowwise else ys
    if cls == "Dense":
        return dense(cfg, weights, xs, layer)
    if cls in ("Conv1D", "Convolution1D"):
        return conv(cfg, weights, xs, layer, 1)
    if cls in ("Conv2D", "Convolution2D"):
        return conv(cfg, weights, xs, layer, 2)
    if cls == "DepthwiseConv2D":
        return depthwise_conv2d(cfg, weights, xs, layer)
    if cls == "SeparableConv2D":
        return separable_conv2d(cfg, weights, xs, layer)
    if cls == "Conv2DTranspose":
        return conv2d_transpose(cfg, weights, xs, layer, out_shapes[0])
    if cls == "Conv1DTranspose":
        return conv1d_transpose(cfg, weights, xs, layer, out_shapes[0])
    if cls in ("MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D"):
        return pooling(cfg, xs, layer, 1 if cls.endswith("1D") else 2,
                       "max" if cls.startswith("Max") else "avg")
    if cls.startswith("Global") and "Pooling" in cls:
        return global_pool(cfg, xs, layer, "max" if "Max" in cls else "avg", mask)
    if cls == "BatchNormalization":
        return batch_normalization(cfg, weights, xs, layer)
    if cls == "LayerNormalization":
        return layer_normalization(cfg, weights, xs, layer)
    if cls == "Activation":
        return [activation(cfg["activation"])(xs[0])]
    if cls == "ReLU":
        return relu_layer(cfg, xs)
    if cls == "LeakyReLU":
        return leaky_relu_layer(cfg, xs)
    if cls == "ELU":    # keras.activations.elu with the layer's alpha
        x, a = xs[0], float(cfg.get("alpha", 1.0))
        return [torch.where(x > 0, x, a * (torch.exp(x) - 1))]
    if cls == "Softmax":
        return softmax_layer(cfg, xs)
    if cls in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
        return merge(xs, cls.lower())
    if cls == "Concatenate":
        return concatenate(cfg, xs)
    if cls == "Embedding":
        return embedding(cfg, weights, xs, layer)
    if cls == "RepeatVector":
        return repeat_vector(cfg, xs)
    if cls == "Reshape":
        return reshape(cfg, xs, out_shapes[0])
    if cls == "Flatten":
        return flatten(xs)
    if cls in ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise",
               "GaussianDropout"):
        return [xs[0]]      # identity at inference
    if cls == "Identity":
        return [xs[0]]
    if cls == "Permute":
        return [xs[0].permute([0] + [int(d) for d in cfg["dims"]])]
    if cls == "Masking":
        # Keras: a step (last axis) equal to mask_value everywhere is zeroed
        keep = (xs[0] != float(cfg.get("mask_value", 0.0))).any(dim=-1, keepdim=True)
        return [xs[0] * keep.to(xs[0].dtype)]
    if cls == "Rescaling":
        return rescaling(cfg, xs)
    if cls == "ZeroPadding2D":
        return zero_padding2d(cfg, xs)
    if cls == "UpSampling2D":
        return up_sampling2d(cfg, xs)
    if cls == "RandomCrop":
        return random_crop(cfg, xs)
    if cls in ("ZeroPadding1D", "UpSampling1D", "Cropping1D"):
        return one_d(cls, cfg, xs)
    if cls == "Cropping2D":
        return cropping2d(cfg, xs)
    if cls == "SimpleRNN":
        return simple_rnn(cfg, weights, xs, layer, mask)
    if cls == "LSTM":
        return lstm(cfg, weights, xs, layer, mask)
    if cls == "GRU":
        return gru(cfg, weights, xs, layer, mask)
    if cls == "Bidirectional":
        return bidirectional(cfg, weights, xs, layer, mask)
    if cls == "TimeDistributed":
        return time_distributed(weights, xs, layer)
    raise NotImplementedError(f"reference: layer class {cls}")


MASK_PASS = ("Dense", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise",
             "GaussianDropout", "BatchNormalization",
             "LayerNormalization", "Activation",
             "ReLU", "LeakyReLU", "ELU", "Rescaling", "Identity")


def output_masks(layer, xs, ms, ys):
    """Keras 3's compute_mask for the layers kdl has: the masks (bool tensors or
    None) of a layer's outputs, given its inputs' masks."""
    cls = layer["class"]
    cfg = layer.get("config", {})
    none = [None] * len(ys)
    if cls == "Embedding":
        return [xs[0] != 0] if cfg.get("mask_zero") else none
    if cls == "Masking":    # its own, whatever came in
        return [(xs[0] != float(cfg.get("mask_value", 0.0))).any(dim=-1)]
    if all(m is None for m in ms):
        return none
    if cls in MASK_PASS:
        return [ms[0]]
    if cls in ("SimpleRNN", "LSTM", "GRU"):
        return [ms[0] if cfg.get("return_sequences") else None] + [None] * (len(ys) - 1)
    if cls == "Bidirectional":
        seqs = layer["wrapped"][0]["config"].get("return_sequences")
        nout = 2 if cfg.get("merge_mode", "concat") is None else 1
        return [ms[0] if seqs else None] * nout + [None] * (len(ys) - nout)
    if cls == "TimeDistributed":
        return [ms[0]]
    if cls in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
        if any(m is None for m in ms):
            return none
        out = ms[0]
        for m in ms[1:]:
            out = out | m
        return [out]
    if cls == "Concatenate":
        # unmasked inputs count as all ones; masks expanded over the features,
        # concatenated, then any() over the last axis
        axis = int(cfg.get("axis", -1))
        parts = []
        for x, m in zip(xs, ms):
            full = torch.ones(x.shape, dtype=torch.bool) if m is None else \
                m.unsqueeze(-1).expand(x.shape) if m.dim() < x.dim() else m
            parts.append(full)
        return [torch.cat(parts, dim=axis).any(dim=-1)]
    if cls == "Softmax":
        raise NotImplementedError("reference: Softmax with a mask")
    return none     # supports_masking=False: the mask is dropped


def run_graph(graph, weights, inputs, in_masks=None):
    """Evaluate a model graph; inputs in the graph's input order. Returns the
    outputs; run_graph.masks holds the outputs' Keras masks."""
    env = {}
    masks = {}
    if len(inputs) != len(graph["inputs"]):
        raise ValueError("input count")
    for i, (spec, x) in enumerate(zip(graph["inputs"], inputs)):
        env[spec["tensor"]] = x
        masks[spec["tensor"]] = in_masks[i] if in_masks else None
    for node in graph["nodes"]:
        layer = node["layer"]
        if layer["class"] == "InputLayer" or not node["inputs"]:
            continue
        if node.get("training", -1) == 1:
            raise NotImplementedError("a call with training=True")
        xs = [env[t] for t in node["inputs"]]
        ms = [masks[t] for t in node["inputs"]]
        out_shapes = [o["shape"] for o in node["outputs"]]
        if "model" in layer:
            ys = run_graph(layer["model"], weights, xs, ms)
            yms = run_graph.masks
        else:
            if layer["class"] != "Embedding":
                # Keras: an integer input of Dense & co. is promoted to float.
                xs = [x.to(DT) if not x.is_floating_point() else x for x in xs]
            ys = call_layer(layer, weights, xs, out_shapes, ms[0])
            yms = output_masks(layer, xs, ms, ys)
        if len(ys) != len(node["outputs"]):
            raise ValueError(f"{layer['name']}: {len(ys)} outputs, the dump has "
                             f"{len(node['outputs'])}")
        for o, y in zip(node["outputs"], ys):
            want = tuple(o["shape"][1:])
            if len(y.shape) != len(want) + 1 or any(
                    w is not None and g != w for g, w in zip(y.shape[1:], want)):
                raise ValueError(f"{layer['name']} ({layer['class']}): output shape "
                                 f"{tuple(y.shape)}, the dump says {o['shape']}")
            env[o["tensor"]] = y
        for o, m in zip(node["outputs"], yms):
            masks[o["tensor"]] = m
    run_graph.masks = [masks[t] for t in graph["outputs"]]
    return [env[t] for t in graph["outputs"]]


def output_paths(path, n):
    if n == 1:
        return [path]
    stem, ext = os.path.splitext(path)
    return [f"{stem}.{i}{ext}" for i in range(n)]


def find_model(models, name):
    if name is None:
        return next(iter(models.values()))
    if name in models:
        return models[name]
    for m in models.values():
        if m["name"] == name:
            return m
    sys.exit(f"reference: no model {name}; models: {', '.join(models)}")


def feeds_mask_zero(graph, tensor):
    """Whether an Embedding(mask_zero=True) reads tensor (nested models included)."""
    for node in graph["nodes"]:
        layer = node["layer"]
        if tensor not in node["inputs"]:
            continue
        if layer["class"] == "Embedding" and layer["config"].get("mask_zero"):
            return True
        if "model" in layer:
            inner = layer["model"]
            if feeds_mask_zero(inner, inner["inputs"][node["inputs"].index(tensor)]["tensor"]):
                return True
    return False


def masking_value(graph, tensor):
    """The mask_value of a Masking layer reading tensor (nested models
    included), or None."""
    for node in graph["nodes"]:
        layer = node["layer"]
        if tensor not in node["inputs"]:
            continue
        if layer["class"] == "Masking":
            return float(layer["config"].get("mask_value", 0.0))
        if "model" in layer:
            inner = layer["model"]
            v = masking_value(inner, inner["inputs"][node["inputs"].index(tensor)]["tensor"])
            if v is not None:
                return v
    return None


def padded_steps(x, rng, value):
    """Padded float sequences for a Masking layer: rows of x (n, t, ...)
    keep a head of steps (at least one), then every value of a step is
    `value`; plus the odd padded step inside; no row fully masked (an
    average of none is 0/0)."""
    x = x.copy()
    for r in range(x.shape[0]):
        x[r, rng.integers(1, x.shape[1] + 1):] = value
    inner = rng.random(x.shape[:2]) < 0.15
    inner[:, 0] = False
    x[inner] = value
    return x


def padded_ids(x, rng):
    """Padded sequences for mask_zero from ids x (n, t): ids 1.., then a tail
    of zeros (length >= 1 kept), plus the odd zero inside; no row fully
    masked (an average of none is 0/0)."""
    x = np.maximum(x, 1)
    for r in range(x.shape[0]):
        x[r, rng.integers(1, x.shape[1] + 1):] = 0
    inner = rng.random(x.shape) < 0.1
    inner[:, 0] = False
    x[inner] = 0
    return x


def embedding_limit(graph, tensor):
    """The smallest input_dim of the Embedding layers reading tensor (nested
    models included)."""
    lim = None
    for node in graph["nodes"]:
        layer = node["layer"]
        if tensor not in node["inputs"]:
            continue
        if layer["class"] == "Embedding":
            d = int(layer["config"]["input_dim"])
            lim = d if lim is None else min(lim, d)
        elif "model" in layer:
            idx = node["inputs"].index(tensor)
            inner = layer["model"]
            sub = embedding_limit(inner, inner["inputs"][idx]["tensor"])
            if sub is not None:
                lim = sub if lim is None else min(lim, sub)
    return lim


def stateful_batch(graph):
    """The static batch size of the model's stateful RNNs (the inputs'), or None."""
    def walk(g):
        for node in g["nodes"]:
            layer = node["layer"]
            if layer.get("class") in ("SimpleRNN", "LSTM", "GRU") and \
                    layer.get("config", {}).get("stateful", False):
                return True
            if "model" in layer and walk(layer["model"]):
                return True
        return False
    if not walk(graph):
        return None
    return graph["inputs"][0]["shape"][0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["predict", "input", "outputs", "inputs", "models"])
    ap.add_argument("kdl")
    ap.add_argument("--model")
    ap.add_argument("--weights")
    ap.add_argument("--input", action="append")
    ap.add_argument("--output")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--dims", type=int, nargs="*", default=[])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dist", choices=["normal", "uniform"], default="normal")
    ap.add_argument("--lo", type=float, default=-1.0)
    ap.add_argument("--hi", type=float, default=1.0)
    ap.add_argument("--kdlc", default=os.environ.get("KDLC", DEFAULT_KDLC))
    a = ap.parse_args()
    models = load_dump(a.kdl, a.kdlc)
    if a.command == "models":
        print("\n".join(models))
        return
    graph = find_model(models, a.model)

    if a.command == "outputs":
        print(len(graph["outputs"]))
        return
    if a.command == "inputs":
        print(len(graph["inputs"]))
        return
    specs = graph["inputs"]
    if a.command == "input":
        rng = np.random.default_rng(a.seed)
        nnone = sum(d is None for spec in specs for d in spec["shape"][1:])
        if len(a.dims) < nnone:
            sys.exit(f"reference: the model's inputs have {nnone} None dimensions; "
                     f"--dims gives {len(a.dims)} (# E2E-DIMS / # E2E-DIMS7)")
        dims = iter(a.dims[:nnone])
        paths = output_paths(a.output, len(specs))
        for spec, path in zip(specs, paths):
            shape = (a.batch,) + tuple(next(dims) if d is None else d for d in spec["shape"][1:])
            lim = embedding_limit(graph, spec["tensor"])
            if spec["dtype"].startswith("int"):
                # ids of the Embedding layers reading it, else small integers
                x = rng.integers(0, lim if lim is not None else 10, size=shape).astype(np.int32)
                if len(shape) == 2 and feeds_mask_zero(graph, spec["tensor"]):
                    x = padded_ids(x, rng)
            elif lim is not None:
                # float ids (an Embedding truncates them): fractions included
                x = rng.uniform(0, lim, size=shape).astype(np.float32)
            elif a.dist == "normal":
                x = rng.standard_normal(shape).astype(np.float32)
            else:
                x = rng.uniform(a.lo, a.hi, size=shape).astype(np.float32)
            mv = masking_value(graph, spec["tensor"])
            if mv is not None and len(shape) >= 3:
                x = padded_steps(x, rng, np.float32(mv))     # padded steps for Masking
            np.save(path, x)
        return

    weights = load_safetensors(a.weights)
    if not a.input or len(a.input) != len(specs):
        sys.exit(f"reference: the model takes {len(specs)} inputs (one --input each)")
    xts = []
    for spec, path in zip(specs, a.input):
        x = np.load(path)
        if x.ndim != len(spec["shape"]) or any(
                d is not None and g != d for g, d in zip(x.shape[1:], spec["shape"][1:])):
            sys.exit(f"reference: {path}: shape {x.shape}, the model takes {spec['shape']}")
        if spec["dtype"].startswith("int"):
            xts.append(torch.from_numpy(x.astype(np.int64)))
        else:
            xts.append(torch.from_numpy(x.astype(np.float64)))
    # Stateful recurrent layers: Keras's predict runs batches of their static
    # batch size in order, each continuing the states of the one before.
    chunk = stateful_batch(graph) or xts[0].shape[0]
    parts = []
    with torch.no_grad():
        for i in range(0, xts[0].shape[0], chunk):
            parts.append(run_graph(graph, weights, [x[i:i + chunk] for x in xts]))
    ys = [torch.cat([p[k] for p in parts], dim=0) for k in range(len(parts[0]))]
    for path, y in zip(output_paths(a.output, len(ys)), ys):
        np.save(path, np.ascontiguousarray(y.numpy().astype(np.float32)))


if __name__ == "__main__":
    main()
