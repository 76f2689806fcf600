"""InfoNCE (CLIP / CON1) and the CoN-CLIP-style CON2 loss against naive loop references."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from _loss_reference import make_outputs

from cxrvlp.config import LossConfig
from cxrvlp.losses import ConCLIPLoss, InfoNCE, create_loss


def naive_ce(rows: torch.Tensor, cols: torch.Tensor, scale: float, positive: list[int]) -> float:
    """Mean over rows of -log softmax(scale * rows @ cols.T)[r, positive[r]], with explicit loops."""
    total = 0.0
    for r in range(rows.shape[0]):
        logits = [scale * float(rows[r] @ cols[j]) for j in range(cols.shape[0])]
        lse = math.log(sum(math.exp(v) for v in logits))
        total += lse - logits[positive[r]]
    return total / rows.shape[0]


def test_infonce_matches_naive_and_ignores_extra_streams() -> None:
    out = make_outputs(5)
    terms = InfoNCE()(**out)
    i, t, s = out["image_features"], out["text_features"], out["logit_scale"].item()
    assert terms["i2t_loss"].item() == pytest.approx(0.5 * naive_ce(i, t, s, list(range(5))), abs=1e-10)
    assert terms["t2i_loss"].item() == pytest.approx(0.5 * naive_ce(t, i, s, list(range(5))), abs=1e-10)


@pytest.mark.parametrize("distractors", [False, True])
@pytest.mark.parametrize("weight", [1.0, 0.3])
def test_conclip_matches_naive(distractors: bool, weight: float) -> None:
    out = make_outputs(4)
    b = 4
    i, t, n, s = out["image_features"], out["text_features"], out["hardneg_text_features"], out["logit_scale"].item()
    d = out["graph_features"] if distractors else None
    terms = ConCLIPLoss(distractor_weight=weight)(**{**out, "distractor_image_features": d})
    captions = torch.cat([t, n])
    images = i if d is None else torch.cat([i, d])
    denom = 3 if distractors else 2
    expected = {
        "i2t_loss": naive_ce(i, captions, s, list(range(b))) / denom,
        "t2i_loss": naive_ce(t, images, s, list(range(b))) / denom,
    }
    if distractors:  # distractor image k illustrates the negated caption k (column b + k)
        expected["distractor_loss"] = weight * naive_ce(d, captions, s, [b + k for k in range(b)]) / denom
    assert terms.keys() == expected.keys()
    for key, value in expected.items():
        assert terms[key].item() == pytest.approx(value, abs=1e-10), key


def test_conclip_reference_formula_with_negative_images() -> None:
    """CoN-CLIP's reference: mean of CE(I [T;Tn]^T), CE(T [I;Id]^T), CE(Id [Tn;T]^T), labels arange(B)."""
    out = make_outputs(3)
    i, t, n, d = out["image_features"], out["text_features"], out["hardneg_text_features"], out["graph_features"]
    s, labels = out["logit_scale"], torch.arange(3)
    ref = (
        F.cross_entropy(s * i @ torch.cat([t, n]).T, labels)
        + F.cross_entropy(s * t @ torch.cat([i, d]).T, labels)
        + F.cross_entropy(s * d @ torch.cat([n, t]).T, labels)
    ) / 3
    got = sum(create_loss(LossConfig(name="conclip"))(**{**out, "distractor_image_features": d}).values())
    assert got.item() == pytest.approx(ref.item(), abs=1e-12)


def test_conclip_needs_negated_captions() -> None:
    out = make_outputs(3)
    with pytest.raises(ValueError, match="hardneg_text_features"):
        ConCLIPLoss()(**{**out, "hardneg_text_features": None})
