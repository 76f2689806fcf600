"""Vectorised bootstrap: resampling as a weight matrix, weighted means and weighted AUROC.

A bootstrap resample of ``N`` units is represented by how many times each unit was drawn: a count matrix
``W [R, N]`` (each row sums to ``N``). Every statistic below is then a weighted statistic of the *original* data,
computed for all ``R`` resamples at once with a few matrix operations, so 1,000 resamples of 1,000 units cost
milliseconds. The point estimate is the same statistic with unit weights.
"""

from __future__ import annotations

import functools

import numpy as np

from cxrvlp.eval.results import Metric

DEFAULT_RESAMPLES = 1000


@functools.lru_cache(maxsize=32)
def _cached_weights(n: int, n_resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_resamples, n))  # (R, n)
    flat = (idx + np.arange(n_resamples)[:, None] * n).ravel()
    w = np.bincount(flat, minlength=n_resamples * n).reshape(n_resamples, n).astype(np.float32)
    w.flags.writeable = False
    return w


def resample_weights(n: int, n_resamples: int = DEFAULT_RESAMPLES, *, seed: int = 0) -> np.ndarray:
    """Draw bootstrap resamples of ``n`` units as count weights.

    The result is cached (read-only) per ``(n, n_resamples, seed)``, so tasks over the same units share it.

    Args:
        n: number of units (cases, images, queries).
        n_resamples: R, number of bootstrap resamples; 0 gives an empty ``[0, n]`` matrix (no CI).
        seed: seeds ``numpy.random.default_rng``; the same seed gives the same resamples.

    Returns:
        ``[R, n]`` float32 array (counts are small integers, exact in float32); row ``r`` counts how often each unit
        was drawn in resample ``r``.
    """
    if n == 0 or n_resamples == 0:
        return np.zeros((n_resamples, n), dtype=np.float32)
    return _cached_weights(n, n_resamples, seed)


