from __future__ import annotations

import json

import pytest
import torch

from cxrvlp.config import ConfigError
from cxrvlp.models import CheckpointError, CXRClip, create_model, list_presets, preset_config


@pytest.fixture(scope="module")
def tiny() -> CXRClip:
    torch.manual_seed(0)
    return create_model("tiny").eval()


def _batch(model: CXRClip, b: int = 3) -> dict:
    texts = ["No pneumothorax.", "Small left pleural effusion.", "Heart size is normal."][:b]
    negs = ["Pneumothorax is present.", "No pleural effusion.", "The heart is enlarged."][:b]
    s = model.config.image_size
    return {
        "image": torch.randn(b, 3, s, s, generator=torch.Generator().manual_seed(1)),
        "text": model.tokenize(texts),
        "hardneg_text": model.tokenize(negs),
        "labels": torch.randn(b, 14),
        "hardneg_labels": torch.randn(b, 14),
    }


def test_presets_listed():
    assert list_presets() == ["lite", "paper", "tiny"]
    with pytest.raises(KeyError, match="lite, paper, tiny"):
        create_model("nope")


def test_preset_overrides_checked():
    assert preset_config("tiny", embed_dim=16, projection=None).embed_dim == 16
    with pytest.raises(ConfigError, match="embed_dimm"):
        preset_config("tiny", embed_dimm=3)


def test_tiny_forward_contract(tiny):
    out = tiny(_batch(tiny))
    d = tiny.config.embed_dim
    assert out["image_features"].shape == (3, d) and out["text_features"].shape == (3, d)
    assert out["hardneg_text_features"].shape == (3, d) and out["clinical"].shape == (3, 14)
    for key in ("image_features", "text_features", "hardneg_text_features"):
        torch.testing.assert_close(out[key].norm(dim=-1), torch.ones(3))
    assert out["logit_scale"].ndim == 0
    torch.testing.assert_close(out["logit_scale"], torch.tensor(1 / 0.07))


def test_joint_text_forward_equals_separate(tiny):
    """Originals and hard negatives are encoded in one padded pass; padding must not change them."""
    batch = _batch(tiny)
    out = tiny(batch)
    sep = tiny.encode_text(**batch["hardneg_text"])
    torch.testing.assert_close(out["hardneg_text_features"], sep, atol=1e-5, rtol=1e-5)


def test_gradients_reach_every_tower(tiny):
    model = create_model("tiny").train()
    out = model(_batch(model))
    loss = (out["image_features"] * out["text_features"]).sum() * out["logit_scale"]
    loss.backward()
    for name in ("image.proj.weight", "text.proj.weight", "logit_scale"):
        assert dict(model.named_parameters())[name].grad is not None, name


def test_lite_embeddings_are_pretrained_not_random():
    lite = create_model("lite").eval()
    tok = lite.tokenize(["The heart is enlarged.", "Cardiomegaly.", "The weather is sunny today."])
    with torch.no_grad():
        hidden = lite.text.pool(lite.text.backbone(**tok).last_hidden_state, tok["attention_mask"])
    hidden = torch.nn.functional.normalize(hidden, dim=-1)
    sim = hidden @ hidden.T
    assert sim[0, 1] > sim[0, 2] + 0.2  # a pretrained sentence encoder knows the first two are related
    # ImageNet trunk: a structured image and noise give clearly different, deterministic features
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 224), torch.linspace(-1, 1, 224), indexing="ij")
    img = torch.stack([xx, yy, xx * yy]).unsqueeze(0)
    with torch.no_grad():
        a, a2 = lite.image.trunk(img), lite.image.trunk(img)
        b = lite.image.trunk(torch.zeros_like(img))
    torch.testing.assert_close(a, a2)
    assert (a - b).abs().mean() > 0.05
    assert lite.image.trunk.conv_stem.weight.std() > 0.1  # He-init of a fresh stem would be ~0.27/sqrt(27)


def test_checkpoint_round_trip_identical(tiny, tmp_path):
    tiny.save_pretrained(tmp_path / "ckpt")
    back = CXRClip.from_pretrained(tmp_path / "ckpt")
    batch = _batch(tiny)
    with torch.no_grad():
        a, b = tiny(batch), back(batch)
    for key in ("image_features", "text_features", "hardneg_text_features", "logit_scale"):
        torch.testing.assert_close(a[key], b[key], atol=0, rtol=0)
    assert back.config == tiny.config
    assert not list((tmp_path / "ckpt").glob("*.tmp"))


def test_checkpoint_errors(tiny, tmp_path):
    ckpt = tiny.save_pretrained(tmp_path / "ok")
    with pytest.raises(CheckpointError, match="not a cxrvlp checkpoint"):
        CXRClip.from_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="not a directory"):
        CXRClip.from_pretrained(tmp_path / "missing")
    # corrupt weights
    (ckpt / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="corrupt"):
        CXRClip.from_pretrained(ckpt)
    # corrupt config
    ckpt = tiny.save_pretrained(tmp_path / "badcfg")
    (ckpt / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        CXRClip.from_pretrained(ckpt)
    # config that no longer matches the tensors
    ckpt = tiny.save_pretrained(tmp_path / "mismatch")
    meta = json.loads((ckpt / "config.json").read_text())
    meta["model"]["embed_dim"] = 48
    (ckpt / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="does not match"):
        CXRClip.from_pretrained(ckpt)


def test_graph_model_round_trip_keeps_the_tied_embedding(tmp_path):
    model = create_model("tiny", graph={"enabled": True, "hidden_dim": 16}).eval()
    model.save_pretrained(tmp_path / "g")
    back = CXRClip.from_pretrained(tmp_path / "g")
    assert back.graph.token_embedding.weight is back.text.word_embeddings().weight
    torch.testing.assert_close(back.text.word_embeddings().weight, model.text.word_embeddings().weight)


def _equal_states(a: CXRClip, b: CXRClip) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_model_construction_is_seeded_from_config_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = create_model("tiny", graph={"enabled": True, "hidden_dim": 16})
    assert torch.equal(torch.get_rng_state(), before)  # the caller's RNG stream did not advance
    torch.manual_seed(999)  # a different global state must not change the weights
    second = create_model("tiny", graph={"enabled": True, "hidden_dim": 16})
    assert _equal_states(first, second)
    other = create_model("tiny", seed=1, graph={"enabled": True, "hidden_dim": 16})
    assert not torch.equal(other.image.proj.weight, first.image.proj.weight)
    assert not torch.equal(other.graph.proj.weight, first.graph.proj.weight)
    assert first.config.seed == 0 and other.config.seed == 1


def test_checkpoint_records_the_model_seed(tmp_path):
    model = create_model("tiny", seed=7)
    model.save_pretrained(tmp_path / "ck")
    meta = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert meta["model"]["seed"] == 7
    assert CXRClip.from_pretrained(tmp_path / "ck").config.seed == 7


def test_lite_preset_is_the_same_model_at_every_load():
    """The untrained `lite` row is reproducible: its random projections come from model.seed."""
    torch.manual_seed(1)
    a = create_model("lite")
    torch.manual_seed(2)
    b = create_model("lite")
    for name in ("image.proj.weight", "text.proj.weight", "logit_scale"):
        assert torch.equal(a.state_dict()[name], b.state_dict()[name]), name
