"""Training loops of fine-tuned classification: frozen-feature extraction, the linear probe, full fine-tuning.

Everything here works on tensors and modules; which images, classes and seeds is decided in
:mod:`cxrvlp.eval.finetune`. Both minimise multi-label BCE and select on the validation macro AUROC with patience:
the linear probe along an L2 regularisation path (L-BFGS on cached features), fine-tuning over epochs (AdamW; the
validation pass is the only host sync of an epoch). On CUDA the image trunk runs under bf16 autocast in
channels-last layout.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from cxrvlp.eval.bootstrap import weighted_auroc
from cxrvlp.models.image import ImageEncoder

log = logging.getLogger(__name__)

StepProgress = Callable[[int, int], None]
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


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA, nothing on CPU."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()


def macro_auroc(scores: np.ndarray, y: np.ndarray) -> float:
    """Mean AUROC over the columns of ``scores`` / ``y`` ``[N, C]`` that have a positive and a negative; NaN if none."""
    aucs = []
    for j in range(y.shape[1]):
        pos = y[:, j] > 0.5
        if pos.any() and not pos.all():
            aucs.append(weighted_auroc(scores[:, j], pos, np.ones((1, len(pos)), dtype=np.float32))[0])
    return float(np.mean(aucs)) if aucs else float("nan")


def bce_pos_weight(y: torch.Tensor, kind: str) -> torch.Tensor | None:
    """``balanced``: per class ``n_neg / n_pos`` clipped to [1, 50] (1 for a class without positives); ``none``."""
    if kind == "none":
        return None
    if kind != "balanced":
        raise ValueError(f"unknown pos_weight {kind!r}; valid: none, balanced")
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


def _loader(
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
    on_progress: StepProgress | None = None,
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
        for x, _ in _loader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers, device=device):
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


class _Stopper:
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


class LinearHead(nn.Module):
    """Standardise features with fixed train statistics, then one linear layer: ``[B, F] -> [B, C]`` logits."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, n_classes: int) -> None:
        super().__init__()
        self.register_buffer("mean", mean)  # (F,)
        self.register_buffer("std", std)  # (F,)
        self.fc = nn.Linear(mean.shape[0], n_classes)
        nn.init.zeros_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc((features - self.mean) / self.std)


def train_linear_probe(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: np.ndarray,
    opts: ProbeOptions,
    *,
    device: torch.device,
    threads: int | None = 1,
) -> tuple[LinearHead, TrainOutcome]:
    """L2-regularised logistic regression per class on cached features, the L2 strength chosen on validation.

    Full-batch L-BFGS minimises ``mean BCE + l2 / 2 * ||W||^2`` (bias not penalised) for each value of
    ``opts.l2_grid`` in turn, strongest first, each fit warm-started from the previous one (a regularisation path,
    the linear probe's analogue of training longer). After each fit the validation macro AUROC is computed; the best
    fit is kept and the path stops after ``opts.patience`` values without improvement. The problem is convex, so
    the result does not depend on a seed.

    Args:
        x_train: ``[n, F]`` features; y_train: ``[n, C]`` 0/1 targets.
        x_val: ``[m, F]``; y_val: ``[m, C]`` (numpy, scored on the host after each fit).
        opts: ``l2_grid``, ``max_iter`` (L-BFGS iterations per fit), ``patience``, ``pos_weight``.
        device: where the features and the head live during training.
        threads: torch intra-op threads while fitting on CPU (None: leave the current setting); see
            :func:`cpu_threads`.

    Returns:
        The head with the selected fit's weights (on ``device``); ``best_epoch`` is the 1-based index of the
        selected L2 value and ``epochs_run`` the number of values fitted.
    """
    x_train, y_train, x_val = x_train.to(device), y_train.to(device), x_val.to(device)
    mean, std = x_train.mean(0), x_train.std(0, unbiased=False)  # (F,), (F,)
    std = torch.where(std > 1e-6, std, torch.ones_like(std))  # constant features are left unscaled
    head = LinearHead(mean, std, y_train.shape[1]).to(device)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=bce_pos_weight(y_train, opts.pos_weight))
    stopper = _Stopper(head, opts.patience)
    with cpu_threads(threads, device):
        for l2 in opts.l2_grid:
            opt = torch.optim.LBFGS(
                head.parameters(), lr=1.0, max_iter=opts.max_iter, history_size=20, line_search_fn="strong_wolfe"
            )

            def closure(l2: float = l2, opt: torch.optim.Optimizer = opt) -> torch.Tensor:
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(head(x_train), y_train) + 0.5 * l2 * head.fc.weight.square().sum()
                loss.backward()
                return loss

            head.train()
            opt.step(closure)
            head.eval()
            with torch.no_grad():
                val_scores = head(x_val).float().cpu().numpy()  # (m, C)
            score = macro_auroc(val_scores, y_val)
            log.debug("probe l2=%g: val macro AUROC %.4f", l2, score)
            if stopper.step(score):
                break
    return head, stopper.restore()


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
    for x, _ in _loader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers, device=device):
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
    on_progress: StepProgress | None = None,
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
    loader = _loader(
        train_set, batch_size=opts.batch_size, shuffle=True, num_workers=num_workers, device=device, seed=seed
    )
    total, step = opts.epochs * len(loader), 0
    stopper = _Stopper(model, opts.patience)
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
