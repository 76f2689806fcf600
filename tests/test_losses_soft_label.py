"""DynamicSoftLabelLoss (Ko & Park Eq. 1-10): naive references, invariants, chunked path, gradcheck, factory."""

from __future__ import annotations

import pytest
import torch
from _loss_reference import make_outputs, naive_dsl

from cxrvlp.config import LossConfig
from cxrvlp.losses import ABLATIONS, DynamicSoftLabelLoss, InfoNCE, ablation_config, create_loss, info_nce

DIFF_KEYS = ("image_features", "text_features", "hardneg_text_features", "graph_features", "hardneg_graph_features")


def total(terms: dict[str, torch.Tensor]) -> torch.Tensor:
    assert terms and all(k.endswith("_loss") for k in terms)
    return sum(terms.values())


def with_grad(out: dict) -> dict:
    return {k: (v.clone().requires_grad_(True) if k in DIFF_KEYS else v) for k, v in out.items()}


CASES = [
    dict(
        hard_negatives=True, streams={"text": (0.9, 1.0), "clinical": (0.8, 0.5), "graph": (0.7, 2.0)}, graph_pairs=True
    ),
    dict(hard_negatives=False, streams={"text": (0.9, 1.0), "clinical": (0.8, 1.0)}, graph_pairs=False),
    dict(hard_negatives=True, streams={"clinical": (0.5, 1.0)}, graph_pairs=False),
    dict(hard_negatives=True, streams={}, graph_pairs=True),
    dict(hard_negatives=False, streams={"graph": (0.6, 1.0)}, graph_pairs=False),
]


def build(case: dict, **kwargs) -> DynamicSoftLabelLoss:
    streams = case["streams"]
    return DynamicSoftLabelLoss(
        hard_negatives=case["hard_negatives"],
        graph_pairs=case["graph_pairs"],
        text_stream="text" in streams,
        clinical_stream="clinical" in streams,
        graph_stream="graph" in streams,
        tau_t=streams.get("text", (0.9, 1.0))[0],
        tau_c=streams.get("clinical", (0.9, 1.0))[0],
        tau_g=streams.get("graph", (0.9, 1.0))[0],
        w_t=streams.get("text", (0.9, 1.0))[1],
        w_c=streams.get("clinical", (0.9, 1.0))[1],
        w_g=streams.get("graph", (0.9, 1.0))[1],
        **kwargs,
    )


@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
@pytest.mark.parametrize("chunk_size", [0, 2])
def test_matches_naive_loop_reference_values_and_grads(case: dict, chunk_size: int) -> None:
    out = with_grad(make_outputs(4))
    terms = build(case, chunk_size=chunk_size)(**out)
    ref_out = with_grad(make_outputs(4))
    ref = naive_dsl(ref_out, **case)
    assert terms.keys() == ref.keys()
    for key in ref:
        assert terms[key].item() == pytest.approx(ref[key].item(), abs=1e-10), key
    grads = torch.autograd.grad(total(terms), [out[k] for k in DIFF_KEYS], allow_unused=True)
    ref_grads = torch.autograd.grad(total(ref), [ref_out[k] for k in DIFF_KEYS], allow_unused=True)
    for key, g, r in zip(DIFF_KEYS, grads, ref_grads, strict=True):
        if r is None:
            assert g is None or not g.abs().any(), key
        else:
            torch.testing.assert_close(g, r, atol=1e-10, rtol=1e-8, msg=key)


def test_duplicates_give_genuinely_soft_targets() -> None:
    """The reference data must exercise soft rows, else the comparisons above would only test one-hot targets."""
    out = make_outputs(4)
    hard = DynamicSoftLabelLoss(text_stream=False, clinical_stream=False)(**out)
    soft = DynamicSoftLabelLoss(text_stream=True, clinical_stream=False)(**out)
    assert soft["i2t_loss"].item() != pytest.approx(hard["i2t_loss"].item(), abs=1e-3)


@pytest.mark.parametrize("b", [1, 3, 8])
def test_all_soft_off_without_hard_negatives_is_infonce(b: int) -> None:
    out = make_outputs(b, dup=False)
    loss = DynamicSoftLabelLoss(hard_negatives=False, text_stream=False, clinical_stream=False)(**out)
    expected = info_nce(out["image_features"], out["text_features"], out["logit_scale"])
    assert total(loss).item() == pytest.approx(expected.item(), abs=1e-12)
    assert total(InfoNCE()(**out)).item() == pytest.approx(expected.item(), abs=1e-12)
    # a stream whose threshold nothing but the diagonal passes gives one-hot targets too
    only_self = DynamicSoftLabelLoss(hard_negatives=False, text_stream=True, clinical_stream=False, tau_t=0.999)
    assert total(only_self(**out)).item() == pytest.approx(expected.item(), abs=1e-12)


