#!/usr/bin/python3
"""random_models.py - differential testing of kdl with random Keras models.

Run by hand (not by CI) with /usr/bin/python3 (numpy and torch). It writes
random but valid .kdl programs (functional models with several inputs and
outputs, shared layers and nested models; Sequential models as a list or with
add(); subclassed models with call(self, inputs, training=False)) from the
layers kdl supports, and for each program that `kdlc check` accepts:

  - builds it with `kdlc build` (fused and --no-fuse), and compiles the
    generated C once more with -std=c11 -Wall -Wextra -Werror -pedantic;
  - initialises the weights (`init --seed`), predicts random inputs at batch
    1 and 7 (batch 7 also with --batch-size 3) and compares every output with
    tests/e2e/reference.py (float64 PyTorch, imported here) within rtol 1e-4,
    atol 1e-5 (the tolerance of the e2e tests);
  - with --train, gives the model compile() and fit() and compares the
    program's fit (--no-shuffle) with tests/train/train_reference.py: the
    final weights (stcmp) and the history (npycmp).

Rejected programs are listed with kdlc's message (a rejection of a valid
Keras model is a kdl bug too). Every failure is kept in OUT/fail-<n>/ (the
.kdl, the logs) and summarised at the end; OUT/results.txt has one line per
case.

usage:
  random_models.py [--count N] [--seed S] [--out DIR] [--build build]
                   [--train] [--san] [--style functional|sequential|subclass]
                   [--keep] [--timeout SEC]
  random_models.py --gen-only --seed S          print one program

--build names the build directory (build, build/noblas, build/san); --san
compiles the generated programs with -fsanitize=address,undefined too (use
with --build build/san).
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

BIG = 1             # random_models.py --big sets 2

ACTS = ["linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "sigmoid",
        "hard_sigmoid", "tanh", "softmax", "log_softmax", "softplus", "softsign",
        "exponential", "hard_silu", "mish", "swish", "hard_swish", None]
# tame activations for places where values could blow up (stacked exponentials)
SAFE_ACTS = ["linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "sigmoid",
             "hard_sigmoid", "tanh", "softmax", "softsign", "hard_silu", "mish", "swish",
             "hard_swish", None]

BIAS = 'keras.initializers.RandomUniform(-0.5, 0.5)'
POS = 'keras.initializers.RandomUniform(0.5, 1.5)'


class T:
    """A symbolic tensor of the generated program: its variable, the
    non-batch shape (the sizes used for the test), which sizes are known to
    kdl (not None), int or float, and whether it carries a Keras mask."""

    def __init__(self, var, shape, known=None, dtype="float32", mask=None):
        self.var = var
        self.shape = list(shape)
        self.known = list(known) if known is not None else [True] * len(shape)
        self.dtype = dtype
        self.mask = mask          # None, or an id of the mask's origin

    @property
    def rank(self):
        return len(self.shape)

    def all_known(self):
        return all(self.known)


def q(v):
    return repr(v)


def act_arg(rng, safe=False):
    a = rng.choice(SAFE_ACTS if safe else ACTS)
    return f'activation={q(a)}' if a is not None else None


def args(*parts):
    return ", ".join(p for p in parts if p)


def conv_len(n, k, s, d, pad):
    if pad == "valid":
        return (n - d * (k - 1) - 1) // s + 1
    return (n - 1) // s + 1


def pool_len(n, p, s, pad):
    if pad == "valid":
        return (n - p) // s + 1
    return (n - 1) // s + 1


def tconv_len(n, k, s, d, pad, op):
    keff = (k - 1) * d + 1
    if op is None:
        return n * s + max(keff - s, 0) if pad == "valid" else n * s
    p = keff // 2 if pad == "same" else 0
    return (n - 1) * s + keff - 2 * p + op


class Gen:
    """Generates one program as a list of operations over tensors."""

    def __init__(self, rng, train=False, big=1):
        self.rng = rng
        self.train = train
        self.big = big      # --big: wider layers and larger inputs (the blocked kernels)
        self.n = 0
        self.ops = []          # (layer_var, ctor, [in T], [out T], kind)
        self.layers = []       # (layer_var, in shapes/known, out shape/known, single)
        self.masks = 0
        self.cf_ok = True

    def width(self, n):
        """A number of units, filters or channels: 1..n, or with --big often
        a size around the kernels' vector and tile widths."""
        if self.big > 1 and self.rng.random() < 0.5:
            return self.rng.choice([15, 16, 17, 24, 31, 32, 33, 48, 64, 65])
        return self.rng.randint(1, n)

    def extras(self, *weights):
        """--train: random regularizers and constraints for the named
        weight arguments (kernel, bias, recurrent, depthwise, ...), an
        activity regularizer, or a frozen layer."""
        if not self.train:
            return []
        r = self.rng
        opts = []
        regs = ['"l2"', '"l1"', "keras.regularizers.L1L2(l1=0.01, l2=0.02)",
                "keras.regularizers.L2(0.05)"]
        cons = ['"non_neg"', "keras.constraints.MaxNorm(0.5)", '"unit_norm"',
                "keras.constraints.MinMaxNorm(0.2, 0.8, rate=0.5)"]
        for w in weights:
            if r.random() < 0.12:
                opts.append(f"{w}_regularizer={r.choice(regs)}")
            if r.random() < 0.08:
                opts.append(f"{w}_constraint={r.choice(cons)}")
        if weights and r.random() < 0.06:
            opts.append(f"activity_regularizer={r.choice(regs)}")
        if weights and r.random() < 0.06:
            opts.append("trainable=False")
        return opts

    def lora(self):
        """LoRA (lora_rank, lora_alpha) on a Dense, Conv1D/2D or Embedding."""
        r = self.rng
        if r.random() >= 0.1:
            return []
        opts = [f"lora_rank={r.randint(1, 3)}"]
        if r.random() < 0.5:
            opts.append(f"lora_alpha={r.choice([0.5, 2.0, 4.0])}")
        return opts

    def with_lora(self, opts):
        """opts, maybe with LoRA (Keras rejects it beside a kernel_constraint)."""
        lo = self.lora()
        if lo and any(o.startswith("kernel_constraint=") for o in opts):
            return opts
        return opts + lo

    def fresh(self, prefix="t"):
        self.n += 1
        return f"{prefix}{self.n}"

    # ---- layers on one tensor --------------------------------------------------------------
    def df(self, t, spatial_rank):
        """Pick a data_format for a layer on t; return (df_arg, channels_axis)."""
        if t.rank == spatial_rank + 1 and self.rng.random() < 0.2:
            return 'data_format="channels_first"', 0
        return None, t.rank - 1

    def single(self, t):
        """A random single-input layer applicable to t: (ctor, [out T]) or None."""
        r = self.rng
        choices = ["dense", "act", "relu", "leaky", "softmax", "dropout", "bn", "ln",
                   "rescale"]
        if t.rank == 1:
            choices += ["repeat", "reshape", "reshape"]
        if t.rank == 2:
            choices += ["conv1d", "conv1d", "pool1d", "gpool1d", "rnn", "rnn", "rnn", "flatten",
                        "reshape"]
        if t.rank == 3:
            choices += ["conv2d", "conv2d", "tconv", "dwconv", "sepconv", "pool2d", "gpool2d",
                        "zpad", "upsample", "crop", "flatten", "reshape"]
        kind = r.choice(choices)
        return getattr(self, "l_" + kind)(t)

    def out(self, shape, known, t=None, mask_pass=False):
        return T(self.fresh(), shape, known, mask=(t.mask if (t is not None and mask_pass)
                                                   else None))

    def l_dense(self, t):
        if not t.known[-1] or t.shape[-1] > 64 * self.big ** 5:
            return None
        u = self.width(6)
        a = act_arg(self.rng, safe=True)
        ub = "use_bias=False" if self.rng.random() < 0.15 else f"bias_initializer={BIAS}"
        ex = self.with_lora(self.extras("kernel", *(["bias"] if ub != "use_bias=False" else [])))
        return (f"layers.Dense({args(str(u), a, ub, *ex)})",
                [self.out(t.shape[:-1] + [u], t.known[:-1] + [True], t, True)])

    def l_act(self, t):
        a = self.rng.choice(ACTS[:-1] if self.rng.random() < 0.3 else SAFE_ACTS[:-1])
        if t.mask is not None and a in ("softmax", "log_softmax"):
            a = "tanh"
        return f"layers.Activation({q(a)})", [self.out(t.shape, t.known, t, True)]

    def l_relu(self, t):
        r = self.rng
        opts = []
        if r.random() < 0.4:
            opts.append(f"max_value={r.choice([6.0, 1.0, 0.5])}")
        if r.random() < 0.3:
            opts.append(f"negative_slope={r.choice([0.1, 0.2])}")
        if r.random() < 0.3:
            opts.append(f"threshold={r.choice([0.1, 0.5])}")
        return f"layers.ReLU({args(*opts)})", [self.out(t.shape, t.known, t, True)]

    def l_leaky(self, t):
        s = self.rng.choice(["", "0.1", "negative_slope=0.05"])
        return f"layers.LeakyReLU({s})", [self.out(t.shape, t.known, t, True)]

    def l_softmax(self, t):
        if t.mask is not None:
            return None
        r = self.rng
        if t.rank >= 2 and r.random() < 0.3:
            # Several axes, as a list in any order (trailing, a block, or any
            # set: kdl_move_axes).
            sel = r.sample(range(t.rank), r.randint(1, t.rank))
            ax = [a + 1 if r.random() < 0.5 else a - t.rank for a in sel]
            return f"layers.Softmax(axis={ax})", [self.out(t.shape, t.known)]
        ax = r.choice([-1] + list(range(1, t.rank + 1)) + list(range(-t.rank, 0)))
        return f"layers.Softmax(axis={ax})", [self.out(t.shape, t.known)]

    def l_dropout(self, t):
        rate = 0.0 if self.train else self.rng.choice([0.0, 0.3, 0.5])
        return f"layers.Dropout({rate})", [self.out(t.shape, t.known, t, True)]

    def l_rescale(self, t):
        return (f"layers.Rescaling({self.rng.choice([0.5, 2.0, -1.0])}, "
                f"offset={self.rng.choice([0.0, 0.25])})", [self.out(t.shape, t.known, t, True)])

    def l_bn(self, t):
        axes = [i for i in range(t.rank) if t.known[i]]
        if not axes:
            return None
        a = self.rng.choice(axes)
        ax = a + 1 if self.rng.random() < 0.5 else a - t.rank
        opts = [f"axis={ax}", f"moving_mean_initializer={BIAS}",
                f"moving_variance_initializer={POS}", f"gamma_initializer={POS}",
                f"beta_initializer={BIAS}"]
        if self.rng.random() < 0.2:
            opts.append("center=False")
        if self.rng.random() < 0.2:
            opts.append("scale=False")
        return f"layers.BatchNormalization({args(*opts)})", [self.out(t.shape, t.known, t, True)]

    def l_ln(self, t):
        axes = [i for i in range(t.rank) if t.known[i]]
        if not axes:
            return None
        k = self.rng.randint(1, len(axes))
        sel = sorted(self.rng.sample(axes, k))
        if t.shape[sel[0]] == 1 and len(sel) == 1:
            return None             # a normalisation over one value: 0 everywhere
        vals = [a + 1 if self.rng.random() < 0.5 else a - t.rank for a in sel]
        ax = str(vals[0]) if len(vals) == 1 and self.rng.random() < 0.5 else str(vals)
        opts = [f"axis={ax}", f"gamma_initializer={POS}", f"beta_initializer={BIAS}"]
        if self.rng.random() < 0.2:
            opts.append("center=False")
        if self.rng.random() < 0.2:
            opts.append("scale=False")
        else:
            opts += self.extras("gamma")
        return f"layers.LayerNormalization({args(*opts)})", [self.out(t.shape, t.known, t, True)]

    def l_repeat(self, t):
        n = self.rng.randint(1, 4)
        return f"layers.RepeatVector({n})", [self.out([n] + t.shape, [True] + t.known)]

    def l_reshape(self, t):
        if not t.all_known():
            return None
        total = int(np.prod(t.shape))
        if total > 4096:
            return None
        divs = [d for d in range(1, total + 1) if total % d == 0]
        r = self.rng
        rank = r.choice([1, 2, 2, 3])
        shape = []
        rest = total
        for _ in range(rank - 1):
            d = r.choice([d for d in divs if rest % d == 0 and d <= 16])
            shape.append(d)
            rest //= d
        shape.append(rest)
        r.shuffle(shape)
        text = list(shape)
        if r.random() < 0.4:
            text[r.randrange(len(text))] = -1
        return f"layers.Reshape({tuple(text)})", [self.out(shape, [True] * len(shape))]

    def l_flatten(self, t):
        known = t.all_known()
        cf = 'data_format="channels_first"' if self.rng.random() < 0.2 and t.rank >= 2 else None
        return f"layers.Flatten({args(cf)})", [self.out([int(np.prod(t.shape))], [known])]

    def spatial(self, t, ch):
        return [i for i in range(t.rank) if i != ch]

    def place(self, t, ch, new_sp, new_sp_known, c, c_known=True):
        """A shape with channels c at axis ch and the new spatial sizes."""
        shape, known = [], []
        it = iter(zip(new_sp, new_sp_known))
        for i in range(t.rank):
            if i == ch:
                shape.append(c)
                known.append(c_known)
            else:
                s, k = next(it)
                shape.append(s)
                known.append(k)
        return shape, known

    def conv_common(self, t, rank, allow_causal=False, allow_dil=True):
        r = self.rng
        dfa, ch = self.df(t, rank)
        if not t.known[ch] or t.shape[ch] > 64:
            return None
        sp = self.spatial(t, ch)
        ks = [r.choice([1, 2, 3, 3, 5]) for _ in sp]
        pads = ["valid", "same"] + (["causal"] if allow_causal else [])
        pad = r.choice(pads)
        strides = [1] * rank
        dil = [1] * rank
        if r.random() < 0.3:
            strides = [r.choice([1, 2, 3]) for _ in sp]
        elif allow_dil and r.random() < 0.3:
            dil = [r.choice([1, 2]) for _ in sp]
        new, newk = [], []
        for i, k, s, d in zip(sp, ks, strides, dil):
            n = conv_len(t.shape[i], k, s, d, "valid" if pad == "valid" else "same")
            if n < 1:
                return None
            new.append(n)
            newk.append(t.known[i])
        def tv(v):
            return str(v[0]) if rank == 1 or (len(set(v)) == 1 and r.random() < 0.5) \
                else str(tuple(v))
        opts = [f"padding={q(pad)}"] if pad != "valid" or r.random() < 0.3 else []
        if strides != [1] * rank:
            opts.append(f"strides={tv(strides)}")
        if dil != [1] * rank:
            opts.append(f"dilation_rate={tv(dil)}")
        return dfa, ch, sp, tv(ks), opts, new, newk

    def l_conv1d(self, t):
        return self.conv_nd(t, 1)

    def l_conv2d(self, t):
        return self.conv_nd(t, 2)

    def conv_nd(self, t, rank):
        c = self.conv_common(t, rank, allow_causal=(rank == 1))
        if c is None:
            return None
        dfa, ch, sp, ks, opts, new, newk = c
        r = self.rng
        cin = t.shape[ch]
        groups = 1
        if r.random() < 0.25:
            groups = r.choice([g for g in range(1, cin + 1) if cin % g == 0])
        f = groups * r.randint(1, 3) if groups > 1 else self.width(6)
        if groups > 1:
            opts.append(f"groups={groups}")
        if r.random() < 0.15:
            opts.append("use_bias=False")
        else:
            opts.append(f"bias_initializer={BIAS}")
            opts += self.extras("bias")
        opts = self.with_lora(opts + self.extras("kernel"))
        shape, known = self.place(t, ch, new, newk, f)
        cls = "Conv1D" if rank == 1 else "Conv2D"
        return (f"layers.{cls}({args(str(f), ks, *opts, act_arg(r, True), dfa)})",
                [self.out(shape, known)])

    def l_dwconv(self, t):
        c = self.conv_common(t, 2)
        if c is None:
            return None
        dfa, ch, sp, ks, opts, new, newk = c
        dm = self.rng.choice([1, 1, 2])
        if dm > 1:
            opts.append(f"depth_multiplier={dm}")
        opts.append(f"bias_initializer={BIAS}")
        opts += self.extras("depthwise", "bias")
        shape, known = self.place(t, ch, new, newk, t.shape[ch] * dm)
        return (f"layers.DepthwiseConv2D({args(ks, *opts, act_arg(self.rng, True), dfa)})",
                [self.out(shape, known)])

    def l_sepconv(self, t):
        c = self.conv_common(t, 2)
        if c is None:
            return None
        dfa, ch, sp, ks, opts, new, newk = c
        dm = self.rng.choice([1, 1, 2])
        if dm > 1:
            opts.append(f"depth_multiplier={dm}")
        opts.append(f"bias_initializer={BIAS}")
        opts += self.extras("depthwise", "pointwise")
        f = self.width(6)
        shape, known = self.place(t, ch, new, newk, f)
        return (f"layers.SeparableConv2D({args(str(f), ks, *opts, act_arg(self.rng, True), dfa)})",
                [self.out(shape, known)])

    def l_tconv(self, t):
        r = self.rng
        dfa, ch = self.df(t, 2)
        if not t.known[ch] or t.shape[ch] > 64:
            return None
        sp = self.spatial(t, ch)
        ks = [r.choice([1, 2, 3]) for _ in sp]
        pad = r.choice(["valid", "same"])
        strides = [r.choice([1, 2]) for _ in sp] if r.random() < 0.6 else [1, 1]
        dil = [1, 1]
        if strides == [1, 1] and r.random() < 0.3:
            dil = [r.choice([1, 2]) for _ in sp]
        ops = None
        if r.random() < 0.3 and max(strides) > 1:
            ops = [r.randrange(s) for s in strides]
        new = []
        for i, k, s, d, j in zip(sp, ks, strides, dil, range(2)):
            n = tconv_len(t.shape[i], k, s, d, pad, None if ops is None else ops[j])
            if n < 1 or n > 40:
                return None
            new.append(n)
        f = self.width(5)
        opts = [f"padding={q(pad)}", f"strides={tuple(strides)}", f"bias_initializer={BIAS}"]
        if dil != [1, 1]:
            opts.append(f"dilation_rate={tuple(dil)}")
        if ops is not None:
            opts.append(f"output_padding={tuple(ops)}")
        opts += self.extras("kernel")
        shape, known = self.place(t, ch, new, [t.known[i] for i in sp], f)
        return (f"layers.Conv2DTranspose({args(str(f), str(tuple(ks)), *opts, act_arg(r, True), dfa)})",
                [self.out(shape, known)])

    def pool(self, t, rank):
        r = self.rng
        dfa, ch = self.df(t, rank)
        sp = self.spatial(t, ch)
        ps = [r.choice([1, 2, 3]) for _ in sp]
        st = None
        if r.random() < 0.4:
            st = [r.choice([1, 2, 3]) for _ in sp]
        pad = r.choice(["valid", "same"])
        new = []
        for i, p, j in zip(sp, ps, range(rank)):
            n = pool_len(t.shape[i], p, ps[j] if st is None else st[j], pad)
            if n < 1:
                return None
            new.append(n)
        kind = r.choice(["MaxPooling", "AveragePooling"])
        if r.random() < 0.2:
            kind = {"MaxPooling": "MaxPool", "AveragePooling": "AvgPool"}[kind]
        def tv(v):
            return str(v[0]) if rank == 1 else str(tuple(v))
        opts = [tv(ps)]
        if st is not None:
            opts.append(f"strides={tv(st)}")
        if pad != "valid":
            opts.append(f"padding={q(pad)}")
        shape, known = self.place(t, ch, new, [t.known[i] for i in sp], t.shape[ch],
                                  t.known[ch])
        return f"layers.{kind}{rank}D({args(*opts, dfa)})", [self.out(shape, known)]

    def l_pool1d(self, t):
        return self.pool(t, 1)

    def l_pool2d(self, t):
        return self.pool(t, 2)

    def gpool(self, t, rank):
        r = self.rng
        dfa, ch = self.df(t, rank)
        kind = r.choice(["GlobalAveragePooling", "GlobalMaxPooling"])
        keep = r.random() < 0.4
        mask_ok = kind == "GlobalAveragePooling" and rank == 1
        if t.mask is not None and dfa is not None:
            return None
        opts = [dfa, "keepdims=True" if keep else None]
        if keep:
            shape, known = self.place(t, ch, [1] * rank, [True] * rank, t.shape[ch],
                                      t.known[ch])
        else:
            shape, known = [t.shape[ch]], [t.known[ch]]
        del mask_ok
        return f"layers.{kind}{rank}D({args(*opts)})", [self.out(shape, known)]

    def l_gpool1d(self, t):
        return self.gpool(t, 1)

    def l_gpool2d(self, t):
        return self.gpool(t, 2)

    def l_zpad(self, t):
        r = self.rng
        dfa, ch = self.df(t, 2)
        form = r.randrange(3)
        if form == 0:
            p = r.randint(0, 2)
            txt, pads = str(p), [(p, p), (p, p)]
        elif form == 1:
            a, b = r.randint(0, 2), r.randint(0, 2)
            txt, pads = str((a, b)), [(a, a), (b, b)]
        else:
            pads = [(r.randint(0, 2), r.randint(0, 2)) for _ in range(2)]
            txt = str(tuple(pads))
        sp = self.spatial(t, ch)
        new = [t.shape[i] + a + b for i, (a, b) in zip(sp, pads)]
        shape, known = self.place(t, ch, new, [t.known[i] for i in sp], t.shape[ch], t.known[ch])
        return f"layers.ZeroPadding2D({args(txt, dfa)})", [self.out(shape, known)]

    def l_upsample(self, t):
        r = self.rng
        dfa, ch = self.df(t, 2)
        sz = (r.randint(1, 3), r.randint(1, 3))
        interp = r.choice(["nearest", "bilinear"])
        sp = self.spatial(t, ch)
        new = [t.shape[i] * s for i, s in zip(sp, sz)]
        shape, known = self.place(t, ch, new, [t.known[i] for i in sp], t.shape[ch], t.known[ch])
        return (f"layers.UpSampling2D({args(str(sz), dfa, 'interpolation=' + q(interp))})",
                [self.out(shape, known)])

    def l_crop(self, t):
        if self.train:
            return None
        r = self.rng
        dfa, ch = self.df(t, 2)
        sp = self.spatial(t, ch)
        h, w = (r.randint(1, t.shape[i]) for i in sp)
        shape, known = self.place(t, ch, [h, w], [True, True], t.shape[ch], t.known[ch])
        return f"layers.RandomCrop({args(str(h), str(w), dfa)})", [self.out(shape, known)]

    def l_rnn(self, t):
        if not t.known[1]:
            return None
        r = self.rng
        cls = r.choice(["SimpleRNN", "LSTM", "GRU"])
        u = self.width(6)
        rs = r.random() < 0.5
        st = r.random() < 0.3
        opts = [str(u)]
        if rs:
            opts.append("return_sequences=True")
        if st:
            opts.append("return_state=True")
        if r.random() < 0.3:
            opts.append("go_backwards=True")
        if r.random() < 0.2:
            opts.append(f"activation={q(r.choice(['relu', 'sigmoid', 'softsign', 'elu']))}")
        if cls != "SimpleRNN" and r.random() < 0.2:
            opts.append(f"recurrent_activation={q(r.choice(['hard_sigmoid', 'tanh']))}")
        if cls == "GRU" and r.random() < 0.4:
            opts.append("reset_after=False")
        if r.random() < 0.15:
            opts.append("use_bias=False")
        else:
            opts.append(f"bias_initializer={BIAS}")
        if t.known[0] and r.random() < 0.15:
            opts.append("unroll=True")
        opts += self.extras("kernel", "recurrent")
        outs = [self.out([t.shape[0], u] if rs else [u], [t.known[0], True] if rs else [True],
                         t, rs)]
        if st:
            n = 2 if cls == "LSTM" else 1
            outs += [self.out([u], [True]) for _ in range(n)]
        return f"layers.{cls}({args(*opts)})", outs

    # ---- merges ------------------------------------------------------------------------------
    def merge(self, pool):
        r = self.rng
        a = r.choice(pool)
        if a.dtype != "float32":
            return None
        kind = r.choice(["Add", "Subtract", "Multiply", "Average", "Concatenate", "Concatenate"])
        fn = r.random() < 0.3
        if kind == "Concatenate":
            cands = [b for b in pool if b is not a and b.dtype == "float32" and b.rank == a.rank]
            axes = []
            for b in cands:
                for ax in range(a.rank):
                    if all(a.shape[i] == b.shape[i] for i in range(a.rank) if i != ax):
                        axes.append((b, ax))
            if not axes:
                return None
            b, ax = r.choice(axes)
            if (a.mask is not None or b.mask is not None) and ax != a.rank - 1:
                return None
            if a.mask is not None and b.mask is not None and a.mask != b.mask:
                return None
            ins = [a, b]
            r.shuffle(ins)
            axt = ax + 1 if r.random() < 0.5 else ax - a.rank
            shape = list(ins[0].shape)
            shape[ax] = a.shape[ax] + b.shape[ax]
            known = list(ins[0].known)
            known[ax] = a.known[ax] and b.known[ax]
            mask = a.mask if a.mask is not None else b.mask
            # Keras: an unmasked input counts as all ones, so no mask is left
            if a.mask is None or b.mask is None:
                mask = None
            ctor = (f"layers.Concatenate(axis={axt})" if not fn else
                    f"concatenate:axis={axt}")
            return ctor, ins, [T(self.fresh(), shape, known, mask=mask)]
        cands = []
        for b in pool:
            if b is a or b.dtype != "float32":
                continue
            ra, rb = a.shape[::-1], b.shape[::-1]
            ok = True
            for i in range(min(len(ra), len(rb))):
                if ra[i] != rb[i] and ra[i] != 1 and rb[i] != 1:
                    ok = False
            if ok and (a.mask is None or b.mask is None or a.mask == b.mask):
                if (a.mask is not None or b.mask is not None) and a.rank != b.rank:
                    continue
                cands.append(b)
        if not cands:
            return None
        bs = [r.choice(cands)]
        if kind != "Subtract" and r.random() < 0.3:
            more = [c for c in cands if c is not bs[0] and len(c.shape) == len(bs[0].shape)
                    and c.shape == bs[0].shape and c.mask == bs[0].mask]
            if more:
                bs.append(r.choice(more))
        ins = [a] + bs
        r.shuffle(ins)
        rank = max(x.rank for x in ins)
        shape, known = [], []
        for i in range(1, rank + 1):
            dims = [(x.shape[-i], x.known[-i]) for x in ins if x.rank >= i]
            shape.append(max(d for d, _ in dims))
            known.append(all(k for _, k in dims))
        shape.reverse()
        known.reverse()
        mask = ins[0].mask if all(x.mask is not None for x in ins) else None
        ctor = f"layers.{kind}()" if not fn else f"{kind.lower()}:"
        return ctor, ins, [T(self.fresh(), shape, known, mask=mask)]

    # ---- inputs ------------------------------------------------------------------------------
    def make_input(self, allow_none=True, allow_int=True):
        r = self.rng
        kind = r.choice(["vec", "seq", "seq", "img", "img"] + (["ids"] if allow_int else []))
        none = allow_none and r.random() < 0.25
        if kind == "vec":
            return T(self.fresh("inp"), [self.width(12)])
        if kind == "seq":
            # A None length is sometimes 1 at run time (broadcast by merges).
            n = 1 if none and r.random() < 0.2 else r.randint(3, 10 * self.big)
            return T(self.fresh("inp"), [n, self.width(5)],
                     [not none, not none or r.random() < 0.9])
        if kind == "img":
            return T(self.fresh("inp"), [r.randint(4, 11 * self.big), r.randint(4, 11 * self.big),
                                           self.width(4)],
                     [not none, not none or r.random() < 0.3, not none or r.random() < 0.8])
        rank = r.choice([1, 1, 2])
        shape = [r.randint(3, 9) for _ in range(rank)]
        return T(self.fresh("inp"), shape, [not (none and rank == 1)] * rank, dtype="int32")

    def embed(self, t):
        r = self.rng
        v = r.randint(5, 30)
        e = r.randint(1, 6)
        mz = r.random() < 0.4 and t.rank == 1 and (not self.train or r.random() < 0.6)
        opts = [str(v), str(e)] + self.lora()
        mask = None
        if mz:
            opts.append("mask_zero=True")
            self.masks += 1
            mask = self.masks
        return (f"layers.Embedding({args(*opts)})",
                [T(self.fresh(), t.shape + [e], t.known + [True], mask=mask)])

    # ---- a graph -------------------------------------------------------------------------------
    def graph(self, inputs, steps, chain=False, allow_merge=True, allow_multi=True):
        """Apply random layers; returns the pool of tensors (inputs first)."""
        pool = list(inputs)
        last = prev = inputs[-1]
        for inp in inputs:
            if inp.dtype == "int32":
                ctor, outs = self.embed(inp)
                self.ops.append((self.fresh("l"), ctor, [inp], outs, "layer"))
                pool.append(outs[0])
                last = outs[0]
        tries = 0
        made = 0
        while made < steps and tries < steps * 20:
            tries += 1
            floats = [x for x in pool if x.dtype == "float32"]
            if not floats:
                break
            if not chain and allow_merge and len(floats) > 1 and self.rng.random() < 0.2:
                m = self.merge(floats)
                if m is None:
                    continue
                ctor, ins, outs = m
                self.ops.append((self.fresh("l"), ctor, ins, outs, "merge"))
                pool += outs
                last = outs[0]
                made += 1
                continue
            u = self.rng.random()
            src = last if (chain or u < 0.55) else prev if u < 0.75 else self.rng.choice(floats)
            if src.dtype != "float32":
                continue
            if not chain and self.layers and self.rng.random() < 0.1:
                # reuse a layer on another tensor of the same shape (shared weights)
                same = [lay for lay in self.layers if lay[1] == (src.shape, src.known)
                        and lay[3] is not None]
                # a Dense takes any rank with the same last axis
                dense = [lay for lay in self.layers if lay[2] is not None and
                         src.known[-1] and src.shape[-1] == lay[1][0][-1]]
                if dense and (not same or self.rng.random() < 0.5):
                    lay = self.rng.choice(dense)
                    outs = [T(self.fresh(), src.shape[:-1] + [lay[2]],
                              src.known[:-1] + [True], mask=src.mask)]
                    self.ops.append((lay[0], None, [src], outs, "reuse"))
                    pool += outs
                    prev, last = src, outs[0]
                    made += 1
                    continue
                if same:
                    lay = self.rng.choice(same)
                    o = lay[3]
                    outs = [T(self.fresh(), o.shape, o.known,
                              mask=src.mask if o.mask is not None else None)]
                    self.ops.append((lay[0], None, [src], outs, "reuse"))
                    pool += outs
                    prev, last = src, outs[0]
                    made += 1
                    continue
            res = self.single(src)
            if res is None:
                continue
            ctor, outs = res
            if (chain or not allow_multi) and len(outs) > 1:
                continue
            if any(x > 4096 * self.big ** 4 for o in outs for x in [int(np.prod(o.shape))]):
                continue
            lv = self.fresh("l")
            self.ops.append((lv, ctor, [src], outs, "layer"))
            units = outs[0].shape[-1] if ctor.startswith("layers.Dense(") else None
            self.layers.append((lv, (src.shape, src.known), units,
                                outs[0] if len(outs) == 1 else None))
            pool += outs
            prev, last = src, outs[0]
            made += 1
        if self.train and last.dtype == "float32" and self.rng.random() < 0.7:
            # an output that weights reach (the training reference needs one)
            res = self.l_dense(last)
            if res is not None:
                lv = self.fresh("l")
                self.ops.append((lv, res[0], [last], res[1], "layer"))
                pool += res[1]
                last = res[1][0]
        return pool, last


