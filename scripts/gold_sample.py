"""Draw the real Open-I reports of the hand-labelled report gold set (``tests/data/gold_reports/``).

Seeded and independent of the labeler: reports are stratified by their MeSH terms (written by the Open-I curators,
not by us), 50 with the MeSH term ``normal`` and 150 without, excluding the reports of the older sentence gold set
(``tests/data/gold_openi.csv``); then (round 2, ids 200-299) 100 more whose MeSH terms name a finding round 1 had
few of (pneumothorax, effusion, fracture, edema, pneumonia, devices, ...); round 3 (ids 300-499), 200 more without
``normal``; round 4 (ids 500-599), 100 more without ``normal``; round 5 (ids 600-999), 400 more; round 6
(ids 1000-1399), 400 more, half of them with a MeSH term of ``RARE_MESH``; round 7 (ids 1400-1699), 300 with a MeSH
term of ``WEAK_MESH``; round 8 (ids 1700-1999), 300 more without ``normal``; round 9 (ids 2000-2399), 400 more.
Rounds 6-9 are all ``dev``: new reports to tune on while the held-out 500 of rounds 1-5 stay as they are. Sentences
come from ``cxrvlp.text.sections.split_sentences`` (splitting, not labelling). In rounds 1-5 every other report (even
ids) goes to ``dev``, the rest to ``heldout``.

    python scripts/gold_sample.py --out tests/data/gold_reports/sample.jsonl
    python scripts/gold_sample.py --join tests/data/gold_reports --out tests/data/gold_reports.jsonl

``--join`` puts the readers' ``labels_*.jsonl`` files together with the sample's text and split (only the reports
that have been labelled), checking that every sentence matches the sample.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from pathlib import Path

from cxrvlp.data.openi import load_openi_reports
from cxrvlp.text.sections import split_sentences

SEED = 2026
N_NORMAL, N_ABNORMAL = 50, 150
RARE_MESH = (
    "pneumothorax",
    "pleural effusion",
    "pleural effusions",
    "fractures, bone",
    "rib fractures",
    "fracture",
    "pulmonary edema",
    "pulmonary congestion",
    "pneumonia",
    "consolidation",
    "pleural thickening",
    "catheters, indwelling",
    "tube, inserted",
    "implanted medical device",
    "nodule",
    "mass",
)
N_RARE = 100
"""Round 2: ids 200-299, reports whose MeSH terms name a finding that round 1 had few of."""
N_ROUND3 = 200
"""Round 3: ids 300-499, more reports without the MeSH term ``normal`` (labelled after the engine was tuned on the
dev part of rounds 1-2, so their held-out half is new to everyone)."""
N_ROUND4 = 100
"""Round 4: ids 500-599, more reports without ``normal`` (labelled after the engine was tuned on the dev part of
rounds 1-3)."""
N_ROUND5 = 400
"""Round 5: ids 600-999, more reports without ``normal`` (labelled after rounds 1-4 were scored)."""
N_ROUND6_RARE, N_ROUND6 = 200, 200
"""Round 6: ids 1000-1399, 200 with a ``RARE_MESH`` term then 200 more without ``normal``, all ``dev``: new reports
to tune on, so that the held-out half of rounds 1-5 (500 reports) is never needed to find the engine's misses."""
WEAK_MESH = (
    "surgical instruments",
    "catheters, indwelling",
    "implanted medical device",
    "tube, inserted",
    "sternotomy",
    "spinal fusion",
    "fractures, bone",
    "rib fractures",
    "thickening",
    "cicatrix",
    "scarring",
    "opacity",
    "density",
    "markings",
    "infiltrate",
    "infiltrates",
    "airspace disease",
)
"""MeSH terms (the Open-I curators') of the findings whose r^r misses dominate held-out after round 6, counted per
finding only (devices, opacities, fractures, pleural scarring; ``docs/text_engine.md``)."""
N_ROUND7 = 300
"""Round 7: ids 1400-1699, reports with a ``WEAK_MESH`` term, all ``dev``."""
N_ROUND8 = 300
"""Round 8: ids 1700-1999, more reports without ``normal`` (drawn as rounds 3-5 were, whose held-out half the
engine misses most), all ``dev``."""
N_ROUND9 = 400
"""Round 9: ids 2000-2399, 400 more reports without ``normal``, all ``dev`` (28 such reports are left after it)."""
DEV_ONLY_FROM = 1000
"""Reports from this id on are all ``dev``."""


