"""Image -> report retrieval (Ko & Park Table 5) and normal-case detection (Table 3 NCD).

Retrieval: each image queries a gallery of distinct report texts (duplicated template reports collapse into one
entry, so retrieving an identical report counts as a hit). Top-K accuracy uses the expected rank under a random
tie break: with ``g`` gallery entries strictly above the true report and ``t`` tied with it, the hit credit at K is
``clip((K - g) / (t + 1), 0, 1)`` — a constant model gets ``K / G``, chance. The label metrics compare the positive
findings of the top-1 retrieved report with those of the true report (our labeler stands in for CheXbert; a report
without positives counts as ``{"No Finding"}``), per image, then averaged over images (sample-averaged P / R / F1).

NCD: every normal image must rank its own normal report above every report of a gallery of abnormal ones (the
paper: one normal among 2,999 abnormal). Ties share the credit the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from cxrvlp.eval.bootstrap import DEFAULT_RESAMPLES, mean_metric, mean_metrics, resample_weights
from cxrvlp.eval.results import TaskResult


def topk_credit(sims: np.ndarray, target: np.ndarray, ks: Sequence[int]) -> dict[int, np.ndarray]:
    """Expected top-K hit of ``target`` per row under a random tie break.

    Args:
        sims: ``[N, G]`` query x gallery similarities.
        target: ``[N]`` gallery index of each query's right answer.
        ks: the K values.

    Returns:
        ``{K: [N] credit in [0, 1]}``.
    """
    true = sims[np.arange(len(sims)), target][:, None]  # (N, 1)
    greater = (sims > true).sum(axis=1)
    ties = (sims == true).sum(axis=1) - 1
    return {k: np.clip((k - greater) / (ties + 1), 0.0, 1.0) for k in ks}


def label_prf(retrieved: Sequence[frozenset[str]], true: Sequence[frozenset[str]]) -> dict[str, np.ndarray]:
    """Per-pair precision, recall and F1 of label sets (sets are never empty: normal = ``{"No Finding"}``).

    Returns:
        ``{"precision", "recall", "f1"}`` each ``[N]``.
    """
    inter = np.array([len(a & b) for a, b in zip(retrieved, true, strict=True)], dtype=np.float64)
    p = inter / np.array([max(len(a), 1) for a in retrieved], dtype=np.float64)
    r = inter / np.array([max(len(b), 1) for b in true], dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1.0), 0.0)
    return {"precision": p, "recall": r, "f1": f1}


def score_report_retrieval(
    image_emb: torch.Tensor,
    gallery_emb: torch.Tensor,
    target: np.ndarray,
    gallery_labels: Sequence[frozenset[str]],
    *,
    ks: Sequence[int] = (1, 5, 10),
    n_bootstrap: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> TaskResult:
    """Top-K accuracy and label precision / recall / F1 of image -> report retrieval.

    Args:
        image_emb: ``[N, D]`` query images.
        gallery_emb: ``[G, D]`` distinct reports.
        target: ``[N]`` index of each image's own report in the gallery.
        gallery_labels: ``[G]`` positive-finding sets of the gallery reports.
        ks: top-K values.
        n_bootstrap, seed: bootstrap over query images.

    Returns:
        ``TaskResult`` with ``top{K}`` for each K and ``precision``, ``recall``, ``f1`` (top-1 report's labels).
    """
    sims = (image_emb.float() @ gallery_emb.float().T).double().numpy()  # (N, G)
    target = np.asarray(target, dtype=np.int64)
    weights = resample_weights(len(sims), n_bootstrap, seed=seed)
    values = {f"top{k}": v for k, v in topk_credit(sims, target, ks).items()}
    top1 = sims.argmax(axis=1) if sims.size else np.zeros(0, dtype=np.int64)
    values.update(label_prf([gallery_labels[j] for j in top1], [gallery_labels[j] for j in target]))
    metrics = mean_metrics(values, weights)
    return TaskResult(
        "retrieval", metrics, info={"queries": len(sims), "gallery": int(gallery_emb.shape[0]), "ks": list(ks)}
    )


def score_normal_case_detection(
    image_emb: torch.Tensor,
    normal_emb: torch.Tensor,
    abnormal_emb: torch.Tensor,
    *,
    n_bootstrap: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> TaskResult:
    """Accuracy of finding the one normal report among ``A`` abnormal ones.

    Args:
        image_emb: ``[M, D]`` normal images.
        normal_emb: ``[M, D]`` each image's normal report.
        abnormal_emb: ``[A, D]`` the abnormal gallery (shared by all queries).
        n_bootstrap, seed: bootstrap over normal images.

    Returns:
        ``TaskResult`` with ``accuracy`` (credit 1 when the normal report is strictly first, ``1/(t+1)`` when tied
        with ``t`` abnormal ones) and ``info["abnormal"] = A``.
    """
    s_norm = (image_emb.float() * normal_emb.float()).sum(dim=1).double().numpy()[:, None]  # (M, 1)
    s_abn = (image_emb.float() @ abnormal_emb.float().T).double().numpy()  # (M, A)
    # Top-1 credit of the normal report (column 0) in a gallery of it and the abnormal ones.
    credit = topk_credit(np.concatenate([s_norm, s_abn], axis=1), np.zeros(len(s_norm), dtype=np.int64), (1,))[1]
    weights = resample_weights(len(credit), n_bootstrap, seed=seed)
    return TaskResult(
        "ncd",
        {"accuracy": mean_metric(credit, weights)},
        info={"normal": len(credit), "abnormal": int(abnormal_emb.shape[0])},
    )
