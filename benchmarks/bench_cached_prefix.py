"""Partial unfreezing (``train.unfreeze_image_blocks=K``) with and without the cached frozen prefix: steps/s.

Runs ``cxrvlp train --config configs/clip.yaml`` twice on the same manifest, one thread each, with the ablation's
fixed settings (frozen trunks, no augmentation, fp32, no loader workers): once decoding images and running the whole
image trunk every step, once with ``train.cache_features=true`` (the prefix before the last K blocks computed once,
then only the tail + projections per step). Prints the training steps/s of each (from ``log.jsonl``'s
``samples_per_s``, which excludes setup and the cache build) and the wall time of each command.

Usage (a manifest from ``cxrvlp compose``)::

    python -m cxrvlp.cli compose --data /work/shared/data/nih_cxr14_sample --out /tmp/h17/nih.csv \\
        --banks /tmp/h17/banks.json --seed 0
    PYTHONPATH=. python benchmarks/bench_cached_prefix.py /tmp/h17/nih.csv /tmp/h17/bench [--steps 20] [--k 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def run(manifest: Path, out: Path, name: str, args: argparse.Namespace, *extra: str) -> tuple[float, float]:
    """One ``cxrvlp train``; returns (training steps/s, wall seconds of the command)."""
    run_dir = out / name
    shutil.rmtree(run_dir, ignore_errors=True)
    cmd = [
        sys.executable, "-m", "cxrvlp.cli", "train", "--config", "configs/clip.yaml",
        "data.dataset=manifest", f"data.root={manifest}", f"data.cache_dir={out / 'cache'}", "data.num_workers=0",
        "data.augment=false", "train.freeze_image=true", "train.freeze_text=true", f"train.max_steps={args.steps}",
        "train.epochs=1000", f"train.batch_size={args.batch_size}", "train.lr=3e-4", "train.warmup_steps=1",
        "train.eval_every=100000", "train.save_every=100000", f"train.log_every={args.log_every}",
        "train.precision=fp32", f"train.unfreeze_image_blocks={args.k}", f"train.run_dir={run_dir}", *extra,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    print("$", " ".join(cmd[1:]), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    logs = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    rates = [e["samples_per_s"] / args.batch_size for e in logs if e.get("kind") == "train"]
    final = [e["loss"] for e in logs if e.get("kind") == "train"][-1]
    print(f"  {name}: {sum(rates) / len(rates):.3f} steps/s (windows {[round(r, 3) for r in rates]}), "
          f"wall {wall:.1f} s, last train loss {final:.4f}", flush=True)  # fmt: skip
    return sum(rates) / len(rates), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--k", type=int, default=1, help="train.unfreeze_image_blocks")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for f in (args.out / "cache").glob("trunk_*.safetensors"):
        f.unlink()  # the cached run's wall time then includes building the prefix cache
    uncached, _ = run(args.manifest, args.out, "uncached", args)
    cached, wall_build = run(args.manifest, args.out, "cached", args, "train.cache_features=true")
    _, wall_reuse = run(args.manifest, args.out, "cached_again", args, "train.cache_features=true")
    size = sum(f.stat().st_size for f in (args.out / "cache").glob("trunk_*.safetensors"))
    print(
        f"K={args.k}, batch {args.batch_size}, 1 thread: uncached {uncached:.3f} steps/s, cached prefix "
        f"{cached:.3f} steps/s ({cached / uncached:.1f}x); cache build ~{wall_build - wall_reuse:.0f} s once "
        f"(cached wall {wall_build:.0f} s building, {wall_reuse:.0f} s reading); cache file {size / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