def emit_input(t):
    shape = tuple(d if k else None for d, k in zip(t.shape, t.known))
    dt = ', dtype="int32"' if t.dtype == "int32" else ""
    return f"keras.Input(shape={shape}{dt})"


def call_text(layer, ctor, ins, outs):
    lhs = ", ".join(o.var for o in outs)
    if ctor is not None and ":" in ctor and not ctor.startswith("layers."):
        fn, kw = ctor.split(":", 1)
        arg = "[" + ", ".join(x.var for x in ins) + "]"
        return f"{lhs} = layers.{fn}({arg}{', ' + kw if kw else ''})"
    arg = ins[0].var if len(ins) == 1 and not ctor_multi(ctor) else \
        "[" + ", ".join(x.var for x in ins) + "]"
    return f"{lhs} = {layer}({arg})"


def ctor_multi(ctor):
    return ctor is not None and any(ctor.startswith(f"layers.{k}(") for k in
                                    ("Add", "Subtract", "Multiply", "Average", "Concatenate"))


def pick_outputs(rng, g, pool, last, inputs):
    cands = [x for x in pool if x.dtype == "float32" and
             (x not in inputs or (not g.train and rng.random() < 0.2))]
    if g.train:
        # the training reference needs outputs of known shapes
        cands = [x for x in cands if x.all_known()]
        if not last.all_known():
            if not cands:
                return None
            last = rng.choice(cands)
    outs = [last]
    for x in rng.sample(cands, min(len(cands), rng.randint(0, 2))):
        if x not in outs or rng.random() < 0.2:
            outs.append(x)
    return outs