@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
def test_batch_permutation_invariance(case: dict) -> None:
    out = make_outputs(6)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    permuted = {k: (v if k == "logit_scale" else v[perm]) for k, v in out.items()}
    loss = build(case)
    assert total(loss(**permuted)).item() == pytest.approx(total(loss(**out)).item(), abs=1e-12)


@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
@pytest.mark.parametrize("chunk_size", [1, 3, 7])
def test_chunked_equals_dense(case: dict, chunk_size: int) -> None:
    out_a, out_b = with_grad(make_outputs(7)), with_grad(make_outputs(7))
    dense = build(case)(**out_a)
    chunked = build(case, chunk_size=chunk_size)(**out_b)
    assert dense.keys() == chunked.keys()
    for key in dense:
        assert chunked[key].item() == pytest.approx(dense[key].item(), abs=1e-12), key
    total(dense).backward()
    total(chunked).backward()
    for key in DIFF_KEYS:
        if out_a[key].grad is not None:
            torch.testing.assert_close(out_b[key].grad, out_a[key].grad, atol=1e-12, rtol=1e-10, msg=key)


@pytest.mark.parametrize("chunk_size", [0, 2])
def test_gradcheck_full_loss(chunk_size: int) -> None:
    """float64 gradcheck of t+c+g with hard negatives and graph pairs. Targets are constants, so text / graph
    thresholds are set where only the diagonal passes (targets locally constant under the finite differences);
    the clinical stream (not an input here) carries the genuinely soft targets."""
    out = make_outputs(3, d=6)
    loss = DynamicSoftLabelLoss(graph_stream=True, graph_pairs=True, tau_t=0.999, tau_g=0.999, tau_c=0.5)
    loss.chunk_size = chunk_size
    inputs = tuple(out[k].clone().requires_grad_(True) for k in DIFF_KEYS) + (
        out["logit_scale"].clone().requires_grad_(True),
    )

    def fn(*xs: torch.Tensor) -> torch.Tensor:
        kwargs = dict(zip(DIFF_KEYS, xs[:-1], strict=True))
        return total(
            loss(**kwargs, logit_scale=xs[-1], clinical=out["clinical"], hardneg_clinical=out["hardneg_clinical"])
        )

    assert torch.autograd.gradcheck(fn, inputs, fast_mode=chunk_size > 0)


def test_zero_clinical_rows_are_finite() -> None:
    out = with_grad(make_outputs(4))
    out["clinical"] = torch.zeros_like(out["clinical"])
    out["hardneg_clinical"] = torch.zeros_like(out["hardneg_clinical"])
    terms = DynamicSoftLabelLoss(text_stream=False)(**out)
    total(terms).backward()
    assert torch.isfinite(total(terms)) and torch.isfinite(out["image_features"].grad).all()
    # every clinical row empty -> one-hot targets -> CLIP^N
    hard = DynamicSoftLabelLoss(text_stream=False, clinical_stream=False)(**make_outputs(4))
    assert total(terms).item() == pytest.approx(total(hard).item(), abs=1e-12)


def test_bf16_autocast_cpu_terms_are_float32_and_close() -> None:
    out = make_outputs(8, dtype=torch.float32)
    loss = DynamicSoftLabelLoss(graph_stream=True, graph_pairs=True)
    ref = total(loss(**out))
    bf16 = {k: (v if k == "logit_scale" else v.bfloat16()) for k, v in out.items()}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms = loss(**bf16)
    assert all(v.dtype == torch.float32 for v in terms.values())
    assert total(terms).item() == pytest.approx(ref.item(), rel=2e-2)


