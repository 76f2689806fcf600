"""Negated-prompt retrieval (Vu & Sheshappanavar): text -> image with "X" and "no X" prompts.

Every prompt of a finding is a query over the image set. A positive query ("pleural effusion") retrieves its top-K
images and its precision@K is the fraction of them that have the finding; a negated query ("no pleural effusion")
is scored by the fraction that do *not* have it. A model that ignores the word "no" retrieves the same images for
both, so its negated precision falls far below the images' base rate. Per finding the template precisions are
averaged, then findings are averaged (macro); the bootstrap resamples findings, keeping each finding's positive
and negated precision paired so the CI of the gap is meaningful. ``info["chance"]`` holds the precision a random
ranking gets (the mean prevalence for positive queries, one minus it for negated ones).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from cxrvlp.eval.bootstrap import DEFAULT_RESAMPLES, mean_metrics, metric, resample_weights
from cxrvlp.eval.results import TaskResult


def precision_at_k(
    image_emb: torch.Tensor, query_emb: torch.Tensor, relevant: np.ndarray, valid: np.ndarray, ks: Sequence[int]
) -> dict[int, np.ndarray]:
    """Precision@K of text -> image queries.

    Args:
        image_emb: ``[N, D]`` images.
        query_emb: ``[Q, D]`` queries.
        relevant: ``[Q, N]`` bool, image n is a right answer to query q.
        valid: ``[Q, N]`` bool, image n may be retrieved for query q (unknown labels are left out).
        ks: K values; K is capped at each query's number of valid images.

    Returns:
        ``{K: [Q] precision}``.
    """
    sims = query_emb.float() @ image_emb.float().T  # (Q, N)
    sims = sims.masked_fill(~torch.from_numpy(np.asarray(valid, dtype=bool)), float("-inf"))
    kmax = min(max(ks), sims.shape[1])
    top = sims.topk(kmax, dim=1).indices.numpy()  # (Q, kmax)
    hits = np.take_along_axis(np.asarray(relevant, dtype=np.float64), top, axis=1).cumsum(axis=1)  # (Q, kmax)
    n_valid = np.asarray(valid, dtype=bool).sum(axis=1)
    out = {}
    for k in ks:
        kk = np.clip(np.minimum(k, n_valid), 1, kmax)
        out[k] = hits[np.arange(len(kk)), kk - 1] / kk
    return out


def score_negated_prompt_retrieval(
    image_emb: torch.Tensor,
    query_emb: torch.Tensor,
    query_class: Sequence[int],
    query_negated: Sequence[bool],
    y: np.ndarray,
    classes: Sequence[str],
    *,
    ks: Sequence[int] = (1, 5, 10),
    shuffled_images: torch.Tensor | None = None,
    n_bootstrap: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> TaskResult:
    """Precision@K of positive and negated prompts, and their gap.

    Args:
        image_emb: ``[N, D]`` images.
        query_emb: ``[Q, D]`` prompt embeddings.
        query_class: ``[Q]`` class index of each prompt.
        query_negated: ``[Q]`` True for a negated prompt.
        y: ``[N, C]`` targets 1 / 0 / -1 (unknown images are never retrieved).
        classes: ``[C]`` names.
        ks: K values.
        shuffled_images: ``[N, D]`` the grounding control: row n is another image of the split (a derangement),
            retrieved under image n's labels. None = no control.
        n_bootstrap, seed: bootstrap over findings.

    Returns:
        ``TaskResult`` with ``pos_p@K``, ``neg_p@K`` and ``gap@K`` (= pos - neg) per K, macro over findings that
        have both kinds of prompt and both present and absent images; per-finding breakdown. With
        ``shuffled_images``: ``pos_p@K_shuffled``, ``neg_p@K_shuffled`` and their ``..._grounding_gap`` = own -
        shuffled, paired per finding. (A text-only control has no ranking at all, every image ties: its expected
        precision is ``info["chance"]``.)
    """
    qc = np.asarray(query_class, dtype=np.int64)
    qn = np.asarray(query_negated, dtype=bool)
    yq = y[:, qc].T  # (Q, N)
    valid = yq >= 0
    relevant = np.where(qn[:, None], yq == 0, yq == 1)
    empty = {k: np.zeros(0) for k in ks}
    prec = precision_at_k(image_emb, query_emb, relevant, valid, ks) if len(qc) else empty
    prec_sh = None
    if shuffled_images is not None:
        prec_sh = precision_at_k(shuffled_images, query_emb, relevant, valid, ks) if len(qc) else empty
    units, pos_p, neg_p, chance = [], {k: [] for k in ks}, {k: [] for k in ks}, []
    pos_sh: dict[int, list] = {k: [] for k in ks}
    neg_sh: dict[int, list] = {k: [] for k in ks}
    for c, name in enumerate(classes):
        col = y[:, c]
        is_c = qc == c
        if not (is_c & ~qn).any() or not (is_c & qn).any() or not (col == 1).any() or not (col == 0).any():
            continue
        units.append(name)
        chance.append(float((col == 1).sum() / (col >= 0).sum()))
        for k in ks:
            pos_p[k].append(prec[k][is_c & ~qn].mean())
            neg_p[k].append(prec[k][is_c & qn].mean())
            if prec_sh is not None:
                pos_sh[k].append(prec_sh[k][is_c & ~qn].mean())
                neg_sh[k].append(prec_sh[k][is_c & qn].mean())
    weights = resample_weights(len(units), n_bootstrap, seed=seed)
    values: dict[str, np.ndarray] = {}
    breakdown: dict[str, dict] = {u: {} for u in units}
    for k in ks:
        p, n = np.array(pos_p[k]), np.array(neg_p[k])
        values.update({f"pos_p@{k}": p, f"neg_p@{k}": n, f"gap@{k}": p - n})
        if prec_sh is not None:
            ps, ns = np.array(pos_sh[k]), np.array(neg_sh[k])
            values.update({f"pos_p@{k}_shuffled": ps, f"neg_p@{k}_shuffled": ns})
            values.update({f"pos_p@{k}_grounding_gap": p - ps, f"neg_p@{k}_grounding_gap": n - ns})
        for i, u in enumerate(units):  # one finding: no resampling unit below it, so no CI
            breakdown[u][f"pos_p@{k}"] = metric(p[i], np.empty(0), 1)
            breakdown[u][f"neg_p@{k}"] = metric(n[i], np.empty(0), 1)
    metrics = mean_metrics(values, weights)
    mean_prev = float(np.mean(chance)) if chance else float("nan")
    info = {
        "findings": units,
        "queries": int(len(qc)),
        "ks": list(ks),
        "chance": {"pos": mean_prev, "neg": 1 - mean_prev},
    }
    return TaskResult("negprompt", metrics, breakdown, info)