def out_struct(rng, outs, allow_dict=True):
    if len(outs) == 1 and rng.random() < 0.8:
        return outs[0].var, None
    if allow_dict and rng.random() < 0.3:
        keys = [f"o{i}" for i in range(len(outs))]
        rng.shuffle(keys)
        return "{" + ", ".join(f'"{k}": {o.var}' for k, o in zip(keys, outs)) + "}", keys
    return "[" + ", ".join(o.var for o in outs) + "]", None


def gen_functional(rng, train):
    g = Gen(rng, train, BIG)
    lines = ["import keras", "from keras import layers", ""]
    nin = rng.choice([1, 1, 1, 2])
    inputs = [g.make_input(allow_int=True) for _ in range(nin)]
    if nin == 2 and rng.random() < 0.5:
        # two inputs of one shape, so the branches can merge
        inputs[1] = T(g.fresh("inp"), inputs[0].shape, inputs[0].known, inputs[0].dtype)
    for t in inputs:
        lines.append(f"{t.var} = {emit_input(t)}")
    pool, last = g.graph(inputs, rng.randint(1, 8))
    nested = rng.random() < 0.25
    if nested:
        floats = [x for x in pool if x.dtype == "float32"]
        src = last if last.dtype == "float32" else floats[-1] if floats else None
        if src is not None and src.mask is None:
            sub = Gen(rng, train, BIG)
            sub.n = g.n + 1000
            sin = T(sub.fresh("sin"), src.shape, src.known)
            spool, slast = sub.graph([sin], rng.randint(1, 3), allow_multi=False)
            if slast is not sin:
                kind = rng.choice(["functional", "functional", "sequential", "layer", "model"])
                chain = all(k == "layer" and len(o) == 1 and i[0] is (sub.ops[j - 1][3][0] if j
                                                                      else sin)
                            for j, (_, _, i, o, k) in enumerate(sub.ops))
                if kind == "sequential" and chain:
                    body = ["sub = keras.Sequential(["] + \
                        [f"    {ctor}," for _, ctor, _, _, _ in sub.ops] + ["], name=\"sub\")"]
                elif kind in ("layer", "model"):
                    base = "keras.layers.Layer" if kind == "layer" else "keras.Model"
                    body = class_lines("Block", base, sub.ops, [sin], slast.var)
                    body.append("sub = Block(name=\"sub\")")
                else:
                    body = [f"{sin.var} = {emit_input(sin)}"]
                    body += emit_ops(sub.ops)
                    body.append(f"sub = keras.Model({sin.var}, {slast.var}, name=\"sub\")")
                out = T(g.fresh(), slast.shape, slast.known,
                        mask=None)
                g.ops.append(("sub", None, [src], [out], "nested"))
                pool.append(out)
                last = out
                if slast.shape == src.shape and slast.known == src.known and rng.random() < 0.5:
                    out2 = T(g.fresh(), slast.shape, slast.known)
                    g.ops.append(("sub", None, [out], [out2], "nested"))
                    pool.append(out2)
                    last = out2
                lines += body
    if last.dtype != "float32":
        return None
    lines += emit_ops(g.ops)
    outs = pick_outputs(rng, g, pool, last, inputs)
    if outs is None:
        return None
    ostr, keys = out_struct(rng, outs)
    istr = inputs[0].var if len(inputs) == 1 and rng.random() < 0.7 else \
        "[" + ", ".join(t.var for t in inputs) + "]"
    lines.append(f"model = keras.Model({istr}, {ostr}, name=\"rand\")")
    return lines, inputs, outs, keys


