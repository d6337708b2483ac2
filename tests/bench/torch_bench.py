#!/usr/bin/python3
"""torch_bench.py - the models of tests/bench/*.kdl in PyTorch, timed the way
tests/bench/bench.c times the generated C (tests/bench/run.sh runs both).

Usage: /usr/bin/python3 torch_bench.py THREADS... [-t SECONDS] [--models a,b]
                                      [--train [BATCH]] [--no-infer]

For each model and thread count: torch.set_num_threads(n) and the same count
for OpenBLAS (PyTorch's Linear layers call the system OpenBLAS, whose pool is
not governed by torch.set_num_threads), warm up, then under
torch.inference_mode():
  batch 1:   time single forward calls with time.perf_counter() (CLOCK_MONOTONIC)
             for about SECONDS (at least 200 calls); report the median in us;
  batch 256: the same (at least 10 calls); report 256 / median in samples/s;
  training (--train; BATCH, or without it the model's TRAIN_BATCH below): the
             model without its final softmax, nn.CrossEntropyLoss on the logits
             (softmax + sparse categorical crossentropy, mean over the batch, as
             the .kdl compile()), torch.optim.Adam(lr=1e-3, eps=1e-7: Keras's
             defaults), one batch of random inputs in [0, 1) and random labels;
             0.3 s of warm-up steps, then single steps (zero_grad(set_to_none=True),
             forward, loss, backward, optimizer.step()) timed the same way (at
             least 10); report BATCH / median step time in samples/s.
Images are NCHW (PyTorch's native layout); the layers and their sizes are the
.kdl files' (Keras "same" for a 3x3 stride-1 conv is padding=1). One line per
model, thread count and measurement on stdout:
  RESULT torch NAME THREADS B1_MEDIAN_US B256_SAMPLES_PER_S PARAMS CALLS1 CALLS256 CORE
  TRAIN torch NAME THREADS BATCH SAMPLES_PER_S PARAMS STEPS MEDIAN_STEP_MS CORE
(CORE: the OpenBLAS kernel set PyTorch's Linear layers use).
"""
import ctypes
import ctypes.util
import statistics
import sys
import time

import torch
from torch import nn

BIG_BATCH = 256


class Softmax(nn.Module):
    def forward(self, x):
        return torch.softmax(x, dim=-1)


class GlobalAvgPool(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))


def digits_mlp():
    return nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(),
        nn.Linear(128, 64), nn.ReLU(),
        nn.Linear(64, 10), Softmax(),
    ), (64,)


def digits_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        GlobalAvgPool(),
        nn.Linear(32, 10), Softmax(),
    ), (1, 8, 8)


def mlp784():
    return nn.Sequential(
        nn.Linear(784, 1024), nn.ReLU(),
        nn.Linear(1024, 1024), nn.ReLU(),
        nn.Linear(1024, 10), Softmax(),
    ), (784,)


def cnn32():
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 8 * 8, 256), nn.ReLU(),
        nn.Linear(256, 10), Softmax(),
    ), (3, 32, 32)


MODELS = {"digits_mlp": digits_mlp, "digits_cnn": digits_cnn, "mlp784": mlp784, "cnn32": cnn32}
# Training batch sizes (the issue's; tests/bench/run.sh passes the same with --train).
TRAIN_BATCH = {"digits_mlp": 32, "digits_cnn": 32, "mlp784": 256, "cnn32": 64}


def openblas():
    """(openblas_set_num_threads, core name) of the OpenBLAS PyTorch has loaded,
    or (None, "-")."""
    for name in ("libopenblas.so.0", ctypes.util.find_library("openblas"), "libblas.so.3"):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return lib.openblas_set_num_threads, lib.openblas_get_corename().decode()
        except (OSError, AttributeError):
            continue
    return None, "-"


def median_call(fn, warm, secs, min_calls):
    t0 = time.perf_counter()
    w = 0
    while time.perf_counter() - t0 < warm or w < 3:
        fn()
        w += 1
    times = []
    start = time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - start < secs:
        a = time.perf_counter()
        fn()
        b = time.perf_counter()
        times.append(b - a)
    return statistics.median(times), len(times)


def train_setup(model, shape, batch, n_classes=10):
    """A step function that trains model (its last module, the softmax, left
    out) on one random batch, and a dict with the first and last losses."""
    net = model[:-1]
    assert isinstance(model[-1], Softmax)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(batch, *shape)
    y = torch.randint(0, n_classes, (batch,))
    losses = {"steps": 0}   # the loss tensors of the first and the last step

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        losses.setdefault("first", loss)
        losses["last"] = loss
        losses["steps"] += 1
    return step, losses


def main(argv):
    secs = 2.0
    threads = []
    names = list(MODELS)
    train = None    # None: no training; 0: TRAIN_BATCH; else the batch
    infer = True
    i = 0
    while i < len(argv):
        if argv[i] == "-t":
            secs = float(argv[i + 1])
            i += 1
        elif argv[i] == "--models":
            names = argv[i + 1].split(",")
            i += 1
        elif argv[i] == "--train":
            train = 0
            if i + 1 < len(argv) and argv[i + 1].isdigit():
                train = int(argv[i + 1])
                i += 1
        elif argv[i] == "--no-infer":
            infer = False
        else:
            threads.append(int(argv[i]))
        i += 1
    if not threads:
        sys.exit("usage: torch_bench.py THREADS... [-t SECONDS] [--models a,b] [--train [BATCH]] [--no-infer]")
    set_blas_threads, core = openblas()
    print(f"torch_bench: torch {torch.__version__}, OpenBLAS core {core}, thread control "
          f"{'yes' if set_blas_threads else 'no'}, mkldnn {torch.backends.mkldnn.is_available()}",
          file=sys.stderr)
    torch.manual_seed(42)
    for name in names:
        model, shape = MODELS[name]()
        model.eval()
        params = sum(p.numel() for p in model.parameters())
        x1 = torch.rand(1, *shape)
        x256 = torch.rand(BIG_BATCH, *shape)
        tbatch = (train or TRAIN_BATCH[name]) if train is not None else 0
        if tbatch:
            # A copy of the freshly initialised model, so the inference
            # measurement is unchanged by training.
            tmodel, _ = MODELS[name]()
            tmodel.load_state_dict(model.state_dict())
            step, losses = train_setup(tmodel, shape, tbatch)
        for n in threads:
            torch.set_num_threads(n)
            if set_blas_threads:
                set_blas_threads(n)
            if infer:
                with torch.inference_mode():
                    b1, n1 = median_call(lambda: model(x1), 0.3, secs, 200)
                    b256, n256 = median_call(lambda: model(x256), 0.3, secs, 10)
                print(f"RESULT torch {name} {n} {b1 * 1e6:.2f} {BIG_BATCH / b256:.1f} {params} {n1} {n256} {core}",
                      flush=True)
            if tbatch:
                st, nst = median_call(step, 0.3, secs, 10)
                print(f"TRAIN torch {name} {n} {tbatch} {tbatch / st:.1f} {params} {nst} {st * 1e3:.3f} {core}",
                      flush=True)
                print(f"torch_bench: {name} training, {n} threads: loss {losses['first'].item():.4g} at the first "
                      f"step, {losses['last'].item():.4g} after {losses['steps']} steps", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
