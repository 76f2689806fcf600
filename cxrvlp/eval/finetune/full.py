"""Full fine-tuning: a copy of the image backbone trains with a new linear head (AdamW, early stopping on val)."""

from __future__ import annotations

import copy
import logging

import numpy as np
import torch
from torch import nn

from cxrvlp.eval.finetune.train import (
    ImageSet,
    Stopper,
    TrainOptions,
    TrainOutcome,
    bce_pos_weight,
    macro_auroc,
    make_loader,
)
from cxrvlp.runtime import autocast
from cxrvlp.types import ProgressFn

log = logging.getLogger(__name__)


class Classifier(nn.Module):
    """Backbone + linear head: images ``[B, 3, H, W]`` -> logits ``[B, C]``."""

    def __init__(self, backbone: nn.Module, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(n_features, n_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images).float())


@torch.no_grad()
def predict(
    model: nn.Module, dataset: ImageSet, *, device: torch.device, batch_size: int, num_workers: int
) -> np.ndarray:
    """Eval-mode logits ``[N, C]`` (float32 numpy) over a dataset, in order."""
    model.eval()
    out = []
    for x, _ in make_loader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers, device=device):
        with autocast(device):
            out.append(model(x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)).float())
    return torch.cat(out).cpu().numpy()


def train_full(
    backbone: nn.Module,
    n_features: int,
    train_set: ImageSet,
    y_train: torch.Tensor,
    val_set: ImageSet,
    y_val: np.ndarray,
    opts: TrainOptions,
    *,
    device: torch.device,
    seed: int,
    num_workers: int = 0,
    on_progress: ProgressFn | None = None,
) -> tuple[Classifier, TrainOutcome]:
    """Fine-tune a copy of ``backbone`` with a new linear head (the caller's backbone is not modified).

    AdamW with two learning rates (``lr`` for the backbone, ``head_lr`` for the new head), multi-label BCE, bf16
    autocast on CUDA, no host sync inside an epoch; validation macro AUROC after every epoch.

    Args:
        backbone: maps ``[B, 3, H, W]`` -> ``[B, F]``.
        n_features: F.
        train_set: augmented training images (``ImageSet`` yields ``(image, index)``); y_train: ``[n, C]`` targets
            indexed by the dataset index.
        val_set: evaluation-transform images; y_val: ``[m, C]``.
        on_progress: ``(optimizer steps done, max steps)``.

    Returns:
        The classifier with the best validation epoch's weights, and what was selected.
    """
    model = Classifier(copy.deepcopy(backbone), n_features, y_train.shape[1]).to(device)
    model = model.to(memory_format=torch.channels_last)
    for p in model.parameters():
        p.requires_grad_(True)
    fused = device.type == "cuda"
    opt = torch.optim.AdamW(
        [
            {"params": model.backbone.parameters(), "lr": opts.lr},
            {"params": model.head.parameters(), "lr": opts.head_lr},
        ],
        weight_decay=opts.weight_decay,
        fused=fused,
    )
    y_dev = y_train.to(device)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=bce_pos_weight(y_dev, opts.pos_weight))
    loader = make_loader(
        train_set, batch_size=opts.batch_size, shuffle=True, num_workers=num_workers, device=device, seed=seed
    )
    total, step = opts.epochs * len(loader), 0
    stopper = Stopper(model, opts.patience)
    for _ in range(opts.epochs):
        model.train()
        for x, idx in loader:
            x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            with autocast(device):
                logits = model(x)
            loss = loss_fn(logits.float(), y_dev[idx.to(device, non_blocking=True)])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if on_progress is not None:
                on_progress(step, total)
        val_scores = predict(model, val_set, device=device, batch_size=opts.batch_size, num_workers=num_workers)
        score = macro_auroc(val_scores, y_val)
        log.info("fine-tune epoch %d: val macro AUROC %.4f", stopper.epoch + 1, score)
        if stopper.step(score):
            break
    if on_progress is not None:
        on_progress(total, total)
    return model, stopper.restore()
