"""Typed plans of the evaluation tasks: what each task needs embedded and its targets, built before anything is
embedded.

A plan is built once per :func:`~cxrvlp.eval.runner.evaluate` call and shared by every task that scores it
(``align`` and ``textdiag`` share the CXR-Align cases; ``zeroshot``, ``adversarial`` and ``negprompt`` share the
label matrix and the prompts). Building a plan indexes its texts in :attr:`PlanContext.texts` (each distinct text
once) and its images outside the items in :attr:`PlanContext.extra_images`; the tasks then only index into the two
embedding matrices (see :mod:`cxrvlp.eval.tasks`).
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from cxrvlp.data.compose import chexpert_class
from cxrvlp.eval.align import AlignCase, build_cxr_align
from cxrvlp.eval.dataset import EvalItem
from cxrvlp.eval.engine import Labeled, TextEngine, is_normal, positive_set
from cxrvlp.eval.zeroshot import build_prompt_sets, dataset_label_matrix, report_label_matrix
from cxrvlp.types import CHEXPERT_CLASSES

log = logging.getLogger(__name__)


@dataclass
class TextIndex:
    """De-duplicated texts to embed, in the order first added; ``add`` returns a text's row."""

    index: dict[str, int] = field(default_factory=dict)

    def add(self, text: str) -> int:
        return self.index.setdefault(text, len(self.index))

    def rows(self, texts: Sequence[str]) -> list[int]:
        return [self.add(t) for t in texts]


@dataclass(frozen=True)
class RunSettings:
    """The seed (case construction, samples, controls, bootstrap), bootstrap resamples, top-K values and the
    grounding-controls switch of one ``evaluate`` call."""

    seed: int = 0
    n_bootstrap: int = 0
    ks: Sequence[int] = (1, 5, 10)
    controls: bool = True

    @property
    def boot(self) -> dict[str, int]:
        """The bootstrap keyword arguments of every scorer."""
        return {"n_bootstrap": self.n_bootstrap, "seed": self.seed}


@dataclass
class PlanContext:
    """What planning and scoring share in one ``evaluate`` call (arguments as for
    :func:`~cxrvlp.eval.runner.evaluate`).

    Attributes:
        items: the items with an image; item ``i`` is row ``i`` of the image embeddings.
        tasks: the requested tasks (a plan leaves out work that none of them needs).
        engine: the text engine; its labeler and report cleaner are cached (template reports repeat).
        settings: seed, bootstrap, top-K, controls.
        texts: every text a plan needs, indexed once.
        extra_images: paths of images that are not items (CXR-Align cases loaded from a file); image row
            ``len(items) + j`` is ``extra_images[j]``.
    """

    items: list[EvalItem]
    tasks: tuple[str, ...]
    engine: TextEngine
    settings: RunSettings = field(default_factory=RunSettings)
    label_source: str = "auto"
    align_cases: dict[str, AlignCase] | None = None
    n_abnormal: int = 2999
    report_pool: Sequence[str] = ()
    texts: TextIndex = field(default_factory=TextIndex)
    extra_images: list[str] = field(default_factory=list)

    @functools.cached_property
    def row_of(self) -> dict[str, int]:
        """Item id -> image row."""
        return {it.id: i for i, it in enumerate(self.items)}

    @functools.cached_property
    def reports(self) -> dict[str, tuple[str, Labeled]]:
        """Item id -> (cleaned report, its labels), for the items with a non-empty report, in item order."""
        out = {}
        for it in self.items:
            text = self.engine.clean(it.report).strip() if it.report else ""
            if text:
                out[it.id] = (text, self.engine.label(text))
        return out


@dataclass(frozen=True)
class AlignPlan:
    """CXR-Align cases with an image (``align``, ``textdiag``).

    Attributes:
        cases: the cases kept.
        image_rows: each case's image row (an item's row, or ``len(items) + j`` for an extra image).
        text_rows: each case's ``(report, negation, omitted)`` text rows.
        findings: known findings of every image row (None = unknown), for the ``other_image_without_finding``
            control; None when the ``align`` controls are off or not requested.
    """

    cases: list[AlignCase]
    image_rows: list[int]
    text_rows: list[tuple[int, int, int]]
    findings: list[frozenset[str] | None] | None


@dataclass(frozen=True)
class LabelPlan:
    """Targets and prompts of the label tasks (``zeroshot``, ``adversarial``, ``negprompt``).

    Attributes:
        source: ``"dataset"`` or ``"report"`` (``auto`` resolved).
        classes: findings with both prompt sets.
        y: ``[N, C]`` int8 targets of the items (1 / 0, -1 = unknown).
        pos, neg: per class, the text rows of its positive / negative prompts.
    """

    source: str
    classes: list[str]
    y: np.ndarray
    pos: list[list[int]]
    neg: list[list[int]]


@dataclass(frozen=True)
class RetrievalPlan:
    """Image -> report retrieval: ``query`` image rows, the distinct reports as gallery, each query's target."""

    query: list[int]
    gallery_rows: list[int]
    target: np.ndarray
    gallery_labels: list[frozenset[str]]


@dataclass(frozen=True)
class NcdPlan:
    """Normal-case detection: images with a normal report, their reports and the abnormal gallery's text rows."""

    query: list[int]
    normal_rows: list[int]
    abnormal_rows: list[int]


