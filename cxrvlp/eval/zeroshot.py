"""Zero-shot classification with positive vs negated prompt ensembles (Ko & Park Table 2 ZS).

For every finding the positive prompts ("pleural effusion") and the negated prompts ("no pleural effusion") are
each embedded and averaged into one L2-normalised ensemble vector (CLIP's prompt ensembling). An image's score for
the finding is ``cos(I, pos) - cos(I, neg)``: it ranks images for the AUROC, and ``score > 0`` is the prediction for
the accuracy (a tie counts half).

The "No Finding" trap: a template that writes ``no {finding}`` turns "No Finding" into "no No Finding", a double
negation that a bag-of-words text encoder reads as "no finding" again, so positive and negative prompts collapse.
:func:`check_prompt_set` rejects any prompt with a doubled "no" and any prompt that is both positive and negative,
so such a template fails loudly instead of producing a silent 50% AUROC.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from cxrvlp.eval.bootstrap import (
    DEFAULT_RESAMPLES,
    auroc,
    metric,
    nanmean0,
    resample_weights,
    weighted_auroc,
    weighted_means,
)
from cxrvlp.eval.engine import Labeled, PromptsFn, call_prompts, positive_set, prompts_or_default
from cxrvlp.eval.results import Metric, TaskResult

log = logging.getLogger(__name__)

_DOUBLE_NO = re.compile(r"\bno\s+no\b", re.IGNORECASE)


@dataclass(frozen=True)
class PromptSet:
    """The prompt ensembles of one finding."""

    finding: str
    positive: tuple[str, ...]
    negative: tuple[str, ...]


def check_prompt_set(ps: PromptSet) -> None:
    """Raise ``ValueError`` for a prompt set that cannot separate the finding from its absence.

    Checks: both ensembles non-empty, no prompt with a doubled negation ("no No Finding"), no prompt in both.
    """
    if not ps.positive or not ps.negative:
        raise ValueError(f"{ps.finding}: needs both positive and negative prompts")
    doubled = [p for p in (*ps.positive, *ps.negative) if _DOUBLE_NO.search(p)]
    if doubled:
        raise ValueError(f"{ps.finding}: double negation in prompts {doubled!r} (the 'no No Finding' trap)")
    both = set(ps.positive) & set(ps.negative)
    if both:
        raise ValueError(f"{ps.finding}: prompts {sorted(both)!r} are both positive and negative")


def build_prompt_sets(
    findings: Iterable[str], *, positive_fn: PromptsFn | None = None, negative_fn: PromptsFn | None = None
) -> dict[str, PromptSet]:
    """Prompt ensembles for each finding the templates know; unknown findings are skipped with a log line.

    Args:
        findings: class names (CheXpert-14 or NIH ChestX-ray14 spellings).
        positive_fn, negative_fn: ``finding -> list[str]`` (None = ``cxrvlp.text.prompts``).

    Raises:
        ValueError: from :func:`check_prompt_set` when a finding's prompts are unusable.
    """
    positive_fn, negative_fn = prompts_or_default(positive_fn, negative_fn)
    sets: dict[str, PromptSet] = {}
    for f in dict.fromkeys(findings):
        ps = PromptSet(f, tuple(call_prompts(positive_fn, f)), tuple(call_prompts(negative_fn, f)))
        if not ps.positive and not ps.negative:
            log.info("zero-shot: no prompt templates for %r, skipped", f)
            continue
        check_prompt_set(ps)
        sets[f] = ps
    return sets


def ensemble(text_emb: torch.Tensor) -> torch.Tensor:
    """Mean of ``[P, D]`` prompt embeddings, L2-normalised: ``[D]``."""
    return torch.nn.functional.normalize(text_emb.float().mean(dim=0), dim=0)


def class_scores(image_emb: torch.Tensor, pos_emb: torch.Tensor, neg_emb: torch.Tensor) -> np.ndarray:
    """Zero-shot scores ``cos(I, pos_c) - cos(I, neg_c)``.

    Args:
        image_emb: ``[N, D]``; pos_emb, neg_emb: ``[C, D]`` ensemble vectors.

    Returns:
        ``[N, C]`` float64.
    """
    return (image_emb.float() @ (pos_emb.float() - neg_emb.float()).T).double().numpy()


def dataset_label_matrix(label_sets: Sequence[Iterable[str]], classes: Sequence[str]) -> np.ndarray:
    """Targets from dataset labels, closed world: 1 if listed, 0 if not; ``-1`` (ignored) for an unlabelled item.

    Returns:
        ``[N, C]`` int8.
    """
    y = np.zeros((len(label_sets), len(classes)), dtype=np.int8)
    for i, labels in enumerate(label_sets):
        labels = set(labels)
        if not labels:
            y[i] = -1
            continue
        y[i] = [c in labels for c in classes]
    return y


def report_label_matrix(labeled: Sequence[Labeled], classes: Sequence[str]) -> np.ndarray:
    """Targets from our labeler: 1 positive (``No Finding`` when nothing is positive), -1 uncertain, else 0.

    Returns:
        ``[N, C]`` int8.
    """
    y = np.zeros((len(labeled), len(classes)), dtype=np.int8)
    for i, lab in enumerate(labeled):
        pos = positive_set(lab)
        for j, c in enumerate(classes):
            if c in pos:
                y[i, j] = 1
            elif lab.labels.get(c) == "uncertain":
                y[i, j] = -1
    return y


MIN_CI_COUNT = 5
"""A finding with fewer positive (or negative) images than this gets no bootstrap CI of its own: resamples that
miss its few positives are dropped, so the percentile interval would be far too narrow (one positive image gives
an AUROC that is just that image's rank). Its point estimate stays in the macro mean."""


def score_zeroshot(
    scores: np.ndarray,
    y: np.ndarray,
    classes: Sequence[str],
    *,
    controls: Mapping[str, np.ndarray] | None = None,
    n_bootstrap: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> TaskResult:
    """AUROC and accuracy per finding and their macro means, with grounding controls.

    Args:
        scores: ``[N, C]`` from :func:`class_scores`.
        y: ``[N, C]`` targets 1 / 0 / -1 (ignored).
        classes: ``[C]`` names.
        controls: ``{name: [N, C]}`` scores of control images against the same targets, e.g. ``shuffled`` (row i =
            another image of the split) and ``text_only`` (every row = the mean image embedding). None = no
            controls and no ``image_sensitivity``.
        n_bootstrap: resamples of images (shared across findings and controls, so the macro CI respects their
            correlation and every gap's CI is paired).
        seed: bootstrap seed.

    Returns:
        ``TaskResult`` with ``auroc`` and ``accuracy`` (macro over findings that have at least one positive and one
        negative image) and a per-finding breakdown; findings lacking either are listed in ``info["skipped"]``.
        ``info["counts"]``: positive / negative images per finding; ``info["few"]``: the findings with fewer than
        :data:`MIN_CI_COUNT` of either, whose per-finding AUROCs carry no CI (nor does the macro when every finding
        is one of them).
        With controls: ``auroc_<control>``, ``accuracy_<control>``, ``auroc_grounding_gap`` and
        ``accuracy_grounding_gap`` (own - shuffled), and ``image_sensitivity`` = P[positive prompt preferred |
        finding present] - P[positive preferred | absent] (macro; per finding with both probabilities beside it).
        The margin's AUROC present vs absent is ``auroc`` itself.
    """
    n, _ = scores.shape
    weights = resample_weights(n, n_bootstrap, seed=seed)
    valid = y >= 0  # (N, C)
    pos = y == 1  # (N, C)
    usable = [j for j in range(len(classes)) if pos[:, j].any() and (valid[:, j] & ~pos[:, j]).any()]
    skipped = [c for j, c in enumerate(classes) if j not in usable]
    counts = {classes[j]: [int(pos[:, j].sum()), int((valid[:, j] & ~pos[:, j]).sum())] for j in usable}
    few = [c for c, (n_pos, n_neg) in counts.items() if min(n_pos, n_neg) < MIN_CI_COUNT]
    no_ci = np.empty(0)

    def finding_boot(boot: np.ndarray, k: int) -> np.ndarray:
        return no_ci if classes[usable[k]] in few else boot

    def macro_boot(boots: list[np.ndarray]) -> np.ndarray:
        return no_ci if len(few) == len(usable) else nanmean0(boots)

    own = _per_finding(scores, valid, pos, usable, weights)
    breakdown: dict[str, dict[str, Metric]] = {}
    for k, j in enumerate(usable):
        nv = int(valid[:, j].sum())
        breakdown[classes[j]] = {
            "auroc": metric(own["auroc"][0][k], finding_boot(own["auroc"][1][k], k), nv),
            "accuracy": metric(own["accuracy"][0][k], own["accuracy"][1][k], nv),
        }
    metrics: dict[str, Metric] = {}
    if not usable:
        return TaskResult("zeroshot", metrics, breakdown, info={"findings": [], "skipped": skipped})
    for name, (point, boot) in own.items():
        metrics[name] = metric(float(np.mean(point)), macro_boot(boot) if name == "auroc" else nanmean0(boot), n)
    info: dict = {"findings": list(breakdown), "skipped": skipped, "counts": counts, "few": few}
    if controls is not None:
        for cname, cscores in controls.items():
            ctrl = _per_finding(np.asarray(cscores, dtype=np.float64), valid, pos, usable, weights)
            for name, (point, boot) in ctrl.items():
                reduce = macro_boot if name == "auroc" else nanmean0
                metrics[f"{name}_{cname}"] = metric(float(np.mean(point)), reduce(boot), n)
                if cname == "shuffled":
                    gap = np.asarray(own[name][0]) - np.asarray(point)
                    gap_boot = [a - b for a, b in zip(own[name][1], boot, strict=True)]
                    metrics[f"{name}_grounding_gap"] = metric(float(np.mean(gap)), reduce(gap_boot), n)
            for k, j in enumerate(usable):
                nv = int(valid[:, j].sum())
                breakdown[classes[j]][f"auroc_{cname}"] = metric(
                    ctrl["auroc"][0][k], finding_boot(ctrl["auroc"][1][k], k), nv
                )
        pref = np.where(scores == 0, 0.5, scores > 0)  # positive prompt preferred (a tie counts half)
        present = weighted_means(pref, weights, valid & pos)  # (R, C)
        absent = weighted_means(pref, weights, valid & ~pos)
        sens_points, sens_boots = [], []
        for j in usable:
            p1 = float(pref[valid[:, j] & pos[:, j], j].mean())
            p0 = float(pref[valid[:, j] & ~pos[:, j], j].mean())
            c = classes[j]
            breakdown[c]["p_positive_preferred_present"] = metric(p1, present[:, j], int(pos[:, j].sum()))
            breakdown[c]["p_positive_preferred_absent"] = metric(
                p0, absent[:, j], int((valid[:, j] & ~pos[:, j]).sum())
            )
            breakdown[c]["image_sensitivity"] = metric(p1 - p0, present[:, j] - absent[:, j], int(valid[:, j].sum()))
            sens_points.append(p1 - p0)
            sens_boots.append(present[:, j] - absent[:, j])
        metrics["image_sensitivity"] = metric(float(np.mean(sens_points)), nanmean0(sens_boots), n)
        info["controls"] = list(controls)
    return TaskResult("zeroshot", metrics, breakdown, info=info)


def _per_finding(
    scores: np.ndarray, valid: np.ndarray, pos: np.ndarray, usable: Sequence[int], weights: np.ndarray
) -> dict[str, tuple[list[float], list[np.ndarray]]]:
    """``{"auroc" | "accuracy": (point per usable finding, [R] replicates per usable finding)}``."""
    correct = np.where(scores == 0, 0.5, (scores > 0) == pos)  # (N, C)
    acc_boot_all = weighted_means(correct, weights, valid)  # (R, C), one product for every finding
    out: dict[str, tuple[list[float], list[np.ndarray]]] = {"auroc": ([], []), "accuracy": ([], [])}
    for j in usable:
        v = valid[:, j]
        s, lab = scores[v, j], pos[v, j]
        out["auroc"][0].append(auroc(s, lab))
        out["auroc"][1].append(weighted_auroc(s, lab, weights if v.all() else weights[:, v]))
        out["accuracy"][0].append(float(correct[v, j].mean()))
        out["accuracy"][1].append(acc_boot_all[:, j])
    return out
