"""CXR-Align (Ko & Park Sec. 3, Table 6): build the benchmark from any image+report data, load it, score it.

Each case is an image ``I`` with its report ``r``, the report with one present finding negated ``r^n`` and the report
with that finding's sentence removed ``r^r``. Task A asks whether ``sim(I, r) > sim(I, r^n)``, Task B whether
``sim(I, r) > sim(I, r^r)``; the 3-way choice asks whether ``r`` beats both. Similarities are dot products of
L2-normalised embeddings (cosine). A tie counts as half right in Tasks A/B and ``1/k`` in the 3-way choice when
``r`` shares the maximum with ``k - 1`` others, so a model that gives every text the same score scores exactly
50% / 50% / 33.3% — chance.

File format, the published benchmark's shape plus an optional image reference::

    {"<case_id>": {"chosen": "Pleural Effusion", "report": "...", "negation": "...", "omitted": "...",
                   "image": "images/x.jpg"}}

``image`` is relative to the JSON file's folder (or to ``image_root`` when loading). The official file (PhysioNet,
credentialed) has no ``image`` key: pass ``image_root`` and the loader looks for ``<image_root>/<case_id>``, then
with ``.jpg`` / ``.png`` appended.
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cxrvlp.eval.bootstrap import (
    DEFAULT_RESAMPLES,
    auroc,
    masked_mean_metrics,
    mean_metrics,
    metric,
    resample_weights,
    weighted_auroc,
)
from cxrvlp.eval.dataset import EvalItem
from cxrvlp.eval.engine import (
    CleanFn,
    LabelFn,
    NegateFn,
    OmitFn,
    clean_fn_or_default,
    label_fn_or_default,
    negate_fn_or_default,
    omit_fn_or_default,
)
from cxrvlp.eval.results import Metric, TaskResult
from cxrvlp.types import UserError

log = logging.getLogger(__name__)

VARIANTS: tuple[str, ...] = ("report", "negation", "omitted")

CONTROLS: tuple[str, ...] = ("shuffled", "other_image_without_finding", "text_only")
"""Grounding controls: the same cases scored against another image of the split (a seeded derangement), against
an image whose labels lack the chosen finding, and against the mean image embedding of the split (no image)."""

_ACCURACIES: tuple[str, ...] = ("task_a", "task_b", "three_way")


@dataclass(frozen=True)
class AlignCase:
    """One CXR-Align case.

    Attributes:
        case_id: the key in the JSON file (our builder uses the item id).
        chosen: the positive finding that was negated / omitted.
        report: r, the (cleaned) original report.
        negation: r^n, the report with ``chosen`` negated.
        omitted: r^r, the report with ``chosen``'s sentence removed.
        image: path of the image (absolute after loading), or None when unknown.
    """

    case_id: str
    chosen: str
    report: str
    negation: str
    omitted: str
    image: str | None = None


def build_cxr_align(
    items: Iterable[EvalItem],
    *,
    seed: int = 0,
    label_fn: LabelFn | None = None,
    negate_fn: NegateFn | None = None,
    omit_fn: OmitFn | None = None,
    clean_fn: CleanFn | None = None,
) -> dict[str, AlignCase]:
    """Turn image+report items into CXR-Align cases.

    Per item with a report: the report is cleaned (sections, temporal statements), labelled, and skipped when it has
    no positive finding (normal studies are excluded, as in the paper); otherwise one positive finding is chosen
    with ``random.Random(f"{seed}:{item.id}")`` — the choice of a case depends on the seed and its id only, not on
    the order or the other items — and r^n and r^r are generated for it. Cases whose variant is empty or identical
    to r (the generator found nothing to change) are skipped and counted in the log.

    Args:
        items: the dataset; items without a report are ignored.
        seed: seeds the choice of finding and the negation phrasing.
        label_fn, negate_fn, omit_fn, clean_fn: text-engine callables (None = :mod:`cxrvlp.text`).

    Returns:
        ``{case_id: AlignCase}`` in item order.
    """
    label_fn = label_fn_or_default(label_fn)
    negate_fn = negate_fn_or_default(negate_fn)
    omit_fn = omit_fn_or_default(omit_fn)
    clean_fn = clean_fn_or_default(clean_fn)
    cases: dict[str, AlignCase] = {}
    skipped: Counter[str] = Counter()
    for item in items:
        if not item.report:
            skipped["no report"] += 1
            continue
        report = clean_fn(item.report).strip()
        positives = sorted(set(label_fn(report).positives()) - {"No Finding"}) if report else []
        if not positives:
            skipped["no positive finding"] += 1
            continue
        chosen = random.Random(f"{seed}:{item.id}").choice(positives)
        negation = negate_fn(report, chosen, seed=seed).strip()
        omitted = omit_fn(report, chosen).strip()
        if not negation or negation == report or not omitted or omitted == report:
            skipped["variant empty or unchanged"] += 1
            continue
        cases[item.id] = AlignCase(item.id, chosen, report, negation, omitted, item.image_path)
    log.info("CXR-Align: %d cases built; skipped %s", len(cases), dict(skipped) or "none")
    return cases


def save_cxr_align(cases: dict[str, AlignCase], path: str | Path) -> None:
    """Write cases as JSON in the published shape; image paths are stored relative to the file's folder."""
    path = Path(path)
    out = {}
    for cid, c in cases.items():
        entry = {"chosen": c.chosen, "report": c.report, "negation": c.negation, "omitted": c.omitted}
        if c.image is not None:
            entry["image"] = os.path.relpath(c.image, path.resolve().parent)
        out[cid] = entry
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def load_cxr_align(path: str | Path, *, image_root: str | Path | None = None) -> dict[str, AlignCase]:
    """Load our JSON or the official CXR-Align file (same shape) into cases.

    Args:
        path: the JSON file.
        image_root: folder that relative ``image`` entries (ours) or ``<case_id>[.jpg|.png]`` (official) resolve
            against; default the JSON file's folder. An image that does not exist leaves ``image=None``.

    Raises:
        ValueError: when the file is not a mapping of cases, or a case lacks one of the four text fields.
    """
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object {{case_id: case}}, got {type(data).__name__}")
    root = Path(image_root) if image_root is not None else path.resolve().parent
    cases = {}
    for cid, entry in data.items():
        missing = [k for k in ("chosen", *VARIANTS) if not isinstance(entry, dict) or k not in entry]
        if missing:
            raise UserError(f"{path}: case {cid!r} lacks {', '.join(missing)}")
        chosen = entry["chosen"]
        chosen = ", ".join(map(str, chosen)) if isinstance(chosen, list) else str(chosen)
        image = _resolve_image(root, cid, entry.get("image"))
        cases[str(cid)] = AlignCase(str(cid), chosen, entry["report"], entry["negation"], entry["omitted"], image)
    return cases


