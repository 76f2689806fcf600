"""What the evaluation suite needs from a model: image and text embeddings in one joint space.

Any object with these two methods can be evaluated (our checkpoints through
``cxrvlp.inference.Predictor``, external CLIP-style adapters, test fakes); nothing here imports a model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import torch

from cxrvlp.types import ProgressFn

if TYPE_CHECKING:
    from PIL import Image


@runtime_checkable
class Embedder(Protocol):
    """A model that maps images and texts into one L2-normalised embedding space."""

    def embed_images(
        self, images: Sequence[Image.Image], *, batch_size: int = 32, on_progress: ProgressFn | None = None
    ) -> torch.Tensor:
        """Embed images: returns ``[N, D]`` float32 on CPU, rows L2-normalised."""
        ...

    def embed_texts(
        self, texts: Sequence[str], *, batch_size: int = 64, on_progress: ProgressFn | None = None
    ) -> torch.Tensor:
        """Embed texts: returns ``[N, D]`` float32 on CPU, rows L2-normalised."""
        ...


def embed_images_chunked(
    embedder: Embedder,
    loaders: Sequence[Callable[[], Image.Image]],
    *,
    batch_size: int = 32,
    chunk_size: int = 256,
    on_progress: ProgressFn | None = None,
) -> torch.Tensor:
    """Embed images that are opened lazily, ``chunk_size`` at a time, so memory stays bounded.

    Args:
        embedder: the model.
        loaders: one zero-argument callable per image returning a PIL image.
        batch_size: passed to ``embed_images``.
        chunk_size: images held in memory at once.
        on_progress: called with (images done, total) after every chunk.

    Returns:
        ``[N, D]`` float32 CPU tensor.
    """
    total = len(loaders)
    parts: list[torch.Tensor] = []
    for start in range(0, total, chunk_size):
        images = [load() for load in loaders[start : start + chunk_size]]
        parts.append(_check(embedder.embed_images(images, batch_size=batch_size), len(images), "embed_images"))
        if on_progress is not None:
            on_progress(start + len(images), total)
    if not parts:
        return torch.zeros(0, 0)
    return torch.cat(parts)


def embed_texts_checked(
    embedder: Embedder, texts: Sequence[str], *, batch_size: int = 64, on_progress: ProgressFn | None = None
) -> torch.Tensor:
    """``embedder.embed_texts`` with a shape check; returns ``[len(texts), D]`` float32 CPU."""
    if not texts:
        return torch.zeros(0, 0)
    out = embedder.embed_texts(list(texts), batch_size=batch_size, on_progress=on_progress)
    return _check(out, len(texts), "embed_texts")


def _check(x: torch.Tensor, n: int, what: str) -> torch.Tensor:
    if x.ndim != 2 or x.shape[0] != n:
        raise ValueError(f"{what} returned shape {tuple(x.shape)}, expected [{n}, D]")
    return x.detach().to("cpu", torch.float32)
