from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cxrvlp.analysis import EmbeddingCache, project, projection_frame
from cxrvlp.analysis.figures import projection_scatter
from cxrvlp.inference import Predictor
from cxrvlp.models import create_model


class CountingPredictor(Predictor):
    calls = 0

    def embed_texts(self, texts, **kw):
        CountingPredictor.calls += len(texts)
        return super().embed_texts(texts, **kw)


@pytest.fixture(scope="module")
def predictor():
    torch.manual_seed(0)
    return CountingPredictor(create_model("tiny"), device="cpu", spec="preset:tiny")


def _records(n=12):
    return pd.DataFrame(
        {
            "text": [f"report number {i} with <b>effusion</b>" for i in range(n)],
            "kind": ["report", "negated"] * (n // 2),
            "finding": ["Pleural Effusion"] * n,
            "polarity": ["positive", "negative"] * (n // 2),
            "group": [i // 2 for i in range(n)],
        }
    )


def test_cache_reembeds_nothing_the_second_time(predictor):
    cache = EmbeddingCache()
    CountingPredictor.calls = 0
    a = projection_frame(predictor, _records(), method="tsne", cache=cache, seed=0)
    first = CountingPredictor.calls
    b = projection_frame(predictor, _records(), method="umap", cache=cache, seed=1)
    assert first == 12 and CountingPredictor.calls == first and cache.hits == 12
    assert set(a.columns) >= {"x", "y", "kind", "finding", "polarity", "text"} and len(b) == 12


def test_cache_keys_on_the_model(predictor):
    cache = EmbeddingCache()
    cache.embed_texts(predictor, ["a", "b"])
    other = Predictor(create_model("tiny"), device="cpu", spec="preset:tiny")
    cache.embed_texts(other, ["a"])
    assert cache.misses == 3


def test_projection_is_seeded():
    x = np.random.default_rng(0).normal(size=(30, 8))
    np.testing.assert_allclose(project(x, method="tsne", seed=3), project(x, method="tsne", seed=3))
    with pytest.raises(ValueError, match="at least 3"):
        project(x[:2])
    with pytest.raises(ValueError, match="tsne, umap"):
        project(x, method="pca")


def test_images_are_rows_and_hover_is_escaped(predictor):
    from PIL import Image

    imgs = [Image.new("L", (64, 64), v) for v in (10, 200)]
    frame = projection_frame(predictor, _records(), method="tsne", images=imgs, image_labels=["a", "b"])
    assert (frame["kind"] == "image").sum() == 2
    fig = projection_scatter(frame, color="polarity")
    hovers = [c[0] for trace in fig.data if trace.customdata is not None for c in trace.customdata]
    assert all("<b>effusion" not in h for h in hovers) and any("&lt;b&gt;" in h for h in hovers)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_dense_distances_match_sklearn(metric):
    from sklearn.metrics import pairwise_distances

    from cxrvlp.analysis.projection import _DENSE_METRICS

    x = np.random.default_rng(1).normal(size=(50, 16)).astype(np.float32)
    np.testing.assert_allclose(_DENSE_METRICS[metric](x), pairwise_distances(x, metric=metric), atol=2e-5)


def test_umap_small_input_is_seeded_and_keeps_neighbours():
    """The precomputed-distance path: same seed, same layout; three separated clusters stay apart."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 32)) * 5
    x = np.concatenate([c + rng.normal(size=(60, 32)) for c in centres]).astype(np.float32)
    a, b = project(x, method="umap", seed=2), project(x, method="umap", seed=2)
    np.testing.assert_allclose(a, b)
    labels = np.repeat(np.arange(3), 60)
    centroid = np.stack([a[labels == k].mean(0) for k in range(3)])
    nearest = np.argmin(((a[:, None, :] - centroid[None]) ** 2).sum(-1), axis=1)
    assert (nearest == labels).mean() > 0.95


def test_pair_cosines_known_answers():
    from cxrvlp.analysis.projection import pair_cosines

    records = pd.DataFrame(
        {
            "text": ["r0", "r0 neg", "r1", "r1 neg", "r2"],
            "kind": ["report", "negated", "report", "negated", "report"],
            "group": [0, 0, 1, 1, 2],
        }
    )
    e = torch.eye(3)
    emb = torch.stack([e[0], e[0], e[1], e[2], e[2]])  # r0^n = r0 (bag of words), r1^n orthogonal to r1
    pairs = pair_cosines(records, emb, seed=0)
    neg = pairs[pairs["pair"] == "r vs its r^n"].set_index("group")["cosine"]
    assert neg.to_dict() == {0: 1.0, 1: 0.0}
    other = pairs[pairs["pair"] == "r vs another report"]
    assert len(other) == 3 and (other["text"] != other["other"]).all()  # a derangement of the 3 reports
    assert sorted(other["other"]) == ["r0", "r1", "r2"]
    assert (other["cosine"] == 0.0).all()  # the three reports are orthogonal


def test_scatter_colours_are_stable_joins_pairs_and_marks_the_image():
    from cxrvlp.analysis.figures import category_colours

    a = category_colours("finding", ["Pleural Effusion", "Edema"])
    b = category_colours("finding", ["Edema", "Atelectasis", "Pleural Effusion"])
    assert a["Edema"] == b["Edema"] and a["Pleural Effusion"] == b["Pleural Effusion"]
    assert category_colours("polarity", ["negative"]) == {"negative": "#268bd2"}
    frame = pd.DataFrame(
        {
            "text": ["r", "r neg", "image 0"],
            "kind": ["report", "negated", "image"],
            "finding": ["Edema", "Edema", "image: x.png"],
            "polarity": ["positive", "negative", "image"],
            "group": [0, 0, -1],
            "x": [0.0, 1.0, 2.0],
            "y": [0.0, 1.0, 2.0],
        }
    )
    fig = projection_scatter(frame, color="polarity")
    names = [t.name for t in fig.data]
    assert names[0] == "report — its r^n" and list(fig.data[0].x) == [0.0, 1.0, None]
    image = fig.data[names.index("image")]
    assert image.marker.symbol == "star" and image.marker.size >= 16
    assert "image" not in {str(t.name) for t in fig.data[1:-1]}  # the image is not a small dot of the scatter
    assert len(projection_scatter(frame, pairs=False).data) == len(fig.data) - 1