def _resolve_image(root: Path, case_id: str, image: str | None) -> str | None:
    candidates = [root / image] if image else [root / case_id, root / f"{case_id}.jpg", root / f"{case_id}.png"]
    for c in candidates:
        if c.is_file():
            return str(c.resolve())
    return None


def align_scores(
    image_emb: torch.Tensor, report_emb: torch.Tensor, negation_emb: torch.Tensor, omitted_emb: torch.Tensor
) -> np.ndarray:
    """Cosine similarity of each image with its three texts.

    Args:
        image_emb, report_emb, negation_emb, omitted_emb: ``[N, D]`` L2-normalised, row i = case i.

    Returns:
        ``[N, 3]`` float64: columns sim(I, r), sim(I, r^n), sim(I, r^r).
    """
    texts = torch.stack([report_emb, negation_emb, omitted_emb], dim=1)  # (N, 3, D)
    return torch.einsum("nd,nkd->nk", image_emb.float(), texts.float()).double().numpy()


def align_correct(sims: np.ndarray) -> dict[str, np.ndarray]:
    """Per-case credit from ``[N, 3]`` similarities: ``task_a``, ``task_b``, ``three_way``, each ``[N]`` in [0, 1]."""
    r, n, o = sims[:, 0], sims[:, 1], sims[:, 2]
    is_max = sims == sims.max(axis=1, keepdims=True)  # (N, 3)
    out = {
        "task_a": (r > n) + 0.5 * (r == n),
        "task_b": (r > o) + 0.5 * (r == o),
        "three_way": is_max[:, 0] / np.maximum(is_max.sum(axis=1), 1),
    }
    missing = ~np.isfinite(sims).all(axis=1)
    if missing.any():  # a control with no image for this case: NaN, left out of the means
        out = {k: np.where(missing, np.nan, v) for k, v in out.items()}
    return out


