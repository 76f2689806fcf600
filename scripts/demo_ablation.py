"""The small-scale ablation behind the README's "Results": configs and ``cxrvlp`` commands only.

Every run is ``cxrvlp train`` (the library loop: AdamW with decay on matrices only, betas (0.9, 0.98), the cosine
schedule, val-loss checkpoint selection, exact resume) and every number is ``cxrvlp eval``; this script only builds
the command lines, runs them in order, and skips what is already done (rerun it after an interruption: a
half-finished run continues with ``cxrvlp train --resume``).

Data: the NIH ChestX-ray14 sample in ``../shared/data`` (690 real images, labels only, split by patient) with reports
COMPOSED from real Open-I sentences (``cxrvlp compose``); never read these results as results on real reports.
Model: the ``lite`` preset (``model.seed`` = the run's seed). Main block: both trunks frozen with
``train.cache_features`` (trunk features computed once per image and report, shared by every row and seed), so each
step trains the projections, the temperature and (graph rows) the GCN. CON1 / CON2 fine-tune the CLIP run of the
same seed (CON2 with distractor images drawn from the NIH labels). ``--unfreeze K`` adds a block where the last ``K``
blocks of the image trunk train too (no feature cache; much slower), for CLIP and the full method.

Every row gets the same data, steps, batch size, optimiser and seeds; checkpoints are selected on the val loss,
every reported number is on ``test``, and ``scripts/package_demo.py`` chooses the shipped row on val.

    python scripts/demo_ablation.py OUT [--steps 600] [--seeds 0 1 2] [--rows clip n_dsl_tc] [--unfreeze 1]
    python scripts/demo_ablation.py OUT --smoke     # one short row, for checking the path (docs/training.md)
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

REPO = Path(__file__).resolve().parents[1]
ROWS = {  # row -> (config file, extra overrides)
    "clip": ("clip", []),
    "clip_n": ("clip_n", []),
    "n_dsl_tc": ("n_dsl_tc", []),
    "n_dsl_tc_mask": ("n_dsl_tc", ["loss.mask_own_hardneg=true"]),
    "n_g_dsl_tcg": ("n_g_dsl_tcg", []),
}
FINETUNES = {"con1": "con1", "con2": "con2"}  # from the CLIP run of the same seed
UNFROZEN = ("clip", "n_g_dsl_tcg")  # the candidate shipped rows, also run with the trunk's last blocks training
TEST_TASKS = "align,zeroshot,adversarial,negprompt"


def cxrvlp(*args: str) -> list[str]:
    return [sys.executable, "-m", "cxrvlp.cli", *args]


def run(cmd: list[str], log: Path) -> float:
    """Run ``cmd`` (its progress goes to the terminal); append it and its duration to ``log``. Returns seconds."""
    print("+", " ".join(cmd), flush=True)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    seconds = time.perf_counter() - t
    with log.open("a", encoding="utf-8") as f:
        f.write(json.dumps({"cmd": cmd, "seconds": round(seconds, 1)}) + "\n")
    return seconds


def shared_overrides(args: argparse.Namespace, manifest: Path, *, frozen_cache: bool) -> list[str]:
    """What every row shares (the ablation's fixed settings)."""
    steps = args.steps
    out = [
        "data.dataset=manifest", f"data.root={manifest}", f"data.cache_dir={args.out / 'cache'}",
        "data.num_workers=0", "data.augment=false", "train.freeze_image=true", "train.freeze_text=true",
        f"train.max_steps={steps}", "train.epochs=1000", f"train.batch_size={args.batch_size}",
        f"train.lr={args.lr}", f"train.warmup_steps={max(1, steps // 20)}", "train.weight_decay=0.1",
        f"train.eval_every={args.eval_every}", f"train.save_every={max(args.eval_every, 100)}",
        f"train.log_every={min(10, steps)}", "train.precision=fp32",
    ]  # fmt: skip
    return out + (["train.cache_features=true"] if frozen_cache else [])


def evaluate(checkpoint: Path, name: str, manifest: Path, results: Path, log: Path, *, textdiag: bool) -> None:
    spec = f"cxrvlp:{checkpoint}" if checkpoint.is_dir() else str(checkpoint)
    common = ["--model", spec, "--data", str(manifest), "--label-source", "dataset", "--seed", "0"]
    run(cxrvlp("eval", *common, "--split", "val", "--tasks", "align,zeroshot", "--bootstrap", "0",
               "--out", str(results / f"{name}.val.json")), log)  # fmt: skip
    run(cxrvlp("eval", *common, "--split", "test", "--tasks", TEST_TASKS, "--bootstrap", "1000",
               "--out", str(results / f"{name}.json")), log)  # fmt: skip
    if textdiag:
        run(cxrvlp("eval", "textdiag", "--model", spec, "--limit", "1000", "--bootstrap", "1000",
                   "--out", str(results / f"{name}.textdiag.json")), log)  # fmt: skip


def train_row(name: str, config: str, overrides: list[str], args, *, log: Path, results: Path) -> Path:
    """``cxrvlp train`` one row (resuming a half-finished run), then ``cxrvlp eval`` its best checkpoint."""
    run_dir = args.out / "runs" / name
    best = run_dir / "checkpoints" / "best"
    if not (results / f"{name}.json").is_file():
        if (run_dir / "train_result.json").is_file():
            pass  # trained, evaluation interrupted
        elif (run_dir / "checkpoints" / "last").is_dir():
            run(cxrvlp("train", "--resume", str(run_dir)), log)
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
            run(cxrvlp("train", "--config", str(REPO / "configs" / f"{config}.yaml"), "--preset", "lite",
                       *overrides, f"train.run_dir={run_dir}"), log)  # fmt: skip
        evaluate(best, name, args.manifest, results, log, textdiag=not args.smoke)
        shutil.rmtree(run_dir / "checkpoints" / "last", ignore_errors=True)  # keep the selected checkpoint only
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--finetune-steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--eval-every", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rows", nargs="+", choices=[*ROWS, *FINETUNES], help="a subset of the rows")
    parser.add_argument("--unfreeze", type=int, default=0, help="also run CLIP and the full method with K blocks")
    parser.add_argument("--smoke", action="store_true", help="one row (n_dsl_tc), one seed, 60 steps, no textdiag")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.seeds, args.steps, args.eval_every = ["n_dsl_tc"], [0], 60, 20
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    results, log = args.out / "results", args.out / "commands.jsonl"
    results.mkdir(exist_ok=True)
    args.manifest = args.out / "nih_composed.csv"
    if not args.manifest.is_file():
        run(cxrvlp("compose", "--data", str(args.data / "nih_cxr14_sample"), "--out", str(args.manifest),
                   "--banks", str(args.out / "banks.json"), "--seed", "0"), log)  # fmt: skip
    if not args.smoke and not (results / "untrained.json").is_file():  # preset:lite is seeded: reproducible
        evaluate(Path("preset:lite"), "untrained", args.manifest, results, log, textdiag=True)

    rows = args.rows or [*ROWS, *FINETUNES]
    for seed in args.seeds:
        seeded = [f"model.seed={seed}", f"train.seed={seed}"]
        frozen = shared_overrides(args, args.manifest, frozen_cache=True)
        for row in (r for r in ROWS if r in rows):
            config, extra = ROWS[row]
            train_row(f"{row}-s{seed}", config, [*frozen, *seeded, *extra], args, log=log, results=results)
        for row in (r for r in FINETUNES if r in rows):
            clip_best = train_row(
                f"clip-s{seed}", "clip", [*frozen, *seeded], args, log=log, results=results
            )  # no-op when done
            steps = [f"train.max_steps={args.finetune_steps}", f"train.lr={args.lr / 10}"]
            steps += [f"train.warmup_steps={max(1, args.finetune_steps // 20)}", f"train.init_from={clip_best}"]
            train_row(f"{row}-s{seed}", FINETUNES[row], [*frozen, *seeded, *steps], args, log=log, results=results)
        if args.unfreeze:
            partial = shared_overrides(args, args.manifest, frozen_cache=False)
            partial += [f"train.unfreeze_image_blocks={args.unfreeze}", "data.augment=true"]
            for row in UNFROZEN:
                config, extra = ROWS[row]
                name = f"{row}_unfreeze{args.unfreeze}-s{seed}"
                train_row(name, config, [*partial, *seeded, *extra], args, log=log, results=results)
    print(f"done; results in {results}, every command and its duration in {log}")


if __name__ == "__main__":
    main()
