"""Run model-changing analyses on a private copy of a shared model.

The app keeps one model per spec for the whole server (``st.cache_resource``), shared by every browser session and
by overlapping reruns of one session. Some analyses change the model while they run: :func:`head_sweep` patches
module ``forward``s, :func:`mask_heads` registers forward pre-hooks, captum's integrated gradients hooks the
token-embedding layer. On the shared model, any other session's forward pass in that window sees the change
(wrong numbers, or ``RuntimeError: The size of tensor a (70) must match ...``).

:func:`private_copy` lends a deep copy of the model instead (the tokenizer is shared: it is not changed). The
shared model is never patched, so a plain reader (:func:`cxrvlp.analysis.occlusion`, ``Predictor.embed_texts``)
stays correct whatever runs next to it. A copy goes back to a small pool after use only when it is exactly as
clean as it was lent (no hook, no patched ``forward``, same train/eval flags); a copy left dirty by an
interruption (Streamlit stops a rerun by raising inside it) is dropped, so no one ever gets a masked model.

The wrappers here take the same arguments as the analyses they wrap and return the same results.
"""

from __future__ import annotations

import copy
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from cxrvlp.analysis import attribution as _attribution
from cxrvlp.analysis import heads as _heads

SPARE_COPIES = 1  # clean copies kept per model between uses (more are made while several analyses run at once)

_lock = threading.Lock()
_spares: weakref.WeakKeyDictionary[nn.Module, list[nn.Module]] = weakref.WeakKeyDictionary()
_fingerprints: weakref.WeakKeyDictionary[nn.Module, tuple] = weakref.WeakKeyDictionary()


def state_fingerprint(model: nn.Module) -> tuple:
    """What an analysis may leave behind, per submodule: hook counts, a patched ``forward`` and the train flag."""
    return tuple(
        (
            name,
            len(m._forward_hooks),
            len(m._forward_pre_hooks),
            len(m._backward_hooks),
            "forward" in m.__dict__,
            m.training,
        )
        for name, m in model.named_modules()
    )


def _clone(model: nn.Module) -> nn.Module:
    memo: dict[int, Any] = {}
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is not None and not isinstance(tokenizer, nn.Module):
        memo[id(tokenizer)] = tokenizer  # read-only: share it rather than copy it
    with torch.no_grad():
        return copy.deepcopy(model, memo)


@contextmanager
def private_copy(model: nn.Module) -> Iterator[nn.Module]:
    """A copy of ``model`` (same weights, device, dtype and modes) for the ``with`` block alone.

    The copy is returned to the pool only when its :func:`state_fingerprint` equals the one it was lent with;
    otherwise (an interrupted analysis left a hook or a patch) it is dropped.
    """
    with _lock:
        pool = _spares.setdefault(model, [])
        lent = pool.pop() if pool else None
    if lent is None:
        lent = _clone(model)
        with _lock:
            _fingerprints[lent] = state_fingerprint(lent)
    try:
        yield lent
    finally:
        if state_fingerprint(lent) == _fingerprints.get(lent):
            with _lock:
                pool = _spares.setdefault(model, [])
                if len(pool) < SPARE_COPIES:
                    pool.append(lent)


def spare_copies(model: nn.Module) -> list[nn.Module]:
    """The clean copies of ``model`` waiting in the pool (for tests and diagnostics)."""
    with _lock:
        return list(_spares.get(model, []))


def head_sweep(model: nn.Module, reports: Sequence[str], negated: Sequence[str], **kwargs: Any) -> _heads.HeadSweep:
    """:func:`cxrvlp.analysis.heads.head_sweep` on a private copy of ``model`` (same arguments, same result)."""
    with private_copy(model) as m:
        return _heads.head_sweep(m, reports, negated, **kwargs)


def refine_sweep(
    estimate: _heads.HeadSweep, model: nn.Module, reports: Sequence[str], negated: Sequence[str], **kwargs: Any
) -> _heads.HeadSweep:
    """:func:`cxrvlp.analysis.heads.refine_sweep` (the exact replay of the top heads) on a private copy."""
    with private_copy(model) as m:
        return _heads.refine_sweep(estimate, m, reports, negated, **kwargs)


def masked_text_embeddings(
    model: nn.Module, texts: Sequence[str], heads: _heads.HeadSpec, *, batch_size: int = 64
) -> torch.Tensor:
    """L2-normalised float32 CPU ``[N, D]`` text embeddings with ``heads`` masked (:func:`mask_heads`), computed on
    a private copy (as ``Predictor.embed_texts`` would on the model, bf16 autocast on CUDA)."""
    from cxrvlp.runtime import autocast

    with private_copy(model) as m:
        device = next(m.parameters()).device
        out = []
        with _heads.mask_heads(m.text.backbone, heads):
            for start in range(0, len(texts), batch_size):
                tok = m.tokenize(list(texts[start : start + batch_size]))
                with torch.inference_mode(), autocast(device):
                    feats = m.encode_text(tok["input_ids"].to(device), tok["attention_mask"].to(device))
                out.append(feats.float().cpu())
    return torch.cat(out) if out else torch.empty(0, m.config.embed_dim)


def attribute(model: nn.Module, text: str, reference: torch.Tensor | str, **kwargs: Any) -> _attribution.Attribution:
    """:func:`cxrvlp.analysis.attribute` (captum hooks the embedding layer) on a private copy of ``model``."""
    with private_copy(model) as m:
        return _attribution.attribute(m, text, reference, **kwargs)


def occlusion(model: nn.Module, text: str, reference: torch.Tensor | str) -> _attribution.Attribution:
    """:func:`cxrvlp.analysis.occlusion` on a private copy of ``model`` (occlusion only reads the model; the copy
    keeps it off the shared model all the same, so no analysis here ever touches what other sessions use)."""
    with private_copy(model) as m:
        return _attribution.occlusion(m, text, reference)


def run_isolated(model: nn.Module, analysis: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``analysis(copy, *args, **kwargs)`` on a private copy of ``model``."""
    with private_copy(model) as m:
        return analysis(m, *args, **kwargs)
