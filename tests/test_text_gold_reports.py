"""The text engine against the hand-labelled report gold set (``tests/data/gold_reports.jsonl``), ``dev`` split.

Independent of the code under test: the labels were written by reading the reports, and
:mod:`cxrvlp.text.validation` judges r^r / r^n with the gold sentence labels and string rules, not with the
labeler. Only ``dev`` is asserted here (the engine was tuned on it); ``heldout`` is scored once, by hand, and its
number is in ``docs/text_engine.md``. The floors sit a little below the measured dev numbers on the 1,000 reports'
dev half (macro-F1 0.982, all four 0.991, weakest criterion 0.996); rounds 6-9 (ids 1000-2399, all dev, each
labelled after the tuning before it) have floors of their own below.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cxrvlp.text import label_report, make_negated, make_omitted
from cxrvlp.text.validation import load_gold, score_generator, score_labeler

GOLD = Path(__file__).parent / "data" / "gold_reports.jsonl"


ROUND6, ROUND7, ROUND8, ROUND9, END = 1000, 1400, 1700, 2000, 2400
"""Round 6 is ids 1000-1399, round 7 ids 1400-1699, round 8 ids 1700-1999, round 9 ids 2000-2399: all dev, each
labelled after the tuning on the rounds before it, then tuned on (before their tuning round 7 scored 0.956 / 96.7%,
round 8 0.938 / 91.9%, round 9 0.924 / 94.3%)."""


@pytest.fixture(scope="module")
def dev():
    return [r for r in load_gold(GOLD, split="dev") if r.id < ROUND6]


def test_labeler_report_level_macro_f1_on_dev(dev) -> None:
    score = score_labeler(dev, lambda t: label_report(t).labels)
    assert score.n_reports >= 100
    assert score.macro_f1 >= 0.975, {c: round(s.f1, 3) for c, s in score.per_class.items()}


def test_generator_passes_all_four_criteria_on_dev(dev) -> None:
    score = score_generator(dev, make_omitted, make_negated)
    assert score.n >= 100
    failures = [(c.id, c.finding, dict(c.why)) for c in score.cases if not c.ok]
    assert score.rate() >= 0.98, failures[:5]
    assert min(score.rate(c) for c in ("removed", "kept", "mixed", "inserted")) >= 0.985


@pytest.fixture(scope="module")
def round6():
    return [r for r in load_gold(GOLD, split="dev") if ROUND6 <= r.id < ROUND7]


def test_round6_floors(round6) -> None:
    """Round 6 after its tuning (issue 15): measured macro-F1 0.983, all four 0.979, weakest criterion 0.985."""
    assert len(round6) >= 300
    lab = score_labeler(round6, lambda t: label_report(t).labels)
    assert lab.macro_f1 >= 0.97, {c: round(s.f1, 3) for c, s in lab.per_class.items()}
    gen = score_generator(round6, make_omitted, make_negated)
    failures = [(c.id, c.finding, dict(c.why)) for c in gen.cases if not c.ok]
    assert gen.rate() >= 0.97, failures[:5]
    assert min(gen.rate(c) for c in ("removed", "kept", "mixed", "inserted")) >= 0.98


@pytest.mark.parametrize(
    ("lo", "hi", "f1", "all_four", "weakest"),
    [
        (ROUND7, ROUND8, 0.975, 0.975, 0.985),  # measured 0.985, 0.988 (334 / 338), 0.994
        (ROUND8, ROUND9, 0.95, 0.96, 0.975),  # measured 0.966, 0.976 (121 / 124), 0.984
        (ROUND9, END, 0.96, 0.96, 0.97),  # measured 0.973, 0.971 (136 / 140), 0.979
    ],
)
def test_later_round_floors(lo: int, hi: int, f1: float, all_four: float, weakest: float) -> None:
    """Rounds 7-9 after their tuning (issue 15)."""
    reports = [r for r in load_gold(GOLD, split="dev") if lo <= r.id < hi]
    assert len(reports) == hi - lo
    lab = score_labeler(reports, lambda t: label_report(t).labels)
    assert lab.macro_f1 >= f1, {c: round(s.f1, 3) for c, s in lab.per_class.items()}
    gen = score_generator(reports, make_omitted, make_negated)
    failures = [(c.id, c.finding, dict(c.why)) for c in gen.cases if not c.ok]
    assert gen.rate() >= all_four, failures[:5]
    assert min(gen.rate(c) for c in ("removed", "kept", "mixed", "inserted")) >= weakest
