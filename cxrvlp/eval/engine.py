"""Lazy access to the text engine (:mod:`cxrvlp.text`) and helpers over its labels.

Every evaluation function that needs the labeler, the negation generator or the prompt templates takes them as
optional keyword arguments; ``None`` means the :mod:`cxrvlp.text` implementation, imported only when needed. Tests
pass small fakes instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

NO_FINDING = "No Finding"


class Labeled(Protocol):
    """What a labeler returns (``cxrvlp.text.LabeledReport``)."""

    labels: dict[str, str]  # class -> "positive" / "negative" / "uncertain"; unmentioned classes absent

    def positives(self) -> list[str]: ...


LabelFn = Callable[[str], Labeled]
NegateFn = Callable[..., str]  # (report, finding, *, seed) -> r^n
OmitFn = Callable[[str, str], str]  # (report, finding) -> r^r
CleanFn = Callable[[str], str]
PromptsFn = Callable[[str], list[str]]


@dataclass(frozen=True)
class TextEngine:
    """The text-engine callables of one evaluation: the labeler and cleaner resolved (and, in ``evaluate``, cached);
    ``None`` for the others means the :mod:`cxrvlp.text` default, resolved by the function that uses it."""

    label: LabelFn
    clean: CleanFn
    negate: NegateFn | None = None
    omit: OmitFn | None = None
    positive: PromptsFn | None = None
    negative: PromptsFn | None = None


def label_fn_or_default(fn: LabelFn | None) -> LabelFn:
    if fn is not None:
        return fn
    from cxrvlp.text import label_report

    return label_report


def negate_fn_or_default(fn: NegateFn | None) -> NegateFn:
    if fn is not None:
        return fn
    from cxrvlp.text import make_negated

    return make_negated


def omit_fn_or_default(fn: OmitFn | None) -> OmitFn:
    if fn is not None:
        return fn
    from cxrvlp.text import make_omitted

    return make_omitted


def clean_fn_or_default(fn: CleanFn | None) -> CleanFn:
    if fn is not None:
        return fn
    from cxrvlp.text import clean_report

    return clean_report


def prompts_or_default(positive: PromptsFn | None, negative: PromptsFn | None) -> tuple[PromptsFn, PromptsFn]:
    if positive is not None and negative is not None:
        return positive, negative
    from cxrvlp.text import prompts

    return positive or prompts.positive_prompts, negative or prompts.negative_prompts


def positive_set(labeled: Labeled) -> frozenset[str]:
    """The report's positive findings, or ``{"No Finding"}`` for a report with none (a normal study)."""
    pos = frozenset(labeled.positives()) - {NO_FINDING}
    return pos or frozenset({NO_FINDING})


def is_normal(labeled: Labeled) -> bool:
    """A report is normal when it has no positive finding and no uncertain one."""
    return not (set(labeled.positives()) - {NO_FINDING}) and not any(
        p == "uncertain" for c, p in labeled.labels.items() if c != NO_FINDING
    )


def call_prompts(fn: PromptsFn, finding: str) -> list[str]:
    """Prompts for ``finding``; a name the templates do not know gives ``[]`` instead of an error."""
    try:
        return list(fn(finding))
    except (KeyError, ValueError):
        return []