def emit_ops(ops):
    lines = []
    for lv, ctor, ins, outs, kind in ops:
        if kind == "layer" or kind == "merge":
            if ctor.startswith("layers."):
                lines.append(f"{lv} = {ctor}")
                lines.append(call_text(lv, ctor, ins, outs))
            else:
                lines.append(call_text(None, ctor, ins, outs))
        else:
            lines.append(call_text(lv, None, ins, outs))
    return lines


def gen_sequential(rng, train):
    g = Gen(rng, train, BIG)
    inp = g.make_input(allow_int=True)
    pool, last = g.graph([inp], rng.randint(1, 7), chain=True)
    if last.dtype != "float32" or (train and not last.all_known()):
        return None
    ctors = [ctor for _, ctor, _, _, _ in g.ops]
    lines = ["import keras", "from keras import layers", ""]
    if rng.random() < 0.5:
        lines.append("model = keras.Sequential([")
        lines.append(f"    {emit_input(inp)},")
        for c in ctors:
            lines.append(f"    {c},")
        lines.append("], name=\"rand\")")
    else:
        lines.append("model = keras.Sequential(name=\"rand\")")
        lines.append(f"model.add({emit_input(inp)})")
        for c in ctors:
            lines.append(f"model.add({c})")
    return lines, [inp], [last], None


