"""Attention-head ablation of the text tower (Vu & Sheshappanavar).

Masking head ``h`` of layer ``l`` zeroes that head's slice of the concatenated attention context before the
layer's output projection (``attention.output.dense`` in BERT-style encoders, ``self_attn.out_proj`` in CLIP- and
SigLIP-style text encoders). This is exactly what the old ``head_mask`` argument did, which transformers 5 removed,
so we do it with forward pre-hooks. :func:`mask_heads` is a context manager that always removes its hooks.

:func:`head_sweep` masks each head in turn and measures how a negation metric changes:

* with images: the mean margin ``sim(I, r) - sim(I, r^n)`` and Task-A accuracy (``sim(I, r) > sim(I, r^n)``);
* text only: the mean text distance ``1 - cos(t(r), t(r^n))`` (does the text side even separate a report from
  its negation?).

Masking a head of layer ``l`` leaves layers ``0..l-1`` and layer ``l``'s own queries, keys, values and attention
untouched, so the sweep records them once per chunk of reports (unmasked pass) and replays them for the 12 (or
``heads``) masked passes of layer ``l``: only the rest of layer ``l`` and the layers above it are recomputed. The
result is the same as masking and re-encoding from scratch (tested), at about half the work for a 6-layer tower.

``method="patching"`` is attribution patching (Nanda 2023; Syed et al. 2023, "Attribution Patching Outperforms
Automated Circuit Discovery"): every head's context slice is multiplied by a gate ``g[l, h] = 1``, and one forward
and one backward pass per chunk of pairs give ``dM/dg`` for all heads at once. Since masking head ``(l, h)`` moves
its gate from 1 to 0, ``-dM/dg[l, h] = (masked - unmasked head output) . dM/d(head output)`` is the first-order
estimate of the change of the metric ``M`` (exact when ``M`` is linear in that head's output; tests check that
``(M(g = 1 - eps) - M(1)) / eps`` tends to it). :func:`refine_sweep` then measures the top heads exactly.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from cxrvlp.models import ClipModel
from cxrvlp.types import UnsupportedError, UserError

_OUT_PROJ = re.compile(
    r"^(?P<layer>(?:.*\.)?layers?\.(?P<index>\d+))\.(attention\.output\.dense|self_attn\.out_proj|attn\.out_proj)$"
)


class HeadAblationUnsupportedError(UnsupportedError):
    """The text tower has no per-head access before its attention output projection (one-line message)."""


def _transformer_layers(backbone: nn.Module) -> list[tuple[nn.Module, nn.Linear]]:
    """``(layer, attention output projection)`` of each transformer layer, in layer order.

    Raises:
        HeadAblationUnsupportedError: for an encoder whose attention does not call its output projection as a module
            (e.g. ``nn.MultiheadAttention`` in open_clip); head ablation is not supported there.
    """
    found: dict[int, tuple[nn.Module, nn.Linear]] = {}
    for name, module in backbone.named_modules():
        m = _OUT_PROJ.search(name)
        fused = isinstance(backbone.get_submodule(name.rpartition(".")[0]), nn.MultiheadAttention) if m else False
        if m and isinstance(module, nn.Linear) and not fused:  # nn.MultiheadAttention never calls its out_proj
            found.setdefault(int(m.group("index")), (backbone.get_submodule(m.group("layer")), module))
    if not found:
        raise HeadAblationUnsupportedError(
            f"head ablation supports BERT-, CLIP-text- and SigLIP-text-style encoders; found no per-layer attention "
            f"output projection in {type(backbone).__name__}"
        )
    return [found[i] for i in sorted(found)]


def attention_out_projections(backbone: nn.Module) -> list[nn.Linear]:
    """Each layer's attention output projection, in layer order (see :func:`_transformer_layers` for errors)."""
    return [proj for _, proj in _transformer_layers(backbone)]


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
                raise UserError(f"head ({layer}, {head}) out of range: the encoder has {layers} x {heads} heads")
            mask[layer, head] = 0.0
    return mask


