"""Cached loaders: models are resources (one per server process), tables and embeddings are data.

Functions taking a model take its spec string and fetch the model through :func:`cxrvlp.ui.state.load_predictor`,
so the cache key is the spec (plus the other arguments), never a model object.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st
import torch
from PIL import Image

from cxrvlp.analysis import corpus
from cxrvlp.analysis.projection import EmbeddingCache
from cxrvlp.analysis.reference import ReferenceSet
from cxrvlp.analysis.reference import reference_embeddings as reference_embeddings_of
from cxrvlp.ui import session
from cxrvlp.ui.state import load_predictor

if TYPE_CHECKING:
    from cxrvlp.analysis import Attribution
    from cxrvlp.analysis.softlabels import SoftLabelMatrices


class SharedEmbeddingCache(EmbeddingCache):
    """An :class:`EmbeddingCache` that several sessions (threads) may use at once: one lookup-and-fill at a time,
    so no entry is read half written and the LRU order is never changed under another thread's feet."""

    def __init__(self, max_items: int = 200_000) -> None:
        super().__init__(max_items)
        self._lock = threading.RLock()

    def embed_texts(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        with self._lock:
            return super().embed_texts(*args, **kwargs)

    def __len__(self) -> int:
        with self._lock:
            return super().__len__()


@st.cache_resource(show_spinner=False)
def text_cache() -> EmbeddingCache:
    """One text-embedding cache for the whole server (keys include the model's identity; thread-safe)."""
    return SharedEmbeddingCache(max_items=50_000)


@st.cache_data(show_spinner="Reading the Open-I reports…")
def openi_reports() -> list[str]:
    """The non-empty Open-I report texts (``FINDINGS: ... IMPRESSION: ...``) from the torchxrayvision wheel."""
    return corpus.openi_texts()


@st.cache_data(show_spinner=False)
def sample_reports(n: int, seed: int) -> list[str]:
    """``n`` Open-I reports drawn with ``random.Random(seed)`` (all of them when ``n`` exceeds the corpus)."""
    return corpus.sample_reports(openi_reports(), n, seed)


@st.cache_data(show_spinner=False, max_entries=64)
def image_embedding(spec: str, digest: str, _image: Image.Image) -> np.ndarray:
    """The L2-normalised ``[D]`` embedding of the current image (keyed by model spec and pixel digest)."""
    return load_predictor(spec).embed_images([_image])[0].numpy()


def current_image_embedding(spec: str) -> torch.Tensor | None:
    """The ``[D]`` embedding of the current image (:func:`cxrvlp.ui.session.current_image`); None without one."""
    image, _, digest = session.current_image()
    return None if image is None else torch.from_numpy(image_embedding(spec, digest, image))


@st.cache_resource(show_spinner=False)
def reference_set() -> ReferenceSet:
    """The bundled reference X-rays (:data:`cxrvlp.analysis.reference.REFERENCE_DIR`) and their labels."""
    return ReferenceSet.load()


@st.cache_resource(show_spinner=False)
def reference_digests() -> tuple[str, ...]:
    """Pixel digests (:func:`cxrvlp.ui.session.image_digest`) of the reference X-rays, to spot one being probed."""
    from cxrvlp.data.images import read_image

    return tuple(session.image_digest(read_image(p)) for p in reference_set().paths)


@st.cache_data(show_spinner="Embedding the reference X-rays (once per model)…", max_entries=8)
def reference_embeddings(spec: str) -> np.ndarray:
    """The ``[N, D]`` embeddings of :func:`reference_set` for one model (computed once per model spec)."""
    return reference_embeddings_of(load_predictor(spec), reference_set()).numpy()


def blobs_digest(blobs: Sequence[bytes]) -> str:
    """sha1 of a sequence of files' bytes (each one's length included, so no two splits of the bytes collide)."""
    h = hashlib.sha1()
    for blob in blobs:
        h.update(len(blob).to_bytes(8, "little"))
        h.update(blob)
    return h.hexdigest()


@st.cache_data(show_spinner="Embedding the images…", max_entries=32)
def image_embeddings(spec: str, key: str, _blobs: Sequence[bytes]) -> np.ndarray:
    """The L2-normalised ``[N, D]`` embeddings of uploaded image files (``key``: :func:`blobs_digest` of ``_blobs``).

    Raises ``ImageReadError`` for a file that is not a readable image (not cached).
    """
    return load_predictor(spec).embed_images(list(_blobs)).numpy()


def text_embedding(spec: str, text: str) -> torch.Tensor:
    """The L2-normalised ``[D]`` embedding of one text, through :func:`text_cache`."""
    return text_cache().embed_texts(load_predictor(spec), [text])[0]


@st.cache_data(show_spinner=False, max_entries=128)
def attribution(
    spec: str, text: str, reference_key: str, _reference: torch.Tensor | str, n_steps: int, method: str
) -> Attribution:
    """Integrated-gradients (``method="ig"``) or occlusion attribution of ``text`` against the reference.

    ``reference_key`` identifies ``_reference`` (an image digest or the reference text) for the cache.
    Returns a :class:`cxrvlp.analysis.Attribution`; the convergence warning is left to the page (``delta_is_large``).
    Both run on a private copy of the shared model (:mod:`cxrvlp.analysis.isolation`): captum hooks the embedding
    layer while it works, which other sessions must not see.
    """
    import warnings

    from cxrvlp.analysis.isolation import attribute, occlusion

    model = load_predictor(spec).model
    if method == "occlusion":
        return occlusion(model, text, _reference)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return attribute(model, text, _reference, n_steps=n_steps)


@st.cache_data(show_spinner="Computing the soft-label matrices…", max_entries=32)
def soft_labels(
    spec: str,
    reports: tuple[str, ...],
    hardnegs: tuple[str, ...] | None,
    taus: tuple[float, float, float],
    image_key: str,
    _image_features: torch.Tensor | None,
) -> SoftLabelMatrices:
    """:func:`cxrvlp.analysis.softlabels.soft_label_matrices` for a batch (``image_key`` identifies the images)."""
    from cxrvlp.analysis.softlabels import soft_label_matrices

    tau_t, tau_c, tau_g = taus
    return soft_label_matrices(
        load_predictor(spec).model,
        list(reports),
        list(hardnegs) if hardnegs is not None else None,
        image_features=_image_features,
        tau_t=tau_t,
        tau_c=tau_c,
        tau_g=tau_g,
    )