def weighted_means(values: np.ndarray, weights: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Means of several per-unit value columns under each row of ``weights``, in one matrix product.

    Args:
        values: ``[N, M]`` per-unit values of M statistics (non-finite entries must be masked out).
        weights: ``[R, N]`` resample weights.
        mask: ``[N, M]`` or ``[N]`` bool, units included per column (all when None).

    Returns:
        ``[R, M]`` weighted means; NaN where a row's included weight is 0.
    """
    values = np.asarray(values, dtype=np.float32)
    if mask is None:
        total = weights.sum(axis=1, keepdims=True)  # (R, 1)
        num = weights @ values  # (R, M)
    else:
        m = np.asarray(mask, dtype=np.float32)
        m = m[:, None] if m.ndim == 1 else m
        num = weights @ np.where(m > 0, values, 0.0).astype(np.float32)
        total = weights @ np.broadcast_to(m, values.shape).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, num.astype(np.float64) / np.where(total > 0, total, 1.0), np.nan)


def weighted_mean(values: np.ndarray, weights: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Mean of ``values`` ``[N]`` under each row of ``weights`` ``[R, N]`` over the units where ``mask`` ``[N]`` is
    true; returns ``[R]`` (NaN for a row whose included weight is 0)."""
    return weighted_means(np.asarray(values)[:, None], weights, mask)[:, 0]


def weighted_auroc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Area under the ROC curve under each row of ``weights``; ties count one half.

    Mann-Whitney form in O(R * N): the negatives are sorted once and their weights cumulated per resample; each
    positive then gains the negative weight strictly below its score plus half the weight tied with it, found by
    binary search, weighted by its own resample weight.

    Args:
        scores: ``[N]`` higher = more likely positive.
        labels: ``[N]`` bool (True = positive). Units to ignore must be removed by the caller.
        weights: ``[R, N]`` resample weights (a row of ones gives the plain AUROC).

    Returns:
        ``[R]`` AUROC per resample; NaN where a resample has no positive or no negative weight.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    pos_idx = np.flatnonzero(labels)
    neg_idx = np.flatnonzero(~labels)
    neg_idx = neg_idx[np.argsort(scores[neg_idx], kind="stable")]
    neg_sorted = scores[neg_idx]
    lo = np.searchsorted(neg_sorted, scores[pos_idx], side="left")  # negatives strictly below, (P,)
    hi = np.searchsorted(neg_sorted, scores[pos_idx], side="right")  # negatives below or tied, (P,)
    cum = np.zeros((weights.shape[0], len(neg_idx) + 1), dtype=np.float32)  # integer sums < 2**24: exact
    np.cumsum(weights[:, neg_idx], axis=1, out=cum[:, 1:])  # (R, Nn + 1)
    wpos = weights[:, pos_idx]  # (R, P)
    num = (wpos * (cum[:, lo] + cum[:, hi])).sum(axis=1, dtype=np.float64) * 0.5
    den = wpos.sum(axis=1, dtype=np.float64) * cum[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Plain (unweighted) AUROC of ``scores`` ``[N]`` against bool ``labels`` ``[N]``; ties count one half; NaN
    without both classes. :func:`weighted_auroc` under a single row of ones."""
    return float(weighted_auroc(scores, labels, np.ones((1, len(scores)), dtype=np.float32))[0])


def nanmean0(x: np.ndarray) -> np.ndarray:
    """Mean over axis 0 ignoring NaN (e.g. bootstrap replicates of findings where a resample lacks a class); NaN
    where every entry is NaN. ``x`` may be a list of equally shaped arrays."""
    x = np.asarray(x)
    finite = np.isfinite(x)
    count = finite.sum(axis=0)
    return np.where(count > 0, np.where(finite, x, 0.0).sum(axis=0) / np.maximum(count, 1), np.nan)


def metric(point: float, boot: np.ndarray, n: int, *, percent: bool = True) -> Metric:
    """Build a :class:`Metric` from a point estimate and its ``[R]`` bootstrap replicates (percentile 95% CI)."""
    boot = np.asarray(boot, dtype=np.float64)
    boot = boot[np.isfinite(boot)]
    if boot.size == 0:
        low = high = float("nan")
    else:
        low, high = (float(x) for x in np.percentile(boot, [2.5, 97.5]))
    return Metric(value=float(point), low=low, high=high, n=int(n), percent=percent)


def mean_metrics(
    values: dict[str, np.ndarray], weights: np.ndarray, *, percent: dict[str, bool] | None = None
) -> dict[str, Metric]:
    """Means of several ``[N]`` per-unit value arrays with their bootstrap CIs, in one pass over ``weights``.

    Args:
        values: ``{name: [N] values}`` over the same units.
        weights: ``[R, N]`` resample weights.
        percent: per-name ``Metric.percent`` (default True).
    """
    names = list(values)
    if not names:
        return {}
    v = np.stack([np.asarray(values[k], dtype=np.float64) for k in names], axis=1)  # (N, M)
    n = v.shape[0]
    point = v.mean(axis=0) if n else np.full(len(names), np.nan)
    boot = weighted_means(v, weights) if n else np.zeros((0, len(names)))
    percent = percent or {}
    return {k: metric(point[j], boot[:, j], n, percent=percent.get(k, True)) for j, k in enumerate(names)}


def mean_metric(
    values: np.ndarray, weights: np.ndarray, mask: np.ndarray | None = None, *, percent: bool = True
) -> Metric:
    """Mean of per-unit ``values`` ``[N]`` with its bootstrap CI under ``weights`` ``[R, N]``."""
    values = np.asarray(values, dtype=np.float64)
    included = values if mask is None else values[np.asarray(mask, dtype=bool)]
    n = int(included.shape[0])
    point = float(included.mean()) if n else float("nan")
    return metric(point, weighted_mean(values, weights, mask), n, percent=percent)


def derangement(n: int, seed: int = 0) -> np.ndarray:
    """A seeded random permutation of ``range(n)`` with no fixed point (Sattolo's algorithm: one n-cycle).

    The grounding controls pair every case with another unit's image; a derangement guarantees "another" for every
    case. The same ``(n, seed)`` gives the same permutation.

    Args:
        n: number of units; must be at least 2 (one unit has no other to swap with).
        seed: seeds ``numpy.random.default_rng``.

    Returns:
        ``[n]`` int64 array ``p`` with ``p[i] != i`` for every ``i``.

    Raises:
        ValueError: for ``n < 2``.
    """
    if n < 2:
        raise ValueError(f"a derangement needs at least 2 units, got {n}")
    rng = np.random.default_rng(seed)
    p = np.arange(n, dtype=np.int64)
    draws = rng.random(n)
    for i in range(n - 1, 0, -1):  # Sattolo: j uniform in [0, i), never i itself
        j = int(draws[i] * i)
        p[i], p[j] = p[j], p[i]
    return p


def masked_mean_metrics(
    values: dict[str, np.ndarray], weights: np.ndarray, *, percent: dict[str, bool] | None = None
) -> dict[str, Metric]:
    """Like :func:`mean_metrics`, but each column's non-finite entries (a control with no image to use) are left
    out of its mean, its CI and its ``n``. Columns share ``weights``, so differences of columns are paired."""
    names = list(values)
    if not names:
        return {}
    v = np.stack([np.asarray(values[k], dtype=np.float64) for k in names], axis=1)  # (N, M)
    finite = np.isfinite(v)
    v0 = np.where(finite, v, 0.0)
    count = finite.sum(axis=0)
    point = np.where(count > 0, v0.sum(axis=0) / np.maximum(count, 1), np.nan)
    boot = weighted_means(v0, weights, finite) if v.shape[0] else np.zeros((0, len(names)))
    percent = percent or {}
    return {k: metric(point[j], boot[:, j], int(count[j]), percent=percent.get(k, True)) for j, k in enumerate(names)}
