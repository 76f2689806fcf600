"""2-D projections (t-SNE / UMAP) of report, variant and image embeddings, with an embedding cache.

Do negated reports land next to their originals (a bag-of-words model) or in their own region (a model that reads
negation)? :func:`variant_records` builds the set — each report, its negated version ``r^n`` and its omitted
version ``r^r`` for one positive finding — and :func:`projection_frame` embeds and projects it.

Embeddings are cached by ``(model, text)``: a second projection of the same texts (another method, another seed)
re-embeds nothing.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from cxrvlp.types import ProgressFn, UserError

log = logging.getLogger(__name__)

Method = Literal["tsne", "umap"]


class EmbeddingCache:
    """LRU cache of text embeddings keyed by (model key, sha1 of the text).

    Args:
        max_items: entries kept; the least recently used are dropped beyond it.
    """

    def __init__(self, max_items: int = 200_000) -> None:
        self.max_items = max_items
        self._store: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def model_key(predictor: Any) -> str:
        """Identity of a loaded model: its spec plus the object's id (a reloaded model never hits stale entries)."""
        return f"{getattr(predictor, 'spec', '')}|{id(predictor.model)}"

    def _key(self, model_key: str, text: str) -> str:
        return hashlib.sha1(f"{model_key}\x00{text}".encode()).hexdigest()

    def embed_texts(
        self, predictor: Any, texts: Sequence[str], *, batch_size: int = 64, on_progress: ProgressFn | None = None
    ) -> torch.Tensor:
        """Embeddings ``[N, D]`` of ``texts``; only texts not cached yet go through the model."""
        mk = self.model_key(predictor)
        keys = [self._key(mk, t) for t in texts]
        self.hits += sum(1 for k in keys if k in self._store)  # before the misses are stored
        todo = list(dict.fromkeys(k for k in keys if k not in self._store))
        first_text = {k: t for k, t in zip(keys, texts, strict=True)}
        self.misses += len(todo)
        if todo:
            new = predictor.embed_texts([first_text[k] for k in todo], batch_size=batch_size, on_progress=on_progress)
            for k, emb in zip(todo, new, strict=True):
                self._store[k] = emb
        elif on_progress:
            on_progress(len(texts), len(texts))
        out = []
        for k in keys:
            self._store.move_to_end(k)
            out.append(self._store[k])
        while len(self._store) > self.max_items:
            self._store.popitem(last=False)
        return torch.stack(out) if out else torch.empty(0)

    def __len__(self) -> int:
        return len(self._store)


def variant_records(reports: Sequence[str], *, seed: int = 0) -> pd.DataFrame:
    """Each report plus, when it has a positive finding, its ``r^n`` and ``r^r`` for one seeded finding.

    Returns:
        DataFrame with columns ``text, kind ("report" | "negated" | "omitted"), finding, polarity
        ("positive" | "negative" | "normal"), group`` (the index of the source report).
    """
    import random

    from cxrvlp.text import label_report, make_negated, make_omitted

    rng = random.Random(seed)
    rows = []
    for i, report in enumerate(reports):
        positives = label_report(report).positives()
        if not positives:
            rows.append({"text": report, "kind": "report", "finding": "No Finding", "polarity": "normal", "group": i})
            continue
        finding = rng.choice(positives)
        rows.append({"text": report, "kind": "report", "finding": finding, "polarity": "positive", "group": i})
        negated = make_negated(report, finding, seed=seed + i)
        rows.append({"text": negated, "kind": "negated", "finding": finding, "polarity": "negative", "group": i})
        omitted = make_omitted(report, finding)
        if omitted.strip():
            rows.append({"text": omitted, "kind": "omitted", "finding": finding, "polarity": "negative", "group": i})
    return pd.DataFrame(rows, columns=["text", "kind", "finding", "polarity", "group"])


