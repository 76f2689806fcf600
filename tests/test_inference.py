from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from cxrvlp.data.images import ImageReadError
from cxrvlp.inference import Predictor
from cxrvlp.models import create_model


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    torch.manual_seed(0)
    return Predictor(create_model("tiny"), device="cpu", spec="preset:tiny")


def _png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((80, 70)) * 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_similarity_result(predictor):
    r = predictor.similarity(_png(), ["No pneumothorax.", "Pneumothorax."])
    assert len(r.cosine) == 2 and all(-1.0 <= c <= 1.0 for c in r.cosine)
    assert abs(sum(r.probs) - 1) < 1e-5 and r.truncated == (False, False)
    # consistent with the embeddings
    img = predictor.embed_images([_png()])
    txt = predictor.embed_texts(list(r.texts))
    np.testing.assert_allclose(r.cosine, (img @ txt.T)[0].numpy(), atol=1e-5)


def test_similarity_input_errors(predictor):
    with pytest.raises(ValueError, match="at least one"):
        predictor.similarity(_png(), [])
    with pytest.raises(ValueError, match="empty"):
        predictor.similarity(_png(), ["  "])
    with pytest.raises(ImageReadError):
        predictor.similarity(b"not an image", ["x"])


def test_truncation_flag(predictor):
    long = "There is a small left pleural effusion. " * 40
    assert predictor.truncated([long, "short"]) == [True, False]


def test_embed_batches_and_progress(predictor):
    seen = []
    texts = [f"report {i}" for i in range(5)]
    out = predictor.embed_texts(texts, batch_size=2, on_progress=lambda done, total: seen.append(done))
    assert out.shape == (5, predictor.model.config.embed_dim) and seen == [2, 4, 5]
    assert predictor.embed_texts([]).shape == (0, predictor.model.config.embed_dim)


def test_from_spec(tmp_path, predictor):
    predictor.model.save_pretrained(tmp_path / "ck")
    p = Predictor.from_spec(f"cxrvlp:{tmp_path / 'ck'}", device="cpu")
    assert p.describe()["embed_dim"] == predictor.model.config.embed_dim
    assert Predictor.from_spec(str(tmp_path / "ck"), device="cpu").spec.startswith("cxrvlp:")
    with pytest.raises(ValueError, match="preset:NAME"):
        Predictor.from_spec("weird:thing")