@contextlib.contextmanager
def scale_heads(backbone: nn.Module, scale: torch.Tensor) -> Iterator[torch.Tensor]:
    """Multiply the context slice of head ``h`` in layer ``l`` by ``scale[l, h]`` inside the ``with`` block.

    Yields ``scale``.

    Args:
        backbone: the Hugging Face text encoder (``model.text.backbone``).
        scale: ``[layers, heads]`` factors (0 masks a head, 1 leaves it). When it requires grad, every layer is
            hooked, so gradients with respect to it flow (attribution patching); otherwise rows of ones are skipped.

    The hooks are removed in ``finally``, also when the block raises.
    """
    projections = attention_out_projections(backbone)
    n_heads = num_heads(backbone)
    if tuple(scale.shape) != (len(projections), n_heads):
        raise ValueError(f"scale has shape {tuple(scale.shape)}; the encoder has {len(projections)} x {n_heads} heads")
    handles = []
    try:
        for layer, proj in enumerate(projections):
            if not scale.requires_grad and bool((scale[layer] == 1).all()):
                continue
            head_dim = proj.in_features // n_heads

            def hook(module: nn.Module, args: tuple, layer: int = layer, head_dim: int = head_dim) -> tuple:
                x = args[0]
                factor = scale[layer].to(device=x.device, dtype=x.dtype).repeat_interleave(head_dim)  # (H * d,)
                return (x * factor, *args[1:])

            handles.append(proj.register_forward_pre_hook(hook))
        yield scale
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def mask_heads(backbone: nn.Module, heads: HeadSpec) -> Iterator[torch.Tensor]:
    """Mask attention heads inside the ``with`` block; yields the ``[layers, heads]`` 0/1 mask in use.

    Args:
        backbone: the Hugging Face text encoder (``model.text.backbone``).
        heads: ``{layer: [head, ...]}`` or an iterable of ``(layer, head)`` pairs; empty masks nothing.

    The hooks are removed in ``finally``, also when the block raises.
    """
    mask = _as_mask(heads, len(attention_out_projections(backbone)), num_heads(backbone))
    with scale_heads(backbone, mask):
        yield mask


@dataclass(frozen=True)
class HeadSweep:
    """Result of :func:`head_sweep` (or :func:`refine_sweep`).

    Attributes:
        metric: name of the main metric (``"margin"`` with images, ``"text_distance"`` without).
        baseline: the metric with no head masked.
        delta: ``[layers, heads]`` change of the metric when that single head is masked (masked - baseline): the
            exact change, or its first-order estimate where ``estimated`` is true; nan where not measured.
        accuracy_baseline: Task-A accuracy with no head masked (images only; nan otherwise).
        accuracy_delta: ``[layers, heads]`` change of Task-A accuracy (exact heads with images only; nan otherwise).
        top_heads: ``(layer, head, delta)`` of the heads whose masking lowers the metric most.
        method: ``"exact"``, ``"patching"`` (all estimates) or ``"patching+exact"`` (estimates, top heads exact).
        estimated: ``[layers, heads]`` bool, true where ``delta`` is an attribution-patching estimate; ``None``
            means none is.
    """

    metric: str
    baseline: float
    delta: torch.Tensor
    accuracy_baseline: float
    accuracy_delta: torch.Tensor
    top_heads: tuple[tuple[int, int, float], ...]
    method: str = "exact"
    estimated: torch.Tensor | None = None

    def is_estimate(self) -> torch.Tensor:
        """``[layers, heads]`` bool: true where ``delta`` is a first-order estimate, false where it is exact."""
        return self.estimated if self.estimated is not None else torch.zeros(self.delta.shape, dtype=torch.bool)


