"""open_clip models (``open_clip:NAME``), an optional extra: ``pip install 'cxrvlp[open_clip]'`` (open_clip_torch).

NAME is ``hf-hub:ORG/REPO`` (config and weights from the Hugging Face hub cache, e.g. BiomedCLIP), ``ARCH`` (an
open_clip architecture, random init) or ``ARCH@FILE`` (that architecture with a local checkpoint; safetensors, or a
pickle read with ``torch.load(weights_only=True)`` only when trusted, see :mod:`cxrvlp.models.adapters.openai`).

What works: similarity, embeddings, evaluation, CON1 / CON2 fine-tuning. Token attribution needs a Hugging Face
tokenizer (models whose open_clip tokenizer wraps one, e.g. BiomedCLIP); open_clip's own BPE tokenizer has no
character offsets. Head ablation needs per-head access before the attention output projection: open_clip's built-in
text transformer uses ``nn.MultiheadAttention``, which fuses it, so it is unsupported there; Hugging Face text towers
inside open_clip (``model.text.transformer``, BERT-style) support it. A fine-tuned open_clip adapter's checkpoint
stores all weights; reloading it rebuilds the architecture from the recorded base spec (which must still load).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from PIL import Image
from torch import nn

from cxrvlp.data.collate import tokenize_texts
from cxrvlp.models.adapters.base import ExternalClip
from cxrvlp.models.adapters.hf import replaced_output
from cxrvlp.models.weights import WeightsError, hub_offline, hub_reachable, is_cached
from cxrvlp.types import UnsupportedError

INSTALL_HINT = "open_clip models need the optional extra: pip install 'cxrvlp[open_clip]' (or open_clip_torch>=2.24)"


def _import_open_clip() -> Any:
    try:
        import open_clip
    except ImportError as e:
        raise ImportError(INSTALL_HINT) from e
    return open_clip


class BPETokenizer:
    """open_clip's own tokenizer behind the Hugging Face call signature the rest of cxrvlp uses (no offsets)."""

    def __init__(self, tokenizer: Any, context_length: int) -> None:
        self.inner, self.context_length = tokenizer, context_length
        self.pad_token_id = 0

    def __call__(self, texts: str | list[str], *, truncation: bool = True, return_tensors: str | None = None,
                 return_offsets_mapping: bool = False, **_: Any) -> dict[str, Any]:  # fmt: skip
        """Texts -> ``input_ids`` / ``attention_mask`` padded to the context length ([B, L] tensors with
        ``return_tensors="pt"``, else lists; ``truncation=False`` returns full-length id lists for length checks)."""
        if return_offsets_mapping:
            raise UnsupportedError("open_clip's BPE tokenizer has no character offsets: token attribution and "
                                      "occlusion need a Hugging Face tokenizer")  # fmt: skip
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        if not truncation:
            ids = [self.inner.encode(t) for t in texts]
            return {"input_ids": [[0, *i, 0] for i in ids]}  # with start / end tokens, for length checks
        ids = self.inner(texts, context_length=self.context_length)  # (B, L), 0-padded
        mask = (ids != 0).long()
        if return_tensors == "pt":
            return {"input_ids": ids, "attention_mask": mask}
        return {"input_ids": ids.tolist(), "attention_mask": mask.tolist()}


