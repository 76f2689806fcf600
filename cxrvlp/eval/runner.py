"""``evaluate``: run several tasks on one dataset, embedding every image and every distinct text once.

Stages (each timed and logged): ``prepare`` (clean and label reports, build CXR-Align cases and prompt sets,
collect every text any task needs), ``embed_images``, ``embed_texts`` (one call over the de-duplicated texts), then
``metrics:<task>`` for each task, which only index into the two embedding matrices.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from cxrvlp import __version__
from cxrvlp.data.compose import chexpert_class
from cxrvlp.eval.adversarial import adversarial_pairs, score_adversarial
from cxrvlp.eval.align import AlignCase, align_scores, build_cxr_align, score_align
from cxrvlp.eval.bootstrap import DEFAULT_RESAMPLES, derangement
from cxrvlp.eval.dataset import EvalItem, open_image
from cxrvlp.eval.embedder import Embedder, embed_images_chunked, embed_texts_checked
from cxrvlp.eval.engine import (
    CleanFn,
    Labeled,
    LabelFn,
    NegateFn,
    OmitFn,
    PromptsFn,
    clean_fn_or_default,
    is_normal,
    label_fn_or_default,
    positive_set,
)
from cxrvlp.eval.negprompt import score_negated_prompt_retrieval
from cxrvlp.eval.results import EvalResult, TaskResult
from cxrvlp.eval.retrieval import score_normal_case_detection, score_report_retrieval
from cxrvlp.eval.textdiag import score_text_diagnostics
from cxrvlp.eval.zeroshot import (
    build_prompt_sets,
    class_scores,
    dataset_label_matrix,
    ensemble,
    report_label_matrix,
    score_zeroshot,
)
from cxrvlp.types import CHEXPERT_CLASSES, StageProgressFn, UserError

log = logging.getLogger(__name__)

TASKS: tuple[str, ...] = ("align", "zeroshot", "retrieval", "adversarial", "ncd", "negprompt", "textdiag")
"""Every task name ``evaluate`` accepts, in the order they run."""

"""``on_progress(stage, done, total)``."""

_LABEL_TASKS = {"zeroshot", "adversarial", "negprompt"}
_REPORT_TASKS = ("align", "textdiag", "retrieval", "ncd")

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
        if task in ("align", "textdiag") and align_cases:
            continue
        if task in _REPORT_TASKS and not has_report:
            problems[task] = "needs report text and no item has any (a label-only manifest?)"
        elif task in _LABEL_TASKS:
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


@dataclass
class _Texts:
    """De-duplicated texts to embed; ``add`` returns a text's row."""

    index: dict[str, int] = field(default_factory=dict)

    def add(self, text: str) -> int:
        return self.index.setdefault(text, len(self.index))

    def rows(self, texts: Sequence[str]) -> list[int]:
        return [self.add(t) for t in texts]


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
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise UserError(f"unknown task(s) {unknown}; valid tasks: {', '.join(TASKS)}")
    if label_source not in ("auto", "dataset", "report"):
        raise UserError(f"label_source must be 'auto', 'dataset' or 'report', got {label_source!r}")
    tasks = [t for t in TASKS if t in tasks]
    problems = check_inputs(items, tasks, align_cases=align_cases, label_source=label_source)
    if problems and (strict or len(problems) == len(tasks)):
        raise ValueError(inputs_error(problems))
    for t, why in problems.items():
        log.warning("%s: %s; task skipped", t, why)
    timings: dict[str, float] = {}
    t_start = t0 = time.perf_counter()
    texts = _Texts()
    image_items = [it for it in items if it.image is not None]
    row_of = {it.id: i for i, it in enumerate(image_items)}
    extra_images: list[str] = []  # align case images that are not items
    plans: dict[str, dict] = {}

    # Each distinct report is cleaned and labelled once, here and in build_cxr_align (template reports repeat).
    label = functools.cache(label_fn_or_default(label_fn))
    clean = functools.cache(clean_fn_or_default(clean_fn))
    labeled: dict[str, Labeled] = {}  # item id -> labels of its cleaned report
    cleaned: dict[str, str] = {}  # item id -> cleaned report
    if {"retrieval", "ncd"} & set(tasks) or (label_source == "report" and _LABEL_TASKS & set(tasks)):
        for it in image_items:
            text = clean(it.report).strip() if it.report else ""
            if text:
                cleaned[it.id] = text
                labeled[it.id] = label(text)

    if "align" in tasks or "textdiag" in tasks:
        cases = align_cases
        if cases is None:
            cases = build_cxr_align(
                items, seed=seed, label_fn=label, negate_fn=negate_fn, omit_fn=omit_fn, clean_fn=clean
            )
        rows, kept = [], []
        for c in cases.values():
            if c.case_id in row_of:
                rows.append(("item", row_of[c.case_id]))
            elif c.image is not None:
                rows.append(("extra", len(extra_images)))
                extra_images.append(c.image)
            else:
                continue
            kept.append(c)
        if len(kept) < len(cases):
            log.warning("align: %d of %d cases have no image and are skipped", len(cases) - len(kept), len(cases))
        plans["align"] = {
            "cases": kept,
            "image_rows": rows,
            "text_rows": [texts.rows([c.report, c.negation, c.omitted]) for c in kept],
        }
        if controls and "align" in tasks:
            extra_cases = [c for c, (kind, _) in zip(kept, rows, strict=True) if kind == "extra"]
            plans["align"]["findings"] = [_item_findings(it, label, clean) for it in image_items] + [
                _report_findings(c.report, label) for c in extra_cases
            ]

    if _LABEL_TASKS & set(tasks):
        source = label_source
        if source == "auto":
            source = "dataset" if any(it.labels for it in image_items) else "report"
        if source == "dataset":
            classes = sorted({lab for it in image_items for lab in it.labels})
        else:
            classes = list(CHEXPERT_CLASSES)
        prompt_sets = build_prompt_sets(classes, positive_fn=positive_fn, negative_fn=negative_fn)
        classes = list(prompt_sets)
        if source == "dataset":
            y = dataset_label_matrix([it.labels for it in image_items], classes)
        else:
            has = [it.id in labeled for it in image_items]
            y = np.full((len(image_items), len(classes)), -1, dtype=np.int8)
            if any(has):
                y[np.array(has)] = report_label_matrix(
                    [labeled[it.id] for it in image_items if it.id in labeled], classes
                )
        plans["labels"] = {
            "source": source,
            "classes": classes,
            "y": y,
            "pos": [texts.rows(prompt_sets[c].positive) for c in classes],
            "neg": [texts.rows(prompt_sets[c].negative) for c in classes],
        }

    if "retrieval" in tasks:
        query = [row_of[i] for i in cleaned]
        gallery = list(dict.fromkeys(cleaned.values()))
        gallery_labels = [positive_set(label(g)) for g in gallery]
        where = {g: j for j, g in enumerate(gallery)}
        plans["retrieval"] = {
            "query": query,
            "gallery_rows": texts.rows(gallery),
            "target": np.array([where[t] for t in cleaned.values()], dtype=np.int64),
            "gallery_labels": gallery_labels,
        }

    if "ncd" in tasks:
        normal = [i for i in cleaned if is_normal(labeled[i])]
        abnormal = [cleaned[i] for i in cleaned if not is_normal(labeled[i])]
        if report_pool:
            for r in report_pool:
                text = clean(r).strip()
                if text and not is_normal(label(text)):
                    abnormal.append(text)
        abnormal = list(dict.fromkeys(abnormal))
        if len(abnormal) > n_abnormal:
            abnormal = random.Random(seed).sample(abnormal, n_abnormal)
        plans["ncd"] = {
            "query": [row_of[i] for i in normal],
            "normal_rows": texts.rows([cleaned[i] for i in normal]),
            "abnormal_rows": texts.rows(abnormal),
        }
    timings["prepare"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    loaders = [it.load_image for it in image_items] + [_opener(p) for p in extra_images]
    needs_images = any(t != "textdiag" for t in tasks)
    image_emb = (
        embed_images_chunked(embedder, loaders, batch_size=batch_size, on_progress=_stage(on_progress, "images"))
        if needs_images and loaders
        else torch.zeros(0, 0)
    )
    timings["embed_images"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    text_emb = embed_texts_checked(
        embedder, list(texts.index), batch_size=text_batch_size, on_progress=_stage(on_progress, "texts")
    )
    timings["embed_texts"] = time.perf_counter() - t0
    log.info("embedded %d images and %d distinct texts", len(loaders) if needs_images else 0, len(texts.index))

    n_items = len(image_items)
    results: dict[str, TaskResult] = {}
    for task in tasks:
        t0 = time.perf_counter()
        result = _run_task(
            task,
            plans,
            image_emb,
            text_emb,
            n_items,
            items=image_items,
            ks=ks,
            n_bootstrap=n_bootstrap,
            seed=seed,
            controls=controls,
        )
        if result is not None:
            results[task] = result
        timings[f"metrics:{task}"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    log.info("timings (s): %s", ", ".join(f"{k}={v:.3f}" for k, v in timings.items()))
    meta = {
        "seed": seed,
        "n_bootstrap": n_bootstrap,
        "images": n_items,
        "texts": len(texts.index),
        "version": __version__,
    }
    if "labels" in plans:
        meta["label_source"] = plans["labels"]["source"]
    return EvalResult(model=model_name, dataset=dataset_name, tasks=results, timings=timings, meta=meta)


def _run_task(
    task: str,
    plans: dict[str, dict],
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    n_items: int,
    *,
    items: Sequence[EvalItem],
    ks: Sequence[int],
    n_bootstrap: int,
    seed: int,
    controls: bool = True,
) -> TaskResult | None:
    boot = {"n_bootstrap": n_bootstrap, "seed": seed}
    if task in ("align", "textdiag"):
        plan = plans["align"]
        if not plan["cases"]:
            log.warning("%s: no cases, task skipped", task)
            return None
        t = torch.tensor(plan["text_rows"], dtype=torch.long)  # (N, 3)
        r, n, o = text_emb[t[:, 0]], text_emb[t[:, 1]], text_emb[t[:, 2]]
        if task == "textdiag":
            return score_text_diagnostics(r, n, o, **boot)
        rows = [i if kind == "item" else n_items + i for kind, i in plan["image_rows"]]
        sims = align_scores(image_emb[rows], r, n, o)
        findings = [c.chosen for c in plan["cases"]]
        ctrl = _align_controls(image_emb, rows, findings, plan.get("findings"), r, n, o, seed) if controls else None
        return score_align(sims, findings, controls=ctrl, **boot)
    if task in _LABEL_TASKS:
        plan = plans["labels"]
        if not plan["classes"] or n_items == 0:
            log.warning("%s: no findings with prompts or no images, task skipped", task)
            return None
        images = image_emb[:n_items]
        if task == "negprompt":
            rows = [r for group in (plan["pos"], plan["neg"]) for rs in group for r in rs]
            cls = [c for group in (plan["pos"], plan["neg"]) for c, rs in enumerate(group) for _ in rs]
            negated = [False] * sum(map(len, plan["pos"])) + [True] * sum(map(len, plan["neg"]))
            shuffled = images[derangement(n_items, seed)] if controls and n_items >= 2 else None
            return score_negated_prompt_retrieval(
                images,
                text_emb[rows],
                cls,
                negated,
                plan["y"],
                plan["classes"],
                ks=ks,
                shuffled_images=shuffled,
                **boot,
            )
        pos = torch.stack([ensemble(text_emb[rs]) for rs in plan["pos"]])  # (C, D)
        neg = torch.stack([ensemble(text_emb[rs]) for rs in plan["neg"]])  # (C, D)
        scores = class_scores(images, pos, neg)  # (N, C)
        if task == "zeroshot":
            ctrl = None
            if controls and n_items >= 2:
                mean_image = _mean_image(images)
                ctrl = {
                    "shuffled": scores[derangement(n_items, seed)],
                    "text_only": np.repeat(class_scores(mean_image, pos, neg), n_items, axis=0),
                }
            result = score_zeroshot(scores, plan["y"], plan["classes"], controls=ctrl, **boot)
        else:
            pairs = adversarial_pairs(plan["y"], plan["classes"], [it.id for it in items], seed=seed)
            result = score_adversarial(scores, pairs, plan["classes"], **boot)
        result.info["label_source"] = plan["source"]
        return result
    if task == "retrieval":
        plan = plans["retrieval"]
        if not plan["query"]:
            log.warning("retrieval: no items with reports, task skipped")
            return None
        return score_report_retrieval(
            image_emb[plan["query"]],
            text_emb[plan["gallery_rows"]],
            plan["target"],
            plan["gallery_labels"],
            ks=ks,
            **boot,
        )
    plan = plans["ncd"]
    if not plan["query"] or not plan["abnormal_rows"]:
        log.warning(
            "ncd: needs normal reports and abnormal reports, found %d / %d; task skipped",
            len(plan["query"]),
            len(plan["abnormal_rows"]),
        )
        return None
    return score_normal_case_detection(
        image_emb[plan["query"]], text_emb[plan["normal_rows"]], text_emb[plan["abnormal_rows"]], **boot
    )


def _align_controls(
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


def _mean_image(embeddings: torch.Tensor) -> torch.Tensor:
    """``[1, D]`` the split's mean image embedding, L2-normalised: the ``text_only`` control (no image evidence)."""
    return torch.nn.functional.normalize(embeddings.float().mean(dim=0, keepdim=True), dim=1)


def _opener(path: str) -> Callable[[], object]:
    return lambda: open_image(path)


def _stage(fn: StageProgressFn | None, stage: str) -> Callable[[int, int], None] | None:
    if fn is None:
        return None
    return lambda done, total: fn(stage, done, total)
