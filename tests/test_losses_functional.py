"""cxrvlp.losses.functional against hand-computed 3x3 numbers and naive loop references."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from _loss_reference import naive_kl_row, naive_soft_row

from cxrvlp.losses import functional as LF

S3 = torch.tensor([[1.0, 0.95, 0.5], [0.95, 1.0, 0.92], [0.5, 0.92, 1.0]], dtype=torch.float64)


def test_soft_labels_hand_computed_3x3() -> None:
    # tau = 0.9: (S - 0.9) / 0.1 -> [1, .5, 0], [.5, 1, .2], [0, .2, 1], then rows normalised
    expected = torch.tensor([[2 / 3, 1 / 3, 0.0], [5 / 17, 10 / 17, 2 / 17], [0.0, 1 / 6, 5 / 6]], dtype=torch.float64)
    torch.testing.assert_close(LF.soft_labels(S3, 0.9), expected)


def test_soft_labels_fallback_is_own_pair_one_hot() -> None:
    sim = torch.tensor([[0.2, 0.1, 0.3, 0.95], [0.0, 0.0, 0.0, 0.0]])  # row 0 has an entry above tau, row 1 none
    y = LF.soft_labels(sim, 0.9, diagonal_offset=2)
    torch.testing.assert_close(y, torch.tensor([[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0]]))
    y = LF.soft_labels(torch.zeros(3, 6), 0.5, diagonal_offset=1)
    torch.testing.assert_close(y, torch.eye(6)[1:4])


@pytest.mark.parametrize("tau", [-0.5, 0.0, 0.3, 0.9, 0.99])
def test_soft_labels_matches_naive_rows_and_sums_to_one(tau: float) -> None:
    x = F.normalize(torch.randn(7, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64), dim=-1)
    x[3] = 0.0  # zero vector: self-similarity 0, falls back when tau >= 0
    sim = x[:4] @ x.T
    y = LF.soft_labels(sim, tau)
    assert not y.requires_grad and torch.isfinite(y).all()
    torch.testing.assert_close(y.sum(1), torch.ones(4, dtype=torch.float64), atol=1e-12, rtol=0)
    for i in range(4):
        torch.testing.assert_close(y[i], torch.tensor(naive_soft_row(sim[i].tolist(), tau, i), dtype=y.dtype))


def test_soft_labels_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="threshold"):
        LF.soft_labels(S3, 1.0)
    with pytest.raises(ValueError, match="own column"):
        LF.soft_labels(torch.zeros(3, 3), 0.5, diagonal_offset=1)


def test_soft_kl_hand_computed_3x3() -> None:
    # uniform p = 1/3: KL(y || p) = log 3 - H(y)
    y = LF.soft_labels(S3, 0.9).double()
    entropy = [-sum(v * math.log(v) for v in row if v > 0) for row in y.tolist()]
    expected = sum(math.log(3) - h for h in entropy) / 3
    assert LF.soft_kl(torch.zeros(3, 3, dtype=torch.float64), y).item() == pytest.approx(expected, abs=1e-6)


def test_soft_kl_matches_naive_and_cross_entropy() -> None:
    g = torch.Generator().manual_seed(2)
    lg = torch.randn(4, 6, generator=g, dtype=torch.float64) * 3
    y = torch.rand(4, 6, generator=g, dtype=torch.float64) * (torch.rand(4, 6, generator=g) > 0.5)
    y[:, 0] += 0.1
    y = y / y.sum(1, keepdim=True)
    naive = sum(naive_kl_row(y[i].tolist(), list(lg[i])) for i in range(4)) / 4
    assert LF.soft_kl(lg, y).item() == pytest.approx(naive.item(), abs=1e-10)
    labels = torch.tensor([0, 3, 5, 1])
    one_hot = F.one_hot(labels, 6).double()
    assert LF.soft_kl(lg, one_hot).item() == pytest.approx(F.cross_entropy(lg, labels).item(), abs=1e-10)


def test_soft_kl_zero_targets_contribute_nothing_even_at_minus_inf_logits() -> None:
    lg = torch.tensor([[0.0, -1e30, 1.0]], requires_grad=True)
    loss = LF.soft_kl(lg, torch.tensor([[0.5, 0.0, 0.5]]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(lg.grad).all()


def test_soft_kl_gradcheck() -> None:
    g = torch.Generator().manual_seed(3)
    y = torch.softmax(torch.randn(3, 5, generator=g, dtype=torch.float64), dim=-1) * (torch.arange(5) != 2)
    y = y / y.sum(1, keepdim=True)
    lg = torch.randn(3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: LF.soft_kl(z, y), (lg,))


def test_soft_kl_float32_under_bf16_autocast() -> None:
    lg = torch.randn(4, 4).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = LF.soft_kl(lg, torch.eye(4))
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(F.cross_entropy(lg.float(), torch.arange(4)).item(), abs=1e-5)


def test_similarity_and_logits() -> None:
    a, b = torch.randn(3, 4), torch.randn(5, 4)
    torch.testing.assert_close(
        LF.similarity(a, b), torch.tensor([[float(a[i] @ b[j]) for j in range(5)] for i in range(3)])
    )
    torch.testing.assert_close(LF.logits(a, b, torch.tensor(2.0)), 2 * LF.similarity(a, b))


def test_info_nce_hand_computed_3x3() -> None:
    e = torch.eye(3, dtype=torch.float64)  # logits = identity: CE per row = log(e + 2) - 1
    assert LF.info_nce(e, e, 1.0).item() == pytest.approx(math.log(math.e + 2) - 1, abs=1e-12)


def test_info_nce_terms_are_the_two_directions() -> None:
    from cxrvlp.losses.clip import InfoNCE

    g = torch.Generator().manual_seed(0)
    img, txt = F.normalize(torch.randn(4, 8, generator=g), dim=-1), F.normalize(torch.randn(4, 8, generator=g), dim=-1)
    ce_i2t, ce_t2i = LF.info_nce_terms(img, txt, 10.0)
    lg = 10.0 * img @ txt.T
    torch.testing.assert_close(ce_i2t, F.cross_entropy(lg, torch.arange(4)))
    torch.testing.assert_close(ce_t2i, F.cross_entropy(lg.T, torch.arange(4)))
    torch.testing.assert_close(LF.info_nce(img, txt, 10.0), (ce_i2t + ce_t2i) / 2)
    out = InfoNCE(gather=False)(image_features=img, text_features=txt, logit_scale=torch.tensor(10.0))
    torch.testing.assert_close(out["i2t_loss"], ce_i2t / 2)
    torch.testing.assert_close(out["t2i_loss"], ce_t2i / 2)


def test_normalize_clinical_zero_row_stays_zero() -> None:
    c = LF.normalize_clinical(torch.tensor([[0.0, 0.0], [3.0, 4.0]]))
    torch.testing.assert_close(c, torch.tensor([[0.0, 0.0], [0.6, 0.8]]))
