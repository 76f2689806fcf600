"""Choose the demo model on `val`, copy it into the package, measure the probe rate on `test`, print the table.

Run after ``scripts/demo_ablation.py OUT``:

    python scripts/package_demo.py OUT [--dest cxrvlp/assets/demo]

1. Selection on **val** only: each method's score is the mean over seeds of (CXR-Align Task A + zero-shot AUROC) / 2
   on the val split (``OUT/results/*.val.json``); the best method's best seed on val is shipped.
2. The chosen run (``OUT/runs/NAME/checkpoints/best``) is saved as a delta checkpoint (only what differs from the
   pip-packaged `lite` weights) in float16 to ``--dest`` with the sentence banks that composed its training
   reports, and reloaded from there.
3. Probe rate on **test**: for every test image with a finding and every finding the labeler reads as positive in
   its composed report, does the model score the report above ``make_negated(report, F)`` — what the app's probe
   page shows? For the shipped model and for the untrained `lite` preset; written to ``OUT/results/probe_rate.json``.
4. Prints the README table: mean ± std over seeds of every test metric, per method.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
from collections import defaultdict
from pathlib import Path

import torch

ROWS = ["untrained", "clip", "clip_n", "n_dsl_tc", "n_dsl_tc_mask", "n_g_dsl_tcg", "con1", "con2"]
NAMES = {
    "untrained": "untrained `lite`",
    "clip": "CLIP",
    "clip_n": "CLIP^N",
    "n_dsl_tc": "CLIP^N-D_{t+c}",
    "n_dsl_tc_mask": "CLIP^N-D_{t+c}, own r^n masked",
    "n_g_dsl_tcg": "CLIP^{N,G}-D_{t+c+g}",
    "con1": "CON1 (from CLIP)",
    "con2": "CON2 (from CLIP)",
}
COLUMNS = [
    ("align", "task_a", "CXR-Align A"),
    ("align", "task_b", "CXR-Align B"),
    ("zeroshot", "auroc", "ZS AUROC"),
    ("adversarial", "both", "Adversarial"),
    ("negprompt", "pos_p@5", "P@5 'X'"),
    ("negprompt", "neg_p@5", "P@5 'no X'"),
    ("textdiag", "cos_negation", "cos(r, r^n) Open-I"),
]


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
        sims = (predictor.embed_images([item.image_path]) @ predictor.embed_texts(texts).T)[0]  # (1 + F,)
        wins += int((sims[0] > sims[1:]).sum())
        total += len(positives)
    return {"rate": wins / max(total, 1), "pairs": total}


def load_metric(path: Path, task: str, metric: str) -> float | None:
    if not path.is_file():
        return None
    m = json.loads(path.read_text())["tasks"].get(task, {}).get("metrics", {}).get(metric)
    return None if m is None or m["value"] is None else float(m["value"])


def table(results: Path) -> str:
    runs = defaultdict(list)
    for p in sorted(results.glob("*.json")):
        m = re.fullmatch(r"(\w+?)(?:-s(\d+))?\.json", p.name)
        if m:
            runs[m.group(1)].append(p.stem)
    lines = ["| method | seeds | " + " | ".join(c[2] for c in COLUMNS) + " |", "|---" * (len(COLUMNS) + 2) + "|"]
    for row in ROWS:
        if row not in runs:
            continue
        cells = []
        for task, metric, _ in COLUMNS:
            suffix = ".textdiag.json" if task == "textdiag" else ".json"
            vals = [v for s in runs[row] if (v := load_metric(results / f"{s}{suffix}", task, metric)) is not None]
            scale = 1 if task == "textdiag" else 100
            if not vals:
                cells.append("–")
            elif len(vals) == 1:
                cells.append(f"{vals[0] * scale:.1f}" if scale == 100 else f"{vals[0]:.3f}")
            else:
                mean, sd = statistics.mean(vals) * scale, statistics.stdev(vals) * scale
                cells.append(f"{mean:.1f} ± {sd:.1f}" if scale == 100 else f"{mean:.3f} ± {sd:.3f}")
        lines.append(f"| {NAMES[row]} | {len(runs[row])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the OUT folder of scripts/demo_ablation.py")
    parser.add_argument("--dest", type=Path, default=Path("cxrvlp/assets/demo"))
    args = parser.parse_args()
    torch.set_num_threads(2)

    from cxrvlp.eval import read_manifest
    from cxrvlp.inference import Predictor
    from cxrvlp.models import CXRClip
    from cxrvlp.models.delta import save_delta

    results = args.out / "results"
    val = defaultdict(dict)
    for p in results.glob("*-s*.val.json"):
        method, seed = p.name.removesuffix(".val.json").rsplit("-s", 1)
        a, z = load_metric(p, "align", "task_a"), load_metric(p, "zeroshot", "auroc")
        val[method][seed] = (a + z) / 2
    method = max(val, key=lambda k: statistics.mean(val[k].values()))
    seed = max(val[method], key=val[method].get)
    print(
        "val score (mean of Task A and ZS AUROC) per method:",
        {k: round(statistics.mean(v.values()), 4) for k, v in val.items()},
    )
    print(f"chosen on val: {method}, seed {seed}")
    chosen = CXRClip.from_pretrained(args.out / "runs" / f"{method}-s{seed}" / "checkpoints" / "best")
    counts = save_delta(chosen, args.dest, half=True)
    shutil.copy(args.out / "banks.json", args.dest / "banks.json")  # reproduces the composed reports
    size = (args.dest / "delta.safetensors").stat().st_size / 1e6
    print(f"wrote {args.dest}: {size:.2f} MB, {counts}")
    test = read_manifest(args.out / "nih_composed.csv", split="test")
    rates = {
        "demo": probe_rate(Predictor.from_pretrained(args.dest), test),
        "untrained_lite": probe_rate(Predictor.from_preset("lite"), test),
    }
    for name, r in rates.items():
        print(f"probe rate on test ({name}): {r['rate']:.3f} over {r['pairs']} (report, negated report) pairs")
    payload = {"chosen": f"{method}-s{seed}", "val": val, "probe_rate_test": rates, "delta_mb": size}
    (results / "probe_rate.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    print()
    print(table(results))


if __name__ == "__main__":
    main()
