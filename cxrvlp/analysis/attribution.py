"""Token attribution: which words of a report drive its similarity to an image (or to a second text).

Two methods, both returning an :class:`Attribution`:

* :func:`attribute` — captum ``LayerIntegratedGradients`` on the text tower's token-embedding layer. The target is
  the cosine similarity between the report embedding and a fixed reference embedding (an image's, or a second
  text's). The baseline replaces every word piece by the padding token and keeps the special tokens ([CLS],
  [SEP]) in place, so attributions explain the words only. Integrated gradients are *complete*: the token
  attributions sum to ``sim(report) - sim(baseline)`` up to ``delta`` (captum's convergence delta), which shrinks
  as ``n_steps`` grows; we warn when ``|delta|`` exceeds 5% of that difference.
* :func:`occlusion` — a cheaper check: drop one word at a time and measure how much the similarity falls.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cxrvlp.models import ClipModel
from cxrvlp.types import UserError

log = logging.getLogger(__name__)

DELTA_WARN_FRACTION = 0.05


@dataclass(frozen=True)
class WordScore:
    """A word as the user typed it, with its character span and summed attribution."""

    word: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Attribution:
    """Result of an attribution run.

    Attributes:
        text: the report, as given.
        method: ``"integrated_gradients"`` or ``"occlusion"``.
        tokens: the word pieces (special tokens included for IG; empty for occlusion).
        token_scores: one score per token (aligned with ``tokens``).
        words: per-word scores, word pieces merged back to the words of ``text`` with character offsets.
        similarity: cosine similarity of the report with the reference.
        baseline_similarity: similarity of the baseline (IG: padding baseline; occlusion: nan).
        delta: captum's convergence delta (IG), 0 for occlusion.
        truncated: the report was longer than the text encoder's limit and only its start was explained.
    """

    text: str
    method: str
    tokens: tuple[str, ...]
    token_scores: tuple[float, ...]
    words: tuple[WordScore, ...]
    similarity: float
    baseline_similarity: float
    delta: float
    truncated: bool

    @property
    def delta_is_large(self) -> bool:
        gap = abs(self.similarity - self.baseline_similarity)
        return abs(self.delta) > DELTA_WARN_FRACTION * max(gap, 1e-6)


def _encode_inputs(model: ClipModel, text: str) -> tuple[dict[str, torch.Tensor], list[tuple[int, int]], list, bool]:
    tok = model.tokenizer
    full = tok(text, truncation=False, add_special_tokens=True)
    enc = tok(text, truncation=True, max_length=model.text.max_length, return_offsets_mapping=True, return_tensors="pt")
    offsets = [tuple(o) for o in enc.pop("offset_mapping")[0].tolist()]
    word_ids = enc.word_ids(0)
    truncated = len(full["input_ids"]) > model.text.max_length
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}, offsets, word_ids, truncated


def merge_words(
    text: str, offsets: Sequence[tuple[int, int]], word_ids: Sequence[int | None], scores: Sequence[float]
) -> list[WordScore]:
    """Merge word-piece scores into words (summing), using the tokenizer's word ids and character offsets.

    Special tokens (``word_id is None``) are dropped. A word's span runs from its first piece's start to its
    last piece's end, and its text is ``text[start:end]`` — exactly what the user typed.
    """
    words: dict[int, list] = {}
    for (start, end), wid, score in zip(offsets, word_ids, scores, strict=True):
        if wid is None or end <= start:
            continue
        if wid not in words:
            words[wid] = [start, end, 0.0]
        w = words[wid]
        w[0], w[1] = min(w[0], start), max(w[1], end)
        w[2] += float(score)
    return [WordScore(text[s:e], s, e, sc) for s, e, sc in (words[k] for k in sorted(words))]


def _reference(model: ClipModel, reference: torch.Tensor | str) -> torch.Tensor:
    device = next(model.parameters()).device
    if isinstance(reference, str):
        tok = model.tokenize([reference])
        with torch.no_grad():
            return model.encode_text(tok["input_ids"].to(device), tok["attention_mask"].to(device))[0]
    ref = reference.detach().to(device).float().flatten()
    return F.normalize(ref, dim=0)


def attribute(
    model: ClipModel,
    text: str,
    reference: torch.Tensor | str,
    *,
    n_steps: int = 32,
    internal_batch_size: int | None = 16,
) -> Attribution:
    """Integrated-gradients attribution of ``sim(text, reference)`` to the words of ``text``.

    Args:
        model: a :class:`~cxrvlp.models.ClipModel` (its text tower must expose ``word_embeddings()``).
        text: the report to explain.
        reference: an image embedding ``[D]`` (from ``encode_image`` / ``Predictor.embed_images``) or a second text.
        n_steps: integration steps (more -> smaller ``delta``).
        internal_batch_size: IG batch size (bounds memory).

    Raises:
        ValueError: for an empty report.
    """
    from captum.attr import LayerIntegratedGradients

    if not text.strip():
        raise UserError("the report is empty")
    device = next(model.parameters()).device
    ref = _reference(model, reference)  # (D,)
    inputs, offsets, word_ids, truncated = _encode_inputs(model, text)
    ids = inputs["input_ids"].to(device)  # (1, L)
    mask = inputs["attention_mask"].to(device)
    special = torch.tensor(model.tokenizer.get_special_tokens_mask(ids[0].tolist(), already_has_special_tokens=True))
    pad_id = model.tokenizer.pad_token_id if model.tokenizer.pad_token_id is not None else 0
    baseline = torch.where(special.bool().to(device), ids[0], torch.full_like(ids[0], pad_id)).unsqueeze(0)

    def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        emb = F.normalize(model.text(input_ids, attention_mask.expand(input_ids.shape[0], -1)), dim=-1)
        return emb @ ref  # (N,)

    was_training = model.training
    model.eval()
    try:
        lig = LayerIntegratedGradients(forward, model.text.word_embeddings())
        attrs, delta = lig.attribute(
            ids,
            baselines=baseline,
            additional_forward_args=(mask,),
            n_steps=n_steps,
            internal_batch_size=internal_batch_size,
            return_convergence_delta=True,
        )
        with torch.no_grad():
            sim, base_sim = forward(torch.cat([ids, baseline]), mask).tolist()
    finally:
        model.train(was_training)
    token_scores = attrs.sum(-1)[0].detach().float().cpu().tolist()  # (L,)
    result = Attribution(
        text=text,
        method="integrated_gradients",
        tokens=tuple(model.tokenizer.convert_ids_to_tokens(ids[0].tolist())),
        token_scores=tuple(token_scores),
        words=tuple(merge_words(text, offsets, word_ids, token_scores)),
        similarity=sim,
        baseline_similarity=base_sim,
        delta=float(delta.detach().float().cpu()[0]),
        truncated=truncated,
    )
    if result.delta_is_large:
        warnings.warn(
            f"integrated gradients did not converge (delta={result.delta:.4f} for a similarity gap of "
            f"{sim - base_sim:.4f}); increase n_steps",
            stacklevel=2,
        )
    return result


def occlusion(model: ClipModel, text: str, reference: torch.Tensor | str) -> Attribution:
    """Word occlusion: score(word) = sim(text) - sim(text without that word). One batched forward pass."""
    if not text.strip():
        raise UserError("the report is empty")
    device = next(model.parameters()).device
    ref = _reference(model, reference)
    inputs, offsets, word_ids, truncated = _encode_inputs(model, text)
    spans = merge_words(text, offsets, word_ids, [0.0] * len(offsets))
    variants = [text] + [(text[: w.start] + text[w.end :]).strip() or "." for w in spans]
    tok = model.tokenize(variants)
    with torch.no_grad():
        sims = model.encode_text(tok["input_ids"].to(device), tok["attention_mask"].to(device)) @ ref  # (1 + W,)
    sims = sims.float().cpu()
    words = tuple(WordScore(w.word, w.start, w.end, float(sims[0] - sims[i + 1])) for i, w in enumerate(spans))
    return Attribution(
        text=text,
        method="occlusion",
        tokens=(),
        token_scores=(),
        words=words,
        similarity=float(sims[0]),
        baseline_similarity=float("nan"),
        delta=0.0,
        truncated=truncated,
    )
