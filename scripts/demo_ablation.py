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
same seed (CON2 with distractor images drawn from the NIH labels).

Block "every real image" (off with ``--no-all-data``): the candidate shipped rows (CLIP and the full method) trained
on NIH (composed reports) + the COVID-19 collection (its case notes) + ``covid_radiopaedia`` (its case texts), one
manifest made by ``cxrvlp compose --add`` (each collection's own patient split; frontal images), once with frozen
trunks and once with the last ``--unfreeze K`` blocks of the image trunk training (default 1; the frozen prefix's
activations are cached, ``train.cache_features``; seed 0 only unless ``--unfreeze-seeds``). Each is evaluated on
NIH test (composed reports, as the main block), COVID-19 test and Radiopaedia test (real text), every number with its
grounding controls.

Every row gets the same data, steps, batch size, optimiser and seeds; checkpoints are selected on the val loss,
every reported number is on ``test``, and ``scripts/package_demo.py`` chooses the shipped row on val (NIH val, the
same split for every row).

    python scripts/demo_ablation.py OUT [--steps 600] [--seeds 0 1 2] [--rows clip n_dsl_tc] [--unfreeze 1]
    python scripts/demo_ablation.py OUT --no-all-data   # the main block only (NIH)
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
ALL_DATA = ("clip", "n_g_dsl_tcg")  # the candidate shipped rows, trained on every real image (frozen / unfrozen)
EXTRA = ("covid_chestxray", "covid_radiopaedia")  # collections with real text, joined to NIH for the block
TEST_TASKS = "align,zeroshot,adversarial,negprompt"
REAL_TEST_TASKS = "align,zeroshot"  # on the collections with real text (no NIH labels for the other tasks)


def cxrvlp(*args: str) -> list[str]:
    return [sys.executable, "-m", "cxrvlp.cli", *args]


def run(cmd: list[str], log: Path, *, out: Path | None = None) -> float:
    """Run ``cmd`` (its progress goes to the terminal); append it and its duration to ``log``. Returns seconds.
    With ``out``: skipped (0 s) when that file exists already (a rerun after an interruption)."""
    if out is not None and out.is_file():
        return 0.0
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


def evaluate(
    checkpoint: Path, name: str, manifest: Path, results: Path, log: Path, *, textdiag: bool, real: Path | None = None
) -> None:
    """``cxrvlp eval`` on NIH val (selection) and test; textdiag; with ``real`` (the shared data folder) also on
    the test splits of the collections with real text, as ``NAME.<collection>.json``."""
    spec = f"cxrvlp:{checkpoint}" if checkpoint.is_dir() else str(checkpoint)
    common = ["--model", spec, "--data", str(manifest), "--label-source", "dataset", "--seed", "0"]
    out = results / f"{name}.val.json"
    run(cxrvlp("eval", *common, "--split", "val", "--tasks", "align,zeroshot", "--bootstrap", "0",
               "--out", str(out)), log, out=out)  # fmt: skip
    for collection in EXTRA if real is not None else ():
        out = results / f"{name}.{collection}.json"
        run(cxrvlp("eval", "--model", spec, "--data", str(real / collection / "manifest.csv"), "--seed", "0",
                   "--split", "test", "--tasks", REAL_TEST_TASKS, "--bootstrap", "1000", "--out", str(out)),
            log, out=out)  # fmt: skip
    if textdiag:
        out = results / f"{name}.textdiag.json"
        run(cxrvlp("eval", "textdiag", "--model", spec, "--limit", "1000", "--bootstrap", "1000",
                   "--out", str(out)), log, out=out)  # fmt: skip
    out = results / f"{name}.json"  # last: its presence marks the row as evaluated
    run(cxrvlp("eval", *common, "--split", "test", "--tasks", TEST_TASKS, "--bootstrap", "1000",
               "--out", str(out)), log, out=out)  # fmt: skip


def train_row(
    name: str, config: str, overrides: list[str], args, *, log: Path, results: Path, real: Path | None = None
) -> Path:
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
        evaluate(best, name, args.manifest, results, log, textdiag=not args.smoke, real=real)
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
    parser.add_argument("--unfreeze", type=int, default=1, help="image-trunk blocks that train in the unfrozen rows")
    parser.add_argument("--no-all-data", action="store_true", help="skip the block trained on every real image")
    parser.add_argument(
        "--unfreeze-seeds",
        type=int,
        nargs="+",
        default=[0],
        help="seeds of the unfrozen rows (default 0 only: each costs about 7 frozen rows on a CPU)",
    )
    parser.add_argument("--smoke", action="store_true", help="one row (n_dsl_tc), one seed, 60 steps, no textdiag")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.seeds, args.steps, args.eval_every = ["n_dsl_tc"], [0], 60, 20
        args.no_all_data = True
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    results, log = args.out / "results", args.out / "commands.jsonl"
    results.mkdir(exist_ok=True)
    args.manifest = args.out / "nih_composed.csv"
    if not args.manifest.is_file():
        run(cxrvlp("compose", "--data", str(args.data / "nih_cxr14_sample"), "--out", str(args.manifest),
                   "--banks", str(args.out / "banks.json"), "--seed", "0"), log)  # fmt: skip
    all_manifest = args.out / "all_real.csv"  # NIH composed + the collections with real text
    if not args.no_all_data and not all_manifest.is_file():
        adds = [a for c in EXTRA for a in ("--add", str(args.data / c))]
        run(cxrvlp("compose", "--data", str(args.data / "nih_cxr14_sample"), "--out", str(all_manifest),
                   "--banks", str(args.out / "banks.json"), "--seed", "0", *adds), log)  # fmt: skip
    real = None if args.no_all_data else args.data.resolve()
    if not args.smoke:  # preset:lite is seeded: reproducible (each evaluation skipped when its file exists)
        evaluate(Path("preset:lite"), "untrained", args.manifest, results, log, textdiag=True, real=real)

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
        if not args.no_all_data:
            every = shared_overrides(args, all_manifest, frozen_cache=True)
            variants = [("", [])]
            if args.unfreeze and seed in args.unfreeze_seeds:
                variants.append((f"_unfreeze{args.unfreeze}", [f"train.unfreeze_image_blocks={args.unfreeze}"]))
            for suffix, unfreeze in variants:
                for row in (r for r in ALL_DATA if r in rows):
                    config, extra = ROWS[row]
                    name = f"all_{row}{suffix}-s{seed}"
                    overrides = [*every, *seeded, *extra, *unfreeze]
                    train_row(name, config, overrides, args, log=log, results=results, real=real)
    print(f"done; results in {results}, every command and its duration in {log}")


if __name__ == "__main__":
    main()
