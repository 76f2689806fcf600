"""``evaluate``: run several tasks on one dataset, embedding every image and every distinct text once.

The tasks live in :data:`cxrvlp.eval.tasks.TASK_REGISTRY`, each naming a typed plan (:mod:`cxrvlp.eval.plans`).
Stages (each timed and logged): ``prepare`` (build the plans the requested tasks name, once each: clean and label
reports, CXR-Align cases, prompt sets, every text any task needs), ``embed_images``, ``embed_texts`` (one call over
the de-duplicated texts), then ``metrics:<task>`` for each task, which only index into the two embedding matrices.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from cxrvlp import __version__
from cxrvlp.eval.align import AlignCase
from cxrvlp.eval.bootstrap import DEFAULT_RESAMPLES
from cxrvlp.eval.dataset import EvalItem, open_image
from cxrvlp.eval.embedder import Embedder, embed_images_chunked, embed_texts_checked
from cxrvlp.eval.engine import (
    CleanFn,
    LabelFn,
    NegateFn,
    OmitFn,
    PromptsFn,
    TextEngine,
    clean_fn_or_default,
    label_fn_or_default,
)
from cxrvlp.eval.plans import LabelPlan, PlanContext, RunSettings
from cxrvlp.eval.results import EvalResult, TaskResult
from cxrvlp.eval.tasks import TASK_REGISTRY, Embeddings
from cxrvlp.types import StageProgressFn, UserError

log = logging.getLogger(__name__)

TASKS: tuple[str, ...] = tuple(TASK_REGISTRY.registration_order())
"""Every built-in task name ``evaluate`` accepts, in the order they run (a task registered later runs last)."""

COMPOSE_HINT = (
    "compose reports for a label-only image set first, e.g. "
    "`cxrvlp compose --data ../shared/data/nih_cxr14_sample --out nih_composed.csv`, then evaluate nih_composed.csv "
    "(composed reports are not real reports: say so with the results)"
)


def check_inputs(
    items: Sequence[EvalItem],
    tasks: Sequence[str],
    *,
    align_cases: dict[str, AlignCase] | None = None,
    label_source: str = "auto",
) -> dict[str, str]:
    """What each requested task lacks in the data, before anything is embedded.

    Args:
        items, tasks, align_cases, label_source: as for :func:`evaluate`.

    Returns:
        ``{task: reason}`` for every task in ``tasks`` that cannot run on these inputs (empty = all can).
    """
    with_image = [it for it in items if it.image is not None]
    has_report = any(it.report for it in items)
    has_labels = any(it.labels for it in with_image)
    problems: dict[str, str] = {}
    for task in tasks:
        needs = TASK_REGISTRY.get(task).needs
        if needs == "align_cases" and align_cases:
            continue
        if needs in ("align_cases", "reports") and not has_report:
            problems[task] = "needs report text and no item has any (a label-only manifest?)"
        elif needs == "labels":
            if not with_image:
                problems[task] = "needs images and no item has one"
            elif label_source == "dataset" and not has_labels:
                problems[task] = "needs dataset labels (--label-source dataset) and no item has any"
            elif label_source == "report" and not has_report:
                problems[task] = "needs report text (--label-source report) and no item has any"
            elif label_source == "auto" and not (has_labels or has_report):
                problems[task] = "needs labels or report text and the items have neither"
    return problems


def inputs_error(problems: dict[str, str]) -> str:
    """One message for :func:`check_inputs`' problems, pointing to ``cxrvlp compose`` when reports are missing."""
    text = "; ".join(f"{t}: {why}" for t, why in problems.items())
    if any("report" in why for why in problems.values()):
        text += f". To evaluate report tasks on a label-only manifest, {COMPOSE_HINT}."
    return text


