#!/usr/bin/python3
"""train_reference.py - an independent float64 PyTorch reference for kdl's training.

The training fixtures (tests/train/fixtures) are the outputs of this script. It
shares no code with kdl: the model graph comes from `kdlc check --dump=json`,
the layers are evaluated by tests/e2e/reference.py (float64 torch, from Keras
3's definitions), the compile() and fit() arguments are read from the .kdl
source with Python's own parser (ast), and the losses, metrics, optimizers and
the training loop are written here by hand from Keras 3's source; gradients
come from torch autograd. Needs numpy and torch (Debian's python3-torch); run
it with /usr/bin/python3. CI never runs it.

usage:
  train_reference.py fit MODEL.kdl --model VAR --weights W0.safetensors
                     --x X.npy [--x ...] --y Y.npy [--y ...] [--epochs E]
                     [--batch-size B] --out-weights W1.safetensors
                     --history H.csv [--steps S.csv] [--kdlc PATH]
      Trains from W0 on the samples in order (no shuffling, the last
      partial batch included) and writes the final weights (float32, every
      tensor of W0, the same names), the per-epoch history as Keras logs it
      (header "epoch,loss,<metrics>,<output>_loss...") and the per-step
      losses ("epoch,step,batch,loss": the total loss). Epochs and batch
      size default to the .kdl fit() call (else Keras's 1 and 32).
  train_reference.py data MODEL.kdl --model VAR --n N --seed S --out DIR
                     [--dist normal|uniform] [--lo A] [--hi B] [--kdlc PATH]
      Writes DIR/x.npy (DIR/x.K.npy for input K of several) and DIR/y.npy
      (DIR/y.K.npy) for the model's inputs and the targets its losses take:
      float32 normal(0, 1) (or uniform) inputs, int32 ids for Embedding
      inputs; int32 labels (sparse categorical crossentropy), one-hot rows
      (categorical), 0/1 (binary crossentropy), normal(0, 1) (regression).
  train_reference.py fitargs MODEL.kdl --model VAR [--kdlc PATH]
      Prints "EPOCHS BATCH_SIZE NINPUTS NOUTPUTS" from the .kdl.
  train_reference.py evaluate MODEL.kdl --model VAR --weights W.safetensors
                     --x X.npy [--x ...] --y Y.npy [--y ...] [--batch-size B] --out E.csv
      Keras's evaluate of the weights in W over the samples in order: the
      loss and the metrics in inference mode (header "loss,<metrics>...").

What is implemented (Keras 3, keras/src/...):
  losses/losses.py + backend: mean_squared_error, mean_absolute_error, huber
    (delta), binary_crossentropy (from_logits, label_smoothing: y(1-ls) +
    0.5 ls, probabilities clipped to [1e-7, 1 - 1e-7]), categorical_
    crossentropy (from_logits, label_smoothing: y(1-ls) + ls/C, p / sum p then
    clipped), sparse_categorical_crossentropy (from_logits, same clipping);
    reduction "sum_over_batch_size" (the sum over the per-sample loss tensor
    divided by its size) or "sum". Multi-output: total = sum of loss_weight *
    loss; each output's unweighted loss is logged as <output>_loss.
    Also kl_divergence (y and p clipped to [1e-7, 1], summed), hinge and
    squared_hinge (0/1 targets, when the whole batch is 0/1, become -1/1),
    categorical_hinge, poisson (p - y log(p + 1e-7)), log_cosh (x +
    softplus(-2x) - log 2), mean_absolute_percentage_error (|y - p| /
    max(|y|, 1e-7) * 100), mean_squared_logarithmic_error (max(., 1e-7) + 1
    inside the logs), cosine_similarity (-sum of ops.nn.normalize'd y and p:
    x * min(rsqrt(sum x^2), 1e7)).
  trainers/compile_utils.py get_metric: "accuracy" -> binary (last dim 1),
    sparse categorical (labels) or categorical accuracy; mse, mae and their
    classes; RootMeanSquaredError (the square root of the epoch's mean),
    top-k accuracies (ops.in_top_k: fewer than k scores strictly above the
    label's), Accuracy, BinaryAccuracy's threshold, and the losses above as
    metrics (MeanMetricWrapper: per-sample means; CosineSimilarity is
    positive); a keras.losses object as a metric is the mean of its reduced
    batch values. Metrics are running means over the samples of the epoch, on
    the training-mode predictions before the update; the loss tracker is the
    mean of the batch losses weighted by the batch size.
  regularizers: L1 / L2 / L1L2 (l1 * sum |w| + l2 * sum w^2) of the trained
    weights, and activity regularizers: the penalty of each output of each
    layer call divided by the batch size (Layer.__call__, Keras 3 after
    keras-team/keras#22021), all added to the loss (Trainer.compute_loss adds
    model.losses), in fit and in evaluate (of the inference pass).
  constraints: MaxNorm, MinMaxNorm, UnitNorm (norms over `axis`, keepdims,
    w * desired / (1e-7 + norm)) and NonNeg, applied to each updated
    variable after the optimizer's update (BaseOptimizer.apply).
  optimizers/*.py: SGD (momentum, nesterov), Adam (amsgrad; bias correction
    folded into the learning rate, epsilon outside the sqrt), AdamW (Adam with
    weight_decay 0.004 by default), RMSprop (rho, momentum, centered, epsilon
    inside the sqrt), Adagrad (initial_accumulator_value, epsilon inside the
    sqrt), Adamax (adamax.py: epsilon added to the infinity norm), Nadam
    (nadam.py: u_t = beta_1 (1 - 0.5 * 0.96^t), the u_product variable),
    Adadelta (adadelta.py), Lion (lion.py), Ftrl (ftrl.py, every option), Lamb
    (lamb.py: the trust ratio), Adafactor (adafactor.py: the second moment
    factored over the last two axes); learning_rate may be a schedule
    (schedules/learning_rate_schedule.py: ExponentialDecay, InverseTimeDecay,
    PolynomialDecay, PiecewiseConstantDecay, CosineDecay, CosineDecayRestarts)
    called with the iterations before the step; base_optimizer.apply: clipnorm (per variable: g * c / max(|g|, c)),
    global_clipnorm (g * c * min(1 / |all|, 1 / c)) or clipvalue (only one may
    be set), then decoupled weight decay w -= w * wd * lr on every trained
    variable, then update_step with t = iterations + 1.
  layers/normalization/batch_normalization.py: in training mode (and only
    when the layer is trainable) the batch mean and the biased batch variance
    normalise, and moving = moving * momentum + batch * (1 - momentum) for the
    mean and the (biased) variance. A frozen layer (trainable=False, also
    inside a frozen nested model) has no trained weights and its
    BatchNormalization runs in inference mode. Dropout must be inactive
    (rate 0 or training=False): the C side draws its own masks.
  subclassed models: fit runs the training=True trace of call() (the dump's
    "train" graph), where a layer called without `training` inherits True
    (Keras's call context); the inference trace marks every node False.
  activations: relu's derivative is 0 at 0 (torch.relu), as tf.nn.relu.
"""
import argparse
import ast
import json
import math
import os
import sys
import warnings

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True      # no __pycache__ in tests/e2e
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import reference as ref     # noqa: E402  (tests/e2e/reference.py)

DT = torch.float64
EPS = 1e-7                  # keras.backend.epsilon()

# relu with derivative 0 at 0 (Keras: tf.nn.relu / torch.relu / jax.nn.relu).
ref.ACTIVATIONS["relu"] = torch.relu


def die(msg):
    sys.exit("train_reference: " + msg)


# ---- compile() and fit() from the .kdl source ---------------------------------------------

# Positional parameters of the configuration classes (Keras 3 signatures).
BASE_SIG = ["weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "use_ema",
            "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor",
            "gradient_accumulation_steps", "name"]
SIGNATURES = {
    "SGD": ["learning_rate", "momentum", "nesterov", "weight_decay", "clipnorm", "clipvalue",
            "global_clipnorm", "use_ema", "ema_momentum", "ema_overwrite_frequency", "name"],
    "Adam": ["learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad", "weight_decay",
             "clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum",
             "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps",
             "name"],
    "AdamW": ["learning_rate", "weight_decay", "beta_1", "beta_2", "epsilon", "amsgrad",
              "clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum",
              "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps",
              "name"],
    "RMSprop": ["learning_rate", "rho", "momentum", "epsilon", "centered", "weight_decay",
                "clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum",
                "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps",
                "name"],
    "Adagrad": ["learning_rate", "initial_accumulator_value", "epsilon", "weight_decay",
                "clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum",
                "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps",
                "name"],
    "Adamax": ["learning_rate", "beta_1", "beta_2", "epsilon"] + BASE_SIG,
    "Nadam": ["learning_rate", "beta_1", "beta_2", "epsilon"] + BASE_SIG,
    "Adadelta": ["learning_rate", "rho", "epsilon"] + BASE_SIG,
    "Lion": ["learning_rate", "beta_1", "beta_2"] + BASE_SIG[:7] + ["name"],
    "Ftrl": ["learning_rate", "learning_rate_power", "initial_accumulator_value",
             "l1_regularization_strength", "l2_regularization_strength",
             "l2_shrinkage_regularization_strength", "beta"] + BASE_SIG[:7] + ["name"],
    "Lamb": ["learning_rate", "beta_1", "beta_2", "epsilon"] + BASE_SIG,
    "Adafactor": ["learning_rate", "beta_2_decay", "epsilon_1", "epsilon_2", "clip_threshold",
                  "relative_step"] + BASE_SIG[:7] + ["name"],
    "ExponentialDecay": ["initial_learning_rate", "decay_steps", "decay_rate", "staircase",
                         "name"],
    "InverseTimeDecay": ["initial_learning_rate", "decay_steps", "decay_rate", "staircase",
                         "name"],
    "PolynomialDecay": ["initial_learning_rate", "decay_steps", "end_learning_rate", "power",
                        "cycle", "name"],
    "PiecewiseConstantDecay": ["boundaries", "values", "name"],
    "CosineDecay": ["initial_learning_rate", "decay_steps", "alpha", "name", "warmup_target",
                    "warmup_steps"],
    "CosineDecayRestarts": ["initial_learning_rate", "first_decay_steps", "t_mul", "m_mul",
                            "alpha", "name"],
    "CategoricalCrossentropy": ["from_logits", "label_smoothing", "axis", "reduction", "name"],
    "BinaryCrossentropy": ["from_logits", "label_smoothing", "axis", "reduction", "name"],
    "SparseCategoricalCrossentropy": ["from_logits", "ignore_class", "reduction", "name"],
    "MeanSquaredError": ["reduction", "name"],
    "MeanAbsoluteError": ["reduction", "name"],
    "Huber": ["delta", "reduction", "name"],
    "BinaryAccuracy": ["name", "dtype", "threshold"],
    "CategoricalAccuracy": ["name", "dtype"],
    "SparseCategoricalAccuracy": ["name", "dtype"],
    "KLDivergence": ["reduction", "name"],
    "Hinge": ["reduction", "name"],
    "SquaredHinge": ["reduction", "name"],
    "CategoricalHinge": ["reduction", "name"],
    "Poisson": ["reduction", "name"],
    "LogCosh": ["reduction", "name"],
    "MeanAbsolutePercentageError": ["reduction", "name"],
    "MeanSquaredLogarithmicError": ["reduction", "name"],
    "CosineSimilarity": ["axis", "reduction", "name"],
    "RootMeanSquaredError": ["name", "dtype"],
    "TopKCategoricalAccuracy": ["k", "name", "dtype"],
    "SparseTopKCategoricalAccuracy": ["k", "name", "dtype"],
    "Accuracy": ["name", "dtype"],
    "LogCoshError": ["name", "dtype"],
}
# Metric classes whose names clash with loss classes: the module decides.
METRIC_SIGNATURES = {
    "MeanSquaredError": ["name", "dtype"],
    "MeanAbsoluteError": ["name", "dtype"],
    "MeanAbsolutePercentageError": ["name", "dtype"],
    "MeanSquaredLogarithmicError": ["name", "dtype"],
    "CosineSimilarity": ["name", "dtype", "axis"],
    "KLDivergence": ["name", "dtype"],
    "Hinge": ["name", "dtype"],
    "SquaredHinge": ["name", "dtype"],
    "CategoricalHinge": ["name", "dtype"],
    "Poisson": ["name", "dtype"],
    "BinaryCrossentropy": ["name", "dtype", "from_logits", "label_smoothing"],
    "CategoricalCrossentropy": ["name", "dtype", "from_logits", "label_smoothing", "axis"],
    "SparseCategoricalCrossentropy": ["name", "dtype", "from_logits", "axis"],
}