def class_lines(name, base, ops, inputs, ostr):
    """A keras.Model or keras.layers.Layer subclass whose call() runs ops."""
    init, call = [], []
    for lv, ctor, ins, outs, kind in ops:
        if kind in ("layer", "merge"):
            if not ctor.startswith("layers."):
                fn, kw = ctor.split(":", 1)
                cls = {"add": "Add", "subtract": "Subtract", "multiply": "Multiply",
                       "average": "Average", "concatenate": "Concatenate"}[fn]
                ctor = f"layers.{cls}({kw})"
            init.append(f"        self.{lv} = {ctor}")
        lhs = ", ".join(o.var for o in outs)
        arg = "[" + ", ".join(x.var for x in ins) + "]" if (kind == "merge") else ins[0].var
        extra = ", training=training" if ctor is not None and "Dropout" in ctor else ""
        call.append(f"        {lhs} = self.{lv}({arg}{extra})")
    lines = ["", "", f"class {name}({base}):",
             "    def __init__(self, **kwargs):",
             "        super().__init__(**kwargs)"] + init + [
             "", "    def call(self, inputs, training=False):"]
    if len(inputs) == 1:
        lines.append(f"        {inputs[0].var} = inputs")
    else:
        lines.append(f"        {', '.join(t.var for t in inputs)} = inputs")
    lines += call
    lines.append(f"        return {ostr}")
    lines += ["", ""]
    return lines


