"""Scoring fine-tuned classifiers over seeds: per-finding and macro test AUROC, seed std, bootstrap CIs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cxrvlp.eval.bootstrap import DEFAULT_RESAMPLES, auroc, metric, nanmean0, resample_weights, weighted_auroc
from cxrvlp.eval.results import Metric, TaskResult


def score_seeds(
    scores: np.ndarray,
    y: np.ndarray,
    classes: Sequence[str],
    *,
    n_bootstrap: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> TaskResult:
    """Per-finding and macro AUROC over several seeds' test scores.

    Args:
        scores: ``[S, N, C]`` test scores of S seeds; y: ``[N, C]`` 0/1 targets; classes: ``[C]`` names.
        n_bootstrap: resamples of the N test images, shared by all seeds and findings.
        seed: bootstrap seed.

    Returns:
        ``TaskResult`` (task ``"finetune"``; the caller renames it) with ``macro_auroc`` (mean over seeds of the macro
        over findings that have a positive and a negative test image; CI = bootstrap percentiles of that seed mean)
        and ``macro_auroc_std`` (sample std over seeds, NaN for one seed), a breakdown ``{finding: {auroc,
        auroc_std}}``, and ``info`` with ``skipped`` findings, ``positives`` per finding and ``per_seed_macro``.
    """
    n_seeds, n, _ = scores.shape
    weights = resample_weights(n, n_bootstrap, seed=seed)  # (R, N)
    breakdown: dict[str, dict[str, Metric]] = {}
    points, boots, skipped, positives = [], [], [], {}
    for j, c in enumerate(classes):
        pos = y[:, j] > 0.5
        positives[c] = int(pos.sum())
        if not pos.any() or pos.all():
            skipped.append(c)
            continue
        point = np.array([auroc(scores[s, :, j], pos) for s in range(n_seeds)])  # (S,)
        boot = np.stack([weighted_auroc(scores[s, :, j], pos, weights) for s in range(n_seeds)])  # (S, R)
        breakdown[c] = {"auroc": metric(point.mean(), boot.mean(0), n), "auroc_std": _std_metric(point)}
        points.append(point)
        boots.append(boot)
    metrics: dict[str, Metric] = {}
    per_seed: list[float] = [float("nan")] * n_seeds
    if points:
        per_seed_macro = np.mean(points, axis=0)  # (S,)
        boot_macro = nanmean0(np.stack(boots)).mean(0)  # (C, S, R) -> (R,)
        metrics["macro_auroc"] = metric(per_seed_macro.mean(), boot_macro, n)
        metrics["macro_auroc_std"] = _std_metric(per_seed_macro)
        per_seed = [float(v) for v in per_seed_macro]
    info = {"skipped": skipped, "positives": positives, "n_test": int(n), "per_seed_macro": per_seed}
    return TaskResult("finetune", metrics, breakdown, info)


def _std_metric(values: np.ndarray) -> Metric:
    std = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    return Metric(value=std, low=float("nan"), high=float("nan"), n=len(values))
