from __future__ import annotations

import json

import pytest
import torch

from cxrvlp.models import CheckpointError, CXRClip, create_model, load_checkpoint
from cxrvlp.models.delta import DELTA_NAME, load_delta, save_delta


@pytest.fixture(scope="module")
def trained():
    model = create_model("lite").eval()
    with torch.no_grad():
        model.text.proj.weight.add_(0.01)  # a whole tensor changes
        emb = model.text.word_embeddings().weight
        emb[[101, 2053, 7987]] += 0.05  # three embedding rows change
        emb.mul_(1 - 1e-5)  # every row decays a little (below rtol)
        model.logit_scale.add_(0.5)
    return model


def test_delta_round_trip_is_small_and_faithful(trained, tmp_path):
    counts = save_delta(trained, tmp_path / "d", half=False)
    assert counts["rows"] >= 1 and counts["skipped"] > 100
    size = (tmp_path / "d" / DELTA_NAME).stat().st_size
    assert size < 5_000_000  # the image trunk and untouched text weights are not stored
    back = load_delta(tmp_path / "d")
    emb_a, emb_b = trained.text.word_embeddings().weight, back.text.word_embeddings().weight
    torch.testing.assert_close(emb_b[[101, 2053, 7987]], emb_a[[101, 2053, 7987]])
    torch.testing.assert_close(emb_b, emb_a, atol=1e-4, rtol=0)  # decayed rows come from the base
    torch.testing.assert_close(back.text.proj.weight, trained.text.proj.weight)
    torch.testing.assert_close(back.logit_scale, trained.logit_scale)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(back.encode_image(x), trained.encode_image(x), atol=1e-5, rtol=1e-4)
    # the one checkpoint loader (every --model cxrvlp:DIR) reads delta checkpoints; CXRClip.from_pretrained says so
    assert isinstance(load_checkpoint(tmp_path / "d"), CXRClip)
    with pytest.raises(CheckpointError, match="delta checkpoint: load it with cxrvlp.models.load_checkpoint"):
        CXRClip.from_pretrained(tmp_path / "d")


def test_half_precision_storage(trained, tmp_path):
    save_delta(trained, tmp_path / "h", half=True)
    back = load_delta(tmp_path / "h")
    torch.testing.assert_close(back.text.proj.weight, trained.text.proj.weight, atol=1e-3, rtol=1e-3)


def test_delta_errors(trained, tmp_path):
    with pytest.raises(ValueError, match="pip packages"):
        save_delta(create_model("tiny"), tmp_path / "t")
    save_delta(trained, tmp_path / "bad")
    (tmp_path / "bad" / DELTA_NAME).write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="not a readable delta"):
        load_delta(tmp_path / "bad")
    save_delta(trained, tmp_path / "cfg")
    meta = json.loads((tmp_path / "cfg" / "config.json").read_text())
    meta["model"]["embed_dim"] = 256
    (tmp_path / "cfg" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="shape"):
        load_delta(tmp_path / "cfg")
