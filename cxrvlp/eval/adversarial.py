"""Adversarial prediction (Ko & Park Sec. 5.4, Table 4; ProbMed-style question pairs adapted to CLIP).

For every image with at least one present and one absent finding, two questions are asked in sequence: "is there
<present finding>?" (right answer yes) and "is there <absent finding>?" (right answer no). A CLIP model answers "yes"
when the image is closer to the finding's positive prompt ensemble than to its negated one, i.e. when the zero-shot
score of :func:`cxrvlp.eval.zeroshot.class_scores` is > 0. The image counts as correct only if both answers are
right. A tie (score exactly 0) is a coin flip: half credit per question, so a constant model scores 25% (chance).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cxrvlp.eval.bootstrap import DEFAULT_RESAMPLES, mean_metric, mean_metrics, resample_weights
from cxrvlp.eval.engine import NO_FINDING
from cxrvlp.eval.results import TaskResult


@dataclass(frozen=True)
class AdversarialPair:
    """Row ``index`` of the score matrix, asked about class ``present`` (yes) then class ``absent`` (no)."""

    index: int
    present: int
    absent: int


def adversarial_pairs(
    y: np.ndarray, classes: Sequence[str], ids: Sequence[str], *, seed: int = 0
) -> list[AdversarialPair]:
    """Choose one present and one absent finding per image.

    Args:
        y: ``[N, C]`` targets 1 (present) / 0 (absent) / -1 (unknown, never asked).
        classes: ``[C]`` names; ``No Finding`` is never asked (it is not a finding).
        ids: ``[N]`` item ids; each image's choice uses ``random.Random(f"{seed}:{id}")``.
        seed: choice seed.

    Returns:
        One pair per image that has both a present and an absent finding.
    """
    usable = np.array([c != NO_FINDING for c in classes])
    pairs = []
    for i, item_id in enumerate(ids):
        present = np.flatnonzero((y[i] == 1) & usable).tolist()
        absent = np.flatnonzero((y[i] == 0) & usable).tolist()
        if present and absent:
            rng = random.Random(f"{seed}:{item_id}")
            pairs.append(AdversarialPair(i, rng.choice(present), rng.choice(absent)))
    return pairs


def score_adversarial(
    scores: np.ndarray,
    pairs: Sequence[AdversarialPair],
    classes: Sequence[str],
    *,
    n_bootstrap: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> TaskResult:
    """Accuracy of the question pairs.

    Args:
        scores: ``[N, C]`` zero-shot scores (positive ensemble minus negated ensemble similarity).
        pairs: from :func:`adversarial_pairs`.
        classes: ``[C]`` names, for the per-finding breakdown (grouped by the present finding).
        n_bootstrap, seed: bootstrap over pairs.

    Returns:
        ``TaskResult`` with ``both`` (the paper's number), ``positive_query`` and ``negative_query``.
    """
    idx = np.array([p.index for p in pairs], dtype=np.int64)
    sp = scores[idx, [p.present for p in pairs]] if pairs else np.zeros(0)
    sa = scores[idx, [p.absent for p in pairs]] if pairs else np.zeros(0)
    q1 = np.where(sp == 0, 0.5, sp > 0)
    q2 = np.where(sa == 0, 0.5, sa < 0)
    both = q1 * q2
    weights = resample_weights(len(pairs), n_bootstrap, seed=seed)
    metrics = mean_metrics({"both": both, "positive_query": q1, "negative_query": q2}, weights)
    present_names = np.array([classes[p.present] for p in pairs], dtype=object)
    breakdown = {}
    for c in sorted(set(present_names.tolist())):
        mask = present_names == c
        breakdown[c] = {"both": mean_metric(both[mask], resample_weights(int(mask.sum()), n_bootstrap, seed=seed))}
    return TaskResult("adversarial", metrics, breakdown, info={"pairs": len(pairs)})