def plan_align(ctx: PlanContext) -> AlignPlan:
    """The given CXR-Align cases, or cases built from the items' reports; cases without an image are dropped."""
    cases, e = ctx.align_cases, ctx.engine
    if cases is None:
        cases = build_cxr_align(
            ctx.items, seed=ctx.settings.seed, label_fn=e.label, negate_fn=e.negate, omit_fn=e.omit, clean_fn=e.clean
        )
    n_items = len(ctx.items)
    rows, kept = [], []
    for c in cases.values():
        if c.case_id in ctx.row_of:
            rows.append(ctx.row_of[c.case_id])
        elif c.image is not None:
            rows.append(n_items + len(ctx.extra_images))
            ctx.extra_images.append(c.image)
        else:
            continue
        kept.append(c)
    if len(kept) < len(cases):
        log.warning("align: %d of %d cases have no image and are skipped", len(cases) - len(kept), len(cases))
    text_rows = [tuple(ctx.texts.rows([c.report, c.negation, c.omitted])) for c in kept]
    findings = None
    if ctx.settings.controls and "align" in ctx.tasks:
        extra_cases = [c for c, row in zip(kept, rows, strict=True) if row >= n_items]
        findings = [_item_findings(it, e.label, e.clean) for it in ctx.items] + [
            _report_findings(c.report, e.label) for c in extra_cases
        ]
    return AlignPlan(cases=kept, image_rows=rows, text_rows=text_rows, findings=findings)


def plan_labels(ctx: PlanContext) -> LabelPlan:
    """Targets from the dataset labels (closed world: the labels present) or from our labeler on the reports
    (CheXpert-14), and each finding's prompt sets."""
    source = ctx.label_source
    if source == "auto":
        source = "dataset" if any(it.labels for it in ctx.items) else "report"
    classes = sorted({lab for it in ctx.items for lab in it.labels}) if source == "dataset" else list(CHEXPERT_CLASSES)
    prompt_sets = build_prompt_sets(classes, positive_fn=ctx.engine.positive, negative_fn=ctx.engine.negative)
    classes = list(prompt_sets)
    if source == "dataset":
        y = dataset_label_matrix([it.labels for it in ctx.items], classes)
    else:
        has = [it.id in ctx.reports for it in ctx.items]
        y = np.full((len(ctx.items), len(classes)), -1, dtype=np.int8)
        if any(has):
            y[np.array(has)] = report_label_matrix([labeled for _, labeled in ctx.reports.values()], classes)
    return LabelPlan(
        source=source,
        classes=classes,
        y=y,
        pos=[ctx.texts.rows(prompt_sets[c].positive) for c in classes],
        neg=[ctx.texts.rows(prompt_sets[c].negative) for c in classes],
    )


def plan_retrieval(ctx: PlanContext) -> RetrievalPlan:
    """Every image with a report queries the gallery of distinct cleaned reports; its own report is the target."""
    cleaned = {i: text for i, (text, _) in ctx.reports.items()}
    gallery = list(dict.fromkeys(cleaned.values()))
    where = {g: j for j, g in enumerate(gallery)}
    return RetrievalPlan(
        query=[ctx.row_of[i] for i in cleaned],
        gallery_rows=ctx.texts.rows(gallery),
        target=np.array([where[t] for t in cleaned.values()], dtype=np.int64),
        gallery_labels=[positive_set(ctx.engine.label(g)) for g in gallery],
    )


def plan_ncd(ctx: PlanContext) -> NcdPlan:
    """Images with a normal report against their report and up to ``n_abnormal`` abnormal reports (the items' and
    the pool's, seeded sample)."""
    normal = [i for i, (_, labeled) in ctx.reports.items() if is_normal(labeled)]
    abnormal = [text for text, labeled in ctx.reports.values() if not is_normal(labeled)]
    for r in ctx.report_pool:
        text = ctx.engine.clean(r).strip()
        if text and not is_normal(ctx.engine.label(text)):
            abnormal.append(text)
    abnormal = list(dict.fromkeys(abnormal))
    if len(abnormal) > ctx.n_abnormal:
        abnormal = random.Random(ctx.settings.seed).sample(abnormal, ctx.n_abnormal)
    return NcdPlan(
        query=[ctx.row_of[i] for i in normal],
        normal_rows=ctx.texts.rows([ctx.reports[i][0] for i in normal]),
        abnormal_rows=ctx.texts.rows(abnormal),
    )


def _report_findings(report: str | None, label: Callable[[str], Labeled]) -> frozenset[str] | None:
    """Findings a report asserts or leaves uncertain (our labeler); None without a report."""
    if not report:
        return None
    labs = label(report).labels
    return frozenset(c for c, p in labs.items() if p in ("positive", "uncertain") and c != "No Finding")


def _item_findings(
    item: EvalItem, label: Callable[[str], Labeled], clean: Callable[[str], str]
) -> frozenset[str] | None:
    """An image's known findings: its report's (as the CXR-Align builder labels it) and its dataset labels, NIH
    names also under the CheXpert class they map to; None when the item has neither (unknown)."""
    text = clean(item.report).strip() if item.report else ""
    found = set(_report_findings(text, label) or ()) if text else set()
    for lab in item.labels:
        if lab == "No Finding":
            continue
        found.add(lab)
        mapped = chexpert_class(lab)
        if mapped:
            found.add(mapped)
    if not text and not item.labels:
        return None
    return frozenset(found)