def score_align(
    sims: np.ndarray,
    findings: Sequence[str],
    *,
    controls: Mapping[str, np.ndarray] | None = None,
    n_bootstrap: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> TaskResult:
    """Score CXR-Align from ``[N, 3]`` similarities (see :func:`align_scores`), with grounding controls.

    Args:
        sims: ``[N, 3]`` sim(I, r), sim(I, r^n), sim(I, r^r) per case.
        findings: ``[N]`` the chosen finding of each case, for the per-finding breakdown.
        controls: ``{name: [N, 3]}`` the same texts scored against a control image (names from :data:`CONTROLS`;
            a row of NaN = no control image for that case, left out). None or empty = no controls.
        n_bootstrap: resamples of cases for the 95% CIs (per-finding CIs resample that finding's cases). Own
            scores and controls share the resamples, so every gap's CI is paired.
        seed: bootstrap seed.

    Returns:
        ``TaskResult`` with metrics ``task_a``, ``task_b``, ``three_way`` and the mean margin
        ``margin_a`` = mean(sim(I, r) - sim(I, r^n)) (raw), and the same three accuracies per finding. With
        controls, per accuracy ``m``: ``m_<control>`` for each control, ``m_grounding_gap`` = own - shuffled and
        ``m_grounding_gap_without_finding`` = own - other image without the finding (over the cases that have one);
        per finding also ``image_sensitivity`` = Task A own - Task A without the finding (P[r preferred over r^n |
        finding present] - P[... | absent]) and ``margin_auroc``, the AUROC of the margin sim(I, r) - sim(I, r^n)
        separating the own image (present) from the image without the finding (absent).
    """
    sims = np.asarray(sims, dtype=np.float64)
    correct = align_correct(sims)
    weights = resample_weights(len(sims), n_bootstrap, seed=seed)
    metrics: dict[str, Metric] = mean_metrics(
        {**correct, "margin_a": sims[:, 0] - sims[:, 1]}, weights, percent={"margin_a": False}
    )
    ctrl = {name: align_correct(np.asarray(c, dtype=np.float64)) for name, c in (controls or {}).items()}
    margins = {
        name: np.asarray(c, dtype=np.float64)[:, 0] - np.asarray(c, dtype=np.float64)[:, 1]
        for name, c in (controls or {}).items()
    }
    control_values = _control_values(correct, ctrl)
    if control_values:
        metrics.update(masked_mean_metrics(control_values, weights))
    findings_arr = np.asarray(findings, dtype=object)
    breakdown = {}
    own_margin = sims[:, 0] - sims[:, 1]
    for f in sorted(set(findings_arr.tolist())):
        mask = findings_arr == f
        w = resample_weights(int(mask.sum()), n_bootstrap, seed=seed)
        breakdown[f] = mean_metrics({k: v[mask] for k, v in correct.items()}, w)
        if not control_values:
            continue
        per = {k: v[mask] for k, v in control_values.items() if k.startswith("task_a")}
        absent = "other_image_without_finding"
        if absent in ctrl:
            per["image_sensitivity"] = correct["task_a"][mask] - ctrl[absent]["task_a"][mask]
        breakdown[f].update(masked_mean_metrics(per, w))
        if absent in margins:
            breakdown[f]["margin_auroc"] = _paired_auroc(own_margin[mask], margins[absent][mask], w)
    info = {"cases": len(sims)}
    if controls:
        info["controls"] = list(controls)
    return TaskResult("align", metrics, breakdown, info=info)


def _control_values(correct: dict[str, np.ndarray], ctrl: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-case values of every control metric: ``m_<control>``, then the gaps own - control."""
    out: dict[str, np.ndarray] = {}
    for m in _ACCURACIES:
        for name, c in ctrl.items():
            out[f"{m}_{name}"] = c[m]
        if "shuffled" in ctrl:
            out[f"{m}_grounding_gap"] = correct[m] - ctrl["shuffled"][m]
        if "other_image_without_finding" in ctrl:
            out[f"{m}_grounding_gap_without_finding"] = correct[m] - ctrl["other_image_without_finding"][m]
    return out


def _paired_auroc(present: np.ndarray, absent: np.ndarray, weights: np.ndarray) -> Metric:
    """AUROC of scores on the own image (label 1) vs on the paired image without the finding (label 0); a case
    without such an image is left out; a resampled case brings both its scores (paired bootstrap)."""
    keep = np.isfinite(absent) & np.isfinite(present)
    n = int(keep.sum())
    if n == 0:
        return metric(float("nan"), np.empty(0), 0)
    scores = np.concatenate([present[keep], absent[keep]])
    labels = np.concatenate([np.ones(n, dtype=bool), np.zeros(n, dtype=bool)])
    w = weights[:, keep]
    return metric(auroc(scores, labels), weighted_auroc(scores, labels, np.concatenate([w, w], axis=1)), n)
