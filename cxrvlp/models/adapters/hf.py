"""Hugging Face CLIP-style models (``hf:ID_OR_DIR``): ``CLIPModel``, ``SiglipModel``, or any ``AutoModel`` with
``get_image_features`` / ``get_text_features``.

Text towers, by family (``config.model_type``):

* ``clip``: ``text_model`` (causal transformer) -> the end-of-text token's state -> ``text_projection``. We locate
  that token as the last attended position of ``attention_mask`` (what Hugging Face finds from the ids for tokenizer
  output), so the pooled position never depends on token identities: integrated-gradients baselines (words replaced
  by padding) pool the same position as the report.
* ``siglip``: SigLIP was trained on texts padded to ``max_position_embeddings`` (64) with *no* attention mask, and
  pools the last position. We pad every text to that length after the token-embedding lookup and ignore the mask,
  so a text's embedding does not depend on what it is batched with, and captum still sees one embedding per real
  token.
* anything else: ``get_text_features(input_ids, attention_mask)``; in transformers 5.x it returns a ModelOutput and
  we read ``text_embeds`` or ``pooler_output`` (likewise ``image_embeds`` / ``pooler_output`` for images).

``inputs_embeds`` (CXRClip's text-tower keyword) replaces the token-embedding output via a forward hook; the ids
are still needed, for shapes and (generic models) pooling.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from cxrvlp.data.collate import tokenize_texts
from cxrvlp.models.adapters.base import BASE_DIR, ExternalClip
from cxrvlp.models.text import quiet_transformers
from cxrvlp.models.weights import WeightsError, resolve_hf
from cxrvlp.types import UnsupportedError

FAMILIES = ("clip", "siglip", "generic")


def feature_tensor(out: Any, preferred: str) -> torch.Tensor:
    """The feature tensor of a ``get_*_features`` result: a tensor as is, else ``preferred`` (``image_embeds`` /
    ``text_embeds``) or ``pooler_output`` of the ModelOutput.

    Raises:
        TypeError: when neither field is present (the message lists the fields).
    """
    if isinstance(out, torch.Tensor):
        return out
    for key in (preferred, "pooler_output"):
        value = out.get(key) if hasattr(out, "get") else getattr(out, key, None)
        if isinstance(value, torch.Tensor):
            return value
    fields = list(out.keys()) if hasattr(out, "keys") else type(out).__name__
    raise TypeError(f"cannot find the features in the model's output: no {preferred} or pooler_output in {fields}")


@contextlib.contextmanager
def replaced_output(module: nn.Module, value: torch.Tensor | None) -> Iterator[None]:
    """Inside the block, ``module``'s forward returns ``value`` (no-op for ``None``); the hook is always removed."""
    if value is None:
        yield
        return
    handle = module.register_forward_hook(lambda _m, _args, _out: value)
    try:
        yield
    finally:
        handle.remove()


def family_of(model: nn.Module) -> str:
    """``clip``, ``siglip`` or ``generic`` (see the module docstring)."""
    model_type = getattr(model.config, "model_type", "")
    text = getattr(model, "text_model", None)
    if model_type == "clip" and text is not None and hasattr(model, "text_projection"):
        return "clip"
    if model_type == "siglip" and text is not None and hasattr(text, "head"):
        return "siglip"
    if not all(callable(getattr(model, f"get_{side}_features", None)) for side in ("image", "text")):
        raise WeightsError(
            f"{type(model).__name__} has no get_image_features / get_text_features; cxrvlp can adapt Hugging Face "
            "CLIPModel, SiglipModel or an AutoModel with both methods"
        )
    return "generic"