class Obj:
    """A keras.<module>.<Class>(...) call of the compile() arguments."""

    def __init__(self, module, cls, kwargs):
        self.module, self.cls, self.kwargs = module, cls, kwargs

    def get(self, name, default=None):
        v = self.kwargs.get(name, default)
        return default if v is None else v

    def __repr__(self):
        return f"{self.module}.{self.cls}({self.kwargs})"


def dotted(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        d = dotted(node.value)
        return None if d is None else d + "." + node.attr
    return None


class SourceEval:
    """Evaluates the literal-ish arguments of compile()/fit(): numbers,
    strings, lists, tuples, dicts, unary minus, names bound to such values at
    top level, and calls of keras.optimizers/losses/metrics classes."""

    def __init__(self, tree):
        self.env = {}
        for st in tree.body:
            if (isinstance(st, ast.Assign) and len(st.targets) == 1 and
                    isinstance(st.targets[0], ast.Name)):
                try:
                    self.env[st.targets[0].id] = self.eval(st.value)
                except (ValueError, KeyError):
                    pass

    def eval(self, n):
        if isinstance(n, ast.Constant):
            return n.value
        if isinstance(n, (ast.List, ast.Tuple)):
            return [self.eval(e) for e in n.elts]
        if isinstance(n, ast.Dict):
            return {self.eval(k): self.eval(v) for k, v in zip(n.keys, n.values)}
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            return -self.eval(n.operand)
        if isinstance(n, ast.BinOp):
            a, b = self.eval(n.left), self.eval(n.right)
            ops = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
                   ast.Div: lambda: a / b, ast.Pow: lambda: a ** b}
            if type(n.op) in ops:
                return ops[type(n.op)]()
        if isinstance(n, ast.Name):
            if n.id in self.env:
                return self.env[n.id]
            raise KeyError(n.id)
        if isinstance(n, ast.Call):
            name = dotted(n.func)
            if name is None:
                raise ValueError("call")
            parts = name.split(".")
            cls = parts[-1]
            module = parts[-2] if len(parts) >= 2 else None
            sig = SIGNATURES.get(cls)
            if module == "metrics" and cls in METRIC_SIGNATURES:
                sig = METRIC_SIGNATURES[cls]
            if sig is None:
                raise ValueError(f"{name}: not a class the reference knows")
            kwargs = {}
            for i, a in enumerate(n.args):
                kwargs[sig[i]] = self.eval(a)
            for kw in n.keywords:
                kwargs[kw.arg] = self.eval(kw.value)
            return Obj(module, cls, kwargs)
        raise ValueError(f"cannot evaluate {ast.dump(n)[:80]}")


def method_call(tree, var, method):
    """The arguments of the last top-level `var.method(...)` call."""
    found = None
    for st in tree.body:
        if (isinstance(st, ast.Expr) and isinstance(st.value, ast.Call) and
                isinstance(st.value.func, ast.Attribute) and st.value.func.attr == method and
                isinstance(st.value.func.value, ast.Name) and st.value.func.value.id == var):
            found = st.value
    return found


def read_config(kdl, var):
    with open(kdl, encoding="utf-8") as f:
        tree = ast.parse(f.read(), kdl)
    ev = SourceEval(tree)
    comp = method_call(tree, var, "compile")
    if comp is None:
        die(f"{kdl}: no {var}.compile(...) call")
    cargs = {}
    names = ["optimizer", "loss", "loss_weights", "metrics"]
    for i, a in enumerate(comp.args):
        cargs[names[i]] = ev.eval(a)
    for kw in comp.keywords:
        cargs[kw.arg] = ev.eval(kw.value)
    for k in cargs:
        if k not in names and k not in ("run_eagerly", "jit_compile", "steps_per_execution"):
            die(f"compile({k}=...) is not supported by the reference")
    fargs = {}
    fit = method_call(tree, var, "fit")
    if fit is not None:
        for kw in fit.keywords:
            fargs[kw.arg] = ev.eval(kw.value)
    return cargs, fargs


# ---- losses (keras/src/losses/losses.py, backend nn) ----------------------------------------

class LossCfg:
    def __init__(self, kind, from_logits=False, label_smoothing=0.0, delta=1.0,
                 reduction="sum_over_batch_size"):
        self.kind, self.from_logits = kind, bool(from_logits)
        self.label_smoothing, self.delta = float(label_smoothing), float(delta)
        self.reduction = reduction

    def __repr__(self):
        return (f"{self.kind}(from_logits={self.from_logits}, "
                f"label_smoothing={self.label_smoothing}, delta={self.delta}, "
                f"reduction={self.reduction})")


LOSS_STRINGS = {
    "mean_squared_error": "mse", "mse": "mse", "MSE": "mse",
    "mean_absolute_error": "mae", "mae": "mae", "MAE": "mae",
    "huber": "huber",
    "binary_crossentropy": "bce", "bce": "bce", "BCE": "bce",
    "categorical_crossentropy": "cce",
    "sparse_categorical_crossentropy": "scce",
    "kl_divergence": "kld", "kld": "kld", "KLD": "kld",
    "hinge": "hinge", "squared_hinge": "squared_hinge", "categorical_hinge": "categorical_hinge",
    "poisson": "poisson", "log_cosh": "log_cosh",
    "mean_absolute_percentage_error": "mape", "mape": "mape", "MAPE": "mape",
    "mean_squared_logarithmic_error": "msle", "msle": "msle", "MSLE": "msle",
    "cosine_similarity": "cosine",
}
LOSS_CLASSES = {"MeanSquaredError": "mse", "MeanAbsoluteError": "mae", "Huber": "huber",
                "BinaryCrossentropy": "bce", "CategoricalCrossentropy": "cce",
                "SparseCategoricalCrossentropy": "scce", "KLDivergence": "kld",
                "Hinge": "hinge", "SquaredHinge": "squared_hinge",
                "CategoricalHinge": "categorical_hinge", "Poisson": "poisson",
                "LogCosh": "log_cosh", "MeanAbsolutePercentageError": "mape",
                "MeanSquaredLogarithmicError": "msle", "CosineSimilarity": "cosine"}
# Keras's default names of the loss classes (a loss object used as a metric).
LOSS_NAMES = {"MeanSquaredError": "mean_squared_error", "MeanAbsoluteError":
              "mean_absolute_error", "Huber": "huber_loss", "BinaryCrossentropy":
              "binary_crossentropy", "CategoricalCrossentropy": "categorical_crossentropy",
              "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
              "KLDivergence": "kl_divergence", "Hinge": "hinge", "SquaredHinge": "squared_hinge",
              "CategoricalHinge": "categorical_hinge", "Poisson": "poisson",
              "LogCosh": "log_cosh", "MeanAbsolutePercentageError":
              "mean_absolute_percentage_error", "MeanSquaredLogarithmicError":
              "mean_squared_logarithmic_error", "CosineSimilarity": "cosine_similarity"}


def parse_loss(v):
    if isinstance(v, str):
        if v not in LOSS_STRINGS:
            die(f"loss {v!r} is not supported by the reference")
        return LossCfg(LOSS_STRINGS[v])
    if isinstance(v, Obj) and v.cls in LOSS_CLASSES:
        for k in v.kwargs:
            if k not in ("from_logits", "label_smoothing", "delta", "reduction", "name", "axis",
                         "ignore_class", "dtype"):
                die(f"{v.cls}({k}=...) is not supported by the reference")
        if v.get("axis", -1) != -1 or v.get("ignore_class") is not None:
            die(f"{v.cls}: axis / ignore_class are not supported by the reference")
        red = v.kwargs.get("reduction", "sum_over_batch_size")
        if red not in ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight"):
            die(f"reduction {red!r} is not supported by the reference")
        return LossCfg(LOSS_CLASSES[v.cls], v.get("from_logits", False),
                       v.get("label_smoothing", 0.0), v.get("delta", 1.0), red)
    die(f"loss {v!r} is not supported by the reference")


def l2_normalize(x):
    """ops.nn.normalize (order 2): x * min(rsqrt(sum(x^2)), 1 / epsilon)."""
    inv = torch.minimum(torch.rsqrt(torch.sum(x * x, dim=-1, keepdim=True)),
                        torch.tensor(1.0 / EPS, dtype=DT))
    return x * inv


def hinge_targets(y):
    """convert_binary_labels_to_hinge: 0/1 targets (all of the batch) -> -1/1."""
    if bool(torch.all((y == 0) | (y == 1))):
        return 2.0 * y - 1.0
    return y


def loss_values(cfg, y, p):
    """Keras's per-sample loss tensor (the last axis reduced): y targets
    (labels for scce), p the prediction (float64)."""
    if cfg.kind == "kld":
        yc = torch.clamp(y, EPS, 1.0)
        pc = torch.clamp(p, EPS, 1.0)
        return torch.sum(yc * torch.log(yc / pc), dim=-1)
    if cfg.kind in ("hinge", "squared_hinge"):
        m = torch.clamp(1.0 - hinge_targets(y) * p, min=0.0)
        return torch.mean(m if cfg.kind == "hinge" else m * m, dim=-1)
    if cfg.kind == "categorical_hinge":
        pos = torch.sum(y * p, dim=-1)
        neg = torch.amax((1.0 - y) * p, dim=-1)
        return torch.clamp(neg - pos + 1.0, min=0.0)
    if cfg.kind == "poisson":
        return torch.mean(p - y * torch.log(p + EPS), dim=-1)
    if cfg.kind == "log_cosh":
        x = p - y
        return torch.mean(x + torch.nn.functional.softplus(-2.0 * x) - math.log(2.0), dim=-1)
    if cfg.kind == "mape":
        return 100.0 * torch.mean(torch.abs((y - p) / torch.clamp(torch.abs(y), min=EPS)),
                                  dim=-1)
    if cfg.kind == "msle":
        a = torch.log(torch.clamp(p, min=EPS) + 1.0)
        b = torch.log(torch.clamp(y, min=EPS) + 1.0)
        return torch.mean((a - b) ** 2, dim=-1)
    if cfg.kind == "cosine":
        return -torch.sum(l2_normalize(y) * l2_normalize(p), dim=-1)
    if cfg.kind == "mse":
        return torch.mean((y - p) ** 2, dim=-1)
    if cfg.kind == "mae":
        return torch.mean(torch.abs(y - p), dim=-1)
    if cfg.kind == "huber":
        err = p - y
        a = torch.abs(err)
        d = cfg.delta
        return torch.mean(torch.where(a <= d, 0.5 * err * err, d * a - 0.5 * d * d), dim=-1)
    if cfg.kind == "bce":
        if cfg.label_smoothing:
            y = y * (1.0 - cfg.label_smoothing) + 0.5 * cfg.label_smoothing
        if cfg.from_logits:
            e = -(y * torch.nn.functional.logsigmoid(p) +
                  (1.0 - y) * torch.nn.functional.logsigmoid(-p))
        else:
            q = torch.clamp(p, EPS, 1.0 - EPS)
            e = -(y * torch.log(q) + (1.0 - y) * torch.log(1.0 - q))
        return torch.mean(e, dim=-1)
    if cfg.kind in ("cce", "scce"):
        c = p.shape[-1]
        if cfg.kind == "scce":
            labels = y.long()
            if labels.dim() == p.dim() and labels.shape[-1] == 1:
                labels = labels.squeeze(-1)
            if labels.numel() and (labels.min() < 0 or labels.max() >= c):
                die("a label outside [0, classes)")
            y = torch.nn.functional.one_hot(labels, c).to(DT)
        elif cfg.label_smoothing:
            y = y * (1.0 - cfg.label_smoothing) + cfg.label_smoothing / c
        if cfg.from_logits:
            logp = torch.log_softmax(p, dim=-1)
        else:
            q = p / torch.sum(p, dim=-1, keepdim=True)
            q = torch.clamp(q, EPS, 1.0 - EPS)
            logp = torch.log(q)
        return -torch.sum(y * logp, dim=-1)
    raise AssertionError(cfg.kind)


