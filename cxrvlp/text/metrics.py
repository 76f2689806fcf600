"""Agreement of predicted and reference report labels: per-class precision / recall / F1 (pure Python)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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