def gen_subclass(rng, train):
    g = Gen(rng, train, BIG)
    nin = rng.choice([1, 1, 2])
    inputs = [g.make_input(allow_int=True, allow_none=(nin == 1))]
    if nin == 2:
        inputs.append(T(g.fresh("inp"), inputs[0].shape, inputs[0].known, inputs[0].dtype))
    pool, last = g.graph(inputs, rng.randint(1, 7))
    if last.dtype != "float32":
        return None
    init, call = [], []
    for lv, ctor, ins, outs, kind in g.ops:
        if kind in ("layer", "merge"):
            if not ctor.startswith("layers."):
                fn, kw = ctor.split(":", 1)
                cls = {"add": "Add", "subtract": "Subtract", "multiply": "Multiply",
                       "average": "Average", "concatenate": "Concatenate"}[fn]
                ctor = f"layers.{cls}({kw.replace('axis=', 'axis=') if kw else ''})"
            init.append(f"        self.{lv} = {ctor}")
        lhs = ", ".join(o.var for o in outs)
        arg = "[" + ", ".join(x.var for x in ins) + "]" if (kind == "merge") else ins[0].var
        extra = ", training=training" if ctor is not None and "Dropout" in ctor else ""
        call.append(f"        {lhs} = self.{lv}({arg}{extra})")
    outs = pick_outputs(rng, g, pool, last, inputs)
    if outs is None:
        return None
    ostr, keys = out_struct(rng, outs, allow_dict=False)
    lines = ["import keras", "from keras import layers", "", "",
             "class Net(keras.Model):",
             "    def __init__(self, **kwargs):",
             "        super().__init__(**kwargs)"] + init + [
             "", "    def call(self, inputs, training=False):"]
    if nin == 1:
        lines.append(f"        {inputs[0].var} = inputs")
    else:
        lines.append(f"        {inputs[0].var}, {inputs[1].var} = inputs")
    lines += call
    lines.append(f"        return {ostr}")
    lines += ["", "", "model = Net(name=\"rand\")"]
    if nin == 1 and rng.random() < 0.5:
        shape = (None,) + tuple(d if k else None for d, k in zip(inputs[0].shape, inputs[0].known))
        if inputs[0].dtype == "int32":
            lines.append(f"model({emit_input(inputs[0])})")
        else:
            lines.append(f"model.build({shape})")
    else:
        ins = ", ".join(emit_input(t) for t in inputs)
        lines.append(f"model({ins if nin == 1 else '[' + ins + ']'})")
    return lines, inputs, outs, keys


def gen_program(seed, style=None, train=False):
    rng = random.Random(seed)
    for _ in range(50):
        st = style or rng.choice(["functional", "functional", "sequential", "subclass"])
        res = {"functional": gen_functional, "sequential": gen_sequential,
               "subclass": gen_subclass}[st](rng, train)
        if res is None:
            continue
        lines, inputs, outs, keys = res
        if train:
            lines += train_lines(rng, outs, keys)
        dims = [d for t in inputs for d, k in zip(t.shape, t.known) if not k]
        return "\n".join(lines) + "\n", st, inputs, dims
    return None


def train_lines(rng, outs, keys):
    opt = rng.choice(['"sgd"', '"adam"', '"rmsprop"',
                      'keras.optimizers.SGD(learning_rate=0.05, momentum=0.9)',
                      'keras.optimizers.Adam(learning_rate=0.01)',
                      'keras.optimizers.SGD(learning_rate=0.05, nesterov=True, momentum=0.5, '
                      'clipnorm=0.5)',
                      'keras.optimizers.SGD(learning_rate=0.05, clipvalue=0.01)',
                      'keras.optimizers.SGD(learning_rate=0.05, global_clipnorm=0.3)',
                      'keras.optimizers.SGD(learning_rate=0.05, weight_decay=0.1)',
                      '"adamw"', '"nadam"', '"adamax"', '"adagrad"', '"adadelta"',
                      'keras.optimizers.RMSprop(learning_rate=0.01, centered=True, '
                      'momentum=0.5)'])
    loss = rng.choice(['"mse"', '"mae"', '"huber"', '"mse"', '"log_cosh"',
                       '"mean_squared_logarithmic_error"', '"cosine_similarity"',
                       'keras.losses.Huber(delta=0.3)', 'keras.losses.MeanSquaredError('
                       'reduction="sum")'])
    metrics = rng.choice(["", "", ', metrics=["mae"]', ', metrics=["mse", "mae"]'])
    if len(outs) != 1:
        metrics = ""    # (a flat list for several outputs: Keras's rules differ by version)
    return ["", f"model.compile(optimizer={opt}, loss={loss}{metrics})",
            f"model.fit(epochs=2, batch_size={rng.choice([8, 16])}, shuffle=False)"]


# ---- running ---------------------------------------------------------------------------------

