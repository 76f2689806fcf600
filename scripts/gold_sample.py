"""Draw the real Open-I reports of the hand-labelled report gold set (``tests/data/gold_reports/``).

Seeded and independent of the labeler: reports are stratified by their MeSH terms (written by the Open-I curators,
not by us), 50 with the MeSH term ``normal`` and 150 without, excluding the reports of the older sentence gold set
(``tests/data/gold_openi.csv``). Sentences come from ``cxrvlp.text.sections.split_sentences`` (splitting, not
labelling). Every other report goes to ``dev``, the rest to ``heldout``.

    python scripts/gold_sample.py --out tests/data/gold_reports/sample.jsonl
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    old = Path(__file__).resolve().parents[1] / "tests" / "data" / "gold_openi.csv"
    with old.open(newline="") as f:
        excluded = {row["uid"] for row in csv.DictReader(f)}
    reports = [r for r in load_openi_reports() if r.text and r.uid not in excluded and split_sentences(r.text)]
    normal = [r for r in reports if "normal" in (m.lower() for m in r.mesh)]
    abnormal = [r for r in reports if "normal" not in (m.lower() for m in r.mesh)]
    rng = random.Random(SEED)
    chosen = rng.sample(normal, N_NORMAL) + rng.sample(abnormal, N_ABNORMAL)
    rng.shuffle(chosen)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w") as f:
        for i, r in enumerate(chosen):
            row = {
                "id": i,
                "uid": r.uid,
                "split": "dev" if i % 2 == 0 else "heldout",
                "text": r.text,
                "sentences": split_sentences(r.text),
            }
            f.write(json.dumps(row) + "\n")
    print(f"wrote {len(chosen)} reports to {args.out}")


if __name__ == "__main__":
    main()