def _cosine_distances(x: np.ndarray) -> np.ndarray:
    """``[N, N]`` float32 ``1 - cos`` (zero rows count as orthogonal to everything), clipped at 0, diagonal 0."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    d = 1.0 - unit @ unit.T
    np.clip(d, 0.0, 2.0, out=d)
    np.fill_diagonal(d, 0.0)
    return d


def _euclidean_distances(x: np.ndarray) -> np.ndarray:
    """``[N, N]`` float32 Euclidean distances from one matrix product, diagonal 0."""
    sq = (x * x).sum(axis=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    np.clip(d2, 0.0, None, out=d2)
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2, out=d2)


# Below this many points umap-learn computes all pairwise distances itself (its "small data" path); we hand it the
# same matrix instead. umap's disconnection distance of each metric is kept (cosine: 2, euclidean: none).
_UMAP_EXACT_BELOW = 4096
_DENSE_METRICS = {"cosine": _cosine_distances, "euclidean": _euclidean_distances}
_DISCONNECTION = {"cosine": 2.0, "euclidean": float("inf")}


def project(
    embeddings: np.ndarray | torch.Tensor, *, method: Method = "umap", seed: int = 0, **kwargs: Any
) -> np.ndarray:
    """``[N, D]`` -> ``[N, 2]`` with t-SNE (scikit-learn) or UMAP (umap-learn), seeded.

    Keyword arguments go to the estimator (e.g. ``perplexity``, ``n_neighbors``, ``min_dist``). Small inputs
    get safe defaults (perplexity and n_neighbors below N).
    """
    x = embeddings.detach().cpu().numpy() if isinstance(embeddings, torch.Tensor) else np.asarray(embeddings)
    x = x.astype(np.float32)
    n = x.shape[0]
    if n < 3:
        raise UserError(f"need at least 3 points to project, got {n}")
    if method == "tsne":
        from sklearn.manifold import TSNE

        params = {"perplexity": min(30.0, (n - 1) / 3), "init": "pca", "metric": "cosine"} | kwargs
        return TSNE(n_components=2, random_state=seed, **params).fit_transform(x)
    if method == "umap":
        import umap

        params = {"n_neighbors": min(15, n - 1), "min_dist": 0.1, "metric": "cosine"} | kwargs
        if n < _UMAP_EXACT_BELOW and params["metric"] in _DENSE_METRICS:
            # umap's own exact path for small inputs calls a numba metric from Python once per pair (~18 s for
            # 4,000 points); the same all-pairs distances come from one matrix product here.
            metric = params["metric"]
            x = _DENSE_METRICS[metric](x)
            params |= {"metric": "precomputed", "disconnection_distance": _DISCONNECTION[metric]}
        with warnings.catch_warnings():  # we never call inverse_transform; umap warns about it for "precomputed"
            warnings.filterwarnings("ignore", message="using precomputed metric", category=UserWarning)
            return umap.UMAP(n_components=2, random_state=seed, n_jobs=1, **params).fit_transform(x)
    raise UserError(f"unknown projection method {method!r}; valid: tsne, umap")


def projection_frame(
    predictor: Any,
    records: pd.DataFrame,
    *,
    method: Method = "umap",
    seed: int = 0,
    cache: EmbeddingCache | None = None,
    images: Sequence[Any] = (),
    image_labels: Sequence[str] = (),
    on_progress: ProgressFn | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """Embed ``records.text`` (cached) and optional ``images``, project together, return ``records`` + x, y.

    Images are added as rows of kind ``"image"`` (``finding`` from ``image_labels`` when given).
    """
    cache = cache if cache is not None else EmbeddingCache()
    frame = records.reset_index(drop=True).copy()
    emb = cache.embed_texts(predictor, list(frame["text"]), on_progress=on_progress)
    if len(images):
        img = predictor.embed_images(list(images))
        labels = list(image_labels) or [""] * len(images)
        extra = pd.DataFrame(
            {
                "text": [f"image {i}" for i in range(len(images))],
                "kind": "image",
                "finding": labels,
                "polarity": "image",
                "group": -1,
            }
        )
        frame = pd.concat([frame, extra], ignore_index=True)
        emb = torch.cat([emb, img])
    xy = project(emb, method=method, seed=seed, **kwargs)
    frame["x"], frame["y"] = xy[:, 0], xy[:, 1]
    return frame


PAIR_NAMES = {
    "negated": "r vs its r^n",
    "omitted": "r vs its r^r",
    "other": "r vs another report",
}


def pair_cosines(records: pd.DataFrame, embeddings: torch.Tensor | np.ndarray, *, seed: int = 0) -> pd.DataFrame:
    """Text–text cosines that answer the Embeddings page's question directly.

    For each report with variants: ``cos(r, r^n)`` and ``cos(r, r^r)``; for every report: ``cos(r, r')`` with
    ``r'`` another report of the sample (a seeded derangement: no report is paired with itself). A model that reads
    negation puts ``cos(r, r^n)`` well below 1, towards the ``r vs another report`` values; a bag of words keeps it
    near 1.

    Args:
        records: :func:`variant_records` (columns ``text, kind, group``), in the order of ``embeddings``.
        embeddings: ``[N, D]`` L2-normalised, one row per record.
        seed: seed of the derangement.

    Returns:
        DataFrame with columns ``pair`` (a :data:`PAIR_NAMES` value), ``cosine``, ``group``, ``text`` (the report)
        and ``other`` (the text it is compared with).
    """
    import random

    emb = torch.as_tensor(np.asarray(embeddings, dtype=np.float32))
    frame = records.reset_index(drop=True)
    reports = frame.index[frame["kind"] == "report"].tolist()
    rows = []
    by_group = {int(frame.loc[i, "group"]): i for i in reports}
    for j in frame.index[frame["kind"].isin(["negated", "omitted"])]:
        i = by_group.get(int(frame.loc[j, "group"]))
        if i is None:
            continue
        kind = str(frame.loc[j, "kind"])
        rows.append((PAIR_NAMES[kind], float(emb[i] @ emb[j]), int(frame.loc[i, "group"]), i, j))
    if len(reports) >= 2:
        rng = random.Random(seed)
        shift = rng.randrange(1, len(reports))  # a cyclic shift of a seeded permutation: a derangement
        order = reports[:]
        rng.shuffle(order)
        for k, i in enumerate(order):
            j = order[(k + shift) % len(order)]
            rows.append((PAIR_NAMES["other"], float(emb[i] @ emb[j]), int(frame.loc[i, "group"]), i, j))
    return pd.DataFrame(
        {
            "pair": [r[0] for r in rows],
            "cosine": [r[1] for r in rows],
            "group": [r[2] for r in rows],
            "text": [frame.loc[r[3], "text"] for r in rows],
            "other": [frame.loc[r[4], "text"] for r in rows],
        },
        columns=["pair", "cosine", "group", "text", "other"],
    )
