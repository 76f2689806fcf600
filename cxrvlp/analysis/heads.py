"""Attention-head ablation of the text tower (Vu & Sheshappanavar).

Masking head ``h`` of layer ``l`` zeroes that head's slice of the concatenated attention context before the
layer's output projection (``attention.output.dense`` in BERT-style encoders, ``self_attn.out_proj`` in CLIP- and
SigLIP-style text encoders). This is exactly what the old ``head_mask`` argument did, which transformers 5 removed,
so we do it with forward pre-hooks. :func:`mask_heads` is a context manager that always removes its hooks.

:func:`head_sweep` masks each head in turn and measures how a negation metric changes:

* with images: the mean margin ``sim(I, r) - sim(I, r^n)`` and Task-A accuracy (``sim(I, r) > sim(I, r^n)``);
* text only: the mean text distance ``1 - cos(t(r), t(r^n))`` (does the text side even separate a report from
  its negation?).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from cxrvlp.models import CXRClip

_OUT_PROJ = re.compile(r"layers?\.(\d+)\.(attention\.output\.dense|self_attn\.out_proj|attn\.out_proj)$")


def attention_out_projections(backbone: nn.Module) -> list[nn.Linear]:
    """Each layer's attention output projection, in layer order.

    Raises:
        NotImplementedError: for an encoder whose attention does not call its output projection as a module
            (e.g. ``nn.MultiheadAttention`` in open_clip); head ablation is not supported there.
    """
    found: dict[int, nn.Linear] = {}
    for name, module in backbone.named_modules():
        m = _OUT_PROJ.search(name)
        if m and isinstance(module, nn.Linear):
            found.setdefault(int(m.group(1)), module)
    if not found:
        raise NotImplementedError(
            f"head ablation supports BERT-, CLIP-text- and SigLIP-text-style encoders; found no per-layer attention "
            f"output projection in {type(backbone).__name__}"
        )
    return [found[i] for i in sorted(found)]


def num_heads(backbone: nn.Module) -> int:
    cfg = backbone.config
    return int(getattr(cfg, "num_attention_heads", None) or cfg.text_config.num_attention_heads)


HeadSpec = Mapping[int, Sequence[int]] | Iterable[tuple[int, int]]


def _as_mask(spec: HeadSpec, layers: int, heads: int) -> torch.Tensor:
    mask = torch.ones(layers, heads)
    items = spec.items() if isinstance(spec, Mapping) else ((layer, [head]) for layer, head in spec)
    for layer, hs in items:
        for head in hs:
            if not (0 <= layer < layers and 0 <= head < heads):
                raise ValueError(f"head ({layer}, {head}) out of range: the encoder has {layers} x {heads} heads")
            mask[layer, head] = 0.0
    return mask


@contextlib.contextmanager
def mask_heads(backbone: nn.Module, heads: HeadSpec) -> Iterator[torch.Tensor]:
    """Mask attention heads inside the ``with`` block; yields the ``[layers, heads]`` 0/1 mask in use.

    Args:
        backbone: the Hugging Face text encoder (``model.text.backbone``).
        heads: ``{layer: [head, ...]}`` or an iterable of ``(layer, head)`` pairs; empty masks nothing.

    The hooks are removed in ``finally``, also when the block raises.
    """
    projections = attention_out_projections(backbone)
    n_heads = num_heads(backbone)
    mask = _as_mask(heads, len(projections), n_heads)
    handles = []
    try:
        for layer, proj in enumerate(projections):
            if bool(mask[layer].all()):
                continue
            head_dim = proj.in_features // n_heads
            scale = mask[layer].repeat_interleave(head_dim)  # (H * d,)

            def hook(module: nn.Module, args: tuple, scale: torch.Tensor = scale) -> tuple:
                x = args[0]
                return (x * scale.to(device=x.device, dtype=x.dtype), *args[1:])

            handles.append(proj.register_forward_pre_hook(hook))
        yield mask
    finally:
        for h in handles:
            h.remove()


@dataclass(frozen=True)
class HeadSweep:
    """Result of :func:`head_sweep`.

    Attributes:
        metric: name of the main metric (``"margin"`` with images, ``"text_distance"`` without).
        baseline: the metric with no head masked.
        delta: ``[layers, heads]`` change of the metric when that single head is masked (masked - baseline).
        accuracy_baseline: Task-A accuracy with no head masked (images only; nan otherwise).
        accuracy_delta: ``[layers, heads]`` change of Task-A accuracy (images only; nan otherwise).
        top_heads: ``(layer, head, delta)`` of the heads whose masking lowers the metric most.
    """

    metric: str
    baseline: float
    delta: torch.Tensor
    accuracy_baseline: float
    accuracy_delta: torch.Tensor
    top_heads: tuple[tuple[int, int, float], ...]


def _length_chunks(model: CXRClip, texts: list[str], *, chunk: int = 16) -> tuple[list[dict], torch.Tensor]:
    """Tokenise ``texts`` in chunks of similar length (each padded to its own longest text, not the batch's);
    returns the chunks and the permutation that restores the input order."""
    lengths = [
        len(ids) for ids in model.tokenizer(texts, truncation=True, max_length=model.text.max_length)["input_ids"]
    ]
    order = sorted(range(len(texts)), key=lengths.__getitem__)
    chunks = [model.tokenize([texts[i] for i in order[s : s + chunk]]) for s in range(0, len(texts), chunk)]
    return chunks, torch.argsort(torch.tensor(order))


def _encode_chunks(model: CXRClip, chunks: list[dict], restore: torch.Tensor) -> torch.Tensor:
    device = next(model.parameters()).device
    feats = [model.encode_text(c["input_ids"].to(device), c["attention_mask"].to(device)).float() for c in chunks]
    return torch.cat(feats)[restore.to(device)]  # (N, D) in input order


def _metrics(model: CXRClip, tok_r: tuple, tok_n: tuple, image_features: torch.Tensor | None) -> tuple[float, float]:
    device = next(model.parameters()).device
    with torch.inference_mode():
        r, n = _encode_chunks(model, *tok_r), _encode_chunks(model, *tok_n)
    if image_features is None:
        return float((1 - (r * n).sum(-1)).mean()), float("nan")
    img = image_features.to(device).float()
    margin = (img * r).sum(-1) - (img * n).sum(-1)  # (N,)
    return float(margin.mean()), float((margin > 0).float().mean())


def head_sweep(
    model: CXRClip,
    reports: Sequence[str],
    negated: Sequence[str],
    *,
    image_features: torch.Tensor | None = None,
    top_k: int = 5,
    on_progress: Callable[[int, int], None] | None = None,
) -> HeadSweep:
    """Mask every (layer, head) of the text tower in turn and measure the change of a negation metric.

    Args:
        model: the model to probe (left unchanged afterwards).
        reports: original reports ``r`` (N).
        negated: their negated versions ``r^n`` (N), same order.
        image_features: optional ``[N, D]`` L2-normalised image embeddings of the reports' images.
        top_k: how many heads to list in ``top_heads``.
        on_progress: called as ``(done, total)`` after each head.
    """
    if len(reports) != len(negated) or not reports:
        raise ValueError("give the same non-zero number of reports and negated reports")
    if image_features is not None and image_features.shape[0] != len(reports):
        raise ValueError(f"{image_features.shape[0]} image embeddings for {len(reports)} reports")
    backbone = model.text.backbone
    layers, heads = len(attention_out_projections(backbone)), num_heads(backbone)
    tok_r, tok_n = _length_chunks(model, list(reports)), _length_chunks(model, list(negated))
    was_training = model.training
    model.eval()
    try:
        base, base_acc = _metrics(model, tok_r, tok_n, image_features)
        delta = torch.zeros(layers, heads)
        acc_delta = torch.full((layers, heads), float("nan"))
        total = layers * heads
        for layer in range(layers):
            for head in range(heads):
                with mask_heads(backbone, [(layer, head)]):
                    value, acc = _metrics(model, tok_r, tok_n, image_features)
                delta[layer, head] = value - base
                acc_delta[layer, head] = acc - base_acc
                if on_progress:
                    on_progress(layer * heads + head + 1, total)
    finally:
        model.train(was_training)
    order = torch.argsort(delta.flatten())[:top_k].tolist()
    top = tuple((i // heads, i % heads, float(delta.flatten()[i])) for i in order)
    return HeadSweep(
        metric="margin" if image_features is not None else "text_distance",
        baseline=base,
        delta=delta,
        accuracy_baseline=base_acc,
        accuracy_delta=acc_delta,
        top_heads=top,
    )
