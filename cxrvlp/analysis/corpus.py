"""Report corpora for the analyses: the Open-I texts, seeded samples, CSV columns and report / r^n pairs.

Shared by the ``cxrvlp project | heads | softlabels`` commands, the app's pages and the benchmarks (no Streamlit
here).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cxrvlp.types import UserError

if TYPE_CHECKING:
    import pandas as pd

REPORT_COLUMNS: tuple[str, ...] = ("report", "text")
"""CSV columns that hold the reports, in order of preference."""


def openi_texts() -> list[str]:
    """The non-empty Open-I report texts (``FINDINGS: ... IMPRESSION: ...``) from the torchxrayvision wheel."""
    from cxrvlp.data.openi import load_openi_reports

    return [r.text for r in load_openi_reports() if r.text.strip()]


def sample_reports(reports: Sequence[str], n: int, seed: int) -> list[str]:
    """``n`` of ``reports`` drawn with ``random.Random(seed)`` (all of them, in order, when ``n`` exceeds them)."""
    return list(reports) if n >= len(reports) else random.Random(seed).sample(list(reports), n)


def csv_reports(df: pd.DataFrame) -> list[str] | None:
    """The non-empty texts of the first of :data:`REPORT_COLUMNS` in ``df``; None when it has neither column."""
    column = next((c for c in REPORT_COLUMNS if c in df.columns), None)
    if column is None:
        return None
    return [str(t) for t in df[column].dropna() if str(t).strip()]


def negation_pairs(reports: list[str], *, pairs: int, seed: int) -> tuple[list[str], list[str]]:
    """Up to ``pairs`` (report, r^n) pairs, one seeded positive finding negated per report."""
    import random

    from cxrvlp.text import label_report, make_negated

    rng = random.Random(seed)
    originals, negated = [], []
    for report in reports:
        positives = label_report(report).positives()
        if positives:
            originals.append(report)
            negated.append(make_negated(report, rng.choice(positives), seed=seed))
        if len(originals) == pairs:
            break
    if not originals:
        raise UserError("none of the reports has a positive finding to negate")
    return originals, negated
