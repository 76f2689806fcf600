"""AdamW with decoupled weight decay on matrices only, and a cosine learning-rate schedule with linear warmup."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from cxrvlp.config import TrainConfig
from cxrvlp.types import UserError


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: weight-decayed matrices (dim >= 2), and undecayed biases / norms / embeddings'
    scalars and ``logit_scale`` (as CLIP). Frozen parameters are left out."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.dim() < 2 or "logit_scale" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: nn.Module, cfg: TrainConfig, *, device: torch.device) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups`; the fused CUDA kernel when on a GPU.

    Raises:
        ValueError: every parameter is frozen.
    """
    groups = param_groups(model, cfg.weight_decay)
    if not any(g["params"] for g in groups):
        raise UserError("nothing to train: every parameter is frozen")
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6, fused=device.type == "cuda")


def cosine_lr(
    optimizer: torch.optim.Optimizer, *, base_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0
) -> Callable[[int], float]:
    """A closure ``adjust(step) -> lr`` that sets every group's learning rate for optimiser step ``step`` (0-based).

    Linear warmup from ``base_lr / warmup_steps`` to ``base_lr`` over ``warmup_steps``, then a half cosine down to
    ``min_lr`` at ``total_steps``. It is stateless: a resumed run calls it with the restored step.
    """

    def adjust(step: int) -> float:
        if step < warmup_steps:
            lr = base_lr * (step + 1) / warmup_steps
        else:
            progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
            lr = min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * min(1.0, progress)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    return adjust