class OpenClipText:
    """The text side: ``backbone`` is ``model.text.transformer`` (HF text towers) or ``model.transformer``."""

    def __init__(self, model: nn.Module, tokenizer: Any, max_length: int) -> None:
        self.model, self.tokenizer, self.max_length = model, tokenizer, max_length
        text = getattr(model, "text", None)
        self.backbone = getattr(text, "transformer", None) or getattr(model, "transformer", None) or model

    def word_embeddings(self) -> nn.Embedding:
        with contextlib.suppress(AttributeError, NotImplementedError):
            return self.backbone.get_input_embeddings()  # HF text tower
        text = getattr(self.model, "text", None)
        emb = getattr(self.model, "token_embedding", None) or getattr(text, "token_embedding", None)
        if not isinstance(emb, nn.Embedding):
            raise UnsupportedError(f"cannot find the token embedding of {type(self.model).__name__}")
        return emb

    def tokenize(self, texts: list[str], *, max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Texts -> ``{"input_ids": [B, L], "attention_mask": [B, L]}``."""
        return tokenize_texts(self.tokenizer, texts, max_length or self.max_length)

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *,
                 inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """input_ids [B, L] -> projected, un-normalised [B, D] (open_clip derives its own mask from the ids)."""
        with replaced_output(self.word_embeddings(), inputs_embeds):
            return self.model.encode_text(input_ids, normalize=False)


def _geometry(preprocess: Any) -> tuple[int, list[float], list[float]]:
    side, mean, std = 224, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]
    for t in getattr(preprocess, "transforms", []):
        if hasattr(t, "mean") and hasattr(t, "std"):
            mean, std = list(t.mean), list(t.std)
        size = getattr(t, "size", None)
        if size is not None:
            side = int(size if isinstance(size, int) else size[0])
    return side, mean, std


class OpenClip(ExternalClip):
    """An open_clip model behind the CXRClip surface (see the module docstring for what it supports)."""

    kind = "open_clip"

    def __init__(self, model: nn.Module, tokenizer: Any, preprocess: Callable, *, spec: str) -> None:
        super().__init__()
        self.model, self.preprocess, self.spec = model, preprocess, spec
        context = int(getattr(model, "context_length", 0) or getattr(tokenizer, "context_length", 77))
        hf_tok = getattr(tokenizer, "tokenizer", None)
        tok = hf_tok if callable(getattr(hf_tok, "convert_ids_to_tokens", None)) else BPETokenizer(tokenizer, context)
        self.text = OpenClipText(model, tok, context)
        self.image = SimpleNamespace(trunk=model.visual)  # ``image.trunk``: what freeze_image freezes
        if isinstance(tok, BPETokenizer):
            reason = "open_clip's BPE tokenizer has no character offsets (a Hugging Face tokenizer is needed)"
            self.unsupported |= {"attribution": reason, "occlusion": reason}
        if self.text.backbone is getattr(model, "transformer", None):
            self.unsupported["head_ablation"] = (
                "open_clip's text transformer uses nn.MultiheadAttention, which fuses the per-head context into its "
                "output projection, so heads cannot be masked"
            )
        side, mean, std = _geometry(preprocess)
        self.config = self._describe(
            image_encoder=type(model.visual).__name__, text_encoder=type(self.text.backbone).__name__,
            image_size=side, mean=mean, std=std, max_length=context,
        )  # fmt: skip

    def _log_scale(self) -> torch.Tensor:
        return self.model.logit_scale

    def _image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixel_values, normalize=False)

    def _eval_transform(self) -> Callable[[Image.Image], torch.Tensor]:
        preprocess = self.preprocess
        return lambda image: preprocess(image.convert("RGB"))

    def _save_base(self, directory: Path) -> dict[str, Any]:
        return {}


def _check_hub(name: str) -> None:
    repo = name.removeprefix("hf-hub:")
    if not is_cached(repo, "open_clip_config.json") and (hub_offline() or not hub_reachable()):
        raise WeightsError(
            f"open_clip model {repo!r} is not in the local Hugging Face cache and the hub is offline. Download it on a "
            f"machine with network (`huggingface-cli download {repo}`) into the cache, or pass a local checkpoint as "
            "open_clip:ARCH@FILE."
        )


def load_open_clip(name: str, *, trust_checkpoint: bool = False) -> OpenClip:
    """``open_clip:NAME`` (see the module docstring).

    Raises:
        ImportError: open_clip_torch is not installed (with the install hint).
        WeightsError: a hub model not cached while offline, or a checkpoint file that does not fit.
    """
    open_clip = _import_open_clip()
    arch, _, file = name.partition("@")
    if arch.startswith("hf-hub:"):  # config and weights from the hub cache, read by open_clip itself
        _check_hub(arch)
        model, preprocess = open_clip.create_model_from_pretrained(arch)
    else:
        model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=None)
    if file:
        from cxrvlp.models.adapters.openai import read_state_dict

        state = read_state_dict(file, trust_checkpoint=trust_checkpoint)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise WeightsError(f"{file} does not fit open_clip architecture {arch!r}: {e}") from e
    return OpenClip(model, open_clip.get_tokenizer(arch), preprocess, spec=f"open_clip:{name}")


def rebuild_open_clip(adapter: dict[str, Any]) -> OpenClip:
    """The architecture of a saved open_clip adapter, from its recorded base spec (weights are filled later)."""
    spec = str(adapter.get("base_spec", ""))
    return load_open_clip(spec.removeprefix("open_clip:"), trust_checkpoint=False)
