"""Agreement of predicted and reference report labels: per-class precision / recall / F1 (pure Python)."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cxrvlp.types import CHEXPERT_CLASSES


@dataclass(frozen=True)
class ClassScore:
    """Exact-label agreement for one class: a decision counts as correct only with the reference's polarity."""

    precision: float
    recall: float
    f1: float
    support: int


def label_scores(gold: Sequence[Mapping[str, str]], pred: Sequence[Mapping[str, str]]) -> dict[str, ClassScore]:
    """Per-class scores over paired label dicts (class -> polarity, absent = not mentioned).

    For each class: TP = predicted with the reference's polarity; FP = predicted but absent or of another polarity
    in the reference; FN = in the reference but absent or of another polarity in the prediction.

    Returns:
        class -> :class:`ClassScore`, for the classes that occur in the reference, in ``CHEXPERT_CLASSES`` order.
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} reference label sets but {len(pred)} predictions")
    out: dict[str, ClassScore] = {}
    for cls in CHEXPERT_CLASSES:
        tp = fp = fn = 0
        for g, p in zip(gold, pred, strict=True):
            gv, pv = g.get(cls), p.get(cls)
            if pv is not None and pv == gv:
                tp += 1
            else:
                fp += pv is not None
                fn += gv is not None
        support = tp + fn
        if support == 0:
            continue
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / support
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[cls] = ClassScore(prec, rec, f1, support)
    return out


def macro_f1(scores: Mapping[str, ClassScore]) -> float:
    """Unweighted mean F1 over the classes in ``scores``."""
    return sum(s.f1 for s in scores.values()) / len(scores) if scores else 0.0


def read_gold(path: str | Path, *, split: str | None = None) -> list[tuple[str, dict[str, str]]]:
    """Read a gold CSV (columns ``sentence``, ``labels`` as ``"Class=polarity;..."``, optional ``split``).

    "No Finding" is derived from the other labels with CheXpert's rule, as the labeler does.

    Returns:
        ``[(sentence, labels), ...]`` in file order, only rows of ``split`` when given.
    """
    from cxrvlp.text.labeler import no_finding

    out = []
    with Path(path).open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if split is not None and row.get("split") != split:
                continue
            labels = dict(item.split("=", 1) for item in row["labels"].split(";") if item)
            labels["No Finding"] = no_finding(labels)
            out.append((row["sentence"], labels))
    return out


def main(argv: list[str] | None = None) -> None:
    """``python -m cxrvlp.text.metrics GOLD.csv [--split test]``: per-class P/R/F1 of ``label_report``."""
    import argparse

    from cxrvlp.text.labeler import label_report

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("gold", type=Path)
    parser.add_argument("--split", default=None)
    args = parser.parse_args(argv)
    rows = read_gold(args.gold, split=args.split)
    scores = label_scores([g for _, g in rows], [label_report(s).labels for s, _ in rows])
    print(f"{'class':28s} {'P':>6s} {'R':>6s} {'F1':>6s} {'n':>4s}   ({len(rows)} sentences)")
    for cls, s in scores.items():
        print(f"{cls:28s} {s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f} {s.support:4d}")
    print(f"{'macro-F1':28s} {'':6s} {'':6s} {macro_f1(scores):6.3f}")


if __name__ == "__main__":
    main()