def evaluate(
    embedder: Embedder,
    items: Sequence[EvalItem],
    *,
    tasks: Sequence[str] = TASKS,
    align_cases: dict[str, AlignCase] | None = None,
    label_source: str = "auto",
    ks: Sequence[int] = (1, 5, 10),
    n_abnormal: int = 2999,
    report_pool: Sequence[str] = (),
    n_bootstrap: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    batch_size: int = 32,
    text_batch_size: int = 64,
    on_progress: StageProgressFn | None = None,
    label_fn: LabelFn | None = None,
    negate_fn: NegateFn | None = None,
    omit_fn: OmitFn | None = None,
    clean_fn: CleanFn | None = None,
    positive_fn: PromptsFn | None = None,
    negative_fn: PromptsFn | None = None,
    model_name: str = "",
    dataset_name: str = "",
    controls: bool = True,
    strict: bool = False,
) -> EvalResult:
    """Evaluate ``embedder`` on ``items`` for the given tasks.

    Args:
        embedder: the model (see :class:`cxrvlp.eval.embedder.Embedder`).
        items: the evaluation set.
        tasks: a subset of :data:`TASKS`. ``align`` uses ``align_cases`` or builds them from the items' reports;
            ``textdiag`` summarises the text similarities of the same cases; ``retrieval`` and ``ncd`` need reports;
            ``zeroshot``, ``adversarial`` and ``negprompt`` need labels.
        align_cases: pre-built / loaded CXR-Align cases. A case whose id is an item id uses that item's image,
            otherwise its ``image`` path; cases with neither are skipped.
        label_source: targets of the label tasks: ``"dataset"`` (items' labels, closed world), ``"report"`` (our
            labeler on the reports, CheXpert-14 classes) or ``"auto"`` (dataset when any item has labels).
        ks: top-K values of ``retrieval`` and ``negprompt``.
        n_abnormal: size of the NCD abnormal gallery (sampled with ``seed`` when more are available).
        report_pool: extra report texts for the NCD abnormal gallery (e.g. the Open-I corpus); only the ones our
            labeler finds abnormal are used.
        n_bootstrap: bootstrap resamples for every CI (0 = no CIs).
        seed: seeds case construction and the bootstrap.
        batch_size, text_batch_size: embedding batch sizes.
        on_progress: ``(stage, done, total)`` while embedding.
        label_fn, negate_fn, omit_fn, clean_fn, positive_fn, negative_fn: text-engine callables (None =
            :mod:`cxrvlp.text`).
        model_name, dataset_name: recorded in the result.
        controls: add the grounding controls (``shuffled``, ``other_image_without_finding``, ``text_only``, the
            ``grounding_gap`` s and ``image_sensitivity``) to ``align``, ``zeroshot`` and ``negprompt``. They reuse the
            embeddings already computed (no second image pass); see docs/evaluation.md.
        strict: raise when any requested task lacks its inputs (default: only when none of them can run).

    Returns:
        An :class:`EvalResult`; ``timings`` holds seconds per stage.

    Raises:
        ValueError: for an unknown task or label source, and (before anything is embedded) when the inputs cannot
            feed the requested tasks (see :func:`check_inputs`), with a pointer to ``cxrvlp compose``.
    """
    order = TASK_REGISTRY.registration_order()
    unknown = [t for t in tasks if t not in TASK_REGISTRY]
    if unknown:
        raise UserError(f"unknown task(s) {unknown}; valid tasks: {', '.join(order)}")
    if label_source not in ("auto", "dataset", "report"):
        raise UserError(f"label_source must be 'auto', 'dataset' or 'report', got {label_source!r}")
    tasks = [t for t in order if t in tasks]
    problems = check_inputs(items, tasks, align_cases=align_cases, label_source=label_source)
    if problems and (strict or len(problems) == len(tasks)):
        raise ValueError(inputs_error(problems))
    for t, why in problems.items():
        log.warning("%s: %s; task skipped", t, why)
    tasks = [t for t in tasks if t not in problems]
    timings: dict[str, float] = {}
    t_start = t0 = time.perf_counter()
    ctx = PlanContext(
        items=[it for it in items if it.image is not None],
        tasks=tuple(tasks),
        engine=TextEngine(
            label=functools.cache(label_fn_or_default(label_fn)),
            clean=functools.cache(clean_fn_or_default(clean_fn)),
            negate=negate_fn,
            omit=omit_fn,
            positive=positive_fn,
            negative=negative_fn,
        ),
        settings=RunSettings(seed=seed, n_bootstrap=n_bootstrap, ks=ks, controls=controls),
        label_source=label_source,
        align_cases=align_cases,
        n_abnormal=n_abnormal,
        report_pool=report_pool,
    )
    # Each plan once, in the order of its first task in the registry (so its texts are indexed in a fixed order).
    wanted = {TASK_REGISTRY.get(t).plan for t in tasks}
    plans: dict[Callable[[PlanContext], Any], Any] = {}
    for name in order:
        build = TASK_REGISTRY.get(name).plan
        if build in wanted and build not in plans:
            plans[build] = build(ctx)
    timings["prepare"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    loaders = [it.load_image for it in ctx.items] + [_opener(p) for p in ctx.extra_images]
    needs_images = any(TASK_REGISTRY.get(t).images for t in tasks)
    image_emb = (
        embed_images_chunked(embedder, loaders, batch_size=batch_size, on_progress=_stage(on_progress, "images"))
        if needs_images and loaders
        else torch.zeros(0, 0)
    )
    timings["embed_images"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    texts = list(ctx.texts.index)
    text_emb = embed_texts_checked(
        embedder, texts, batch_size=text_batch_size, on_progress=_stage(on_progress, "texts")
    )
    timings["embed_texts"] = time.perf_counter() - t0
    log.info("embedded %d images and %d distinct texts", len(loaders) if needs_images else 0, len(texts))

    emb = Embeddings(images=image_emb, texts=text_emb, n_items=len(ctx.items))
    results: dict[str, TaskResult] = {}
    for name in tasks:
        t0 = time.perf_counter()
        task = TASK_REGISTRY.get(name)
        result = task.score(plans[task.plan], emb, ctx)
        if result is not None:
            results[name] = result
        timings[f"metrics:{name}"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    log.info("timings (s): %s", ", ".join(f"{k}={v:.3f}" for k, v in timings.items()))
    meta = {
        "seed": seed,
        "n_bootstrap": n_bootstrap,
        "images": len(ctx.items),
        "texts": len(texts),
        "version": __version__,
    }
    label_plan = next((p for p in plans.values() if isinstance(p, LabelPlan)), None)
    if label_plan is not None:
        meta["label_source"] = label_plan.source
    return EvalResult(model=model_name, dataset=dataset_name, tasks=results, timings=timings, meta=meta)


def _opener(path: str) -> Callable[[], object]:
    return lambda: open_image(path)


def _stage(fn: StageProgressFn | None, stage: str) -> Callable[[int, int], None] | None:
    if fn is None:
        return None
    return lambda done, total: fn(stage, done, total)