LATER_ROUNDS: tuple[tuple[tuple[str, ...] | None, int], ...] = (
    (RARE_MESH, N_RARE),  # round 2
    (None, N_ROUND3),
    (None, N_ROUND4),
    (None, N_ROUND5),
    (RARE_MESH, N_ROUND6_RARE),  # round 6, first half
    (None, N_ROUND6),
    (WEAK_MESH, N_ROUND7),
    (None, N_ROUND8),
    (None, N_ROUND9),
)
"""After round 1, in order: (the MeSH terms a report must carry one of, or None: any report without ``normal``;
how many)."""


def _has_mesh(report, terms: tuple[str, ...]) -> bool:
    return any(m.split("/")[0].lower() in terms for m in report.mesh)


def split_of(i: int) -> str:
    """The split of gold report ``i``: even ids ``dev``, odd ``heldout``, from ``DEV_ONLY_FROM`` on ``dev``."""
    return "dev" if i % 2 == 0 or i >= DEV_ONLY_FROM else "heldout"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--join", type=Path, default=None, help="folder with sample.jsonl and labels_*.jsonl")
    args = ap.parse_args()
    if args.join:
        join(args.join, args.out)
        return
    old = Path(__file__).resolve().parents[1] / "tests" / "data" / "gold_openi.csv"
    with old.open(newline="") as f:
        excluded = {row["uid"] for row in csv.DictReader(f)}
    reports = [r for r in load_openi_reports() if r.text and r.uid not in excluded and split_sentences(r.text)]
    normal = [r for r in reports if "normal" in (m.lower() for m in r.mesh)]
    abnormal = [r for r in reports if "normal" not in (m.lower() for m in r.mesh)]
    rng = random.Random(SEED)
    chosen = rng.sample(normal, N_NORMAL) + rng.sample(abnormal, N_ABNORMAL)
    rng.shuffle(chosen)
    for k, (mesh, n) in enumerate(LATER_ROUNDS, 1):  # round k + 1 draws with seed SEED + k
        taken = {r.uid for r in chosen}
        pool = [r for r in abnormal if r.uid not in taken and (mesh is None or _has_mesh(r, mesh))]
        chosen += random.Random(SEED + k).sample(pool, n)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w") as f:
        for i, r in enumerate(chosen):
            row = {
                "id": i,
                "uid": r.uid,
                "split": split_of(i),
                "text": r.text,
                "sentences": split_sentences(r.text),
            }
            f.write(json.dumps(row) + "\n")
    print(f"wrote {len(chosen)} reports to {args.out}")


def join(folder: Path, out: Path) -> None:
    """Write the labelled reports of ``folder`` as one gold JSONL, in id order."""
    sample = {r["id"]: r for r in map(json.loads, (folder / "sample.jsonl").read_text().splitlines())}
    rows = [json.loads(line) for p in sorted(folder.glob("labels_*.jsonl")) for line in p.read_text().splitlines()]
    with out.open("w") as f:
        for r in sorted(rows, key=lambda r: r["id"]):
            s = sample[r["id"]]
            if [x["text"] for x in r["sentences"]] != s["sentences"] or r["uid"] != s["uid"]:
                raise ValueError(f"report id {r['id']}: sentences differ from the sample")
            row = {"id": r["id"], "uid": r["uid"], "split": s["split"], "text": s["text"]}
            f.write(json.dumps(row | {"sentences": r["sentences"], "note": r.get("note", "")}) + "\n")
    print(f"wrote {len(rows)} labelled reports to {out}")


if __name__ == "__main__":
    main()
