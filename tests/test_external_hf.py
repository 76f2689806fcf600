"""Hugging Face CLIP / SigLIP adapters (``hf:DIR``) through every part of cxrvlp: encoders against transformers'
own outputs, Predictor, attribution, head ablation, an evaluation task, CON2 fine-tuning, save and reload."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _external_models import save_tiny_clip, save_tiny_siglip
from PIL import Image

from cxrvlp.analysis import attribute, head_sweep, mask_heads, occlusion
from cxrvlp.eval import EvalItem, evaluate
from cxrvlp.inference import Predictor
from cxrvlp.models import CheckpointError, ExternalClip, WeightsError, load_model, parse_spec

REPORT = "FINDINGS: Small right pleural effusion. No pneumothorax."
NEGATED = "FINDINGS: No right pleural effusion. No pneumothorax."
BUILDERS = {"clip": save_tiny_clip, "siglip": save_tiny_siglip}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def model_dir(request, tmp_path_factory) -> Path:
    return BUILDERS[request.param](tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="module")
def image() -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (70, 60), dtype=np.uint8))


def _hf_reference(model: ExternalClip, tok: dict[str, torch.Tensor]) -> torch.Tensor:
    """transformers' own text features: CLIP as its docs call it; SigLIP padded to max length with no mask."""
    if model.family == "clip":
        out = model.model.get_text_features(**tok)
    else:
        ids = F.pad(tok["input_ids"], (0, model.text.max_length - tok["input_ids"].shape[1]), value=0)
        out = model.model.get_text_features(input_ids=ids)
    return F.normalize(out.pooler_output, dim=-1)


def test_encoders_match_transformers_and_do_not_depend_on_the_batch(model_dir: Path, image: Image.Image) -> None:
    model = load_model(f"hf:{model_dir}")
    assert isinstance(model, ExternalClip) and model.family in model_dir.name
    tok = model.tokenize([REPORT, "Cardiomegaly."])
    with torch.no_grad():
        feats = model.encode_text(tok["input_ids"], tok["attention_mask"])
        alone = model.tokenize(["Cardiomegaly."])
        single = model.encode_text(alone["input_ids"], alone["attention_mask"])
        torch.testing.assert_close(feats, _hf_reference(model, tok))
        torch.testing.assert_close(feats[1], single[0], atol=1e-5, rtol=0)
        pixels = model.image_transform()(image)[None]  # the model's own processor
        expected = F.normalize(model.model.get_image_features(pixel_values=pixels).pooler_output, dim=-1)
        torch.testing.assert_close(model.encode_image(pixels), expected)
    assert pixels.shape == (1, 3, 32, 32) and feats.norm(dim=-1).allclose(torch.ones(2))
    assert model.supports("attribution") and model.supports("head_ablation") and not model.supports("graph")
    with pytest.raises(NotImplementedError, match="graph"):
        model.encode_graph(None)


def test_predictor_similarity_and_describe(model_dir: Path, image: Image.Image) -> None:
    predictor = Predictor.from_spec(f"hf:{model_dir}", device="cpu")
    result = predictor.similarity(image, [REPORT, NEGATED])
    assert sum(result.probs) == pytest.approx(1.0) and len(result.cosine) == 2
    scale = float(predictor.model.scale().detach())
    assert result.logits[0] == pytest.approx(scale * result.cosine[0], rel=1e-5)
    info = predictor.describe()
    assert info["spec"] == info["base_spec"] == f"hf:{model_dir}" and info["embed_dim"] in (16, 32)
    if "siglip" in model_dir.name:  # SigLIP's bias is reported, and its sigmoid uses it
        assert info["logit_bias"] == pytest.approx(-10.0) and scale == pytest.approx(10.0)
        cos = torch.tensor(result.cosine)
        expected = torch.sigmoid(cos * 10.0 - 10.0)
        torch.testing.assert_close(predictor.model.pair_probability(cos).detach(), expected)
    else:
        assert info["logit_bias"] == 0.0


def test_attribution_and_occlusion(model_dir: Path, image: Image.Image) -> None:
    predictor = Predictor.from_spec(f"hf:{model_dir}", device="cpu")
    ref = predictor.embed_images([image])[0]
    att = attribute(predictor.model, REPORT, ref, n_steps=64)
    assert [w.word for w in att.words][:3] == ["FINDINGS", ":", "Small"]
    assert att.similarity == pytest.approx(predictor.similarity(image, [REPORT]).cosine[0], abs=1e-5)
    # completeness of integrated gradients: the baseline pools the same position, so the gap is explained
    assert sum(att.token_scores) == pytest.approx(att.similarity - att.baseline_similarity, abs=abs(att.delta) + 1e-4)
    occ = occlusion(predictor.model, REPORT, NEGATED)
    assert len(occ.words) == len(att.words)
    assert occ.similarity == pytest.approx(predictor.text_similarity(REPORT, NEGATED), abs=1e-5)


def test_head_ablation(model_dir: Path) -> None:
    model = load_model(f"hf:{model_dir}")
    tok = model.tokenize([REPORT])
    with torch.no_grad():
        before = model.encode_text(tok["input_ids"], tok["attention_mask"])
        with mask_heads(model.text.backbone, [(0, 1)]) as mask:
            masked = model.encode_text(tok["input_ids"], tok["attention_mask"])
        after = model.encode_text(tok["input_ids"], tok["attention_mask"])
    assert mask.shape == (2, 2) and not torch.allclose(before, masked) and torch.equal(before, after)
    sweep = head_sweep(model, [REPORT, "Cardiomegaly."], [NEGATED, "No cardiomegaly."])
    assert sweep.delta.shape == (2, 2) and sweep.metric == "text_distance" and len(sweep.top_heads) == 4


def test_an_evaluation_task(model_dir: Path, image: Image.Image) -> None:
    reports = ["Small right pleural effusion.", "Cardiomegaly with mild edema.", "Left apical pneumothorax."]
    items = [EvalItem(id=str(i), image=image.rotate(10 * i), report=r) for i, r in enumerate(reports * 2)]
    result = evaluate(Predictor.from_spec(f"hf:{model_dir}", device="cpu"), items, tasks=["align"], n_bootstrap=20)
    metrics = result.tasks["align"].metrics
    assert metrics and all(m.n > 0 and 0.0 <= m.value <= 1.0 for m in metrics.values() if m.percent)


def test_parse_spec_and_bad_specs(tmp_path: Path) -> None:
    assert parse_spec("hf:org/model") == ("hf", "org/model")
    assert parse_spec("open_clip:hf-hub:org/model") == ("open_clip", "hf-hub:org/model")
    assert parse_spec(str(tmp_path)) == ("cxrvlp", str(tmp_path))
    with pytest.raises(ValueError, match="hf:ID_OR_DIR"):
        parse_spec("timm:vit")
    (tmp_path / "config.json").write_text('{"adapter": {"kind": "hf"}, "model": {}}')
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_model(f"cxrvlp:{tmp_path}")


def test_hub_id_offline_fails_fast_naming_the_id(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(WeightsError, match=r"someone/not-a-cached-clip.*--local-dir DIR"):
        Predictor.from_spec("hf:someone/not-a-cached-clip", device="cpu")
    assert time.perf_counter() - start < 5.0


def test_a_directory_that_is_not_a_clip_model(tmp_path: Path) -> None:
    from transformers import BertConfig, BertModel

    cfg = BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
    BertModel(cfg).save_pretrained(str(tmp_path))
    with pytest.raises(WeightsError, match="get_image_features"):
        load_model(f"hf:{tmp_path}")
