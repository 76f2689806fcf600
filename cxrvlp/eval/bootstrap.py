"""Vectorised bootstrap: resampling as a weight matrix, weighted means and weighted AUROC.

A bootstrap resample of ``N`` units is represented by how many times each unit was drawn: a count matrix
``W [R, N]`` (each row sums to ``N``). Every statistic below is then a weighted statistic of the *original* data,
computed for all ``R`` resamples at once with a few matrix operations, so 1,000 resamples of 1,000 units cost
milliseconds. The point estimate is the same statistic with unit weights.
"""

from __future__ import annotations

import numpy as np

from cxrvlp.eval.results import Metric

DEFAULT_RESAMPLES = 1000


def resample_weights(n: int, n_resamples: int = DEFAULT_RESAMPLES, *, seed: int = 0) -> np.ndarray:
    """Draw bootstrap resamples of ``n`` units as count weights.

    Args:
        n: number of units (cases, images, queries).
        n_resamples: R, number of bootstrap resamples; 0 gives an empty ``[0, n]`` matrix (no CI).
        seed: seeds ``numpy.random.default_rng``; the same seed gives the same resamples.

    Returns:
        ``[R, n]`` float64 array; row ``r`` counts how often each unit was drawn in resample ``r``.
    """
    if n == 0 or n_resamples == 0:
        return np.zeros((n_resamples, n))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_resamples, n))  # (R, n)
    flat = (idx + np.arange(n_resamples)[:, None] * n).ravel()
    return np.bincount(flat, minlength=n_resamples * n).reshape(n_resamples, n).astype(np.float64)


def weighted_mean(values: np.ndarray, weights: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Mean of ``values`` under each row of ``weights``, over the units where ``mask`` is true.

    Args:
        values: ``[N]`` per-unit values.
        weights: ``[R, N]`` resample weights.
        mask: ``[N]`` bool, units to include (all when None).

    Returns:
        ``[R]`` weighted means; NaN for a row whose included weight is 0.
    """
    values = np.asarray(values, dtype=np.float64)
    w = weights if mask is None else weights * np.asarray(mask, dtype=np.float64)
    v = np.where(np.isfinite(values), values, 0.0)
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (w @ v) / np.where(total > 0, total, 1.0), np.nan)


def weighted_auroc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Area under the ROC curve under each row of ``weights``; ties count one half.

    Computed from ranks in O(R * N): the scores are sorted once, tied scores grouped, and for every resample the
    positive weight of each group is multiplied by the negative weight strictly below it plus half the negative
    weight tied with it.

    Args:
        scores: ``[N]`` higher = more likely positive.
        labels: ``[N]`` bool (True = positive). Units to ignore must be removed (or given weight 0) by the caller.
        weights: ``[R, N]`` resample weights (a row of ones gives the plain AUROC).

    Returns:
        ``[R]`` AUROC per resample; NaN where a resample has no positive or no negative weight.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    order = np.argsort(scores, kind="stable")
    s = scores[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # first index of each tied group, (G,)
    w = weights[:, order]  # (R, N)
    pos = labels[order].astype(np.float64)
    wpos = np.add.reduceat(w * pos, starts, axis=1)  # (R, G)
    wneg = np.add.reduceat(w * (1.0 - pos), starts, axis=1)  # (R, G)
    below = np.cumsum(wneg, axis=1) - wneg  # negative weight strictly below each group, (R, G)
    num = (wpos * (below + 0.5 * wneg)).sum(axis=1)
    den = wpos.sum(axis=1) * wneg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def metric(point: float, boot: np.ndarray, n: int, *, percent: bool = True) -> Metric:
    """Build a :class:`Metric` from a point estimate and its ``[R]`` bootstrap replicates (percentile 95% CI)."""
    boot = np.asarray(boot, dtype=np.float64)
    boot = boot[np.isfinite(boot)]
    if boot.size == 0:
        low = high = float("nan")
    else:
        low, high = (float(x) for x in np.percentile(boot, [2.5, 97.5]))
    return Metric(value=float(point), low=low, high=high, n=int(n), percent=percent)


def mean_metric(
    values: np.ndarray, weights: np.ndarray, mask: np.ndarray | None = None, *, percent: bool = True
) -> Metric:
    """Mean of per-unit ``values`` ``[N]`` with its bootstrap CI under ``weights`` ``[R, N]``."""
    values = np.asarray(values, dtype=np.float64)
    ones = np.ones((1, values.shape[0]))
    n = int(values.shape[0] if mask is None else np.asarray(mask, dtype=bool).sum())
    point = weighted_mean(values, ones, mask)[0]
    return metric(point, weighted_mean(values, weights, mask), n, percent=percent)