def reduce_loss(cfg, values, mask=None, sw=None):
    """reduce_weighted_values (keras/src/losses/loss.py); a Keras mask on the
    prediction becomes the sample weights of apply_mask: for
    sum_over_batch_size mask * total / (valid + epsilon), for sum the mask.
    Sample weights sw (one per sample) multiply the values; the mean still
    divides by the number of values."""
    weights = None
    if mask is not None:
        m = mask.to(DT).reshape(values.shape)
        if cfg.reduction in ("mean", "sum_over_batch_size"):
            m = m * (values.numel() / (torch.sum(m) + EPS))
        values = values * m
        weights = m
    if sw is not None:
        if values.dim() != 1:
            die("sample weights on a loss of several rows per sample")
        values = values * sw
        weights = sw
    s = torch.sum(values)
    if cfg.reduction == "sum":
        return s
    if cfg.reduction == "mean_with_sample_weight" and weights is not None:
        d = torch.sum(weights)
        return s / d if float(d) != 0 else s * 0.0     # divide_no_nan
    return s / values.numel()


# ---- metrics (keras/src/metrics, trainers/compile_utils.py get_metric) ---------------------

METRIC_STRINGS = {"mse": "mse", "mean_squared_error": "mse", "mae": "mae",
                  "mean_absolute_error": "mae", "binary_accuracy": "binary_accuracy",
                  "categorical_accuracy": "categorical_accuracy",
                  "sparse_categorical_accuracy": "sparse_categorical_accuracy",
                  "root_mean_squared_error": "rmse",
                  "top_k_categorical_accuracy": "top_k",
                  "sparse_top_k_categorical_accuracy": "sparse_top_k",
                  "mape": "loss:mape", "MAPE": "loss:mape",
                  "mean_absolute_percentage_error": "loss:mape",
                  "msle": "loss:msle", "MSLE": "loss:msle",
                  "mean_squared_logarithmic_error": "loss:msle",
                  "cosine_similarity": "cosine", "log_cosh_error": "loss:log_cosh",
                  "hinge": "loss:hinge", "squared_hinge": "loss:squared_hinge",
                  "categorical_hinge": "loss:categorical_hinge", "kl_divergence": "loss:kld",
                  "poisson": "loss:poisson"}
METRIC_CLASSES = {"MeanSquaredError": ("mse", "mean_squared_error"),
                  "MeanAbsoluteError": ("mae", "mean_absolute_error"),
                  "BinaryAccuracy": ("binary_accuracy", "binary_accuracy"),
                  "CategoricalAccuracy": ("categorical_accuracy", "categorical_accuracy"),
                  "SparseCategoricalAccuracy": ("sparse_categorical_accuracy",
                                                "sparse_categorical_accuracy"),
                  "RootMeanSquaredError": ("rmse", "root_mean_squared_error"),
                  "TopKCategoricalAccuracy": ("top_k", "top_k_categorical_accuracy"),
                  "SparseTopKCategoricalAccuracy": ("sparse_top_k",
                                                    "sparse_top_k_categorical_accuracy"),
                  "Accuracy": ("exact", "accuracy"),
                  "MeanAbsolutePercentageError": ("loss:mape", "mean_absolute_percentage_error"),
                  "MeanSquaredLogarithmicError": ("loss:msle", "mean_squared_logarithmic_error"),
                  "CosineSimilarity": ("cosine", "cosine_similarity"),
                  "LogCoshError": ("loss:log_cosh", "logcosh"),
                  "Hinge": ("loss:hinge", "hinge"), "SquaredHinge": ("loss:squared_hinge",
                                                                    "squared_hinge"),
                  "CategoricalHinge": ("loss:categorical_hinge", "categorical_hinge"),
                  "KLDivergence": ("loss:kld", "kl_divergence"),
                  "Poisson": ("loss:poisson", "poisson")}


class Metric:
    """One compiled metric: kind, logged name, parameter (threshold, k), and
    how its running value is formed: "mean" of per-sample values, "root"
    (RootMeanSquaredError) or "step" (a keras.losses object: the mean of
    its reduced batch values)."""

    def __init__(self, kind, name, param=None, reduce="mean", loss=None):
        self.kind, self.name, self.param, self.reduce, self.loss = kind, name, param, reduce, loss


def parse_metric(v, loss, out_shape):
    """The Metric of one metric of an output whose loss is `loss`."""
    if isinstance(v, str):
        if v.lower() in ("accuracy", "acc"):
            # get_metric: y_pred's last dim 1 -> binary; labels (y_true of a
            # lower rank) -> sparse categorical; else categorical.
            if out_shape[-1] == 1:
                return Metric("binary_accuracy", v, 0.5)
            if loss.kind == "scce":
                return Metric("sparse_categorical_accuracy", v)
            return Metric("categorical_accuracy", v)
        if v not in METRIC_STRINGS:
            die(f"metric {v!r} is not supported by the reference")
        kind = METRIC_STRINGS[v]
        return Metric(kind, v, 0.5 if kind == "binary_accuracy" else 5,
                      "root" if kind == "rmse" else "mean")
    if isinstance(v, Obj) and v.module == "losses" and v.cls in LOSS_CLASSES:
        # MeanMetricWrapper(loss object): the mean of its reduced batch values
        return Metric("loss_object", v.get("name", LOSS_NAMES[v.cls]), reduce="step",
                      loss=parse_loss(v))
    if isinstance(v, Obj) and v.cls in METRIC_CLASSES:
        kind, dflt = METRIC_CLASSES[v.cls]
        if v.get("axis", -1) != -1:
            die(f"{v.cls}: axis other than -1")
        param = v.get("threshold", 0.5) if kind == "binary_accuracy" else v.get("k", 5)
        return Metric(kind, v.get("name", dflt), param, "root" if kind == "rmse" else "mean")
    die(f"metric {v!r} is not supported by the reference")


def in_top_k(labels, p, k):
    """ops.in_top_k (JAX/TF): fewer than k predictions strictly above the label's."""
    at = torch.gather(p, -1, labels.long().unsqueeze(-1))
    return (torch.sum((p > at).to(DT), dim=-1) < k).to(DT)


def metric_per_sample(m, y, p):
    """The metric of each sample (the mean over its other axes), float64 (n,)."""
    kind = m.kind
    if kind.startswith("loss:"):
        return loss_values(LossCfg(kind[5:]), y, p).reshape(y.shape[0], -1).mean(dim=1)
    if kind == "cosine":
        return torch.sum(l2_normalize(y) * l2_normalize(p), dim=-1).reshape(y.shape[0], -1) \
            .mean(dim=1)
    if kind == "top_k":
        v = in_top_k(torch.argmax(y, dim=-1), p, m.param)
    elif kind == "sparse_top_k":
        labels = y.squeeze(-1) if y.dim() == p.dim() else y
        v = in_top_k(labels, p, m.param)
    elif kind == "exact":
        v = (y == p).to(DT)
    elif kind in ("mse", "rmse"):
        v = (y - p) ** 2
    elif kind == "binary_accuracy":
        v = (y == (p > m.param).to(DT)).to(DT)
    else:
        return metric_per_sample_base(kind, y, p)
    return v.reshape(v.shape[0], -1).mean(dim=1) if v.dim() > 1 else v


def metric_per_sample_base(kind, y, p):
    """The metric of each sample (the mean over its other axes), float64 (n,)."""
    if kind == "mse":
        v = (y - p) ** 2
    elif kind == "mae":
        v = torch.abs(y - p)
    elif kind == "binary_accuracy":
        v = (y == (p > 0.5).to(DT)).to(DT)
    elif kind == "categorical_accuracy":
        v = (torch.argmax(y, dim=-1) == torch.argmax(p, dim=-1)).to(DT)
    elif kind == "sparse_categorical_accuracy":
        labels = y
        if labels.dim() == p.dim() and labels.shape[-1] == 1:
            labels = labels.squeeze(-1)
        v = (labels.to(DT) == torch.argmax(p, dim=-1).to(DT)).to(DT)
    else:
        raise AssertionError(kind)
    return v.reshape(v.shape[0], -1).mean(dim=1) if v.dim() > 1 else v


# ---- optimizers (keras/src/optimizers) -------------------------------------------------------

