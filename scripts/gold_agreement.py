"""Agreement of a second, blind reader with the report gold set (``tests/data/gold_reports/``).

An audit reader relabels some reports from ``sample.jsonl`` with the conventions only (never the first reader's
labels, never the engine's output); this compares the two, sentence by sentence and class by class (polarity, or
not labelled), and report by report (present = positive or uncertain), and lists every disagreement.

    python scripts/gold_agreement.py tests/data/gold_reports/audit/relabel_*.jsonl [--list]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

GOLD = Path(__file__).resolve().parents[1] / "tests" / "data" / "gold_reports"


def _present(report: dict) -> set[str]:
    return {c for s in report["sentences"] for c, lab in s["labels"].items() if lab["polarity"] != "negative"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("relabels", nargs="+", type=Path)
    ap.add_argument("--list", action="store_true", help="print every disagreement")
    args = ap.parse_args()
    second = {r["id"]: r for p in args.relabels for r in map(json.loads, p.read_text().splitlines())}
    first = {}
    for p in sorted(GOLD.glob("labels_*.jsonl")):
        for r in map(json.loads, p.read_text().splitlines()):
            if r["id"] in second:
                first[r["id"]] = r
    missing = sorted(set(second) - set(first))
    if missing:
        raise SystemExit(f"ids without a first label: {missing[:10]}")
    agree = total = rep_agree = rep_total = 0
    kinds: Counter[str] = Counter()
    rows = []
    for i in sorted(second):
        a, b = first[i], second[i]
        for sa, sb in zip(a["sentences"], b["sentences"], strict=True):
            if sa["text"] != sb["text"]:
                raise SystemExit(f"id {i}: sentences differ")
            for c in sorted(set(sa["labels"]) | set(sb["labels"])):
                pa = sa["labels"].get(c, {}).get("polarity", "-")
                pb = sb["labels"].get(c, {}).get("polarity", "-")
                total += 1
                agree += pa == pb
                if pa != pb:
                    kinds[c] += 1
                    rows.append(f"{i}:{sa['i']} {c}: first {pa} / second {pb} | {sa['text']}")
        pa, pb = _present(a), _present(b)
        for c in pa | pb:
            rep_total += 1
            rep_agree += (c in pa) == (c in pb)
    print(f"{len(second)} reports read twice")
    print(f"sentence x class labels (polarity or not labelled): {agree} / {total} agree ({agree / total:.3f})")
    print(
        f"report x class, present (positive or uncertain): {rep_agree} / {rep_total} agree "
        f"({rep_agree / rep_total:.3f})"
    )
    print("disagreements by class:", dict(kinds.most_common()))
    if args.list:
        print("\n".join(rows))


if __name__ == "__main__":
    main()