class Runner:
    def __init__(self, a):
        self.a = a
        self.build = os.path.join(ROOT, a.build)
        self.kdlc = os.path.join(self.build, "kdlc")
        self.npycmp = os.path.join(self.build, "npycmp")
        self.stcmp = os.path.join(self.build, "stcmp")
        self.env = dict(os.environ)
        if a.san:
            self.env["CC"] = "cc -fsanitize=address,undefined -fno-sanitize-recover=undefined"
            self.env["ASAN_OPTIONS"] = "detect_leaks=1"
        self.env["KDLC"] = self.kdlc
        if a.threads:
            self.env["KDL_NUM_THREADS"] = str(a.threads)
        import reference
        self.ref = reference

    def sh(self, cmd, log, timeout=None, env=None):
        try:
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=env or self.env, timeout=timeout or self.a.timeout)
        except subprocess.TimeoutExpired:
            log.append(f"$ {' '.join(cmd)}\nTIMEOUT")
            return 124, ""
        out = r.stdout.decode(errors="replace")
        log.append(f"$ {' '.join(cmd)}\n{out}")
        return r.returncode, out

    def case(self, i, d):
        """Returns (status, detail)."""
        seed = self.a.seed * 100000 + i
        gp = gen_program(seed, self.a.style, self.a.train)
        if gp is None:
            return "nogen", ""
        text, style, inputs, dims = gp
        kdl = os.path.join(d, "rand.kdl")
        with open(kdl, "w") as f:
            f.write(f"# random_models.py seed {seed} ({style})\n" + text)
        log = []
        rc, out = self.sh([self.kdlc, "check", kdl], log)
        if rc != 0:
            first = [ln for ln in out.splitlines() if "error:" in ln]
            msg = first[0].split("error:", 1)[1].strip() if first else out.strip()[:200]
            if rc > 2 or "Sanitizer" in out or "runtime error" in out:
                return "crash-check", out[-2000:]
            return "rejected", msg
        if "Sanitizer" in out or "runtime error" in out:
            return "san-check", out[-2000:]
        self.log = log
        if self.a.train:
            return self.train_case(d, kdl, log)
        for mode, extra in (("fused", []), ("nofuse", ["--no-fuse"])):
            rc, out = self.sh([self.kdlc, "build", kdl, "-o", os.path.join(d, mode)] + extra, log)
            if rc != 0:
                if "error:" in out and "C compiler" not in out and rc == 1:
                    first = [ln for ln in out.splitlines() if "error:" in ln][0]
                    return "unsupported", first.split("error:", 1)[1].strip()
                return f"build-{mode}", out[-3000:]
        # the generated C under the strict flags
        inc = os.path.join(ROOT, "include")
        for src in ("rand.c", "rand_main.c"):
            rc, out = self.sh(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic",
                               "-fsyntax-only", "-I" + inc, "-I" + os.path.join(d, "fused"),
                               os.path.join(d, "fused", src)], log)
            if rc != 0:
                return "werror", out[-3000:]
        prog = os.path.join(d, "fused", "rand")
        w = os.path.join(d, "w.safetensors")
        rc, out = self.sh([prog, "init", "--model", "model", "--seed", str(seed % 1000000),
                           "-o", w], log)
        if rc != 0:
            return "init", out[-3000:]
        graph = self.ref.find_model(self.ref.load_dump(kdl, self.kdlc), "model")
        weights = self.ref.load_safetensors(w)
        import torch
        for n in (1, 7):
            xs = self.inputs(graph, n, seed + n, dims)
            if n == 7 and dims:
                # other sizes for batch 7 (one program runs both), when the
                # model takes them (sizes that only grow keep convolutions
                # valid, but two branches may then disagree)
                d7 = [d + (seed + i) % 3 for i, d in enumerate(dims)]
                x7 = self.inputs(graph, n, seed + n, d7)
                try:
                    with torch.no_grad():
                        self.ref.run_graph(graph, weights, [
                            torch.from_numpy(x.astype(np.int64)) if x.dtype == np.int32 else
                            torch.from_numpy(x.astype(np.float64)) for x in x7])
                    xs = x7
                except Exception:       # noqa: BLE001 - keep batch 1's sizes
                    pass
            paths = []
            for k, x in enumerate(xs):
                p = os.path.join(d, f"x{n}.{k}.npy")
                np.save(p, x)
                paths.append(p)
            tx = [torch.from_numpy(x.astype(np.int64)) if x.dtype == np.int32 else
                  torch.from_numpy(x.astype(np.float64)) for x in xs]
            try:
                with torch.no_grad():
                    ys = self.ref.run_graph(graph, weights, tx)
            except Exception as e:      # noqa: BLE001 - a reference failure is reported
                return "reference", f"{type(e).__name__}: {e}"
            ys = [y.numpy() for y in ys]
            if any(not np.all(np.isfinite(y)) for y in ys) or \
                    any(np.abs(y).max(initial=0) > 1e6 for y in ys):
                return "nonfinite", ""
            modes = [("fused", []), ("nofuse", [])]
            if n == 7:
                modes.append(("fused", ["--batch-size", "3"]))
            for mode, extra in modes:
                env = dict(self.env)
                if mode == "nofuse":
                    env["KDL_NO_AVX512"] = "1"
                yp = os.path.join(d, f"y.{mode}{n}{''.join(extra)}.npy")
                cmd = [os.path.join(d, mode, "rand"), "predict", "--model", "model",
                       "--weights", w]
                for p in paths:
                    cmd += ["--input", p]
                rc, out = self.sh(cmd + ["--output", yp] + extra, log, env=env)
                if rc != 0 or "Sanitizer" in out or "runtime error" in out:
                    return f"predict-{mode}", f"rc {rc}: " + out[-3000:]
                outs = [yp] if len(ys) == 1 else \
                    [yp[:-4] + f".{k}.npy" for k in range(len(ys))]
                for k, (p, y) in enumerate(zip(outs, ys)):
                    got = np.load(p)
                    if got.shape != y.shape:
                        return "shape", f"{mode} batch {n} output {k}: {got.shape} vs {y.shape}"
                    err = np.abs(got.astype(np.float64) - y) - (1e-5 + 1e-4 * np.abs(y))
                    if np.any(err > 0):
                        j = np.unravel_index(np.argmax(err), err.shape)
                        return "mismatch", (f"{mode}{' '.join(extra)} batch {n} output {k} at "
                                            f"{j}: got {got[j]!r} want {y[j]!r}")
        return "ok", ""

    def inputs(self, graph, n, seed, dims):
        rng = np.random.default_rng(seed)
        it = iter(dims)
        xs = []
        for spec in graph["inputs"]:
            shape = (n,) + tuple(next(it) if s is None else s for s in spec["shape"][1:])
            if spec["dtype"].startswith("int"):
                lim = self.ref.embedding_limit(graph, spec["tensor"]) or 10
                x = rng.integers(0, lim, size=shape).astype(np.int32)
                if len(shape) == 2 and self.ref.feeds_mask_zero(graph, spec["tensor"]):
                    x = self.ref.padded_ids(x, rng)
            else:
                x = rng.standard_normal(shape).astype(np.float32)
            xs.append(x)
        return xs

    def train_case(self, d, kdl, log):
        tr = os.path.join(ROOT, "tests", "train", "train_reference.py")
        py = sys.executable
        rc, out = self.sh([self.kdlc, "build", kdl, "-o", os.path.join(d, "prog")], log)
        if rc != 0:
            if "error:" in out and "C compiler" not in out:
                first = [ln for ln in out.splitlines() if "error:" in ln][0]
                return "train-rejected", first.split("error:", 1)[1].strip()
            return "build-train", out[-3000:]
        inc = os.path.join(ROOT, "include")
        for src in ("rand.c", "rand_main.c"):
            rc, out = self.sh(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic",
                               "-fsyntax-only", "-I" + inc, "-I" + os.path.join(d, "prog"),
                               os.path.join(d, "prog", src)], log)
            if rc != 0:
                return "werror", out[-3000:]
        prog = os.path.join(d, "prog", "rand")
        w0 = os.path.join(d, "w0.safetensors")
        rc, out = self.sh([prog, "init", "--model", "model", "--seed", "7", "-o", w0], log)
        if rc != 0:
            return "init", out[-3000:]
        rc, out = self.sh([py, tr, "fitargs", kdl, "--model", "model"], log)
        if rc != 0:
            return "train-ref", out[-3000:]
        epochs, batch, nin, nout = out.split()
        if "the fixtures need outputs of known shapes" in out:
            return "nograd", ""     # the reference's limit
        rc, out = self.sh([py, tr, "data", kdl, "--model", "model", "--n", "24", "--seed", "5",
                           "--out", d] + (["--dims"] + [str(x) for x in self.dims]
                                          if self.dims else []), log)
        if rc != 0:
            if "the fixtures need outputs of known shapes" in out or \
                    "an integer input that no Embedding reads" in out:
                return "nograd", ""     # the reference's limit
            return "train-ref", out[-3000:]
        xs = [os.path.join(d, "x.npy" if nin == "1" else f"x.{k}.npy") for k in range(int(nin))]
        ys = [os.path.join(d, "y.npy" if nout == "1" else f"y.{k}.npy") for k in range(int(nout))]
        xa = sum((["--x", x] for x in xs), [])
        ya = sum((["--y", y] for y in ys), [])
        w1 = os.path.join(d, "w1.safetensors")
        h1 = os.path.join(d, "h1.csv")
        rc, out = self.sh([py, tr, "fit", kdl, "--model", "model", "--weights", w0] + xa + ya +
                          ["--epochs", epochs, "--batch-size", batch, "--out-weights", w1,
                           "--history", h1], log, timeout=600)
        if rc != 0:
            if "does not require grad" in out:
                return "nograd", ""     # an output that no weight reaches
            if "the fixtures need outputs of known shapes" in out or \
                    "an integer input that no Embedding reads" in out:
                return "nograd", ""     # the reference's limit
            return "train-ref", out[-3000:]
        if "nan" in open(h1).read().lower():
            return "nonfinite", ""
        w2 = os.path.join(d, "w2.safetensors")
        h2 = os.path.join(d, "h2.csv")
        rc, out = self.sh([prog, "fit", "--model", "model"] + xa + ya +
                          ["--epochs", epochs, "--batch-size", batch, "--no-shuffle",
                           "--weights", w0, "-o", w2, "--history", h2, "--verbose", "0"], log)
        if rc != 0 or "Sanitizer" in out or "runtime error" in out:
            return "fit", out[-3000:]
        rc, out = self.sh([self.stcmp, w2, w1, "--rtol", "1e-4", "--atol", "1e-5"], log)
        if rc != 0:
            return "train-mismatch", "\n".join(ln for ln in out.splitlines()
                                               if not ln.startswith("ok"))[:2000]
        # The history by position: the reference names a dict output's loss
        # after its layer (kdl, as Keras, after its key), and two outputs of
        # one layer give two columns of one name.
        n2 = open(h2).readline().strip().split(",")
        n1 = open(h1).readline().strip().split(",")
        if sorted(n1) == sorted(n2) and len(set(n1)) == len(n1):
            rc, out = self.sh([self.npycmp, h2, h1, "--rtol", "1e-4", "--atol", "1e-6"], log)
            if rc != 0:
                return "train-mismatch", "history: " + out[:2000]
            return "ok", ""
        # each row's values as a multiset
        got = np.sort(np.loadtxt(h2, delimiter=",", skiprows=1, ndmin=2), axis=1)
        want = np.sort(np.loadtxt(h1, delimiter=",", skiprows=1, ndmin=2), axis=1)
        if got.shape != want.shape:
            return "train-mismatch", f"history: {open(h2).readline()} vs {open(h1).readline()}"
        bad = np.abs(got - want) > 1e-6 + 1e-4 * np.abs(want)
        if bad.any():
            return "train-mismatch", f"history: got {got[bad][:4]} want {want[bad][:4]}"
        return "ok", ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--build", default="build")
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--san", action="store_true")
    ap.add_argument("--style", choices=["functional", "sequential", "subclass"])
    ap.add_argument("--keep", action="store_true", help="keep every case's directory")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--gen-only", action="store_true")
    ap.add_argument("--big", action="store_true",
                    help="wider layers (16-65 units) and larger inputs")
    ap.add_argument("--threads", type=int, default=0,
                    help="KDL_NUM_THREADS for the generated programs")
    a = ap.parse_args()
    global BIG
    BIG = 2 if a.big else 1
    if a.gen_only:
        gp = gen_program(a.seed, a.style, a.train)
        print(gp[0], end="")
        print(f"# None dims: {gp[3]}", file=sys.stderr)
        return
    out = a.out or tempfile.mkdtemp(prefix="kdl-random-")
    os.makedirs(out, exist_ok=True)
    run = Runner(a)
    counts = {}
    res = open(os.path.join(out, "results.txt"), "a")
    t0 = time.time()
    for i in range(a.start, a.start + a.count):
        d = os.path.join(out, f"case-{i}")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        run.dims = None
        seed = a.seed * 100000 + i
        gp = gen_program(seed, a.style, a.train)
        run.dims = gp[3] if gp else None
        run.log = []
        try:
            status, detail = run.case(i, d)
            if status == "train-mismatch":
                # Adam and RMSprop divide by the gradients' size, so a
                # gradient that is 0 in exact arithmetic (float rounding noise)
                # becomes a full step: rerun with SGD, which is linear in them.
                text = open(os.path.join(d, "rand.kdl")).read()
                k = text.index("model.compile(optimizer=")
                e = text.index(", loss=", k)
                if "SGD" not in text[k:e] and "sgd" not in text[k:e]:
                    d2 = os.path.join(d, "sgd")
                    os.makedirs(d2)
                    kdl2 = os.path.join(d2, "rand.kdl")
                    with open(kdl2, "w") as f:
                        f.write(text[:k] + 'model.compile(optimizer="sgd"' + text[e:])
                    st2, det2 = run.train_case(d2, kdl2, [])
                    if st2 == "ok":
                        status, detail = "adaptive-noise", detail
        except Exception as e:      # noqa: BLE001 - the harness keeps going
            status, detail = "harness", f"{type(e).__name__}: {e}"
        counts[status] = counts.get(status, 0) + 1
        one = detail.replace("\n", " | ")[:300]
        res.write(f"{i} {seed} {status} {one}\n")
        res.flush()
        if status not in ("ok", "nonfinite", "nogen", "nograd", "adaptive-noise"):
            print(f"[{i}] {status}: {one}", flush=True)
        if status in ("ok", "nonfinite", "nogen", "nograd", "rejected") and not a.keep:
            if status == "rejected":
                os.makedirs(os.path.join(out, "rejected"), exist_ok=True)
                shutil.copy(os.path.join(d, "rand.kdl"),
                            os.path.join(out, "rejected", f"{i}.kdl"))
            shutil.rmtree(d, ignore_errors=True)
        else:
            with open(os.path.join(d, "log.txt"), "w") as f:
                f.write("\n".join(run.log))
    print(f"{a.count} cases in {time.time() - t0:.0f}s: " +
          ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), flush=True)
    print(f"results in {out}")


if __name__ == "__main__":
    main()
