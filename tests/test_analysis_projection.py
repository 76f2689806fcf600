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
    hovers = [c[0] for trace in fig.data for c in trace.customdata]
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
