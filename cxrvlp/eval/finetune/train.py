"""Shared parts of fine-tuned classification training: options, backbone choice, seeding / thread / autocast
contexts, validation AUROC, the image dataset and loader, frozen-feature extraction and early stopping.

The two trainers live in :mod:`cxrvlp.eval.finetune.probe` (linear probe) and :mod:`cxrvlp.eval.finetune.full`
(full fine-tuning); which images, classes and seeds is decided in :mod:`cxrvlp.eval.finetune.run`. Both minimise
multi-label BCE and select on the validation macro AUROC with patience. On CUDA the image trunk runs under bf16
autocast in channels-last layout.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from cxrvlp.eval.bootstrap import auroc
from cxrvlp.models.image import ImageEncoder
from cxrvlp.runtime import autocast
from cxrvlp.types import ProgressFn, UserError

"""``on_progress(done, total)``."""


@dataclass(frozen=True)
class ProbeOptions:
    """Linear-probe settings (defaults documented on ``FinetuneConfig``)."""

    l2_grid: tuple[float, ...]  # L2 strengths, strongest first
    max_iter: int  # L-BFGS iterations per L2 value
    patience: int  # L2 values without validation improvement before stopping
    pos_weight: str  # "none" | "balanced"


@dataclass(frozen=True)
class TrainOptions:
    """Full fine-tuning hyperparameters (defaults documented on ``FinetuneConfig``)."""

    lr: float
    head_lr: float
    weight_decay: float
    epochs: int
    patience: int
    batch_size: int
    pos_weight: str  # "none" | "balanced"


@dataclass(frozen=True)
class TrainOutcome:
    """What a run selected on validation (nothing here looks at test).

    Attributes:
        best_epoch: 1-based epoch (linear probe: L2 grid index) whose weights were kept.
        epochs_run: epochs trained (L2 values fitted) before stopping.
        best_val_auroc: validation macro AUROC of the kept weights.
    """

    best_epoch: int
    epochs_run: int
    best_val_auroc: float


class EncodeImage(nn.Module):
    """Wraps any model with ``encode_image(x [B,3,H,W]) -> [B, D]`` (external adapters) as a module."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images [B, 3, H, W] -> [B, D]."""
        return self.model.encode_image(images)


def backbone_of(model: Any) -> tuple[nn.Module, str]:
    """The module whose output the head reads, and a description of those features.

    Our ``CXRClip`` (image tower an :class:`~cxrvlp.models.image.ImageEncoder`) gives its timm trunk: pooled
    features before the CLIP projection, the standard probe input. Any other model gives ``encode_image``, its
    joint-space image embedding: adapters' ``image.trunk`` modules have no common output (a Hugging Face vision
    model returns a ``ModelOutput``, open_clip's ``visual`` already projects).
    """
    image = getattr(model, "image", None)
    if isinstance(image, ImageEncoder):
        return image.trunk, "image trunk pooled features (before the CLIP projection)"
    return EncodeImage(model), "encode_image joint-space embedding"


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global RNGs (augmentation, dropout, init) inside the block and restore them after."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def cpu_threads(n: int | None, device: torch.device) -> Iterator[None]:
    """Limit torch's intra-op CPU threads to ``n`` inside the block (CPU devices, ``n`` not None), restoring them.

    The probe's tensors are tiny (``[n, F] @ [F, C]``): with several threads, synchronisation costs more than the
    arithmetic (10x slower measured on a busy 2-core machine).
    """
    old = torch.get_num_threads()
    if device.type == "cpu" and n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def macro_auroc(scores: np.ndarray, y: np.ndarray) -> float:
    """Mean AUROC over the columns of ``scores`` / ``y`` ``[N, C]`` that have a positive and a negative; NaN if none."""
    aucs = []
    for j in range(y.shape[1]):
        pos = y[:, j] > 0.5
        if pos.any() and not pos.all():
            aucs.append(auroc(scores[:, j], pos))
    return float(np.mean(aucs)) if aucs else float("nan")


def bce_pos_weight(y: torch.Tensor, kind: str) -> torch.Tensor | None:
    """``balanced``: per class ``n_neg / n_pos`` clipped to [1, 50] (1 for a class without positives); ``none``."""
    if kind == "none":
        return None
    if kind != "balanced":
        raise UserError(f"unknown pos_weight {kind!r}; valid: none, balanced")
    n_pos = y.sum(0)  # (C,)
    ratio = (y.shape[0] - n_pos) / n_pos.clamp(min=1)
    return torch.where(n_pos > 0, ratio.clamp(1.0, 50.0), torch.ones_like(ratio))


class ImageSet(torch.utils.data.Dataset):
    """Images (paths or loaders) -> transformed tensors ``[3, S, S]`` with their index."""

    def __init__(self, sources: Sequence[Any], transform: Callable[[Any], torch.Tensor]) -> None:
        self.sources = sources
        self.transform = transform

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        src = self.sources[i]
        return self.transform(src() if callable(src) else src), i


def make_loader(
    dataset: ImageSet, *, batch_size: int, shuffle: bool, num_workers: int, device: torch.device, seed: int = 0
) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(seed) if shuffle else None,
    )


@torch.no_grad()
def extract_features(
    backbone: nn.Module,
    dataset: ImageSet,
    *,
    device: torch.device,
    batch_size: int = 32,
    num_workers: int = 0,
    on_progress: ProgressFn | None = None,
) -> torch.Tensor:
    """Run the (frozen, eval-mode) backbone over every image once.

    Returns:
        ``[N, F]`` float32 CPU features in dataset order.
    """
    was_training = backbone.training
    backbone.eval()
    out: list[torch.Tensor] = []
    done = 0
    try:
        for x, _ in make_loader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers, device=device):
            x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            with autocast(device):
                out.append(backbone(x).float().to("cpu", non_blocking=True))
            done += len(x)
            if on_progress is not None:
                on_progress(done, len(dataset))
    finally:
        backbone.train(was_training)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return torch.cat(out) if out else torch.zeros(0, 0)


class Stopper:
    """Keeps the best validation score's weights; ``step`` returns True when patience ran out."""

    def __init__(self, module: nn.Module, patience: int) -> None:
        self.module, self.patience = module, patience
        self.best, self.best_epoch, self.epoch = -float("inf"), 0, 0
        self.state: dict[str, torch.Tensor] | None = None

    def step(self, score: float) -> bool:
        self.epoch += 1
        if np.isfinite(score) and score > self.best:
            self.best, self.best_epoch = score, self.epoch
            self.state = {k: v.detach().clone() for k, v in self.module.state_dict().items()}
        return self.epoch - self.best_epoch >= self.patience

    def restore(self) -> TrainOutcome:
        if self.state is not None:
            self.module.load_state_dict(self.state)
        return TrainOutcome(self.best_epoch, self.epoch, float(self.best) if self.state is not None else float("nan"))