OPT_DEFAULTS = {
    "sgd": ("SGD", {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False}),
    "adam": ("Adam", {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
                      "amsgrad": False}),
    "adamw": ("AdamW", {"learning_rate": 0.001, "weight_decay": 0.004, "beta_1": 0.9,
                        "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False}),
    "rmsprop": ("RMSprop", {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0,
                            "epsilon": 1e-7, "centered": False}),
    "adagrad": ("Adagrad", {"learning_rate": 0.001, "initial_accumulator_value": 0.1,
                            "epsilon": 1e-7}),
    "adamax": ("Adamax", {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999,
                          "epsilon": 1e-7}),
    "nadam": ("Nadam", {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}),
    "adadelta": ("Adadelta", {"learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-7}),
    "lion": ("Lion", {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.99}),
    "ftrl": ("Ftrl", {"learning_rate": 0.001, "learning_rate_power": -0.5,
                      "initial_accumulator_value": 0.1, "l1_regularization_strength": 0.0,
                      "l2_regularization_strength": 0.0,
                      "l2_shrinkage_regularization_strength": 0.0, "beta": 0.0}),
    "lamb": ("Lamb", {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}),
    "adafactor": ("Adafactor", {"learning_rate": 0.001, "beta_2_decay": -0.8, "epsilon_1": 1e-30,
                                "epsilon_2": 1e-3, "clip_threshold": 1.0,
                                "relative_step": True}),
}


class Schedule:
    """keras/src/optimizers/schedules/learning_rate_schedule.py: each class's
    __call__(step), step = the optimizer's iterations before the update."""

    DEFAULTS = {
        "ExponentialDecay": {"staircase": False},
        "InverseTimeDecay": {"staircase": False},
        "PolynomialDecay": {"end_learning_rate": 0.0001, "power": 1.0, "cycle": False},
        "PiecewiseConstantDecay": {},
        "CosineDecay": {"alpha": 0.0, "warmup_target": None, "warmup_steps": 0},
        "CosineDecayRestarts": {"t_mul": 2.0, "m_mul": 1.0, "alpha": 0.0},
    }

    def __init__(self, obj):
        if obj.cls not in self.DEFAULTS:
            die(f"schedule {obj!r} is not supported by the reference")
        self.cls = obj.cls
        self.hp = dict(self.DEFAULTS[obj.cls])
        self.hp.update({k: v for k, v in obj.kwargs.items() if k != "name"})

    def __repr__(self):
        return f"{self.cls}({self.hp})"

    def __call__(self, step):
        h, step = self.hp, float(step)
        if self.cls in ("ExponentialDecay", "InverseTimeDecay"):
            p = step / h["decay_steps"]
            if h["staircase"]:
                p = math.floor(p)
            if self.cls == "ExponentialDecay":
                return h["initial_learning_rate"] * h["decay_rate"] ** p
            return h["initial_learning_rate"] / (1.0 + h["decay_rate"] * p)
        if self.cls == "PolynomialDecay":
            d = float(h["decay_steps"])
            if h["cycle"]:
                d = d * (1.0 if step == 0 else math.ceil(step / d))
            else:
                step = min(step, d)
            lr0, end = h["initial_learning_rate"], h["end_learning_rate"]
            return (lr0 - end) * (1.0 - step / d) ** h["power"] + end
        if self.cls == "PiecewiseConstantDecay":
            # the sum of each value times its interval's indicator; the
            # boundaries cast to the (integer) step's type
            b = [int(x) for x in h["boundaries"]]
            v = h["values"]
            r = v[0] * (step <= b[0]) + v[-1] * (step > b[-1])
            for lo, hi, val in zip(b[:-1], b[1:], v[1:-1]):
                r += val * (lo < step <= hi)
            return float(r)
        if self.cls == "CosineDecay":
            def decay(s, d, frm):
                cosine = 0.5 * (1.0 + math.cos(math.pi * (s / d)))
                return frm * ((1 - h["alpha"]) * cosine + h["alpha"])
            lr0, d = h["initial_learning_rate"], float(h["decay_steps"])
            if h["warmup_target"] is None:
                return decay(min(step, d), d, lr0)
            ws, wt = float(h["warmup_steps"]), h["warmup_target"]
            step = min(step, d + ws)
            if step < ws:
                return (wt - lr0) * (step / ws) + lr0
            return decay(step - ws, d, wt)
        # CosineDecayRestarts
        frac = step / h["first_decay_steps"]
        t = float(h["t_mul"])
        if t == 1.0:
            i = math.floor(frac)
            frac -= i
        else:
            i = math.floor(math.log(1.0 - frac * (1.0 - t)) / math.log(t))
            sum_r = (1.0 - t ** i) / (1.0 - t)
            frac = (frac - sum_r) / t ** i
        cosine = 0.5 * h["m_mul"] ** i * (1.0 + math.cos(math.pi * frac))
        return h["initial_learning_rate"] * ((1 - h["alpha"]) * cosine + h["alpha"])
BASE_ARGS = ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "name")


class Optimizer:
    def __init__(self, v):
        if v is None:
            v = "rmsprop"       # compile()'s default
        if isinstance(v, str):
            if v.lower() not in OPT_DEFAULTS:
                die(f"optimizer {v!r} is not supported by the reference")
            cls, hp = OPT_DEFAULTS[v.lower()]
            given = {}
        elif isinstance(v, Obj) and v.cls.lower() in OPT_DEFAULTS:
            cls, hp = OPT_DEFAULTS[v.cls.lower()]
            given = dict(v.kwargs)
        else:
            die(f"optimizer {v!r} is not supported by the reference")
        hp = dict(hp)
        for k, val in given.items():
            if k not in hp and k not in BASE_ARGS:
                # loss_scale_factor scales the loss and divides the gradients
                # by the same factor: nothing in exact arithmetic.
                if k == "loss_scale_factor" or (
                        k in ("use_ema", "gradient_accumulation_steps") and not val):
                    continue
                die(f"{cls}({k}=...) is not supported by the reference")
            if val is not None:
                hp[k] = val
        self.cls = cls
        self.hp = hp
        lr = hp["learning_rate"]
        self.schedule = Schedule(lr) if isinstance(lr, Obj) else None
        self.lr = None if self.schedule else float(lr)
        self.wd = hp.get("weight_decay")
        self.clipnorm = hp.get("clipnorm")
        self.clipvalue = hp.get("clipvalue")
        self.global_clipnorm = hp.get("global_clipnorm")
        if sum(x is not None for x in (self.clipnorm, self.clipvalue,
                                       self.global_clipnorm)) > 1:
            die("Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set (Keras)")
        if cls == "AdamW" and self.wd is None:
            die("AdamW: weight_decay must be a float (Keras)")
        self.iterations = 0
        self.slots = {}
        self.u_product, self.nadam_t = 1.0, None     # Nadam's scalar variable

    def __repr__(self):
        return f"{self.cls}({self.hp})"

    def _slot(self, name, key, like, init=0.0):
        d = self.slots.setdefault(key, {})
        if name not in d:
            d[name] = torch.full_like(like, float(init))
        return d[name]

    def clip(self, grads):
        """base_optimizer._clip_gradients: one of clipnorm, global_clipnorm,
        clipvalue (in that order of precedence)."""
        if self.clipnorm and self.clipnorm > 0:
            c = float(self.clipnorm)
            out = {}
            for k, g in grads.items():
                l2 = torch.sqrt(torch.sum(g * g))
                out[k] = g * c / torch.maximum(l2, torch.tensor(c, dtype=DT))
            return out
        if self.global_clipnorm and self.global_clipnorm > 0:
            c = float(self.global_clipnorm)
            norm = torch.sqrt(sum(torch.sum(g * g) for g in grads.values()))
            scale = c * torch.minimum(1.0 / norm, torch.tensor(1.0 / c, dtype=DT))
            scale = scale + (norm - norm)
            return {k: g * scale for k, g in grads.items()}
        if self.clipvalue and self.clipvalue > 0:
            c = float(self.clipvalue)
            return {k: torch.clamp(g, -c, c) for k, g in grads.items()}
        return grads

    def apply(self, state, grads):
        """One optimizer step over the variables that have a gradient
        (base_optimizer.apply): clip, weight decay, update_step each, then
        iterations += 1."""
        grads = self.clip(grads)
        # _get_current_learning_rate: the schedule at the iterations so far
        lr = self.schedule(self.iterations) if self.schedule else self.lr
        if self.wd is not None:
            wd = float(self.wd)
            for k in grads:
                state[k] = state[k] - state[k] * wd * lr
        t = float(self.iterations + 1)
        hp = self.hp
        for k, g in grads.items():
            w = state[k]
            if self.cls == "SGD":
                mu = float(hp["momentum"])
                if mu != 0:
                    m = self._slot(k, "momentum", w)
                    m = m * mu - g * lr
                    self.slots["momentum"][k] = m
                    if hp["nesterov"]:
                        w = w + (m * mu - g * lr)
                    else:
                        w = w + m
                else:
                    w = w - g * lr
            elif self.cls in ("Adam", "AdamW"):
                b1, b2 = float(hp["beta_1"]), float(hp["beta_2"])
                eps = float(hp["epsilon"])
                m = self._slot(k, "m", w)
                v = self._slot(k, "v", w)
                alpha = lr * math.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t)
                m = m + (g - m) * (1.0 - b1)
                v = v + (g * g - v) * (1.0 - b2)
                self.slots["m"][k] = m
                self.slots["v"][k] = v
                if hp["amsgrad"]:
                    vh = self._slot(k, "vhat", w)
                    vh = torch.maximum(vh, v)
                    self.slots["vhat"][k] = vh
                    v = vh
                w = w - (m * alpha) / (torch.sqrt(v) + eps)
            elif self.cls == "RMSprop":
                rho, eps = float(hp["rho"]), float(hp["epsilon"])
                mu = float(hp["momentum"])
                vel = self._slot(k, "velocity", w)
                vel = rho * vel + (1.0 - rho) * g * g
                self.slots["velocity"][k] = vel
                if hp["centered"]:
                    ag = self._slot(k, "average_gradient", w)
                    ag = rho * ag + (1.0 - rho) * g
                    self.slots["average_gradient"][k] = ag
                    denom = vel - ag * ag + eps
                else:
                    denom = vel + eps
                inc = lr * g / torch.sqrt(denom)
                if mu > 0:
                    mom = self._slot(k, "momentum", w)
                    mom = mu * mom + inc
                    self.slots["momentum"][k] = mom
                    w = w - mom
                else:
                    w = w - inc
            elif self.cls == "Adagrad":
                eps = float(hp["epsilon"])
                acc = self._slot(k, "accumulator", w, hp["initial_accumulator_value"])
                acc = acc + g * g
                self.slots["accumulator"][k] = acc
                w = w - lr * g / torch.sqrt(acc + eps)
            elif self.cls == "Adamax":
                # adamax.py: epsilon added to the infinity norm u
                b1, b2, eps = float(hp["beta_1"]), float(hp["beta_2"]), float(hp["epsilon"])
                m = self._slot(k, "m", w)
                u = self._slot(k, "u", w)
                m = m + (g - m) * (1.0 - b1)
                u = torch.maximum(b2 * u, torch.abs(g))
                self.slots["m"][k], self.slots["u"][k] = m, u
                w = w - lr * m / ((1.0 - b1 ** t) * (u + eps))
            elif self.cls == "Nadam":
                # nadam.py: u_product (a scalar variable) is multiplied by
                # u_t in _backend_update_step before the variables' updates
                b1, b2, eps = float(hp["beta_1"]), float(hp["beta_2"]), float(hp["epsilon"])
                u_t = b1 * (1.0 - 0.5 * 0.96 ** t)
                u_t1 = b1 * (1.0 - 0.5 * 0.96 ** (t + 1))
                if self.nadam_t != t:
                    self.u_product *= u_t
                    self.nadam_t = t
                u_prod, u_prod1 = self.u_product, self.u_product * u_t1
                m = self._slot(k, "m", w)
                v = self._slot(k, "v", w)
                m = m + (g - m) * (1.0 - b1)
                v = v + (g * g - v) * (1.0 - b2)
                self.slots["m"][k], self.slots["v"][k] = m, v
                m_hat = u_t1 * m / (1.0 - u_prod1) + (1.0 - u_t) * g / (1.0 - u_prod)
                v_hat = v / (1.0 - b2 ** t)
                w = w - m_hat * lr / (torch.sqrt(v_hat) + eps)
            elif self.cls == "Adadelta":
                # adadelta.py: rms(x) = sqrt(x + epsilon)
                rho, eps = float(hp["rho"]), float(hp["epsilon"])
                ag = self._slot(k, "accumulated_grad", w)
                ad = self._slot(k, "accumulated_delta_var", w)
                ag = rho * ag + (1.0 - rho) * g * g
                delta = -torch.sqrt(ad + eps) * g / torch.sqrt(ag + eps)
                ad = rho * ad + (1.0 - rho) * delta * delta
                self.slots["accumulated_grad"][k] = ag
                self.slots["accumulated_delta_var"][k] = ad
                w = w + lr * delta
            elif self.cls == "Lion":
                # lion.py: the sign of the interpolation, then the momentum
                b1, b2 = float(hp["beta_1"]), float(hp["beta_2"])
                m = self._slot(k, "m", w)
                w = w - lr * torch.sign(m * b1 + g * (1.0 - b1))
                self.slots["m"][k] = m * b2 + g * (1.0 - b2)
            elif self.cls == "Ftrl":
                # ftrl.py: accumulator n, linear z; shrinkage in the
                # gradient of z only
                p = -float(hp["learning_rate_power"])
                l1 = float(hp["l1_regularization_strength"])
                l2 = float(hp["l2_regularization_strength"]) + float(hp["beta"]) / (2.0 * lr)
                shrink = float(hp["l2_shrinkage_regularization_strength"])
                n = self._slot(k, "accumulator", w, hp["initial_accumulator_value"])
                z = self._slot(k, "linear", w)
                gs = g + 2.0 * shrink * w
                n_new = n + g * g
                z = z + gs - (n_new ** p - n ** p) / lr * w
                quadratic = n_new ** p / lr + 2.0 * l2
                w = (torch.clamp(z, -l1, l1) - z) / quadratic
                self.slots["accumulator"][k], self.slots["linear"][k] = n_new, z
            elif self.cls == "Lamb":
                # lamb.py: Adam's bias-corrected update scaled by the trust
                # ratio ||w|| / ||update|| (1 when either is 0)
                b1, b2, eps = float(hp["beta_1"]), float(hp["beta_2"]), float(hp["epsilon"])
                m = self._slot(k, "m", w)
                v = self._slot(k, "v", w)
                m = m + (g - m) * (1.0 - b1)
                v = v + (g * g - v) * (1.0 - b2)
                self.slots["m"][k], self.slots["v"][k] = m, v
                r = (m / (1.0 - b1 ** t)) / (torch.sqrt(v / (1.0 - b2 ** t)) + eps)
                wn, rn = float(torch.sqrt((w * w).sum())), float(torch.sqrt((r * r).sum()))
                ratio = wn / rn if wn > 0 and rn > 0 else 1.0
                w = w - ratio * lr * r
            elif self.cls == "Adafactor":
                # adafactor.py: relative_step's min(lr, 1/sqrt(t)) is the
                # same as rho_t's; the second moment factored over the last
                # two axes of a variable of rank >= 2
                rho = min(lr, 1.0 / math.sqrt(t))
                rms_w = float(torch.sqrt(torch.mean(w * w)))
                alpha = max(float(hp["epsilon_2"]), rms_w) * rho
                reg = g * g + float(hp["epsilon_1"])
                b = 1.0 - t ** float(hp["beta_2_decay"])
                if w.dim() >= 2:
                    r = self._slot(k, "r", reg.mean(dim=-1))
                    c = self._slot(k, "c", reg.mean(dim=-2))
                    r = b * r + (1.0 - b) * reg.mean(dim=-1)
                    c = b * c + (1.0 - b) * reg.mean(dim=-2)
                    self.slots["r"][k], self.slots["c"][k] = r, c
                    v = (r / r.mean(dim=-1, keepdim=True)).unsqueeze(-1) * c.unsqueeze(-2)
                else:
                    v = self._slot(k, "v", w)
                    v = b * v + (1.0 - b) * reg
                    self.slots["v"][k] = v
                u = g / torch.sqrt(v)
                rms_u = float(torch.sqrt(torch.mean(u * u)))
                w = w - alpha * (u / max(1.0, rms_u / float(hp["clip_threshold"])))
            else:
                raise AssertionError(self.cls)
            state[k] = w
        self.iterations += 1


# ---- the graph in training mode -----------------------------------------------------------------

NON_TRAINABLE = {("BatchNormalization", "moving_mean"), ("BatchNormalization", "moving_variance")}
STOCHASTIC = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise",
              "GaussianDropout", "AlphaDropout")


def layer_frozen(layer):
    # "trainable" beside "config" is the flag now (`layer.trainable = False`
    # after construction included); the constructor argument otherwise.
    if "trainable" in layer:
        return layer["trainable"] is False
    return layer.get("config", {}).get("trainable", True) is False


# ---- regularizers and constraints (keras/src/regularizers, constraints) ------------------

def parse_regularizer(v, where):
    """(l1, l2) of a regularizer argument as the dump shows it: a string
    naming a class (its defaults: L1 0.01, L2 0.01, L1L2 0 and 0) or
    {"class": ..., "config": {...}}."""
    if isinstance(v, str):
        table = {"l1": (0.01, 0.0), "L1": (0.01, 0.0), "l2": (0.0, 0.01), "L2": (0.0, 0.01),
                 "l1l2": (0.0, 0.0), "L1L2": (0.0, 0.0)}
        if v not in table:
            die(f"{where}: regularizer {v!r} is not supported by the reference")
        return table[v]
    if isinstance(v, dict) and v.get("class") in ("L1", "L2", "L1L2"):
        c = v.get("config", {})
        dflt = {"L1": (0.01, 0.0), "L2": (0.0, 0.01), "L1L2": (0.0, 0.0)}[v["class"]]
        l1 = c.get("l1") if v["class"] != "L2" else 0.0
        l2 = c.get("l2") if v["class"] != "L1" else 0.0
        return (dflt[0] if l1 is None else float(l1), dflt[1] if l2 is None else float(l2))
    die(f"{where}: regularizer {v!r} is not supported by the reference")


def penalty(r, x):
    """l1 * sum |x| + l2 * sum x^2 (no 1/2; a zero factor adds nothing)."""
    l1, l2 = r
    out = torch.zeros((), dtype=DT)
    if l1:
        out = out + l1 * torch.sum(torch.abs(x))
    if l2:
        out = out + l2 * torch.sum(x * x)
    return out


def weight_argument(layer, short, suffix):
    """The layer argument holding weight `short`'s regularizer/constraint."""
    cls = layer["class"]
    base = {"kernel": "depthwise" if cls == "DepthwiseConv2D" else "kernel",
            "recurrent_kernel": "recurrent", "depthwise_kernel": "depthwise",
            "pointwise_kernel": "pointwise", "bias": "bias", "embeddings": "embeddings",
            "gamma": "gamma", "beta": "beta"}.get(short)
    if suffix == "regularizer" and short.startswith("lora_kernel_"):
        base = "kernel"     # enable_lora gives a and b the kernel's regularizer
    if suffix == "regularizer" and short.startswith("lora_embeddings_"):
        base = "embeddings"
    return None if base is None else f"{base}_{suffix}"


def apply_constraint(v, w, where):
    """keras.constraints (MaxNorm, MinMaxNorm, UnitNorm, NonNeg) of w."""
    if isinstance(v, str):
        v = {"class": {"max_norm": "MaxNorm", "min_max_norm": "MinMaxNorm",
                       "unit_norm": "UnitNorm", "non_neg": "NonNeg"}.get(v, v), "config": {}}
    cls, c = v.get("class"), v.get("config", {})
    if cls == "NonNeg":
        return torch.clamp(w, min=0.0)
    if cls not in ("MaxNorm", "MinMaxNorm", "UnitNorm"):
        die(f"{where}: constraint {v!r} is not supported by the reference")
    axis = c.get("axis", 0)
    dims = tuple(range(w.dim())) if axis is None else \
        tuple(a % w.dim() for a in (axis if isinstance(axis, list) else [axis]))
    norms = torch.sqrt(torch.sum(w * w, dim=dims, keepdim=True))
    if cls == "UnitNorm":
        return w / (EPS + norms)
    if cls == "MaxNorm":
        desired = torch.clamp(norms, 0.0, float(c.get("max_value", 2)))
    else:
        rate = float(c.get("rate", 1.0))
        desired = rate * torch.clamp(norms, float(c.get("min_value", 0.0)),
                                     float(c.get("max_value", 1.0))) + (1 - rate) * norms
    return w * (desired / (EPS + norms))


def layer_parts(layer):
    """The layers holding a layer's weights and their arguments: a wrapper's
    (Bidirectional, TimeDistributed) wrapped layers, else the layer."""
    return layer.get("wrapped", [layer])


def weight_configs(graph, frozen=False, out=None):
    """{weight name: (regularizer (l1, l2) or None, constraint config or None)}
    of the trained weights (Keras: trainable variables only)."""
    out = {} if out is None else out
    for node in graph["nodes"]:
        layer = node["layer"]
        fz = frozen or layer_frozen(layer)
        if "model" in layer:
            weight_configs(layer["model"], fz, out)
            continue
        for part in layer_parts(layer):
            cfg = part.get("config", {})
            pfz = fz or layer_frozen(part)
            for w in part.get("weights", []):
                short = w["name"].split("/")[-1]
                if pfz or (part["class"], short) in NON_TRAINABLE or w["name"] in out or \
                        w.get("trainable") is False:
                    continue
                ra = weight_argument(part, short, "regularizer")
                ca = weight_argument(part, short, "constraint")
                r = cfg.get(ra) if ra else None
                c = cfg.get(ca) if ca else None
                out[w["name"]] = (None if r is None else parse_regularizer(r, w["name"]), c)
    return out


def check_layer(layer):
    cfg = layer.get("config", {})
    for k, v in cfg.items():
        if k.endswith("_regularizer") and v is not None:
            parse_regularizer(v, f"{layer['name']}: {k}")


def trainable_names(graph, frozen=False, out=None):
    """Names of the trained weights, each once, in node order."""
    out = [] if out is None else out
    for node in graph["nodes"]:
        layer = node["layer"]
        fz = frozen or layer_frozen(layer)
        if "model" in layer:
            trainable_names(layer["model"], fz, out)
            continue
        for part in layer_parts(layer):
            check_layer(part)
            for w in part.get("weights", []):
                short = w["name"].split("/")[-1]
                # (a weight frozen by itself: the kernel of a LoRA layer, which
                # Keras's enable_lora sets trainable=False)
                if fz or layer_frozen(part) or (part["class"], short) in NON_TRAINABLE or \
                        w.get("trainable") is False:
                    continue
                if w["name"] not in out:
                    out.append(w["name"])
    return out


def batchnorm_train(layer, params, state, x):
    cfg = layer.get("config", {})
    axes = ref.norm_axes(cfg.get("axis", -1), x.dim())
    red = tuple(i for i in range(x.dim()) if i not in axes)
    shp = ref.param_shape(x, axes)
    mean = x.mean(dim=red, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=red, keepdim=True)      # biased (ops.moments)
    mom = float(cfg.get("momentum", 0.99))
    name = layer["name"]
    for stat, val in (("moving_mean", mean), ("moving_variance", var)):
        key = f"{name}/{stat}"
        old = state[key]
        new = old * mom + val.detach().reshape(old.shape) * (1.0 - mom)
        state[key] = new
        params[key] = new
    y = (x - mean) / torch.sqrt(var + float(cfg.get("epsilon", 1e-3)))
    if cfg.get("scale", True):
        y = y * ref.W(params, layer, "gamma").reshape(shp)
    if cfg.get("center", True):
        y = y + ref.W(params, layer, "beta").reshape(shp)
    return [y]


def run_train_graph(graph, params, state, inputs, training=True, frozen=False, losses=None,
                    in_masks=None):
    """Keras's call in training mode: a node's training=True/False wins, else
    the caller's mode; frozen (trainable=False) BatchNormalization runs in
    inference mode. Activity regularizers add penalty(output) / batch of
    each output of each call to `losses` (Layer.__call__)."""
    env = {}
    masks = {}      # Keras masks (Embedding mask_zero=True), by reference.output_masks
    if len(inputs) != len(graph["inputs"]):
        die("input count")
    for i, (spec, x) in enumerate(zip(graph["inputs"], inputs)):
        env[spec["tensor"]] = x
        masks[spec["tensor"]] = in_masks[i] if in_masks else None
    for node in graph["nodes"]:
        layer = node["layer"]
        if layer["class"] == "InputLayer" or not node["inputs"]:
            continue
        t = node.get("training", -1)
        mode = training if t == -1 else bool(t)
        fz = frozen or layer_frozen(layer)
        xs = [env[k] for k in node["inputs"]]
        ms = [masks[k] for k in node["inputs"]]
        out_shapes = [o["shape"] for o in node["outputs"]]
        cls = layer["class"]
        cfg = layer.get("config", {})
        yms = None
        if "model" in layer:
            sub = layer["model"]
            sub = sub.get("train", sub) if mode else sub   # a subclass: its training trace
            ys = run_train_graph(sub, params, state, xs, mode, fz, losses, ms)
            yms = run_train_graph.masks
        elif cls == "BatchNormalization" and mode and not fz:
            ys = batchnorm_train(layer, params, state, xs[0])
        elif cls in STOCHASTIC and mode and float(cfg.get("rate", cfg.get("stddev", 0)) or 0):
            die(f"{layer['name']}: an active {cls} (the fixtures need rate 0 or training=False)")
        elif cls in ("Bidirectional", "TimeDistributed") and mode and any(
                (p["class"] in STOCHASTIC and
                 float(p.get("config", {}).get("rate", 0) or 0)) or
                p["class"] == "BatchNormalization" or
                float(p.get("config", {}).get("dropout", 0) or 0) or
                float(p.get("config", {}).get("recurrent_dropout", 0) or 0)
                for p in layer["wrapped"]):
            die(f"{layer['name']}: {cls} of a layer that is random or batch-dependent in "
                "training mode (not in the reference)")
        elif cls.startswith("Random") and mode:
            die(f"{layer['name']}: {cls} in training mode is random")
        else:
            ys = ref.call_layer(layer, params, xs, out_shapes, ms[0])
        if yms is None:
            yms = ref.output_masks(layer, xs, ms, ys)
        for o, m in zip(node["outputs"], yms):
            masks[o["tensor"]] = m
        if len(ys) != len(node["outputs"]):
            die(f"{layer['name']}: {len(ys)} outputs, the dump has {len(node['outputs'])}")
        if cfg.get("activity_regularizer") is not None and losses is not None:
            r = parse_regularizer(cfg["activity_regularizer"], layer["name"])
            for y in ys:
                losses.append(penalty(r, y) / y.shape[0])
        for o, y in zip(node["outputs"], ys):
            # (None in the dump: a run-time dimension, the data's)
            if len(y.shape) != len(o["shape"]) or any(
                    d is not None and d != k for k, d in zip(y.shape[1:], o["shape"][1:])):
                die(f"{layer['name']} ({cls}): output shape {tuple(y.shape)}, the dump says "
                    f"{o['shape']}")
            env[o["tensor"]] = y
    run_train_graph.masks = [masks[k] for k in graph["outputs"]]
    return [env[k] for k in graph["outputs"]]


def output_info(graph):
    """(name, shape) of each output: the layer producing it, as Keras names
    outputs."""
    prod = {}
    for node in graph["nodes"]:
        for o in node["outputs"]:
            prod[o["tensor"]] = (node["layer"]["name"], o["shape"])
    return [prod[t] for t in graph["outputs"]]


# ---- the configuration of one model --------------------------------------------------------------

def per_output(v, names, what):
    """compile()'s per-output argument: one value for every output, a list by
    position or a dict by output name."""
    n = len(names)
    if isinstance(v, dict):
        for k in v:
            if k not in names:
                die(f"{what}: no output named {k!r} (outputs: {', '.join(names)})")
        return [v.get(nm) for nm in names]
    if isinstance(v, list):
        if len(v) != n:
            die(f"{what}: {len(v)} entries for {n} outputs")
        return list(v)
    return [v] * n


class Setup:
    def __init__(self, kdl, var, kdlc):
        models = ref.load_dump(kdl, kdlc)
        self.graph = ref.find_model(models, var)
        var = var or next(iter(models))
        cargs, self.fargs = read_config(kdl, var)
        self.outputs = output_info(self.graph)
        names = [n for n, _ in self.outputs]
        self.names = names
        if "loss" not in cargs or cargs["loss"] is None:
            die("compile() needs a loss")
        self.losses = [parse_loss(v) if v is not None else None
                       for v in per_output(cargs["loss"], names, "loss")]
        if any(l is None for l in self.losses):
            die("an output without a loss is not supported by the reference")
        lw = cargs.get("loss_weights")
        self.loss_weights = [1.0] * len(names) if lw is None else \
            [1.0 if w is None else float(w) for w in per_output(lw, names, "loss_weights")]
        self.metrics = []       # (output index, Metric)
        mv = cargs.get("metrics")
        if mv is not None:
            if len(names) == 1:
                per = [mv if isinstance(mv, list) else [mv]]
                if isinstance(mv, dict):
                    per = per_output(mv, names, "metrics")
            elif isinstance(mv, dict):
                per = per_output(mv, names, "metrics")
            elif isinstance(mv, list) and len(mv) == len(names):
                per = mv
            else:
                die("metrics of a model with several outputs: a dict or one list per output "
                    "(Keras)")
            for i, ms in enumerate(per):
                if ms is None:
                    continue
                for m in (ms if isinstance(ms, list) else [ms]):
                    met = parse_metric(m, self.losses[i], self.outputs[i][1])
                    if len(names) > 1:
                        met.name = f"{names[i]}_{met.name}"
                    # CompileMetrics.result: a repeated name gets _1, _2, ...
                    dup = sum(1 for _, o in self.metrics if o.base_name == met.name)
                    met.base_name = met.name
                    if dup:
                        met.name = f"{met.name}_{dup}"
                    self.metrics.append((i, met))
        self.optimizer_arg = cargs.get("optimizer")

    def epochs_batch(self):
        e = self.fargs.get("epochs", 1)
        b = self.fargs.get("batch_size", 32)
        return int(e if e is not None else 1), int(b if b is not None else 32)


# ---- files ---------------------------------------------------------------------------------------

def save_safetensors(path, tensors):
    """float32 safetensors: 8-byte header length, JSON header (padded with
    spaces to a multiple of 8), data."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().numpy().astype("<f4"))
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_csv(path, names, rows):
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        for r in rows:
            f.write(",".join(str(v) if isinstance(v, int) else repr(float(v)) for v in r) + "\n")


def numbered(prefix, k, n):
    return f"{prefix}.npy" if n == 1 else f"{prefix}.{k}.npy"


# ---- commands ------------------------------------------------------------------------------------

def load_arrays(g, xpaths, ypaths, nout):
    xs = []
    for spec, p in zip(g["inputs"], xpaths):
        arr = np.load(p)
        if spec["dtype"].startswith("int"):
            xs.append(torch.from_numpy(arr.astype(np.int64)))
        else:
            xs.append(torch.from_numpy(arr.astype(np.float64)))
    ys = [torch.from_numpy(np.load(p).astype(np.float64)) for p in ypaths]
    if len(xs) != len(g["inputs"]) or len(ys) != nout:
        die(f"the model takes {len(g['inputs'])} inputs and {nout} targets")
    n = xs[0].shape[0]
    if any(x.shape[0] != n for x in xs + ys):
        die("inputs and targets have different sample counts")
    return xs, ys, n


def regularization(wcfg, params):
    """The weight regularizers' penalty (Trainer.compute_loss adds model.losses)."""
    total = torch.zeros((), dtype=DT)
    for k, (r, _) in wcfg.items():
        if r is not None:
            total = total + penalty(r, params[k])
    return total


def class_weight_to_sample_weights(y, class_weight):
    """keras/src/trainers/data_adapters/data_adapter_utils.py: the class of a
    sample is the argmax of its target row, or its value (a trailing 1
    squeezed) rounded half to even; classes not listed weigh 1."""
    y = y.numpy()
    if y.ndim > 1:
        y = np.argmax(y, axis=-1) if y.shape[-1] != 1 else np.squeeze(y, axis=-1)
    y = np.round(y).astype("int32")
    return torch.tensor([float(class_weight.get(int(c), 1.0)) for c in y], dtype=DT)


def metric_results(s, msums, seen, steps, mcounts):
    out = []
    for (_, m), v, c in zip(s.metrics, msums, mcounts):
        if c is not None and c > 0:
            out.append(v / c)       # a masked metric: over the unmasked rows
        elif m.reduce == "step":
            out.append(v / steps)
        elif m.reduce == "root":
            out.append(math.sqrt(v / seen))
        else:
            out.append(v / seen)
    return out


def batch_metrics(s, msums, yb, preds, masks, mcounts):
    """Add each metric's batch sums; a metric of an output that carries a
    Keras mask (MeanMetricWrapper: apply_mask with reduction "sum") sums its
    row values where the mask is set and counts those rows in mcounts
    (RootMeanSquaredError is a plain Mean: Keras gives it no mask)."""
    for j, (i, m) in enumerate(s.metrics):
        if m.reduce == "step":
            if masks[i] is not None:
                die("a keras.losses object as the metric of a masked output")
            msums[j] += float(reduce_loss(m.loss, loss_values(m.loss, yb[i], preds[i])))
        elif masks[i] is not None and m.reduce == "mean":
            mk = masks[i].to(DT)
            msums[j] += float(torch.sum(metric_rows(m, yb[i], preds[i]) * mk))
            mcounts[j] += float(torch.sum(mk))
        else:
            msums[j] += float(metric_per_sample(m, yb[i], preds[i]).sum())


def metric_rows(m, y, p):
    """The metric of each loss row (the prediction's shape without its last
    axis), float64: what a Keras mask of that shape weighs."""
    kind = m.kind
    if kind.startswith("loss:"):
        return loss_values(LossCfg(kind[5:]), y, p)
    if kind == "cosine":
        return torch.sum(l2_normalize(y) * l2_normalize(p), dim=-1)
    if kind == "top_k":
        return in_top_k(torch.argmax(y, dim=-1), p, m.param)
    if kind == "sparse_top_k":
        return in_top_k(y.squeeze(-1) if y.dim() == p.dim() else y, p, m.param)
    if kind == "exact":
        return (y == p).to(DT).mean(dim=-1)
    if kind == "binary_accuracy":
        return (y == (p > m.param).to(DT)).to(DT).mean(dim=-1)
    if kind == "mse":
        return torch.mean((y - p) ** 2, dim=-1)
    if kind == "mae":
        return torch.mean(torch.abs(y - p), dim=-1)
    if kind == "categorical_accuracy":
        return (torch.argmax(y, dim=-1) == torch.argmax(p, dim=-1)).to(DT)
    if kind == "sparse_categorical_accuracy":
        labels = y.squeeze(-1) if y.dim() == p.dim() and y.shape[-1] == 1 else y
        return (labels.to(DT) == torch.argmax(p, dim=-1).to(DT)).to(DT)
    raise AssertionError(kind)


def cmd_fit(a):
    s = Setup(a.kdl, a.model, a.kdlc)
    g = s.graph
    epochs, batch = s.epochs_batch()
    if a.epochs is not None:
        epochs = a.epochs
    if a.batch_size is not None:
        batch = a.batch_size
    opt = Optimizer(s.optimizer_arg)
    state = ref.load_safetensors(a.weights)
    for node in g["nodes"]:
        for w in node["layer"].get("weights", []):
            if w["name"] not in state:
                die(f"{a.weights}: no tensor {w['name']}")
    trainable = trainable_names(g)
    wcfg = weight_configs(g)
    xs, ys, n = load_arrays(g, a.x, a.y, len(s.outputs))
    cw = s.fargs.get("class_weight")    # the training loss only (not metrics, not validation)
    if cw is not None and len(s.outputs) != 1:
        die("class_weight is only supported for Models with a single output (Keras)")

    multi = len(s.outputs) > 1
    hist_names = ["epoch", "loss"] + [m.name for _, m in s.metrics]
    if multi:
        hist_names += [f"{nm}_loss" for nm in s.names]
    step_names = ["epoch", "step", "batch", "loss"]
    hist, steps = [], []
    for e in range(epochs):
        loss_sum, seen = 0.0, 0
        out_sums = [0.0] * len(s.outputs)
        msums = [0.0] * len(s.metrics)
        mcounts = [0.0] * len(s.metrics)
        nsteps = 0
        for si, start in enumerate(range(0, n, batch)):
            xb = [x[start:start + batch] for x in xs]
            yb = [y[start:start + batch] for y in ys]
            b = xb[0].shape[0]
            params = {}
            for k, v in state.items():
                params[k] = v.clone().requires_grad_(True) if k in trainable else v
            act_losses = []
            preds = run_train_graph(g.get("train", g), params, state, xb, losses=act_losses)
            masks = run_train_graph.masks
            sw = None
            if cw is not None:
                sw = class_weight_to_sample_weights(yb[0], cw)
            per_out = [reduce_loss(cfg, loss_values(cfg, y, p), mk, sw)
                       for cfg, y, p, mk in zip(s.losses, yb, preds, masks)]
            total = sum(w * l for w, l in zip(s.loss_weights, per_out))
            total = total + regularization(wcfg, params) + sum(act_losses)
            total.backward()
            grads = {}
            for k in trainable:
                if params[k].grad is not None:      # Keras filters missing gradients
                    grads[k] = params[k].grad.detach()
            with torch.no_grad():
                batch_metrics(s, msums, yb, [p.detach() for p in preds], masks, mcounts)
                opt.apply(state, grads)
                # BaseOptimizer.apply: each updated variable's constraint
                for k in grads:
                    c = wcfg.get(k, (None, None))[1]
                    if c is not None:
                        state[k] = apply_constraint(c, state[k], k)
            lv = float(total.detach())
            loss_sum += lv * b
            seen += b
            nsteps += 1
            for i, l in enumerate(per_out):
                out_sums[i] += float(l.detach()) * b
            steps.append([e, si, b, lv])
        row = [e, loss_sum / seen] + metric_results(s, msums, seen, nsteps, mcounts)
        if multi:
            row += [v / seen for v in out_sums]
        hist.append(row)
        if not math.isfinite(row[1]):
            die(f"epoch {e + 1}: the loss is not finite")
    write_csv(a.history, hist_names, hist)
    if a.steps:
        write_csv(a.steps, step_names, steps)
    save_safetensors(a.out_weights, state)
    if a.verbose:
        print(f"{opt}; losses {s.losses}; weights {s.loss_weights}; metrics "
              f"{[(i, m.kind, m.name) for i, m in s.metrics]}; "
              f"trained {len(trainable)} of {len(state)} tensors", file=sys.stderr)
        for r in hist:
            print("  " + " ".join(f"{k}={v:.6g}" for k, v in zip(hist_names, r)), file=sys.stderr)


def cmd_evaluate(a):
    """Keras's evaluate (test_step): inference mode, batch by batch; the loss
    includes the weight regularizers and the activity regularizers of the
    inference pass (compute_loss adds model.losses); metrics as in fit."""
    s = Setup(a.kdl, a.model, a.kdlc)
    g = s.graph
    _, batch = s.epochs_batch()
    if a.batch_size is not None:
        batch = a.batch_size
    state = ref.load_safetensors(a.weights)
    wcfg = weight_configs(g)
    xs, ys, n = load_arrays(g, a.x, a.y, len(s.outputs))
    loss_sum, seen, nsteps = 0.0, 0, 0
    msums = [0.0] * len(s.metrics)
    mcounts = [0.0] * len(s.metrics)
    out_sums = [0.0] * len(s.outputs)
    with torch.no_grad():
        for start in range(0, n, batch):
            xb = [x[start:start + batch] for x in xs]
            yb = [y[start:start + batch] for y in ys]
            b = xb[0].shape[0]
            act_losses = []
            preds = run_train_graph(g, dict(state), dict(state), xb, training=False,
                                    losses=act_losses)
            masks = run_train_graph.masks
            per_out = [reduce_loss(cfg, loss_values(cfg, y, p), mk)
                       for cfg, y, p, mk in zip(s.losses, yb, preds, masks)]
            total = sum(w * l for w, l in zip(s.loss_weights, per_out))
            total = total + regularization(wcfg, state) + sum(act_losses)
            batch_metrics(s, msums, yb, preds, masks, mcounts)
            loss_sum += float(total) * b
            seen += b
            nsteps += 1
            for i, l in enumerate(per_out):
                out_sums[i] += float(l) * b
    names = ["loss"] + [m.name for _, m in s.metrics]
    row = [loss_sum / seen] + metric_results(s, msums, seen, nsteps, mcounts)
    if len(s.outputs) > 1:
        names += [f"{nm}_loss" for nm in s.names]
        row += [v / seen for v in out_sums]
    write_csv(a.out, names, [row])


def cmd_data(a):
    s = Setup(a.kdl, a.model, a.kdlc)
    g = s.graph
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.out, exist_ok=True)
    nin, nout = len(g["inputs"]), len(s.outputs)
    dims = list(a.dims)
    for k, spec in enumerate(g["inputs"]):
        # None dimensions (# TRAIN-DIMS): the data's sizes, in input and axis order.
        shape = [a.n]
        for d in spec["shape"][1:]:
            if d is None and not dims:
                die("an input has more None dimensions than # TRAIN-DIMS gives")
            shape.append(dims.pop(0) if d is None else d)
        shape = tuple(shape)
        if spec["dtype"].startswith("int"):
            lim = ref.embedding_limit(g, spec["tensor"])
            if lim is None:
                die("an integer input that no Embedding reads")
            x = rng.integers(0, lim, size=shape).astype(np.int32)
            if len(shape) == 2 and ref.feeds_mask_zero(g, spec["tensor"]):
                x = ref.padded_ids(x, rng)     # padded sequences for mask_zero
        elif a.dist == "normal":
            x = rng.standard_normal(shape).astype(np.float32)
        else:
            x = rng.uniform(a.lo, a.hi, size=shape).astype(np.float32)
        mv = ref.masking_value(g, spec["tensor"])
        if mv is not None and len(shape) >= 3 and not spec["dtype"].startswith("int"):
            x = ref.padded_steps(x, rng, np.float32(mv))    # padded steps for Masking
        np.save(os.path.join(a.out, numbered("x", k, nin)), x)
    for k, ((_, oshape), cfg) in enumerate(zip(s.outputs, s.losses)):
        if any(d is None for d in oshape[1:]):
            die("an output with a None dimension: the fixtures need outputs of known shapes")
        shape = (a.n,) + tuple(oshape[1:])
        c = shape[-1]
        if cfg.kind == "scce":
            y = rng.integers(0, c, size=shape[:-1]).astype(np.int32)
        elif cfg.kind in ("cce", "categorical_hinge"):
            y = np.eye(c, dtype=np.float32)[rng.integers(0, c, size=shape[:-1])]
        elif cfg.kind in ("bce", "hinge", "squared_hinge"):
            y = rng.integers(0, 2, size=shape).astype(np.float32)
        elif cfg.kind == "kld":         # probability rows
            y = rng.uniform(0.05, 1, size=shape)
            y = (y / y.sum(axis=-1, keepdims=True)).astype(np.float32)
        elif cfg.kind == "poisson":     # counts
            y = rng.poisson(1.5, size=shape).astype(np.float32)
        elif cfg.kind == "msle":        # non-negative
            y = np.abs(rng.standard_normal(shape)).astype(np.float32)
        else:
            y = rng.standard_normal(shape).astype(np.float32)
        np.save(os.path.join(a.out, numbered("y", k, nout)), y)


