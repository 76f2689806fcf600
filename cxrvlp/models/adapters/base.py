"""The :class:`ClipModel` protocol (what :class:`~cxrvlp.models.CXRClip` and every adapter share, the type the
analyses and ``Predictor`` are written against) and :class:`ExternalClip`, the base class of the adapters that make
other people's CLIP-style models first-class cxrvlp models, selected by one *model spec* string (parsed and loaded
by :mod:`cxrvlp.models.loading`).

=====================  ================================================================================
spec                   what it loads
=====================  ================================================================================
``preset:NAME``        a :class:`~cxrvlp.models.CXRClip` preset (``lite``, ``paper``, ``tiny``)
``cxrvlp:DIR``         a cxrvlp checkpoint directory: a CXRClip, or a fine-tuned adapter (it records its base)
``hf:ID_OR_DIR``       a Hugging Face ``CLIPModel`` / ``SiglipModel`` / any ``AutoModel`` with
                       ``get_image_features`` and ``get_text_features`` (:mod:`cxrvlp.models.adapters.hf`)
``open_clip:NAME``     an open_clip model: ``hf-hub:ORG/REPO``, ``ARCH`` (random init), or ``ARCH@FILE``
                       (a local checkpoint); needs ``pip install 'cxrvlp[open_clip]'``
                       (:mod:`cxrvlp.models.adapters.openclip`)
``openai_clip:FILE``   an OpenAI-CLIP-format state dict (e.g. CheXzero), converted to a Hugging Face
                       ``CLIPModel`` (:mod:`cxrvlp.models.adapters.openai`); pickles need ``trust_checkpoint``
=====================  ================================================================================

Every adapter is an :class:`ExternalClip` and a :class:`ClipModel`: ``encode_image`` / ``encode_text``
(L2-normalised), ``tokenize``, ``tokenizer``, ``scale()``, ``forward(batch)`` (the loss contract, so the trainer runs
CON1 / CON2 on it), ``.text`` (a :class:`TextTower`: ``backbone``, ``word_embeddings()``, ``max_length``, ``__call__``),
``.image.trunk``, a :class:`~cxrvlp.config.ModelConfig` ``config`` describing it, and the model's own image
preprocessing (:meth:`ExternalClip.image_transform`). Adapters have no graph tower; on top of the protocol they
answer :meth:`ExternalClip.supports` and carry their base ``spec``.

Scores: ``scale()`` is the model's exp'ed logit scale. SigLIP also learns a logit bias ``b`` (:meth:`logit_bias`);
it is a constant added to every logit, so it cancels in every softmax (``Predictor.similarity``'s ``probs``, the
InfoNCE / CoN-CLIP losses) and in every ranking; SigLIP's own per-pair probability is
``sigmoid(scale * cos + b)``, which :meth:`ExternalClip.pair_probability` computes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from cxrvlp import __version__
from cxrvlp.config import ModelConfig, to_dict
from cxrvlp.data.transforms import image_transform
from cxrvlp.models.clip import (
    encode_batch,
    load_weights_strict,
    save_config,
    save_weights,
)
from cxrvlp.types import UnsupportedError


@runtime_checkable
class TextTower(Protocol):
    """The text side of a :class:`ClipModel` (``CXRClip``'s :class:`~cxrvlp.models.text.TextEncoder`, the adapters'
    towers): what attribution, head ablation and the trainer's freezing reach for."""

    tokenizer: Any  # a Hugging Face-style tokenizer (``__call__``, ``pad_token_id``, ``convert_ids_to_tokens``)
    backbone: Any  # the transformer head ablation hooks (an ``nn.Module``)
    max_length: int  # the token limit; longer texts are truncated

    def word_embeddings(self) -> nn.Module:
        """The token-embedding layer (captum's attribution layer)."""
        ...

    def tokenize(self, texts: list[str], *, max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Texts -> ``{"input_ids": [B, L], "attention_mask": [B, L]}``."""
        ...

    def __call__(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *, inputs_embeds: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Token ids / mask [B, L] (or ``inputs_embeds`` [B, L, H]) -> projected, un-normalised [B, D]."""
        ...


@runtime_checkable
class ClipModel(Protocol):
    """What :class:`~cxrvlp.models.CXRClip` and every adapter (:class:`ExternalClip`) share: the surface the
    analyses, ``Predictor``, the evaluation and the trainer use. Both are ``nn.Module`` s, so ``parameters()``,
    ``to()``, ``eval()``, ``train()`` and ``training`` are part of it.

    ``tests/test_models.py`` checks that CXRClip and each adapter satisfy it (``isinstance(model, ClipModel)``).
    """

    config: ModelConfig  # what the model is (an adapter's describes it: image size, mean / std, embed_dim)
    text: TextTower
    image: Any  # the image tower; ``image.trunk`` is what ``train.freeze_image`` freezes
    graph: nn.Module | None  # the graph tower (CXRClip with ``graph.enabled``), else None
    training: bool

    @property
    def tokenizer(self) -> Any: ...

    def tokenize(self, texts: list[str], *, max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Texts -> ``{"input_ids": [B, L], "attention_mask": [B, L]}``."""
        ...

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B, 3, H, W] (from :meth:`image_transform`) -> L2-normalised [B, D]."""
        ...

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token ids / mask [B, L] -> L2-normalised [B, D]."""
        ...

    def encode_graph(self, graphs: Any) -> torch.Tensor:
        """A torch_geometric Batch of report graphs -> L2-normalised [G, D]; raises without a graph tower."""
        ...

    def scale(self) -> torch.Tensor:
        """exp(logit_scale), clamped (a scalar tensor)."""
        ...

    def image_transform(self, *, train: bool = False) -> Callable[[Image.Image], torch.Tensor]:
        """PIL image -> ``[3, H, W]`` as the model expects it (augmenting with ``train``)."""
        ...

    def save_pretrained(self, directory: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
        """Write a cxrvlp checkpoint directory that :func:`~cxrvlp.models.load_model` reads back."""
        ...

    def __call__(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """``forward(batch)``: the losses' keyword arguments (ARCHITECTURE.md "Model -> loss")."""
        ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...

    def to(self, *args: Any, **kwargs: Any) -> Any: ...

    def eval(self) -> Any: ...

    def train(self, mode: bool = True) -> Any: ...


ANALYSES: tuple[str, ...] = ("similarity", "attribution", "occlusion", "head_ablation", "graph", "training")
"""Capabilities :meth:`ExternalClip.supports` answers for (``graph``: the graph tower and graph soft labels)."""

BASE_DIR = "base"
"""Sub-directory of an adapter checkpoint holding the base model's config, tokenizer and image processor."""


class ExternalClip(nn.Module):
    """Base class of the adapters; subclasses set the towers and implement :meth:`_image_features`.

    Subclass ``__init__`` must set: ``self.text`` (a text tower: ``tokenizer``, ``backbone``, ``max_length``,
    ``word_embeddings()``, ``tokenize()``, ``__call__(input_ids, attention_mask, *, inputs_embeds=None)`` returning
    projected, un-normalised ``[B, D]``), ``self.image`` (``trunk``), ``self.config`` (a ModelConfig description),
    ``self.spec`` (the base model spec) and ``self.unsupported`` (analysis name -> reason); ``self.model`` is the
    wrapped model (its ``logit_bias`` tensor, if any, is :meth:`logit_bias`).
    """

    kind: str = ""
    graph: nn.Module | None = None

    def __init__(self) -> None:
        super().__init__()
        self.spec = ""
        self.unsupported: dict[str, str] = {"graph": "external models have no graph encoder"}

    # ------------------------------------------------------------------------------------------ capabilities
    def supports(self, analysis: str) -> bool:
        """Whether ``analysis`` (one of :data:`ANALYSES`) works with this adapter."""
        if analysis not in ANALYSES:
            raise ValueError(f"unknown analysis {analysis!r}; valid: {', '.join(ANALYSES)}")
        return analysis not in self.unsupported

    def require(self, analysis: str) -> None:
        """Raise :class:`~cxrvlp.types.UnsupportedError` with the reason when ``analysis`` is not supported."""
        if not self.supports(analysis):
            raise UnsupportedError(f"{analysis} is not supported for {self.spec}: {self.unsupported[analysis]}")

    # ----------------------------------------------------------------------------------------------- encoders
    @property
    def tokenizer(self) -> Any:
        return self.text.tokenizer

    def tokenize(self, texts: list[str], *, max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Texts -> ``{"input_ids": [B, L], "attention_mask": [B, L]}``."""
        return self.text.tokenize(texts, max_length=max_length)

    def _image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def encode_image(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """pixel_values [B, 3, H, W] (preprocessed by :meth:`image_transform`) -> L2-normalised [B, D]."""
        return F.normalize(self._image_features(pixel_values), dim=-1)

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token ids / mask [B, L] -> L2-normalised [B, D]."""
        return F.normalize(self.text(input_ids, attention_mask), dim=-1)

    def encode_graph(self, graphs: Any) -> torch.Tensor:
        self.require("graph")
        raise AssertionError("unreachable: adapters never support graphs")

    def _log_scale(self) -> torch.Tensor:
        """The model's (log) logit-scale parameter, a scalar or ``[1]`` tensor."""
        raise NotImplementedError

    def scale(self) -> torch.Tensor:
        """exp(logit_scale), clamped to ``config.max_logit_scale`` (a scalar tensor; no host sync)."""
        return self._log_scale().reshape(()).clamp(max=math.log(self.config.max_logit_scale)).exp()

    def logit_bias(self) -> torch.Tensor:
        """The wrapped model's logit bias (SigLIP); zero for models without one. A scalar tensor."""
        bias = getattr(getattr(self, "model", None), "logit_bias", None)
        return bias.reshape(()) if isinstance(bias, torch.Tensor) else torch.zeros((), device=self._log_scale().device)

    def pair_probability(self, cosine: torch.Tensor) -> torch.Tensor:
        """SigLIP-style independent match probability ``sigmoid(scale * cos + bias)`` of image-text pairs, any
        shape. Meaningful only for models trained with a sigmoid loss (``logit_bias`` non-zero)."""
        return torch.sigmoid(cosine * self.scale() + self.logit_bias())

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Encode the streams of ``batch`` (ARCHITECTURE.md "Batch") into the losses' keyword arguments.

        Returns:
            ``image_features [B, D]``, ``text_features [B, D]``, optionally ``hardneg_text_features [B, D]``,
            ``distractor_image_features [B, D]``, ``clinical`` / ``hardneg_clinical [B, 14]``, and ``logit_scale``.
        """
        return encode_batch(self, batch)

    def _describe(
        self, *, image_encoder: str, text_encoder: str, image_size: int, mean: Any, std: Any, max_length: int
    ) -> ModelConfig:
        """:func:`describe_config` for this adapter: the embedding width from one text forward, the scale from
        :meth:`_log_scale` (call once the towers are set)."""
        with torch.no_grad():
            tok = self.text.tokenize(["x"])
            dim = self.text(tok["input_ids"], tok["attention_mask"]).shape[-1]
        return describe_config(
            image_encoder=image_encoder, text_encoder=text_encoder, image_size=image_size, mean=mean, std=std,
            max_length=max_length, embed_dim=dim, scale=float(self._log_scale().detach().float().reshape(()).exp()),
        )  # fmt: skip

    # ------------------------------------------------------------------------------------------ preprocessing
    def _eval_transform(self) -> Callable[[Image.Image], torch.Tensor]:
        raise NotImplementedError

    def image_transform(self, *, train: bool = False) -> Callable[[Image.Image], torch.Tensor]:
        """PIL image -> ``[3, H, W]``: the model's own preprocessing; with ``train`` cxrvlp's CXR augmentation at
        the model's input size, mean and std (the processors of other libraries do not augment)."""
        if train:
            return image_transform(self.config, train=True)
        return self._eval_transform()

    # ------------------------------------------------------------------------------------------- checkpoints
    def _save_base(self, directory: Path) -> dict[str, Any]:
        """Write what rebuilding the architecture needs under ``directory``; return the adapter's metadata."""
        raise NotImplementedError

    def save_pretrained(self, directory: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
        """Write a cxrvlp checkpoint directory: ``config.json`` (with ``adapter``: kind and base spec),
        ``model.safetensors`` (every weight) and ``base/`` (config, tokenizer, image processor). It loads back with
        :func:`load_model` ``("cxrvlp:DIR")``; nothing is pickled."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_weights(self, directory)
        adapter = {"kind": self.kind, "base_spec": self.spec, **self._save_base(directory / BASE_DIR)}
        meta = {"cxrvlp_version": __version__, "adapter": adapter, "model": to_dict(self.config), **(extra or {})}
        save_config(directory, meta)
        return directory

    def load_weights_file(self, path: Path) -> None:
        """Fill this adapter from a ``model.safetensors`` written by :meth:`save_pretrained` (strict).

        Raises:
            CheckpointError: corrupt file, or keys / shapes that do not fit.
        """
        load_weights_strict(self, path, mismatch=f"does not fit {self.spec}")


def describe_config(
    *, image_encoder: str, text_encoder: str, image_size: int, mean: Any, std: Any, max_length: int, embed_dim: int,
    scale: float,
) -> ModelConfig:  # fmt: skip
    """The :class:`ModelConfig` an adapter reports: what ``Predictor.describe`` shows and the trainer reads (image
    size / mean / std for its augmenting transform; ``max_logit_scale`` is 100 as in CLIP, or the model's own scale
    when that is larger, e.g. SigLIP's)."""
    return ModelConfig(
        image_encoder=image_encoder,
        image_weights="none",
        image_size=int(image_size),
        image_mean=tuple(float(m) for m in mean),
        image_std=tuple(float(s) for s in std),
        text_encoder=text_encoder,
        text_weights="none",
        max_text_length=int(max_length),
        embed_dim=int(embed_dim),
        init_temperature=1.0 / scale,
        max_logit_scale=max(100.0, math.ceil(scale)),
    )
