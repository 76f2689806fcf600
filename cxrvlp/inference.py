"""Predictor: the facade the CLI and the app use (paths, bytes and strings in; scores out).

Example:
    >>> p = Predictor.from_spec("preset:lite")
    >>> result = p.similarity(open("cxr.png", "rb").read(), ["No pneumothorax.", "Small right pneumothorax."])
    >>> result.cosine, result.probs
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from cxrvlp.data.images import read_image
from cxrvlp.models import ClipModel, ExternalClip, create_model, load_model, parse_spec
from cxrvlp.models.loading import DEMO_DIR
from cxrvlp.runtime import autocast, default_device
from cxrvlp.types import ProgressFn, UserError

log = logging.getLogger(__name__)

ImageInput = bytes | str | Path | Image.Image


def demo_available() -> bool:
    return (DEMO_DIR / "config.json").is_file()


@dataclass(frozen=True)
class SimilarityResult:
    """Similarity of one image with several texts.

    Attributes:
        texts: the texts, in input order.
        cosine: cosine similarity sim(I, t) per text, in [-1, 1].
        logits: ``logit_scale * cosine`` per text (a SigLIP logit bias is not added: it cancels in the softmax; see
            ``ExternalClip.pair_probability`` for SigLIP's per-pair sigmoid).
        probs: softmax of ``logits`` over the texts (which text the model would pick).
        truncated: whether each text was longer than the text encoder's limit and was cut.
    """

    texts: tuple[str, ...]
    cosine: tuple[float, ...]
    logits: tuple[float, ...]
    probs: tuple[float, ...]
    truncated: tuple[bool, ...]


def display_name(spec: str) -> str:
    """A short, telling name for a model spec (the app's Model metric).

    A checkpoint keeps its run folder: ``cxrvlp:runs/my_run/best`` -> ``my_run/best`` (the last path part alone,
    ``best``, names no model); a file spec keeps its file name; presets, ``demo`` and hub ids stay as written.
    """
    if spec == "demo":
        return spec
    kind, sep, rest = spec.partition(":")
    if not sep:
        kind, rest = "cxrvlp", spec  # a bare directory
    parts = [p for p in rest.replace("\\", "/").split("/") if p and p != "."]
    local = rest.startswith(("/", ".", "~")) or Path(rest).expanduser().exists()
    if kind == "cxrvlp" or (local and kind in ("hf", "openai_clip")):
        if kind == "openai_clip":
            return parts[-1] if parts else spec
        return "/".join(parts[-2:]) or spec
    return spec


class Predictor:
    """Wraps a :class:`~cxrvlp.models.ClipModel` (a :class:`~cxrvlp.models.CXRClip` or an adapter,
    :class:`~cxrvlp.models.ExternalClip`) in eval mode with its image transform (``model.image_transform()``: an
    adapter's own preprocessing); all methods run without gradients.

    Args:
        model: the model (moved to ``device`` and put in eval mode).
        device: default CUDA when available, else CPU. On CUDA the encoders run under bf16 autocast.
        spec: the model spec string it was loaded from (for display).
    """

    def __init__(self, model: ClipModel, *, device: str | torch.device | None = None, spec: str = "") -> None:
        self.device = torch.device(device) if device is not None else default_device()
        self.model = model.to(self.device).eval()
        self.spec = spec
        self.transform = model.image_transform()

    # ---------------------------------------------------------------------------------------------- loading
    @classmethod
    def from_preset(cls, name: str = "lite", *, device: str | torch.device | None = None) -> Predictor:
        return cls(create_model(name), device=device, spec=f"preset:{name}")

    @classmethod
    def from_pretrained(
        cls, directory: str | Path | None = None, *, device: str | torch.device | None = None
    ) -> Predictor:
        """A checkpoint directory; without one, the bundled demo model (:data:`DEMO_DIR`)."""
        if directory is None:
            return cls(load_model(f"cxrvlp:{DEMO_DIR}"), device=device, spec="demo")
        return cls(load_model(f"cxrvlp:{directory}"), device=device, spec=f"cxrvlp:{directory}")

    @classmethod
    def from_spec(
        cls, spec: str, *, device: str | torch.device | None = None, trust_checkpoint: bool = False
    ) -> Predictor:
        """Any model spec: ``demo`` (the bundled trained model), ``preset:NAME``, ``cxrvlp:DIR`` (a bare existing
        directory too), ``hf:ID_OR_DIR``, ``open_clip:NAME`` or ``openai_clip:FILE`` (see
        :func:`cxrvlp.models.load_model`).

        Args:
            trust_checkpoint: allow an ``openai_clip:`` pickle to be read (``torch.load(weights_only=True)``).

        Raises:
            ValueError: for a spec of unknown kind (the message lists the kinds).
            WeightsError: a hub model that is not cached while offline (the message names it).
        """
        if spec == "demo":
            return cls.from_pretrained(device=device)
        kind, rest = parse_spec(spec)
        spec = f"{kind}:{rest}"  # a bare directory is recorded as cxrvlp:DIR
        return cls(load_model(spec, trust_checkpoint=trust_checkpoint), device=device, spec=spec)

    # ------------------------------------------------------------------------------------------------ helpers
    @contextlib.contextmanager
    def _autocast(self) -> Iterator[None]:
        with torch.inference_mode(), autocast(self.device):
            yield

    @property
    def max_length(self) -> int:
        return self.model.text.max_length

    def truncated(self, texts: Sequence[str]) -> list[bool]:
        """Whether each text is longer than the text encoder's token limit (it would be cut)."""
        lengths = [len(ids) for ids in self.model.tokenizer(list(texts), truncation=False)["input_ids"]]
        return [n > self.max_length for n in lengths]

    def image_tensor(self, image: ImageInput) -> torch.Tensor:
        """Read and transform one image -> [3, S, S] (raises ``ImageReadError`` for unreadable input)."""
        return self.transform(read_image(image))

    # ------------------------------------------------------------------------------------------------- embed
    def embed_images(
        self, images: Sequence[ImageInput], *, batch_size: int = 32, on_progress: ProgressFn | None = None
    ) -> torch.Tensor:
        """Images -> L2-normalised float32 CPU tensor [N, D]."""
        out = []
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            x = torch.stack([self.image_tensor(im) for im in chunk]).to(self.device)
            with self._autocast():
                out.append(self.model.encode_image(x).float().cpu())
            if on_progress:
                on_progress(min(start + batch_size, len(images)), len(images))
        return torch.cat(out) if out else torch.empty(0, self.model.config.embed_dim)

    def embed_texts(
        self, texts: Sequence[str], *, batch_size: int = 64, on_progress: ProgressFn | None = None
    ) -> torch.Tensor:
        """Texts -> L2-normalised float32 CPU tensor [N, D] (texts over the token limit are truncated)."""
        out = []
        for start in range(0, len(texts), batch_size):
            tok = self.model.tokenize(list(texts[start : start + batch_size]))
            with self._autocast():
                feats = self.model.encode_text(tok["input_ids"].to(self.device), tok["attention_mask"].to(self.device))
            out.append(feats.float().cpu())
            if on_progress:
                on_progress(min(start + batch_size, len(texts)), len(texts))
        return torch.cat(out) if out else torch.empty(0, self.model.config.embed_dim)

    # ------------------------------------------------------------------------------------------------- score
    def similarity(self, image: ImageInput, texts: Sequence[str]) -> SimilarityResult:
        """Cosine similarity, logits and softmax over ``texts`` for one image.

        Raises:
            ValueError: when ``texts`` is empty or a text is blank.
        """
        texts = [str(t) for t in texts]
        if not texts:
            raise UserError("give at least one report")
        if any(not t.strip() for t in texts):
            raise UserError("a report is empty")
        img = self.embed_images([image])  # (1, D)
        txt = self.embed_texts(texts)  # (T, D)
        cos = (img @ txt.T)[0]  # (T,)
        scale = float(self.model.scale().detach().float().cpu())
        logits = cos * scale
        probs = logits.softmax(-1)
        return SimilarityResult(
            texts=tuple(texts),
            cosine=tuple(cos.tolist()),
            logits=tuple(logits.tolist()),
            probs=tuple(probs.tolist()),
            truncated=tuple(self.truncated(texts)),
        )

    def text_similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two texts in the joint space (text-only probing)."""
        emb = self.embed_texts([a, b])
        return float(emb[0] @ emb[1])

    def describe(self) -> dict[str, Any]:
        """What is loaded: spec, towers, embedding size, device, parameter count; for adapters also the base spec
        and the logit bias (SigLIP; it cancels in ``similarity``'s softmax)."""
        cfg = self.model.config
        extra = {}
        if isinstance(self.model, ExternalClip):
            extra = {"base_spec": self.model.spec, "logit_bias": float(self.model.logit_bias().detach().float().cpu())}
        return {
            "spec": self.spec,
            "image_encoder": cfg.image_encoder,
            "text_encoder": cfg.text_encoder,
            "graph_encoder": cfg.graph.enabled,
            "embed_dim": cfg.embed_dim,
            "image_size": cfg.image_size,
            "max_text_tokens": self.max_length,
            "device": str(self.device),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            **extra,
        }
