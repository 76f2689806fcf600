"""Pure tensor maths of the contrastive losses (Ko & Park Eq. 1-9; CLIP InfoNCE). No state, no modules.

Shapes: ``B`` images, ``N`` texts / graphs (``N = 2B`` with hard negatives ``[originals; hard negatives]``,
``N = B`` without), ``D`` embedding size. Features are L2-normalised unless stated otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def upcast(x: Tensor) -> Tensor:
    """``x`` in at least float32 (bf16 / fp16 become float32, float64 stays float64)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def similarity(a: Tensor, b: Tensor) -> Tensor:
    """Dot-product similarity ``a @ b.T`` (Eq. 3, 8; cosine for L2-normalised rows).

    Args:
        a: ``[R, D]``.
        b: ``[M, D]``.

    Returns:
        ``[R, M]``.
    """
    return a @ b.T


def logits(a: Tensor, b: Tensor, logit_scale: Tensor | float) -> Tensor:
    """Scaled cross-modal logits ``logit_scale * a @ b.T`` (the exponents of Eq. 1 and 2, ``1/tau = logit_scale``).

    Args:
        a: ``[R, D]`` row features.
        b: ``[M, D]`` column features.
        logit_scale: scalar (already exponentiated and clamped by the model).

    Returns:
        ``[R, M]`` logits; row ``r`` softmaxed over its ``M`` columns is ``p_r`` of Eq. 1 / 2.

    The scale multiplies ``a`` (``R x D``) rather than the product (``R x M``), as open_clip's
    ``logit_scale * image @ text.T`` does: the same logits for ``R * D`` instead of ``R * M`` multiplications,
    forward and backward.
    """
    return (logit_scale * a) @ b.T


def normalize_clinical(clinical: Tensor) -> Tensor:
    """L2-normalise raw clinical label vectors in float32; an all-zero row stays zero (no NaN).

    Args:
        clinical: ``[R, 14]`` raw vectors from the text engine's ``clinical_vector``.

    Returns:
        ``[R, 14]`` float32 (float64 for float64 input) rows of unit norm (or zero).
    """
    return F.normalize(upcast(clinical.detach()), dim=-1, eps=1e-12)


def soft_labels(sim: Tensor, threshold: float, *, diagonal_offset: int = 0) -> Tensor:
    """Dynamic soft labels, Eq. (4) / (5) / (9), row-normalised.

    ``y[i, j] = (S[i, j] - tau) / (1 - tau)`` where ``S[i, j] > tau`` else 0, then each row is divided by its sum.
    The factor ``1 / (1 - tau)`` cancels in the row normalisation, so it is not applied.

    Fallback: a row with no entry above the threshold (e.g. the zero clinical vector of a report with no label,
    whose self-similarity is 0) becomes the one-hot of its own pair, column ``row + diagonal_offset`` -- i.e. the
    plain InfoNCE target. For a self-similarity the diagonal is 1 > tau, so a row normally keeps itself anyway.

    The result is a constant (computed in float32, or float64 for float64 input, from ``sim.detach()``): targets
    are labels, no gradient flows through them.

    Args:
        sim: ``[R, M]`` similarities, row ``r``'s own pair at column ``r + diagonal_offset``.
        threshold: ``tau`` in ``[-1, 1)``.
        diagonal_offset: column of row 0's own pair (``r0`` when ``sim`` holds rows ``r0:r1`` of a bigger matrix).

    Returns:
        ``[R, M]`` non-negative, every row sums to 1.

    Raises:
        ValueError: for ``threshold >= 1`` or when some row has no own-pair column.
    """
    if not threshold < 1.0:
        raise ValueError(f"soft-label threshold must be < 1, got {threshold}")
    rows, cols = sim.shape
    if rows + diagonal_offset > cols or diagonal_offset < 0:
        raise ValueError(f"rows {diagonal_offset}..{diagonal_offset + rows} have no own column in a [{rows}, {cols}]")
    y = (upcast(sim.detach()) - threshold).clamp_min_(0.0)  # (R, M), Eq. 4 numerator
    row_sum = y.sum(dim=1)  # (R,)
    empty = (row_sum == 0).to(y.dtype)  # (R,) 1 for rows with nothing above tau
    y.diagonal(offset=diagonal_offset).add_(empty)  # fallback: one-hot of the own pair
    return y.div_(row_sum.add_(empty).unsqueeze(1))


def kl_from_log_probs(log_probs: Tensor, targets: Tensor) -> Tensor:
    """Mean over rows of ``KL(targets[r] || exp(log_probs[r]))``; zero targets contribute exactly 0.

    Args:
        log_probs: ``[R, M]`` float32 (or float64) log-softmax of logits over the last dim.
        targets: ``[R, M]`` rows summing to 1 (constants).

    Returns:
        scalar of ``log_probs``' dtype.
    """
    targets = targets.to(log_probs.dtype)
    entropy_term = torch.xlogy(targets, targets).sum()  # sum t log t, 0 log 0 = 0
    cross_term = (targets * log_probs).sum()
    return (entropy_term - cross_term) / log_probs.shape[0]


def soft_kl(logits: Tensor, targets: Tensor) -> Tensor:
    """Eq. (6) / (7): ``1/R sum_r KL(targets[r] || softmax(logits[r]))``.

    The log-softmax runs in float32 even under bf16 autocast (float64 inputs stay float64). With one-hot targets
    this equals ``F.cross_entropy(logits, labels)``.

    Args:
        logits: ``[R, M]`` any float dtype.
        targets: ``[R, M]`` non-negative rows summing to 1.

    Returns:
        scalar float32.
    """
    return kl_from_log_probs(torch.log_softmax(upcast(logits), dim=-1), targets)


def info_nce_terms(image_features: Tensor, text_features: Tensor, logit_scale: Tensor | float) -> tuple[Tensor, Tensor]:
    """The two cross-entropies of CLIP's InfoNCE, ``(CE(I T^T), CE(T I^T))``.

    Args:
        image_features: ``[B, D]``.
        text_features: ``[B, D]`` (row ``i`` pairs with image ``i``).
        logit_scale: scalar.

    Returns:
        ``(ce_i2t, ce_t2i)``, scalar float32 each.
    """
    lg = upcast(logits(image_features, text_features, logit_scale))  # (B, B)
    labels = torch.arange(lg.shape[0], device=lg.device)
    return F.cross_entropy(lg, labels), F.cross_entropy(lg.T, labels)


def info_nce(image_features: Tensor, text_features: Tensor, logit_scale: Tensor | float) -> Tensor:
    """Symmetric CLIP InfoNCE, as open_clip's ``ClipLoss``: ``(CE(I T^T) + CE(T I^T)) / 2``.

    Args:
        image_features: ``[B, D]``.
        text_features: ``[B, D]`` (row ``i`` pairs with image ``i``).
        logit_scale: scalar.

    Returns:
        scalar float32.
    """
    ce_i2t, ce_t2i = info_nce_terms(image_features, text_features, logit_scale)
    return (ce_i2t + ce_t2i) / 2
