"""The evaluation tasks, in a :class:`~cxrvlp.registry.Registry`: each names the plan it scores
(:mod:`cxrvlp.eval.plans`), what it needs from the data, and its scorer over the embeddings.

:func:`~cxrvlp.eval.runner.evaluate` checks the data against ``needs``, builds each plan the requested tasks name
once, embeds every image and distinct text once, then calls each task's ``score``. A new task is one
``TASK_REGISTRY.add(name, Task(...))``; it runs after the tasks registered before it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import numpy as np
import torch

from cxrvlp.eval.adversarial import adversarial_pairs, score_adversarial
from cxrvlp.eval.align import align_scores, score_align
from cxrvlp.eval.bootstrap import derangement
from cxrvlp.eval.negprompt import score_negated_prompt_retrieval
from cxrvlp.eval.plans import (
    AlignPlan,
    LabelPlan,
    NcdPlan,
    PlanContext,
    RetrievalPlan,
    plan_align,
    plan_labels,
    plan_ncd,
    plan_retrieval,
)
from cxrvlp.eval.results import TaskResult
from cxrvlp.eval.retrieval import score_normal_case_detection, score_report_retrieval
from cxrvlp.eval.textdiag import score_text_diagnostics
from cxrvlp.eval.zeroshot import class_scores, ensemble, score_zeroshot
from cxrvlp.registry import Registry

log = logging.getLogger(__name__)

P = TypeVar("P")

Needs = Literal["align_cases", "reports", "labels"]
"""What a task asks of the data: ``align_cases`` (given CXR-Align cases, or reports to build them from),
``reports`` (report text) or ``labels`` (images with dataset labels or reports, as ``label_source`` says)."""


@dataclass(frozen=True)
class Embeddings:
    """The two embedding matrices of one ``evaluate`` call.

    Attributes:
        images: ``[N + E, D]``: the items' images, then the extra images (``[0, 0]`` when no task reads images).
        texts: ``[T, D]``: every distinct text, rows as in :attr:`PlanContext.texts`.
        n_items: ``N``.
    """

    images: torch.Tensor
    texts: torch.Tensor
    n_items: int


@dataclass(frozen=True)
class Task(Generic[P]):
    """One evaluation task.

    Attributes:
        plan: builds the task's plan; tasks naming the same builder share one plan.
        score: ``(plan, embeddings, context) -> result``, or None (logged) when the plan leaves nothing to score.
        needs: what the task asks of the data (see :data:`Needs`), checked before anything is embedded.
        images: whether it reads image embeddings (a run of image-free tasks embeds no image).
    """

    plan: Callable[[PlanContext], P]
    score: Callable[[P, Embeddings, PlanContext], TaskResult | None]
    needs: Needs
    images: bool = True


TASK_REGISTRY: Registry[Task[Any]] = Registry("evaluation task")
"""Every task ``evaluate`` runs, in registration order (the order they run)."""


def _score_align(plan: AlignPlan, emb: Embeddings, ctx: PlanContext) -> TaskResult | None:
    if not plan.cases:
        log.warning("align: no cases, task skipped")
        return None
    r, n, o = _case_texts(plan, emb)
    sims = align_scores(emb.images[plan.image_rows], r, n, o)
    chosen = [c.chosen for c in plan.cases]
    controls = None
    if ctx.settings.controls:
        controls = align_controls(emb.images, plan.image_rows, chosen, plan.findings, r, n, o, ctx.settings.seed)
    return score_align(sims, chosen, controls=controls, **ctx.settings.boot)


def _score_textdiag(plan: AlignPlan, emb: Embeddings, ctx: PlanContext) -> TaskResult | None:
    if not plan.cases:
        log.warning("textdiag: no cases, task skipped")
        return None
    return score_text_diagnostics(*_case_texts(plan, emb), **ctx.settings.boot)


def _case_texts(plan: AlignPlan, emb: Embeddings) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``[N, D]`` embeddings of the cases' reports, negations and omissions."""
    t = torch.tensor(plan.text_rows, dtype=torch.long)  # (N, 3)
    return emb.texts[t[:, 0]], emb.texts[t[:, 1]], emb.texts[t[:, 2]]


LabelScorer = Callable[[LabelPlan, torch.Tensor, Embeddings, PlanContext], TaskResult]
"""``(plan, [N, D] item image embeddings, embeddings, context) -> result`` of a label task."""


def _label_task(name: str, scorer: LabelScorer, *, records_source: bool = True) -> Task[LabelPlan]:
    """A task over :class:`LabelPlan`: skipped (logged) without findings or images; ``records_source`` puts the
    plan's label source in the result's ``info``."""

    def score(plan: LabelPlan, emb: Embeddings, ctx: PlanContext) -> TaskResult | None:
        if not plan.classes or emb.n_items == 0:
            log.warning("%s: no findings with prompts or no images, task skipped", name)
            return None
        result = scorer(plan, emb.images[: emb.n_items], emb, ctx)
        if records_source:
            result.info["label_source"] = plan.source
        return result

    return Task(plan_labels, score, needs="labels")


def _prompt_embeddings(plan: LabelPlan, emb: Embeddings) -> tuple[torch.Tensor, torch.Tensor]:
    """``[C, D]`` each class's ensembled positive and negative prompt embeddings."""
    pos = torch.stack([ensemble(emb.texts[rs]) for rs in plan.pos])
    neg = torch.stack([ensemble(emb.texts[rs]) for rs in plan.neg])
    return pos, neg