def _top(delta: torch.Tensor, k: int) -> tuple[tuple[int, int, float], ...]:
    """The ``k`` measured heads (nan skipped) with the most negative ``delta``."""
    flat, heads = delta.flatten(), delta.shape[1]
    order = [i for i in torch.argsort(flat).tolist() if not torch.isnan(flat[i])][:k]  # nan sorts last
    return tuple((i // heads, i % heads, float(flat[i])) for i in order)


def _length_chunks(model: ClipModel, texts: list[str], *, chunk: int = 16) -> tuple[list[dict], torch.Tensor]:
    """Tokenise ``texts`` in chunks of similar length (each padded to its own longest text, not the batch's);
    returns the chunks and the permutation that restores the input order."""
    lengths = [
        len(ids) for ids in model.tokenizer(texts, truncation=True, max_length=model.text.max_length)["input_ids"]
    ]
    order = sorted(range(len(texts)), key=lengths.__getitem__)
    chunks = [model.tokenize([texts[i] for i in order[s : s + chunk]]) for s in range(0, len(texts), chunk)]
    return chunks, torch.argsort(torch.tensor(order))


_MISSING = object()
_SWEEP_CHUNK = 16  # texts per chunk: 8-16 measured fastest on 2 cores (less padding, cache-resident)


def _self_attention(layer: nn.Module) -> nn.Module | None:
    """The submodule of a BERT-style layer that computes queries, keys, values and attention (``attention.self``);
    ``None`` where the output projection sits inside that computation (CLIP, SigLIP)."""
    attention = getattr(layer, "attention", None)
    inner = getattr(attention, "self", None)
    return inner if isinstance(inner, nn.Module) else None


@dataclass
class _Recording:
    """What each layer returned (and, for BERT-style layers, what its self-attention returned) in one pass."""

    layer_out: dict[int, Any] = field(default_factory=dict)
    attention_out: dict[int, Any] = field(default_factory=dict)


@contextlib.contextmanager
def _record(layers: list[nn.Module]) -> Iterator[_Recording]:
    """Record every layer's output (and ``attention.self`` output) during the ``with`` block; hooks removed after."""
    rec = _Recording()
    handles = []
    try:
        for i, layer in enumerate(layers):
            handles.append(layer.register_forward_hook(lambda m, a, out, i=i: rec.layer_out.__setitem__(i, out)))
            inner = _self_attention(layer)
            if inner is not None:
                hook = lambda m, a, out, i=i: rec.attention_out.__setitem__(i, out)  # noqa: E731
                handles.append(inner.register_forward_hook(hook))
        yield rec
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def _replay(layers: list[nn.Module], upto: int, rec: _Recording) -> Iterator[None]:
    """Inside the block, layers ``0..upto-1`` do no work and return what layer ``upto - 1`` returned in ``rec``, and
    layer ``upto``'s self-attention (BERT-style) returns its recorded output; valid only for the inputs recorded,
    with nothing below the output projection of layer ``upto`` changed. Restored in ``finally``."""
    patched: list[tuple[nn.Module, Any]] = []

    def patch(module: nn.Module, value: Any) -> None:
        patched.append((module, module.__dict__.get("forward", _MISSING)))
        module.forward = lambda *args, **kwargs: value  # the instance attribute shadows the class's forward

    try:
        for layer in layers[:upto]:
            patch(layer, rec.layer_out[upto - 1])
        inner = _self_attention(layers[upto])
        if inner is not None and upto in rec.attention_out:
            patch(inner, rec.attention_out[upto])
        yield
    finally:
        for module, saved in reversed(patched):
            if saved is _MISSING:
                del module.forward
            else:
                module.forward = saved


def _sweep_features(
    model: ClipModel,
    texts: list[str],
    on_progress: Callable[[int, int], None] | None,
    only: set[tuple[int, int]] | None = None,
) -> tuple[torch.Tensor, int, int]:
    """``[1 + layers * heads, N, D]`` text embeddings: unmasked first, then head ``(l, h)`` masked at
    ``1 + l * heads + h``; chunk by chunk, each masked pass replaying what lies below the masked head.
    With ``only``, just those heads are masked (the other rows repeat the unmasked embeddings)."""
    backbone = model.text.backbone
    layers = [layer for layer, _ in _transformer_layers(backbone)]
    n_layers, n_heads = len(layers), num_heads(backbone)
    wanted = [
        (layer, head) for layer in range(n_layers) for head in range(n_heads) if only is None or (layer, head) in only
    ]
    chunks, restore = _length_chunks(model, texts, chunk=_SWEEP_CHUNK)
    device = next(model.parameters()).device
    total, done, blocks = len(wanted) * len(chunks), 0, []
    with torch.inference_mode():
        for c in chunks:
            ids, mask = c["input_ids"].to(device), c["attention_mask"].to(device)
            with _record(layers) as rec:
                base = model.encode_text(ids, mask).float()
            out = [base] + [base] * (n_layers * n_heads)
            for layer in sorted({layer for layer, _ in wanted}):
                with _replay(layers, layer, rec):
                    for head in (h for lay, h in wanted if lay == layer):
                        with mask_heads(backbone, [(layer, head)]):
                            out[1 + layer * n_heads + head] = model.encode_text(ids, mask).float()
                        done += 1
                        if on_progress:
                            on_progress(done, total)
            blocks.append(torch.stack(out))  # (1 + L * H, n_chunk, D)
    return torch.cat(blocks, dim=1)[:, restore.to(device)], n_layers, n_heads


def _pair_metric(r: torch.Tensor, neg: torch.Tensor, img: torch.Tensor | None) -> torch.Tensor:
    """Per-pair metric ``[..., N]``: margin ``img . r - img . r^n`` with images, else ``1 - cos(r, r^n)``."""
    if img is None:
        return 1 - (r * neg).sum(-1)
    return (img * r).sum(-1) - (img * neg).sum(-1)


def _pair_chunks(model: ClipModel, reports: list[str], negated: list[str], *, pairs: int) -> list[list[int]]:
    """Pair indices in chunks of ``pairs``, sorted by the longer text of each pair (less padding per chunk)."""
    lengths = model.tokenizer(reports + negated, truncation=True, max_length=model.text.max_length)["input_ids"]
    n = len(reports)
    order = sorted(range(n), key=lambda i: max(len(lengths[i]), len(lengths[n + i])))
    return [order[s : s + pairs] for s in range(0, n, pairs)]


_PATCH_PAIRS = 8  # pairs (16 texts) per forward + backward chunk, as the exact sweep's 16 texts


def _patching(
    model: ClipModel,
    reports: list[str],
    negated: list[str],
    image_features: torch.Tensor | None,
    on_progress: Callable[[int, int], None] | None,
    *,
    gate: torch.Tensor | None = None,
) -> tuple[float, torch.Tensor]:
    """``(baseline metric, dM/dgate [layers, heads])`` with every head's context slice multiplied by ``gate`` (ones
    by default): one forward and one backward per chunk. A chunk holds whole pairs, so its part of the mean metric
    depends on its own texts only and the chunk's gradient is exact; only the gate needs a gradient, so autograd
    computes no weight gradients and nothing below layer 0's output projection."""
    backbone = model.text.backbone
    layers, heads = len(_transformer_layers(backbone)), num_heads(backbone)
    param = next(model.parameters())
    if gate is None:
        gate = torch.ones(layers, heads)
    gate = gate.detach().to(device=param.device, dtype=param.dtype).requires_grad_(True)
    img = image_features.to(device=param.device, dtype=param.dtype) if image_features is not None else None
    device = param.device
    chunks = _pair_chunks(model, reports, negated, pairs=_PATCH_PAIRS)
    n, value, grad = len(reports), 0.0, torch.zeros(layers, heads, dtype=torch.float64)
    with torch.inference_mode(False), torch.enable_grad():
        for done, idx in enumerate(chunks, 1):
            tok = model.tokenize([reports[i] for i in idx] + [negated[i] for i in idx])
            with scale_heads(backbone, gate):
                emb = model.encode_text(tok["input_ids"].to(device), tok["attention_mask"].to(device))
            k = len(idx)
            part = _pair_metric(emb[:k], emb[k:], img[idx] if img is not None else None).sum() / n
            (g,) = torch.autograd.grad(part, gate)
            value += float(part.detach())
            grad += g.double().cpu()
            if on_progress:
                on_progress(done, len(chunks))
    return value, grad


def _check_supported(model: ClipModel) -> None:
    """Raise :class:`HeadAblationUnsupportedError` (one line) where head ablation cannot work."""
    supports = getattr(model, "supports", None)
    if callable(supports) and not supports("head_ablation"):
        raise HeadAblationUnsupportedError(str(getattr(model, "unsupported", {}).get("head_ablation", "")).strip()
                                           or f"head ablation is not supported for {type(model).__name__}")  # fmt: skip
    backbone = getattr(getattr(model, "text", None), "backbone", None)
    if not isinstance(backbone, nn.Module):
        raise HeadAblationUnsupportedError(f"{type(model).__name__} exposes no Hugging Face text encoder to ablate")
    _transformer_layers(backbone)


def head_sweep(
    model: ClipModel,
    reports: Sequence[str],
    negated: Sequence[str],
    *,
    image_features: torch.Tensor | None = None,
    top_k: int = 5,
    on_progress: Callable[[int, int], None] | None = None,
    method: str = "exact",
    heads: Iterable[tuple[int, int]] | None = None,
) -> HeadSweep:
    """Change of a negation metric when each (layer, head) of the text tower is masked.

    Args:
        model: the model to probe (left unchanged afterwards).
        reports: original reports ``r`` (N).
        negated: their negated versions ``r^n`` (N), same order.
        image_features: optional ``[N, D]`` L2-normalised image embeddings of the reports' images.
        top_k: how many heads to list in ``top_heads``.
        on_progress: called as ``(done, total)``: after each masked pass (exact; ``total`` = heads x chunks of 16
            texts) or after each chunk of 8 pairs (patching).
        method: ``"exact"`` masks each head and re-encodes (replaying the layers below it); ``"patching"`` gives
            every head's first-order estimate from one forward and one backward pass per chunk (attribution
            patching; ``estimated`` all true, no accuracy change).
        heads: exact method only: mask just these ``(layer, head)`` pairs (the others are nan).

    Raises:
        HeadAblationUnsupportedError: a text tower without per-head access (e.g. open_clip's own transformer).
        ValueError: mismatched inputs or an unknown method.
    """
    if method not in ("exact", "patching"):
        raise ValueError(f"method must be 'exact' or 'patching', got {method!r}")
    if len(reports) != len(negated) or not reports:
        raise UserError("give the same non-zero number of reports and negated reports")
    if image_features is not None and image_features.shape[0] != len(reports):
        raise ValueError(f"{image_features.shape[0]} image embeddings for {len(reports)} reports")
    if heads is not None and method != "exact":
        raise ValueError("heads= selects heads for the exact method only")
    _check_supported(model)
    only = None if heads is None else {(int(layer), int(head)) for layer, head in heads}
    if only is not None:
        _as_mask(only, len(_transformer_layers(model.text.backbone)), num_heads(model.text.backbone))  # range check
    metric = "margin" if image_features is not None else "text_distance"
    was_training = model.training
    model.eval()
    try:
        if method == "patching":
            base, grad = _patching(model, list(reports), list(negated), image_features, on_progress)
            delta = (-grad).float()  # the gate goes from 1 to 0: first-order change = -dM/dgate
            return HeadSweep(
                metric=metric,
                baseline=base,
                delta=delta,
                accuracy_baseline=float("nan"),
                accuracy_delta=torch.full(delta.shape, float("nan")),
                top_heads=_top(delta, top_k),
                method="patching",
                estimated=torch.ones(delta.shape, dtype=torch.bool),
            )
        feats, layers, n_heads = _sweep_features(model, list(reports) + list(negated), on_progress, only)
    finally:
        model.train(was_training)
    n = len(reports)
    img = image_features.to(feats.device).float() if image_features is not None else None
    per_pair = _pair_metric(feats[:, :n], feats[:, n:], img)  # (1 + L * H, N)
    values = per_pair.mean(-1).double().cpu()
    if img is None:
        accuracy = torch.full((feats.shape[0],), float("nan"), dtype=torch.float64)
    else:
        accuracy = (per_pair > 0).double().mean(-1).cpu()
    delta = (values[1:] - values[0]).float().view(layers, n_heads)
    acc_delta = (accuracy[1:] - accuracy[0]).float().view(layers, n_heads)
    if only is not None:
        measured = torch.zeros(layers, n_heads, dtype=torch.bool)
        for layer, head in only:
            measured[layer, head] = True
        delta, acc_delta = delta.masked_fill(~measured, float("nan")), acc_delta.masked_fill(~measured, float("nan"))
    return HeadSweep(
        metric=metric,
        baseline=float(values[0]),
        delta=delta,
        accuracy_baseline=float(accuracy[0]),
        accuracy_delta=acc_delta,
        top_heads=_top(delta, top_k),
    )


def refine_sweep(
    estimate: HeadSweep,
    model: ClipModel,
    reports: Sequence[str],
    negated: Sequence[str],
    *,
    k: int = 10,
    image_features: torch.Tensor | None = None,
    top_k: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> HeadSweep:
    """Replace the estimates of the ``k`` heads ``estimate`` ranks first by their exact effects (the replayed sweep
    of those heads only, same pairs); the other heads keep their estimates (``estimated`` says which is which).

    ``top_heads`` is re-ranked on the refined matrix (``top_k`` entries, default as many as ``estimate`` lists).
    """
    chosen = [(layer, head) for layer, head, _ in _top(estimate.delta, k)]
    exact = head_sweep(
        model,
        reports,
        negated,
        image_features=image_features,
        top_k=max(1, len(chosen)),
        on_progress=on_progress,
        heads=chosen,
    )
    measured = ~torch.isnan(exact.delta)
    delta = torch.where(measured, exact.delta, estimate.delta)
    return HeadSweep(
        metric=exact.metric,
        baseline=exact.baseline,
        delta=delta,
        accuracy_baseline=exact.accuracy_baseline,
        accuracy_delta=exact.accuracy_delta,
        top_heads=_top(delta, top_k if top_k is not None else len(estimate.top_heads)),
        method=estimate.method + "+exact" if estimate.method == "patching" else estimate.method,
        estimated=estimate.is_estimate() & ~measured,
    )