def _near_tau_features(b: int = 32) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Images, texts and a tau where every off-diagonal ``S_t`` is tau + 2^-9, below bf16's resolution there.

    All entries and every image-text product are exact in bf16 (so the logits are the same with and without
    autocast); only ``T T^T`` needs more bits: off-diagonal 0.5 + 2^-10, diagonal 0.5 + 2^-9, which bf16 rounds
    to 0.5. With ``tau = 0.5 - 2^-10`` fp32 targets are twice the bf16 ones.
    """
    d = 3 + b
    text = torch.zeros(b, d)
    text[:, :2] = 0.5
    text[:, 2] = 2**-5
    text[torch.arange(b), 3 + torch.arange(b)] = 2**-5
    image = torch.zeros(b, d)
    image[torch.arange(b), 3 + torch.arange(b)] = 1.0
    return image, text, 0.5 - 2**-10


def test_bf16_autocast_does_not_blur_soft_targets_near_tau(monkeypatch) -> None:
    import cxrvlp.losses.soft_label as soft_label

    image, text, tau = _near_tau_features()
    sim = text @ text.T
    assert sim[0, 1].item() == 0.5 + 2**-10 and (sim.bfloat16()[0, 1] == 0.5).item()  # the fixture is near tau
    loss = DynamicSoftLabelLoss(hard_negatives=False, clinical_stream=False, tau_t=tau, gather=False)
    inputs = {"image_features": image, "text_features": text, "logit_scale": torch.tensor(16.0)}
    ref = loss(**inputs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = loss(**inputs)
    for key in ("i2t_loss", "t2i_loss"):
        assert got[key].dtype == torch.float32
        assert got[key].item() == pytest.approx(ref[key].item(), rel=1e-4), key
    # the same loss with S as a plain product under autocast (bf16) is far off: the check above can fail
    monkeypatch.setattr(soft_label, "_similarity_fp32", lambda a, b: a @ b.T)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        blurred = loss(**inputs)
    assert blurred["i2t_loss"].item() > 5 * ref["i2t_loss"].item()


def test_missing_inputs_name_the_key() -> None:
    out = make_outputs(3)
    with pytest.raises(ValueError, match="hardneg_text_features"):
        DynamicSoftLabelLoss()(**{**out, "hardneg_text_features": None})
    with pytest.raises(ValueError, match="'clinical'"):
        DynamicSoftLabelLoss()(**{**out, "clinical": None})
    with pytest.raises(ValueError, match="graph_features"):
        DynamicSoftLabelLoss(graph_pairs=True)(**{**out, "graph_features": None})
    with pytest.raises(ValueError, match="tau_c"):
        DynamicSoftLabelLoss(tau_c=1.0)


def test_streams_off_do_not_need_their_inputs() -> None:
    out = make_outputs(3)
    slim = {
        "image_features": out["image_features"],
        "text_features": out["text_features"],
        "logit_scale": out["logit_scale"],
    }
    terms = DynamicSoftLabelLoss(hard_negatives=False, text_stream=True, clinical_stream=False)(**slim)
    assert set(terms) == {"i2t_loss", "t2i_loss"}


@pytest.mark.parametrize("row", list(ABLATIONS))
def test_every_ablation_row_builds_and_runs(row: str) -> None:
    cfg = ablation_config(row, LossConfig(tau_t=0.85))
    assert cfg.tau_t == 0.85
    loss = create_loss(cfg)
    out = with_grad(make_outputs(4))
    value = total(loss(**out))
    value.backward()
    assert torch.isfinite(value)
    terms = loss(**out)
    uses_graph = "G" in row.split("-")[0]
    assert any(k.startswith("i2g") for k in terms) == uses_graph
    for flag, letter in (("text_stream", "t"), ("clinical_stream", "c"), ("graph_stream", "g")):
        in_row = "-D_" in row and letter in row.split("-D_")[1]
        assert getattr(loss, flag, False) == in_row, (row, flag)


def test_ablation_rows_with_hard_negatives_use_them() -> None:
    out = make_outputs(4)
    for row, cfg in ABLATIONS.items():
        n_in_row = "N" in row.split("-")[0]
        assert cfg.get("hard_negatives", False) == n_in_row, row
    clip_n = total(create_loss(ablation_config("CLIP^N"))(**out))
    clip = total(create_loss(ablation_config("CLIP"))(**out))
    assert clip_n.item() > clip.item()  # extra negatives only add to the image->text partition function


def test_create_loss_unknown_name_lists_valid_names() -> None:
    with pytest.raises(KeyError, match="conclip, dsl, infonce"):
        create_loss(LossConfig(name="nope"))


@pytest.mark.parametrize("shape", [(3, 5, 3, 3), (4, 4, 4, 4), (2, 6, 2, 2)])
def test_pair_target_log_prob_matches_autograd(shape: tuple[int, int, int, int]) -> None:
    """The shared-logits pair function: values and gradients equal two log-softmaxes and dot products (float64)."""
    from cxrvlp.losses.soft_label import _PairTargetLogProb

    rows, cols, m, r = shape
    g = torch.Generator().manual_seed(1)
    lg = torch.randn(rows, cols, generator=g, dtype=torch.float64, requires_grad=True)
    y_rows = torch.rand(rows, cols, generator=g, dtype=torch.float64)
    y_cols = torch.rand(m, r, generator=g, dtype=torch.float64)
    y_cols[0] = 0.0  # zero targets contribute nothing
    a, b = _PairTargetLogProb.apply(lg, y_rows, y_cols)
    ref_a = (y_rows * torch.log_softmax(lg, dim=1)).sum()
    ref_b = (y_cols * torch.log_softmax(lg[:m, :r], dim=0)).sum()
    assert a.item() == pytest.approx(ref_a.item(), abs=1e-13) and b.item() == pytest.approx(ref_b.item(), abs=1e-13)
    got = torch.autograd.grad(2.0 * a - 3.0 * b, lg)[0]
    ref = torch.autograd.grad(2.0 * ref_a - 3.0 * ref_b, lg)[0]
    torch.testing.assert_close(got, ref, atol=1e-13, rtol=0)
    assert torch.autograd.gradcheck(lambda x: _PairTargetLogProb.apply(x, y_rows, y_cols), (lg,))
