"""CUDA correctness of the losses under bf16 autocast (marked ``gpu``: skipped without a CUDA device)."""

from __future__ import annotations

import pytest
import torch
from _loss_reference import make_outputs

from cxrvlp.losses import DynamicSoftLabelLoss, info_nce

pytestmark = pytest.mark.gpu


def cuda_outputs(b: int, dtype: torch.dtype = torch.float32) -> dict:
    out = make_outputs(b, d=64, dtype=torch.float32)
    return {k: v.cuda().to(dtype) if k != "logit_scale" else v.cuda() for k, v in out.items()}


def test_bf16_autocast_cuda_close_to_float32_and_float32_terms() -> None:
    loss = DynamicSoftLabelLoss(graph_stream=True, graph_pairs=True)
    ref = sum(loss(**cuda_outputs(64)).values())
    out = cuda_outputs(64, torch.bfloat16)
    leaves = {k: v.requires_grad_(True) for k, v in out.items() if k.endswith("features")}
    with torch.autocast("cuda", dtype=torch.bfloat16):
        terms = loss(**out)
    assert all(v.dtype == torch.float32 for v in terms.values())
    value = sum(terms.values())
    value.backward()
    assert value.item() == pytest.approx(ref.item(), rel=2e-2)
    assert all(torch.isfinite(v.grad).all() for v in leaves.values())


def test_cuda_matches_cpu_and_chunked_matches_dense() -> None:
    cpu = make_outputs(32, d=64, dtype=torch.float32)
    loss = DynamicSoftLabelLoss(graph_stream=True, graph_pairs=True)
    on_cpu = sum(loss(**cpu).values()).item()
    on_gpu = sum(loss(**cuda_outputs(32)).values()).item()
    chunked = sum(DynamicSoftLabelLoss(graph_stream=True, graph_pairs=True, chunk_size=16)(**cuda_outputs(32)).values())
    assert on_gpu == pytest.approx(on_cpu, rel=1e-4)
    assert chunked.item() == pytest.approx(on_gpu, rel=1e-5)


def test_all_soft_off_is_infonce_on_cuda() -> None:
    out = cuda_outputs(16)
    terms = DynamicSoftLabelLoss(hard_negatives=False, text_stream=False, clinical_stream=False)(**out)
    expected = info_nce(out["image_features"], out["text_features"], out["logit_scale"])
    assert sum(terms.values()).item() == pytest.approx(expected.item(), rel=1e-5)
