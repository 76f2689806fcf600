"""Speed of the linear probe (``cxrvlp.eval.finetune.probe.train_linear_probe``) on cached features.

Run::

    PYTHONPATH=$PWD python benchmarks/bench_finetune.py [--train 482] [--val 98] [--features 1280] [--classes 14]

Times one L2 path on synthetic features of the NIH-sample size (``lite``: 1280-d), side by side: the default
(single-threaded on CPU, as ``train_linear_probe`` runs) and with all of torch's intra-op threads, and prints the
ratio. Goal: the probe's training is negligible next to embedding the images (seconds for 3 seeds x 2 fractions).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from cxrvlp.eval.finetune import L2_GRID
from cxrvlp.eval.finetune.probe import train_linear_probe
from cxrvlp.eval.finetune.train import ProbeOptions


def _data(n: int, m: int, f: int, c: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray]:
    g = torch.Generator().manual_seed(0)
    y = (torch.rand(n + m, c, generator=g) < 0.1).float()
    x = torch.randn(n + m, f, generator=g)
    x[:, :c] += 1.5 * y
    return x[:n], y[:n], x[n:], y[n:].numpy()


def _time(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, default=482)
    ap.add_argument("--val", type=int, default=98)
    ap.add_argument("--features", type=int, default=1280)
    ap.add_argument("--classes", type=int, default=14)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    x, y, xv, yv = _data(args.train, args.val, args.features, args.classes)
    opts = ProbeOptions(L2_GRID, 100, len(L2_GRID), "none")  # the whole 13-value path, no early stop
    cpu = torch.device("cpu")

    single = _time(lambda: train_linear_probe(x, y, xv, yv, opts, device=cpu), args.repeats)
    multi = _time(lambda: train_linear_probe(x, y, xv, yv, opts, device=cpu, threads=None), args.repeats)
    print(
        f"L2 path ({len(L2_GRID)} values) on [{args.train}, {args.features}] x {args.classes} classes: "
        f"1 thread {single:.2f} s, {torch.get_num_threads()} threads {multi:.2f} s, ratio {multi / single:.1f}x"
    )


if __name__ == "__main__":
    main()