class HFTextTower:
    """The text side of an HF model, with CXRClip's text-tower surface.

    Attributes:
        tokenizer: the model's Hugging Face tokenizer.
        backbone: the text transformer (``model.text_model``; the whole model for generic families), the module
            head ablation hooks.
        max_length: token limit (``max_position_embeddings`` of the text config, capped by the tokenizer's).
    """

    def __init__(self, model: nn.Module, tokenizer: Any, family: str) -> None:
        self.model, self.tokenizer, self.family = model, tokenizer, family
        self.backbone = getattr(model, "text_model", None) or model
        text_cfg = getattr(model.config, "text_config", None) or model.config
        limit = getattr(text_cfg, "max_position_embeddings", None) or 512
        self.max_length = int(min(limit, getattr(tokenizer, "model_max_length", limit) or limit))

    def word_embeddings(self) -> nn.Embedding:
        """The token embedding table (captum's attribution layer)."""
        for owner in (self.backbone, self.model):
            with contextlib.suppress(NotImplementedError, AttributeError):
                emb = owner.get_input_embeddings()
                if isinstance(emb, nn.Embedding):
                    return emb
        raise UnsupportedError(
            f"token attribution needs the token-embedding layer; {type(self.model).__name__} does not expose it "
            "through get_input_embeddings()"
        )

    def tokenize(self, texts: list[str], *, max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Texts -> ``{"input_ids": [B, L], "attention_mask": [B, L]}`` padded to the longest, truncated."""
        return tokenize_texts(self.tokenizer, texts, max_length or self.max_length)

    def __call__(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *, inputs_embeds: torch.Tensor | None = None
    ) -> torch.Tensor:
        """input_ids / attention_mask [B, L] (``inputs_embeds`` [B, L, H] replaces the token embeddings) ->
        projected, un-normalised [B, D]."""
        if self.family == "siglip":
            return self._siglip(input_ids, inputs_embeds)
        with replaced_output(self.word_embeddings(), inputs_embeds):
            if self.family == "clip":
                hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
                last = (attention_mask * torch.arange(attention_mask.shape[1], device=attention_mask.device)).argmax(1)
                pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]  # (B, H) end-of-text
                return self.model.text_projection(pooled)
            out = self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
            return feature_tensor(out, "text_embeds")

    def _siglip(self, input_ids: torch.Tensor, inputs_embeds: torch.Tensor | None) -> torch.Tensor:
        tm = self.backbone
        table = self.word_embeddings()
        emb = inputs_embeds if inputs_embeds is not None else table(input_ids)  # (B, L, H)
        pad = self.max_length - emb.shape[1]
        if pad > 0:  # SigLIP's training layout: padded to max length, attention over the padding too
            pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
            emb = torch.cat([emb, table.weight[pad_id].expand(emb.shape[0], pad, -1).to(emb.dtype)], dim=1)
        hidden = tm.embeddings(inputs_embeds=emb)  # + position embeddings
        hidden = tm.encoder(inputs_embeds=hidden).last_hidden_state
        hidden = tm.final_layer_norm(hidden)
        return tm.head(hidden[:, -1])  # (B, D) last position


class HFImageTower:
    """The image side: ``trunk`` is ``model.vision_model`` (the whole model for generic families)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.trunk = getattr(model, "vision_model", None) or model

    def __call__(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """pixel_values [B, 3, H, W] -> un-normalised [B, D]."""
        return feature_tensor(self.model.get_image_features(pixel_values=pixel_values), "image_embeds")


def _processor_geometry(processor: Any) -> tuple[int, list[float], list[float]]:
    crop = getattr(processor, "crop_size", None) if getattr(processor, "do_center_crop", False) else None
    size = crop or getattr(processor, "size", None) or {}
    side = size.get("height") or size.get("shortest_edge") or 224
    mean = getattr(processor, "image_mean", None) or [0.5, 0.5, 0.5]
    std = getattr(processor, "image_std", None) or [0.5, 0.5, 0.5]
    return int(side), list(mean), list(std)


class HFClip(ExternalClip):
    """A Hugging Face CLIP-style model behind the CXRClip surface.

    Args:
        model: the HF model (registered as ``self.model``; its weights are this module's state dict).
        tokenizer: its tokenizer.
        processor: its image processor (a callable ``processor(images=..., return_tensors="pt")``).
        spec: the spec it was loaded from (recorded in checkpoints).
    """

    kind = "hf"

    def __init__(self, model: nn.Module, tokenizer: Any, processor: Any, *, spec: str) -> None:
        super().__init__()
        self.model = model
        self.family = family_of(model)
        self.processor = processor
        self.spec = spec
        self.text = HFTextTower(model, tokenizer, self.family)
        self.image = HFImageTower(model)
        if not hasattr(model, "logit_scale"):  # a model without a temperature gets CLIP's initial one
            self.own_logit_scale = nn.Parameter(torch.tensor(float(torch.tensor(1 / 0.07).log())))
        if not getattr(tokenizer, "is_fast", False):
            self.unsupported["attribution"] = "it needs a fast tokenizer (character offsets of word pieces)"
            self.unsupported["occlusion"] = self.unsupported["attribution"]
        if self.family == "generic":
            self.unsupported["head_ablation"] = (
                "its text encoder is not a recognised CLIP/SigLIP/BERT layout; head ablation is offered for "
                "CLIPModel and SiglipModel (and CXRClip's BERT towers)"
            )
        side, mean, std = _processor_geometry(processor)
        self.config = self._describe(
            image_encoder=type(self.image.trunk).__name__,
            text_encoder=type(self.text.backbone).__name__,
            image_size=side,
            mean=mean,
            std=std,
            max_length=self.text.max_length,
        )

    def _log_scale(self) -> torch.Tensor:
        return self.model.logit_scale if hasattr(self.model, "logit_scale") else self.own_logit_scale

    def _image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.image(pixel_values)

    def _eval_transform(self) -> Callable[[Image.Image], torch.Tensor]:
        processor = self.processor

        def transform(image: Image.Image) -> torch.Tensor:
            return processor(images=image.convert("RGB"), return_tensors="pt")["pixel_values"][0]

        return transform

    def _save_base(self, directory: Path) -> dict[str, Any]:
        directory.mkdir(parents=True, exist_ok=True)
        self.model.config.save_pretrained(str(directory))
        self.text.tokenizer.save_pretrained(str(directory))
        self.processor.save_pretrained(str(directory))
        return {"family": self.family}


def _load_parts(path: str, local_only: bool) -> tuple[Any, Any]:
    from transformers import AutoImageProcessor, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_only)
        processor = AutoImageProcessor.from_pretrained(path, local_files_only=local_only)
    except OSError as e:
        raise WeightsError(f"{path} lacks a tokenizer or an image processor that transformers can load: {e}") from e
    return tokenizer, processor


def load_hf(name_or_dir: str) -> HFClip:
    """``hf:ID_OR_DIR``: a local directory, or a hub id (from the local cache; offline with no cached copy this fails
    at once with a :class:`WeightsError` naming the id and how to pass a local directory)."""
    from transformers import AutoModel

    path, local_only = resolve_hf(name_or_dir)
    with quiet_transformers():
        try:
            model = AutoModel.from_pretrained(path, local_files_only=local_only)
        except (OSError, ValueError) as e:
            raise WeightsError(f"cannot load {name_or_dir!r} with transformers.AutoModel: {e}") from e
    family_of(model)  # not a CLIP-style model: say so before looking for a tokenizer and an image processor
    tokenizer, processor = _load_parts(path, local_only)
    return HFClip(model, tokenizer, processor, spec=f"hf:{name_or_dir}")


def rebuild_hf(base: Path, adapter: dict[str, Any]) -> HFClip:
    """The architecture of a saved adapter, from its checkpoint's ``base/`` alone (weights are filled later)."""
    from transformers import AutoConfig, AutoModel

    from cxrvlp.models.clip import CheckpointError

    try:
        with quiet_transformers():
            model = AutoModel.from_config(AutoConfig.from_pretrained(str(base), local_files_only=True))
        tokenizer, processor = _load_parts(str(base), True)
    except (OSError, ValueError, WeightsError) as e:
        raise CheckpointError(f"cannot rebuild the base model from {base} (checkpoint {BASE_DIR}/): {e}") from e
    return HFClip(model, tokenizer, processor, spec=str(adapter.get("base_spec", f"hf:{base}")))
