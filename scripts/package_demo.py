"""Select the demo model on `val`, store it as a compact delta checkpoint, and measure the probe rate on `test`.

Run after ``scripts/demo_ablation.sh OUT`` has trained the runs ``OUT/<method>-s<seed>``:

    python scripts/package_demo.py OUT [--dest cxrvlp/assets/demo]

1. Every run's ``checkpoints/best`` is scored on the **val** split (CXR-Align Task A and zero-shot AUROC on the
   composed NIH reports); the run with the best mean of the two is chosen. Nothing is selected on `test`.
2. The chosen model is written with :func:`cxrvlp.models.delta.save_delta` (float16, rows / tensors that differ
   from the pip-packaged `lite` weights) to ``--dest``, and reloaded from there for step 3.
3. Probe rate on **test**: for every test image with a finding and every finding the labeler reads as positive in
   its composed report, does the model score the report above its negated version ``make_negated(report, F)``,
   as the app's probe page shows? Printed for the reloaded demo model and for the untrained `lite` preset, and
   written to ``OUT/results/probe_rate.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch


def val_score(predictor, items) -> tuple[float, float]:
    from cxrvlp.eval import evaluate

    res = evaluate(predictor, items, tasks=["align", "zeroshot"], label_source="dataset", n_bootstrap=0, seed=0)
    return float(res.tasks["align"].metrics["task_a"].value), float(res.tasks["zeroshot"].metrics["auroc"].value)


def probe_rate(predictor, items) -> dict[str, float]:
    from cxrvlp.text import label_report, make_negated

    wins = total = 0
    for item in items:
        if not item.report or not item.labels:
            continue
        positives = label_report(item.report).positives()
        if not positives:
            continue
        texts = [item.report] + [make_negated(item.report, f, seed=0) for f in positives]
        img = predictor.embed_images([item.image_path])
        sims = (img @ predictor.embed_texts(texts).T)[0]  # (1 + F,)
        wins += int((sims[0] > sims[1:]).sum())
        total += len(positives)
    return {"rate": wins / max(total, 1), "pairs": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the OUT folder of scripts/demo_ablation.sh")
    parser.add_argument("--dest", type=Path, default=Path("cxrvlp/assets/demo"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(2)

    from cxrvlp.eval import read_manifest
    from cxrvlp.inference import Predictor
    from cxrvlp.models.delta import save_delta

    manifest = args.out / "nih_composed.csv"
    val = read_manifest(manifest, split="val")
    test = read_manifest(manifest, split="test")
    scores = {}
    for run in sorted(p for p in args.out.iterdir() if (p / "checkpoints" / "best").is_dir()):
        task_a, auroc = val_score(Predictor.from_pretrained(run / "checkpoints" / "best"), val)
        scores[run.name] = {"val_task_a": task_a, "val_auroc": auroc, "val_mean": (task_a + auroc) / 2}
        print(f"{run.name:<16} val Task A {task_a:.3f}  val AUROC {auroc:.3f}")
    best = max(scores, key=lambda k: scores[k]["val_mean"])
    print(f"chosen on val: {best}")
    model = Predictor.from_pretrained(args.out / best / "checkpoints" / "best").model
    counts = save_delta(model, args.dest, half=True)
    size = (args.dest / "delta.safetensors").stat().st_size / 1e6
    print(f"wrote {args.dest} ({size:.1f} MB; {counts})")
    demo = Predictor.from_pretrained(args.dest)
    rates = {"demo": probe_rate(demo, test), "untrained_lite": probe_rate(Predictor.from_preset("lite"), test)}
    for name, r in rates.items():
        print(f"probe rate on test ({name}): {r['rate']:.3f} over {r['pairs']} (report, negated) pairs")
    payload = {"chosen": best, "val": scores, "probe_rate_test": rates, "delta_mb": size, "counts": counts}
    (args.out / "results" / "probe_rate.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
