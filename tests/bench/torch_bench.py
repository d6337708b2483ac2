#!/usr/bin/python3
"""torch_bench.py - the models of tests/bench/*.kdl in PyTorch, timed the way
tests/bench/bench.c times the generated C (tests/bench/run.sh runs both).

Usage: /usr/bin/python3 torch_bench.py THREADS... [-t SECONDS] [--models a,b]

For each model and thread count: torch.set_num_threads(n) and the same count
for OpenBLAS (PyTorch's Linear layers call the system OpenBLAS, whose pool is
not governed by torch.set_num_threads), warm up, then under
torch.inference_mode():
  batch 1:   time single forward calls with time.perf_counter() (CLOCK_MONOTONIC)
             for about SECONDS (at least 200 calls); report the median in us;
  batch 256: the same (at least 10 calls); report 256 / median in samples/s.
Images are NCHW (PyTorch's native layout); the layers and their sizes are the
.kdl files' (Keras "same" for a 3x3 stride-1 conv is padding=1). One line per
model and thread count on stdout:
  RESULT torch NAME THREADS B1_MEDIAN_US B256_SAMPLES_PER_S PARAMS CALLS1 CALLS256 CORE
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


def main(argv):
    secs = 2.0
    threads = []
    names = list(MODELS)
    i = 0
    while i < len(argv):
        if argv[i] == "-t":
            secs = float(argv[i + 1])
            i += 1
        elif argv[i] == "--models":
            names = argv[i + 1].split(",")
            i += 1
        else:
            threads.append(int(argv[i]))
        i += 1
    if not threads:
        sys.exit("usage: torch_bench.py THREADS... [-t SECONDS] [--models a,b]")
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
        for n in threads:
            torch.set_num_threads(n)
            if set_blas_threads:
                set_blas_threads(n)
            with torch.inference_mode():
                b1, n1 = median_call(lambda: model(x1), 0.3, secs, 200)
                b256, n256 = median_call(lambda: model(x256), 0.3, secs, 10)
            print(f"RESULT torch {name} {n} {b1 * 1e6:.2f} {BIG_BATCH / b256:.1f} {params} {n1} {n256} {core}",
                  flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