def _score_zeroshot(plan: LabelPlan, images: torch.Tensor, emb: Embeddings, ctx: PlanContext) -> TaskResult:
    pos, neg = _prompt_embeddings(plan, emb)
    scores = class_scores(images, pos, neg)  # (N, C)
    n = emb.n_items
    controls = None
    if ctx.settings.controls and n >= 2:
        controls = {
            "shuffled": scores[derangement(n, ctx.settings.seed)],
            "text_only": np.repeat(class_scores(_mean_image(images), pos, neg), n, axis=0),
        }
    return score_zeroshot(scores, plan.y, plan.classes, controls=controls, **ctx.settings.boot)


def _score_adversarial(plan: LabelPlan, images: torch.Tensor, emb: Embeddings, ctx: PlanContext) -> TaskResult:
    scores = class_scores(images, *_prompt_embeddings(plan, emb))  # (N, C)
    pairs = adversarial_pairs(plan.y, plan.classes, [it.id for it in ctx.items], seed=ctx.settings.seed)
    return score_adversarial(scores, pairs, plan.classes, **ctx.settings.boot)


def _score_negprompt(plan: LabelPlan, images: torch.Tensor, emb: Embeddings, ctx: PlanContext) -> TaskResult:
    groups = (plan.pos, plan.neg)
    rows = [r for group in groups for rs in group for r in rs]
    classes = [c for group in groups for c, rs in enumerate(group) for _ in rs]
    negated = [False] * sum(map(len, plan.pos)) + [True] * sum(map(len, plan.neg))
    n = emb.n_items
    shuffled = images[derangement(n, ctx.settings.seed)] if ctx.settings.controls and n >= 2 else None
    return score_negated_prompt_retrieval(
        images,
        emb.texts[rows],
        classes,
        negated,
        plan.y,
        plan.classes,
        ks=ctx.settings.ks,
        shuffled_images=shuffled,
        **ctx.settings.boot,
    )


def _score_retrieval(plan: RetrievalPlan, emb: Embeddings, ctx: PlanContext) -> TaskResult | None:
    if not plan.query:
        log.warning("retrieval: no items with reports, task skipped")
        return None
    return score_report_retrieval(
        emb.images[plan.query],
        emb.texts[plan.gallery_rows],
        plan.target,
        plan.gallery_labels,
        ks=ctx.settings.ks,
        **ctx.settings.boot,
    )


def _score_ncd(plan: NcdPlan, emb: Embeddings, ctx: PlanContext) -> TaskResult | None:
    if not plan.query or not plan.abnormal_rows:
        log.warning(
            "ncd: needs normal reports and abnormal reports, found %d / %d; task skipped",
            len(plan.query),
            len(plan.abnormal_rows),
        )
        return None
    return score_normal_case_detection(
        emb.images[plan.query], emb.texts[plan.normal_rows], emb.texts[plan.abnormal_rows], **ctx.settings.boot
    )


TASK_REGISTRY.add("align", Task(plan_align, _score_align, needs="align_cases"))
TASK_REGISTRY.add("zeroshot", _label_task("zeroshot", _score_zeroshot))
TASK_REGISTRY.add("retrieval", Task(plan_retrieval, _score_retrieval, needs="reports"))
TASK_REGISTRY.add("adversarial", _label_task("adversarial", _score_adversarial))
TASK_REGISTRY.add("ncd", Task(plan_ncd, _score_ncd, needs="reports"))
TASK_REGISTRY.add("negprompt", _label_task("negprompt", _score_negprompt, records_source=False))
TASK_REGISTRY.add("textdiag", Task(plan_align, _score_textdiag, needs="align_cases", images=False))


def align_controls(
    image_emb: torch.Tensor,
    rows: Sequence[int],
    chosen: Sequence[str],
    findings: Sequence[frozenset[str] | None] | None,
    r: torch.Tensor,
    n: torch.Tensor,
    o: torch.Tensor,
    seed: int,
) -> dict[str, np.ndarray] | None:
    """``[N, 3]`` similarities of each case's texts with its control images (no new embedding).

    ``shuffled``: image ``perm[row]`` for a seeded derangement of all the split's images; ``text_only``: the mean
    image embedding of the split; ``other_image_without_finding``: a seeded random image of the split whose known
    findings (``findings[row]``; None = unknown) lack the case's chosen finding (NaN row where there is none).
    """
    total = image_emb.shape[0]
    if total < 2:
        log.warning("align: controls need at least 2 images; none computed")
        return None
    rows_t = torch.as_tensor(list(rows), dtype=torch.long)
    perm = torch.from_numpy(derangement(total, seed))
    out = {"shuffled": align_scores(image_emb[perm[rows_t]], r, n, o)}
    if findings is not None:
        rng = np.random.default_rng(seed + 1)
        lacking: dict[str, np.ndarray] = {}
        other = np.full(len(rows), -1, dtype=np.int64)
        for i, (row, f) in enumerate(zip(rows, chosen, strict=True)):
            if f not in lacking:
                lacking[f] = np.array([j for j, fs in enumerate(findings) if fs is not None and f not in fs])
            cand = lacking[f]
            cand = cand[cand != row]
            if len(cand):
                other[i] = cand[rng.integers(len(cand))]
        if (other >= 0).any():
            sims = np.full((len(rows), 3), np.nan)
            has = np.flatnonzero(other >= 0)
            sims[has] = align_scores(image_emb[torch.from_numpy(other[has])], r[has], n[has], o[has])
            out["other_image_without_finding"] = sims
        else:
            log.info("align: no image of the split lacks the chosen findings; no without-finding control")
    mean_image = _mean_image(image_emb)
    out["text_only"] = align_scores(mean_image.expand(len(rows), -1), r, n, o)
    return out


def _mean_image(embeddings: torch.Tensor) -> torch.Tensor:
    """``[1, D]`` the split's mean image embedding, L2-normalised: the ``text_only`` control (no image evidence)."""
    return torch.nn.functional.normalize(embeddings.float().mean(dim=0, keepdim=True), dim=1)