def cmd_fitargs(a):
    s = Setup(a.kdl, a.model, a.kdlc)
    e, b = s.epochs_batch()
    if s.fargs.get("validation_split") or s.fargs.get("validation_data") is not None:
        die("the fit() call must not hold out validation data in a fixture model")
    print(e, b, len(s.graph["inputs"]), len(s.outputs))


def cmd_selftest(a):
    """Cross-checks of the hand-written rules against torch's own
    implementations where the two coincide (epsilon 0 for the optimizers
    whose epsilon sits elsewhere; torch's unbiased running variance)."""
    F = torch.nn.functional
    gen = torch.Generator().manual_seed(7)
    fails = 0

    def check(what, got, want, tol=1e-10):
        nonlocal fails
        err = float(torch.max(torch.abs(got - want)))
        ok = err <= tol * max(1.0, float(torch.max(torch.abs(want))))
        print(f"{'ok  ' if ok else 'FAIL'} {what}: max abs diff {err:.3g}")
        fails += not ok

    def run(kdl_opt, torch_opt_fn, steps=6):
        w0 = torch.randn(5, 3, generator=gen, dtype=DT)
        targets = [torch.randn(5, 3, generator=gen, dtype=DT) for _ in range(steps)]
        state = {"w": w0.clone()}
        tw = w0.clone().requires_grad_(True)
        topt = torch_opt_fn([tw])
        for tgt in targets:
            p = state["w"].clone().requires_grad_(True)
            (((p - tgt) ** 3).abs().sum()).backward()
            kdl_opt.apply(state, {"w": p.grad})
            topt.zero_grad()
            (((tw - tgt) ** 3).abs().sum()).backward()
            topt.step()
        return state["w"], tw.detach()

    o = lambda cls, **kw: Optimizer(Obj("optimizers", cls, kw))     # noqa: E731
    check("SGD", *run(o("SGD", learning_rate=0.05),
                      lambda p: torch.optim.SGD(p, lr=0.05)))
    check("SGD momentum", *run(o("SGD", learning_rate=0.05, momentum=0.9),
                               lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)))
    check("SGD nesterov", *run(o("SGD", learning_rate=0.05, momentum=0.9, nesterov=True),
                               lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9,
                                                         nesterov=True)))
    check("Adam eps=0", *run(o("Adam", learning_rate=0.01, epsilon=0.0),
                             lambda p: torch.optim.Adam(p, lr=0.01, eps=0.0)))
    check("Adam amsgrad eps=0", *run(o("Adam", learning_rate=0.01, epsilon=0.0, amsgrad=True),
                                     lambda p: torch.optim.Adam(p, lr=0.01, eps=0.0,
                                                                amsgrad=True)))
    # torch's AdamW decays with the same lr * wd but after nothing else: the
    # decay comes first in both.
    check("AdamW eps=0", *run(o("AdamW", learning_rate=0.01, epsilon=0.0, weight_decay=0.1),
                              lambda p: torch.optim.AdamW(p, lr=0.01, eps=0.0,
                                                          weight_decay=0.1)))
    check("RMSprop eps=0", *run(o("RMSprop", learning_rate=0.01, epsilon=0.0),
                                lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=0.0)))
    check("RMSprop centered momentum eps=0",
          *run(o("RMSprop", learning_rate=0.01, epsilon=0.0, centered=True, momentum=0.5),
               lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=0.0, centered=True,
                                             momentum=0.5)))
    check("Adagrad eps=0", *run(o("Adagrad", learning_rate=0.1, epsilon=0.0),
                                lambda p: torch.optim.Adagrad(p, lr=0.1, eps=0.0,
                                                              initial_accumulator_value=0.1)))
    # torch's Adadelta is Keras's rule; its Adamax adds eps inside the max
    # (0 here). (torch 1.13's NAdam, with momentum_decay=1 Keras's 0.96^t
    # schedule, multiplies mu into mu_product twice for the m term - fixed in
    # later torch releases - so Nadam is checked by hand below.)
    check("Adadelta", *run(o("Adadelta", learning_rate=0.5, rho=0.9),
                           lambda p: torch.optim.Adadelta(p, lr=0.5, rho=0.9, eps=1e-7)))
    check("Adamax eps=0", *run(o("Adamax", learning_rate=0.01, epsilon=0.0),
                               lambda p: torch.optim.Adamax(p, lr=0.01, eps=0.0)))
    opt = o("Nadam", learning_rate=0.01, epsilon=0.0)
    st = {"w": torch.zeros(2, dtype=DT)}
    g = torch.tensor([0.5, -2.0], dtype=DT)
    opt.apply(st, {"w": g})
    u1, u2 = 0.9 * (1 - 0.5 * 0.96), 0.9 * (1 - 0.5 * 0.96 ** 2)
    m_hat = u2 * 0.1 * g / (1 - u1 * u2) + (1 - u1) * g / (1 - u1)
    check("Nadam first step by hand", st["w"], -0.01 * m_hat / g.abs())
    # A schedule as the learning rate: SGD with ExponentialDecay is torch's
    # SGD with ExponentialLR (gamma = rate^(1 / decay_steps)) stepped after
    # each update.
    sched = Obj("optimizers.schedules", "ExponentialDecay",
                {"initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5})

    def torch_exp(p):
        # (the wrapped step makes torch warn that step was overridden)
        warnings.filterwarnings("ignore", message="Seems like")
        opt = torch.optim.SGD(p, lr=0.1)
        lr_sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5 ** 0.5)
        step = opt.step

        def step_then_decay(*args, **kw):
            step(*args, **kw)
            lr_sched.step()
        opt.step = step_then_decay
        return opt
    check("SGD ExponentialDecay", *run(o("SGD", learning_rate=sched), torch_exp))
    # The schedules at hand-computed steps (Keras's docstring formulas).
    sc = lambda cls, **kw: Schedule(Obj("optimizers.schedules", cls, kw))     # noqa: E731
    got = torch.tensor([
        sc("ExponentialDecay", initial_learning_rate=0.1, decay_steps=4, decay_rate=0.5,
           staircase=True)(7),
        sc("InverseTimeDecay", initial_learning_rate=0.1, decay_steps=2, decay_rate=0.5)(3),
        sc("PolynomialDecay", initial_learning_rate=0.1, decay_steps=4, power=2.0,
           end_learning_rate=0.0)(2),
        sc("PolynomialDecay", initial_learning_rate=0.1, decay_steps=4, cycle=True,
           end_learning_rate=0.0)(5),
        sc("PiecewiseConstantDecay", boundaries=[2, 4], values=[1.0, 0.5, 0.1])(2),
        sc("PiecewiseConstantDecay", boundaries=[2, 4], values=[1.0, 0.5, 0.1])(3),
        sc("PiecewiseConstantDecay", boundaries=[2, 4], values=[1.0, 0.5, 0.1])(5),
        sc("CosineDecay", initial_learning_rate=0.1, decay_steps=4)(2),
        sc("CosineDecay", initial_learning_rate=0.0, decay_steps=4, warmup_target=1.0,
           warmup_steps=2)(1),
        sc("CosineDecay", initial_learning_rate=0.0, decay_steps=4, warmup_target=1.0,
           warmup_steps=2, alpha=0.5)(6),
        sc("CosineDecayRestarts", initial_learning_rate=1.0, first_decay_steps=2)(1),
        sc("CosineDecayRestarts", initial_learning_rate=1.0, first_decay_steps=2,
           m_mul=0.5)(3),
    ], dtype=DT)
    want = torch.tensor([0.1 * 0.5, 0.1 / 1.75, 0.1 * 0.25, 0.1 * 0.375, 1.0, 0.5, 0.1, 0.05,
                         0.5, 0.5, 0.5, 0.5 * 0.5 * (1 + math.cos(math.pi * 0.25))], dtype=DT)
    check("schedules", got, want)
    # Clipping: g * c / |g| when |g| > c (per tensor, or over all of them).
    g = torch.randn(4, 4, generator=gen, dtype=DT) * 3
    opt = o("SGD", clipnorm=0.5)
    g2 = g.clone()
    norm = torch.sqrt((g * g).sum())
    check("clipnorm", opt.clip({"g": g})["g"], g * 0.5 / norm)
    check("clipnorm below the norm", opt.clip({"g": g * 0.01 / norm})["g"], g * 0.01 / norm)
    check("clipvalue", o("SGD", clipvalue=0.5).clip({"g": g})["g"], torch.clamp(g, -0.5, 0.5))
    opt = o("SGD", global_clipnorm=0.5)
    h = torch.randn(3, generator=gen, dtype=DT)
    gn = torch.sqrt((g2 * g2).sum() + (h * h).sum())
    r = opt.clip({"g": g2, "h": h})
    check("global_clipnorm", torch.cat([r["g"].flatten(), r["h"]]),
          torch.cat([g2.flatten(), h]) * 0.5 / gn)
    # Losses against torch.nn.functional (no clipping active).
    logits = torch.randn(6, 4, generator=gen, dtype=DT)
    labels = torch.randint(0, 4, (6,), generator=gen)
    onehot = F.one_hot(labels, 4).to(DT)
    want = F.cross_entropy(logits, labels)
    check("scce from_logits", reduce_loss(LossCfg("scce", True), loss_values(
        LossCfg("scce", True), labels.to(DT), logits)), want)
    check("scce softmax", reduce_loss(LossCfg("scce"), loss_values(
        LossCfg("scce"), labels.to(DT), torch.softmax(logits, -1))), want)
    check("cce label_smoothing", reduce_loss(LossCfg("cce", True, 0.2), loss_values(
        LossCfg("cce", True, 0.2), onehot, logits)),
        F.cross_entropy(logits, labels, label_smoothing=0.2))
    yb = torch.randint(0, 2, (6, 1), generator=gen).to(DT)
    zb = torch.randn(6, 1, generator=gen, dtype=DT)
    check("bce from_logits", reduce_loss(LossCfg("bce", True), loss_values(
        LossCfg("bce", True), yb, zb)), F.binary_cross_entropy_with_logits(zb, yb))
    check("bce sigmoid", reduce_loss(LossCfg("bce"), loss_values(
        LossCfg("bce"), yb, torch.sigmoid(zb))), F.binary_cross_entropy(torch.sigmoid(zb), yb))
    yr = torch.randn(6, 3, generator=gen, dtype=DT)
    pr = torch.randn(6, 3, generator=gen, dtype=DT)
    check("mse", reduce_loss(LossCfg("mse"), loss_values(LossCfg("mse"), yr, pr)),
          F.mse_loss(pr, yr))
    check("mae", reduce_loss(LossCfg("mae"), loss_values(LossCfg("mae"), yr, pr)),
          F.l1_loss(pr, yr))
    check("huber", reduce_loss(LossCfg("huber", delta=0.7), loss_values(
        LossCfg("huber", delta=0.7), yr, pr)), F.huber_loss(pr, yr, delta=0.7))
    # The other losses, where torch has the same function (no clip active).
    pp = torch.rand(6, 3, generator=gen, dtype=DT) + 0.1
    yp = torch.rand(6, 3, generator=gen, dtype=DT) * 3
    check("poisson", loss_values(LossCfg("poisson"), yp, pp),
          F.poisson_nll_loss(pp, yp, log_input=False, eps=EPS, reduction="none").mean(dim=-1))
    qk = torch.softmax(torch.randn(6, 3, generator=gen, dtype=DT), -1)
    tk = torch.softmax(torch.randn(6, 3, generator=gen, dtype=DT), -1)
    check("kl_divergence", loss_values(LossCfg("kld"), tk, qk),
          F.kl_div(torch.log(qk), tk, reduction="none").sum(dim=-1))
    check("cosine_similarity", loss_values(LossCfg("cosine"), yr, pr),
          -F.cosine_similarity(yr, pr, dim=-1))
    check("log_cosh", loss_values(LossCfg("log_cosh"), yr, pr),
          torch.log(torch.cosh(pr - yr)).mean(dim=-1))
    # BatchNormalization in training mode against F.batch_norm.
    x = torch.randn(5, 3, 3, 4, generator=gen, dtype=DT)
    layer = {"name": "bn", "class": "BatchNormalization",
             "config": {"momentum": 0.9, "epsilon": 1e-3}}
    gamma = torch.randn(4, generator=gen, dtype=DT)
    beta = torch.randn(4, generator=gen, dtype=DT)
    mm, mv = torch.randn(4, generator=gen, dtype=DT), torch.rand(4, generator=gen, dtype=DT)
    st = {"bn/gamma": gamma, "bn/beta": beta, "bn/moving_mean": mm.clone(),
          "bn/moving_variance": mv.clone()}
    y = batchnorm_train(layer, dict(st), st, x)[0]
    rm, rv = mm.clone(), mv.clone()
    yt = F.batch_norm(x.permute(0, 3, 1, 2), rm, rv, gamma, beta, True, 0.1, 1e-3)
    check("batchnorm output", y, yt.permute(0, 2, 3, 1))
    check("batchnorm moving mean", st["bn/moving_mean"], rm)
    m = x.numel() // 4      # torch updates with the unbiased variance
    check("batchnorm moving variance (biased)", st["bn/moving_variance"],
          mv * 0.9 + (rv - mv * 0.9) / 0.1 * (m - 1) / m * 0.1)
    print("selftest:", "FAILED" if fails else "passed")
    sys.exit(1 if fails else 0)


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "selftest":
        torch.set_default_dtype(DT)
        cmd_selftest(None)
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["fit", "data", "fitargs", "evaluate"])
    ap.add_argument("kdl")
    ap.add_argument("--model")
    ap.add_argument("--weights")
    ap.add_argument("--x", action="append", default=[])
    ap.add_argument("--y", action="append", default=[])
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--out-weights")
    ap.add_argument("--history")
    ap.add_argument("--steps")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out")
    ap.add_argument("--dist", choices=["normal", "uniform"], default="normal")
    ap.add_argument("--lo", type=float, default=-1.0)
    ap.add_argument("--hi", type=float, default=1.0)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--dims", type=int, nargs="*", default=[],
                    help="data: the sizes of the inputs' None dimensions")
    ap.add_argument("--kdlc", default=os.environ.get("KDLC", ref.DEFAULT_KDLC))
    a = ap.parse_args()
    torch.set_default_dtype(DT)
    if a.command == "fit":
        if not (a.weights and a.x and a.y and a.out_weights and a.history):
            die("fit needs --weights, --x, --y, --out-weights and --history")
        cmd_fit(a)
    elif a.command == "evaluate":
        if not (a.weights and a.x and a.y and a.out):
            die("evaluate needs --weights, --x, --y and --out")
        cmd_evaluate(a)
    elif a.command == "data":
        if not a.out:
            die("data needs --out DIR")
        cmd_data(a)
    else:
        cmd_fitargs(a)


if __name__ == "__main__":
    main()
