"""Collate: samples -> the batch contract of ARCHITECTURE.md, tokenising in the loader's workers.

Batch keys: ``image [B, 3, S, S]`` (and ``distractor_image`` for CON2), ``text`` / ``hardneg_text``
(``{"input_ids": [B, L], "attention_mask": [B, L]}``), ``labels`` / ``hardneg_labels [B, 14]``, ``graph`` /
``hardneg_graph`` (torch_geometric ``Batch``), and ``report`` / ``hardneg_report`` (lists of str). Streams absent
from the samples are absent from the batch. With cached frozen-trunk features the batch holds :data:`TRUNK_KEYS`
``[B, F]`` (or image-trunk prefixes ``[B, C, H, W]`` and ``image_tail_blocks``) instead of images and tokenised
reports.
"""

from __future__ import annotations

import json
from typing import Any

import torch

from cxrvlp.types import ReportGraph

TRUNK_KEYS = (
    "image_trunk", "text_trunk", "hardneg_text_trunk", "distractor_image_trunk", "image_prefix",
    "distractor_image_prefix",
)  # fmt: skip
"""Precomputed frozen-trunk features (``train.cache_features``) that replace images / tokenised reports:
pooled trunk outputs ``[B, F]``, or, with ``train.unfreeze_image_blocks=k``, the image trunk's activations at the
input of its last k blocks ``image_prefix`` / ``distractor_image_prefix [B, C, H, W]`` (the batch then also holds
``image_tail_blocks`` = k, an int, so the model knows which blocks remain to run)."""


def tokenize_texts(tokenizer: Any, texts: list[str], max_length: int) -> dict[str, torch.Tensor]:
    """Texts -> ``{"input_ids": [B, L], "attention_mask": [B, L]}`` padded to the longest, truncated to ``max_length``.

    Args:
        tokenizer: anything with the Hugging Face call signature (a HF tokenizer, or an adapter's wrapper of one).
        texts: the texts to encode.
        max_length: token limit per text.
    """
    enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


class Collator:
    """Picklable collate function (it travels to DataLoader workers with the tokenizer).

    Args:
        tokenizer: the model's Hugging Face tokenizer (``model.tokenizer``).
        max_length: token limit of reports (``model.text.max_length``).
        max_node_tokens: word pieces per graph node.
    """

    def __init__(self, tokenizer: Any, *, max_length: int, max_node_tokens: int = 8) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.max_node_tokens = max_node_tokens

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Texts -> ``{"input_ids": [B, L], "attention_mask": [B, L]}`` padded to the longest."""
        return tokenize_texts(self.tokenizer, texts, self.max_length)

    def graphs(self, items: list[str]) -> Any:
        from cxrvlp.data.graphs import collate_graphs, graphs_to_data  # torch_geometric: seconds, graph rows only

        graphs = [ReportGraph.from_dict(json.loads(g)) for g in items]
        return collate_graphs(graphs_to_data(graphs, self.tokenizer, max_node_tokens=self.max_node_tokens))

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        first = samples[0]
        batch: dict[str, Any] = {}
        for key in ("image", "distractor_image", *TRUNK_KEYS):
            if key in first:
                batch[key] = torch.stack([s[key] for s in samples])  # (B, 3, S, S) images, (B, F) trunk features
        if "image_tail_blocks" in first:
            ks = {s["image_tail_blocks"] for s in samples}
            if len(ks) != 1:
                raise ValueError(f"samples with different image_tail_blocks in one batch: {sorted(ks)}")
            batch["image_tail_blocks"] = ks.pop()
        for prefix in ("", "hardneg_"):
            if f"{prefix}report" in first:
                texts = [s[f"{prefix}report"] for s in samples]
                batch[f"{prefix}report"] = texts
                batch[f"{prefix}text"] = self.tokenize(texts)
            if f"{prefix}labels" in first:
                batch[f"{prefix}labels"] = torch.stack([s[f"{prefix}labels"] for s in samples])  # (B, 14)
            if f"{prefix}graph" in first:
                batch[f"{prefix}graph"] = self.graphs([s[f"{prefix}graph"] for s in samples])
        return batch


def move_to(batch: dict[str, Any], device: torch.device, *, channels_last: bool = False) -> dict[str, Any]:
    """Copy a batch's tensors (and graph batches) to ``device`` without blocking; strings stay as they are."""
    out: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            fmt = torch.channels_last if channels_last and value.dim() == 4 else torch.preserve_format
            out[key] = value.to(device, non_blocking=True, memory_format=fmt)
        elif isinstance(value, dict):
            out[key] = {k: v.to(device, non_blocking=True) for k, v in value.items()}
        elif hasattr(value, "to") and not isinstance(value, str | list):
            out[key] = value.to(device, non_blocking=True)
        else:
            out[key] = value
    return out
