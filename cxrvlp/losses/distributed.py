"""Gathering features from all ranks with gradients, so the soft-label loss sees the global batch.

The differentiable gather is PyTorch's own ``torch.distributed.nn.functional.all_gather`` (what open_clip uses):
its backward reduce-scatters the gradients (NCCL; all-to-all plus a sum on gloo). PyTorch 2.14 marks it deprecated
in favour of the private ``torch.distributed._functional_collectives``; that warning is silenced here, and the
2-process gloo test (``tests/test_losses_distributed.py``) proves the values and gradients.

Gradient convention: :func:`gather_with_grad` sums, in backward, the gradients every rank computed for a rank's
slice. Every rank evaluates the same global loss ``L``, so each rank's local features receive ``world_size *
dL/dx_local``; DistributedDataParallel then averages parameter gradients over ranks (divides by ``world_size``),
which gives exactly the gradient of ``L`` computed by one process on the whole global batch.

All ranks must hold the same number of rows (use ``drop_last=True`` in the sampler).
"""

from __future__ import annotations

import warnings

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import Tensor


def world_size() -> int:
    """Number of processes in the default group (1 when torch.distributed is not initialised)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def gather_with_grad(tensor: Tensor) -> Tensor:
    """Concatenate ``tensor`` from all ranks in rank order, differentiably.

    Args:
        tensor: ``[b, ...]`` this rank's rows (same ``b`` on every rank).

    Returns:
        ``[world_size * b, ...]``; rows ``rank * b : (rank + 1) * b`` are this rank's ``tensor``. Without an
        initialised process group (or with one process) ``tensor`` itself is returned.
    """
    if world_size() == 1:
        return tensor
    if not tensor.requires_grad:
        parts = [torch.empty_like(tensor) for _ in range(world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"torch\.distributed\.nn\.functional\.all_gather is deprecated")
        return torch.cat(dist_fn.all_gather(tensor), dim=0)


def gather_optional(tensor: Tensor | None) -> Tensor | None:
    """:func:`gather_with_grad` that passes ``None`` through (for streams a method does not use)."""
    return None if tensor is None else gather_with_grad(tensor)
