"""``loss.mask_own_hardneg``: a report's own hard negative gets no text / graph-stream target (known answers)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from cxrvlp.config import LossConfig
from cxrvlp.losses import DynamicSoftLabelLoss, create_loss

# Two reports e1, e2 and their hard negatives n1, n2: S_t rows of the originals over [e1, e2, n1, n2] are
# [1, 0, .8, .6] and [0, 1, .6, .8]; with tau = 0.7 the literal Eq. 4 target of row 0 is [.75, 0, .25, 0].
TEXT = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
HARDNEG = torch.tensor([[0.8, 0.6], [0.6, 0.8]])
IMAGE = F.normalize(torch.tensor([[0.9, 0.2], [0.1, 1.0]]), dim=-1)
SCALE = torch.tensor(5.0)


def _loss(**kw) -> DynamicSoftLabelLoss:
    base = dict(hard_negatives=True, text_stream=True, clinical_stream=False, tau_t=0.7, gather=False)
    return DynamicSoftLabelLoss(**(base | kw))


def _outputs(**extra) -> dict:
    return dict(image_features=IMAGE, text_features=TEXT, hardneg_text_features=HARDNEG, logit_scale=SCALE) | extra


def _i2t_with_targets(targets: torch.Tensor) -> torch.Tensor:
    logp = torch.log_softmax(SCALE * IMAGE @ torch.cat([TEXT, HARDNEG]).T, dim=-1)
    return 0.5 * (torch.xlogy(targets, targets) - targets * logp).sum(1).mean()


def test_literal_eq4_puts_mass_on_own_hard_negative_and_the_mask_removes_it() -> None:
    literal = _loss()(**_outputs())
    expected = _i2t_with_targets(torch.tensor([[0.75, 0.0, 0.25, 0.0], [0.0, 0.75, 0.0, 0.25]]))
    torch.testing.assert_close(literal["i2t_loss"], expected)

    masked = _loss(mask_own_hardneg=True)(**_outputs())
    torch.testing.assert_close(masked["i2t_loss"], _i2t_with_targets(torch.eye(2, 4)))
    # here the own hard negative was the only soft positive, so the masked loss is CLIP^N's (one-hot targets)
    clip_n = _loss(text_stream=False)(**_outputs())
    for key in ("i2t_loss", "t2i_loss"):
        torch.testing.assert_close(masked[key], clip_n[key])
    assert not math.isclose(float(literal["i2t_loss"]), float(masked["i2t_loss"]), rel_tol=1e-4)


def test_mask_keeps_other_soft_positives_and_renormalises() -> None:
    # a third report e3 = n1 direction: row 0 keeps e3 (0.8 > tau) but not n1 (its own hard negative)
    text = torch.cat([TEXT, HARDNEG[:1]])
    hardneg = torch.cat([HARDNEG, F.normalize(torch.tensor([[-1.0, 0.2]]), dim=-1)])
    image = F.normalize(torch.randn(3, 2, generator=torch.Generator().manual_seed(0)), dim=-1)
    out = dict(image_features=image, text_features=text, hardneg_text_features=hardneg, logit_scale=SCALE)
    masked = _loss(mask_own_hardneg=True)(**out)
    reports = torch.cat([text, hardneg])  # (6, 2)
    sim = text @ reports.T  # (3, 6)
    y = (sim - 0.7).clamp_min(0)
    y[torch.arange(3), torch.arange(3) + 3] = 0.0  # own hard negatives
    y = y / y.sum(1, keepdim=True)
    assert y[0, 2] > 0 and y[0, 3] == 0  # e3 kept, n1 masked
    logp = torch.log_softmax(SCALE * image @ reports.T, dim=-1)
    expected = 0.5 * (torch.xlogy(y, y) - y * logp).sum(1).mean()
    torch.testing.assert_close(masked["i2t_loss"], expected)


def test_graph_pairs_rows_of_hard_negatives_are_masked_too_and_chunked_path_agrees() -> None:
    extra = dict(graph_features=TEXT, hardneg_graph_features=HARDNEG)  # graph stream == text geometry
    kw = dict(graph_pairs=True, graph_stream=True, tau_g=0.7, mask_own_hardneg=True)
    dense = _loss(**kw)(**_outputs(**extra))
    chunked = _loss(chunk_size=1, **kw)(**_outputs(**extra))
    for key in dense:
        torch.testing.assert_close(dense[key], chunked[key])
    # t2g rows: report n1 (row 2) must put no target on e1 (col 0): compare with an explicit reference
    reports = torch.cat([TEXT, HARDNEG])
    sim = reports @ reports.T
    y = (sim - 0.7).clamp_min(0)
    for i in range(2):
        y[i, i + 2] = y[i + 2, i] = 0.0
    y = y / y.sum(1, keepdim=True)  # text and graph streams are identical here (weights 1): twice y
    logp = torch.log_softmax(SCALE * reports @ reports.T, dim=-1)
    expected = 0.5 * (2 * torch.xlogy(y, y).sum() - (2 * y * logp).sum()) / 4
    torch.testing.assert_close(dense["t2g_loss"], expected)


def test_config_flag_reaches_the_loss_and_defaults_off() -> None:
    assert not LossConfig().mask_own_hardneg
    assert create_loss(LossConfig(mask_own_hardneg=True)).mask_own_hardneg
    literal = create_loss(LossConfig(clinical_stream=False, tau_t=0.7, gather=False))(**_outputs())
    torch.testing.assert_close(literal["i2t_loss"], _loss()(**_outputs())["i2t_loss"])


def test_mask_is_a_no_op_without_hard_negatives() -> None:
    out = dict(image_features=IMAGE, text_features=TEXT, logit_scale=SCALE)
    a = _loss(hard_negatives=False)(**out)
    b = _loss(hard_negatives=False, mask_own_hardneg=True)(**out)
    for key in a:
        torch.testing.assert_close(a[key], b[key])
