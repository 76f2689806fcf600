"""``run_finetune``: the fine-tuning / linear-probe protocol of :mod:`cxrvlp.eval.finetune` over label fractions and
seeds (config, image transforms, one job per fraction and seed, features embedded once for every probe)."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from cxrvlp import __version__
from cxrvlp.data.images import read_image
from cxrvlp.eval.bootstrap import DEFAULT_RESAMPLES
from cxrvlp.eval.finetune.data import SPLITS, LabelledSet, check_splits, class_list, label_matrix, sample_fraction
from cxrvlp.eval.finetune.full import predict, train_full
from cxrvlp.eval.finetune.probe import train_linear_probe
from cxrvlp.eval.finetune.scoring import score_seeds
from cxrvlp.eval.finetune.train import (
    ImageSet,
    ProbeOptions,
    TrainOptions,
    backbone_of,
    extract_features,
    seeded,
)
from cxrvlp.eval.results import EvalResult, TaskResult
from cxrvlp.types import StageProgressFn, UserError

log = logging.getLogger(__name__)

MODES: tuple[str, ...] = ("linear", "full")
L2_GRID: tuple[float, ...] = tuple(float(x) for x in np.logspace(1, -5, 13))
"""Linear-probe L2 strengths 10 ... 1e-5 (half-decade steps), strongest first."""
_FULL_DEFAULTS: dict[str, Any] = {"lr": 1e-4, "weight_decay": 1e-2, "epochs": 20, "patience": 3, "batch_size": 32}


@dataclass(frozen=True)
class FinetuneConfig:
    """Settings of :func:`run_finetune`; ``None`` takes the mode's default (protocol: :mod:`cxrvlp.eval.finetune`)."""

    mode: str = "linear"  # "linear" (frozen encoder, cached features) or "full" (the backbone trains too)
    fractions: tuple[float, ...] = (1.0,)  # label fractions of the train patients; one task per fraction
    seeds: tuple[int, ...] = (0, 1, 2)  # one run per seed (fraction sample; full: also shuffling, init, augmentation)
    classes: tuple[str, ...] | None = None  # None: findings with a positive in the train split
    l2_grid: tuple[float, ...] = L2_GRID  # linear: L2 strengths tried, strongest first
    lbfgs_iters: int = 100  # linear: L-BFGS iterations per L2 value
    lr: float | None = None  # full: backbone lr (1e-4)
    head_lr: float = 1e-3  # full: lr of the new head
    weight_decay: float | None = None  # full: AdamW decoupled weight decay (1e-2)
    epochs: int | None = None  # full: maximum epochs (20)
    patience: int | None = None  # L2 values (linear, 3) or epochs (full, 3) without validation improvement
    batch_size: int | None = None  # full: training batch size (32)
    pos_weight: str = "none"  # "none" or "balanced" (n_neg / n_pos per class, clipped to [1, 50])
    embed_batch_size: int = 32  # batch size for frozen feature extraction and prediction
    num_workers: int | None = None  # image-loading workers; None: 0 on CPU, min(8, cores) on CUDA
    n_bootstrap: int = DEFAULT_RESAMPLES  # bootstrap resamples of the test images (0 = no CI)
    bootstrap_seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UserError(f"unknown mode {self.mode!r}; valid: {', '.join(MODES)}")
        if not self.fractions or not self.seeds:
            raise UserError("give at least one fraction and one seed")
        for f in self.fractions:
            if not 0.0 < f <= 1.0:
                raise UserError(f"fraction must be in (0, 1], got {f}")

    def options(self) -> ProbeOptions | TrainOptions:
        """The training hyperparameters of the mode, defaults filled in."""
        if self.mode == "linear":
            patience = 3 if self.patience is None else self.patience
            return ProbeOptions(tuple(self.l2_grid), self.lbfgs_iters, patience, self.pos_weight)
        pick = {k: v if getattr(self, k) is None else getattr(self, k) for k, v in _FULL_DEFAULTS.items()}
        return TrainOptions(head_lr=self.head_lr, pos_weight=self.pos_weight, **pick)


def task_name(mode: str, fraction: float) -> str:
    """``lp10`` / ``ft100``: ``lp`` for the linear probe, ``ft`` for fine-tuning, then the label percentage."""
    return f"{'lp' if mode == 'linear' else 'ft'}{fraction * 100:g}"


class TrainAugment:
    """Training transform: read the image, augment, normalise -> ``[3, S, S]``.

    The model's own ``image_transform(train=True)`` (CXRClip and the adapters), else (a model without one) a small
    PIL-space affine + brightness / contrast jitter followed by the predictor's ``image_tensor``.
    """

    def __init__(self, predictor: Any) -> None:
        own = getattr(predictor.model, "image_transform", None)
        if callable(own):
            self.pil_aug, self.to_tensor = None, own(train=True)
        else:
            from torchvision import transforms as T

            self.pil_aug = T.Compose(
                [T.RandomAffine(degrees=10, translate=(0.05, 0.05), scale=(0.9, 1.1)), T.ColorJitter(0.2, 0.2)]
            )
            self.to_tensor = predictor.image_tensor

    def __call__(self, source: Any) -> torch.Tensor:
        img = read_image(source)
        return self.to_tensor(self.pil_aug(img) if self.pil_aug is not None else img)


class EvalTransform:
    """Evaluation transform ``image -> [3, S, S]``: ``predictor.transform(read_image(x))`` when the predictor has a
    ``transform`` (picklable: loader workers do not carry the model), else ``predictor.image_tensor``."""

    def __init__(self, predictor: Any) -> None:
        transform = getattr(predictor, "transform", None)
        self.transform, self.image_tensor = (transform, None) if callable(transform) else (None, predictor.image_tensor)

    def __call__(self, source: Any) -> torch.Tensor:
        if self.transform is not None:
            return self.transform(read_image(source))
        return self.image_tensor(source)


def _source(item: Any) -> Any:
    return item.image_path or item.image


def run_finetune(
    predictor: Any,
    data: LabelledSet,
    *,
    config: FinetuneConfig | None = None,
    features: torch.Tensor | None = None,
    on_progress: StageProgressFn | None = None,
    model_name: str = "",
) -> EvalResult:
    """Train and score classification heads: one task per label fraction, each over ``config.seeds``.

    Args:
        predictor: exposes ``model`` (with ``encode_image``), ``image_tensor(image) -> [3,S,S]``
            and ``device``.
        data: the labelled set with ``train`` / ``val`` / ``test`` splits (see :func:`read_labelled_manifest`).
        config: settings (default :class:`FinetuneConfig`).
        features: linear mode only: frozen features ``[len(data.items), F]`` from :func:`embed_for_probe`, so
            several calls (other fractions, seeds or settings) embed the images once.
        on_progress: ``(stage, done, total)``; stages ``embed``, then one per task (seeds done, or training steps
            of ``<task> seed <s>`` in full mode).
        model_name: stored as the result's ``model`` (default: ``predictor.spec``).

    Returns:
        An :class:`EvalResult` with tasks ``lp<pct>`` / ``ft<pct>``: metrics ``macro_auroc`` (seed mean, bootstrap
        CI) and ``macro_auroc_std``, per-finding ``auroc`` / ``auroc_std``, and per-seed details in ``info``.

    Raises:
        ValueError: missing splits, a patient in two splits, or no class to train.
    """
    config = config or FinetuneConfig()
    t0 = time.perf_counter()
    check_splits(data)
    labelled = [i for i, it in enumerate(data.items) if it.labels]
    if len(labelled) < len(data.items):
        log.info("fine-tune: %d unlabelled images left out", len(data.items) - len(labelled))
    tr, va, te = (np.array([i for i in labelled if data.items[i].split == s], dtype=np.int64) for s in SPLITS)
    classes = list(config.classes) if config.classes else class_list([data.items[i] for i in tr])
    if not classes:
        raise UserError("no class to train: the train split has no positive finding (give classes explicitly)")
    y = label_matrix(data.items, classes)  # (N, C)
    device = torch.device(getattr(predictor, "device", "cpu"))
    backbone, feature_desc = backbone_of(predictor.model)
    timings: dict[str, float] = {}
    progress = on_progress or (lambda stage, done, total: None)
    if config.mode == "linear" and features is None:
        t = time.perf_counter()
        features = embed_for_probe(predictor, data, config=config, on_progress=on_progress)
        timings["embed"] = time.perf_counter() - t
    if features is not None and features.shape[0] != len(data.items):
        raise ValueError(f"features has {features.shape[0]} rows for {len(data.items)} items")
    job = _Job(predictor, backbone, [_source(it) for it in data.items], y, va, te, config, device, features)
    tasks: dict[str, TaskResult] = {}
    for fraction in config.fractions:
        name = task_name(config.mode, fraction)
        t = time.perf_counter()
        test_scores, runs = [], []
        for k, seed in enumerate(config.seeds):
            sub = tr[sample_fraction([data.patients[i] for i in tr], fraction, seed=seed)]
            stage = f"{name} seed {seed}"
            with seeded(seed, device):
                scores, outcome = job.train(sub, seed, lambda d, n, stage=stage: progress(stage, d, n))
            test_scores.append(scores)
            runs.append(
                {
                    "seed": seed,
                    "n_train_images": int(len(sub)),
                    "n_train_patients": len({data.patients[i] for i in sub}),
                    "classes_without_positive": [c for j, c in enumerate(classes) if y[sub, j].sum() == 0],
                    **dataclasses.asdict(outcome),
                }
            )
            progress(name, k + 1, len(config.seeds))
        task = score_seeds(
            np.stack(test_scores), y[te], classes, n_bootstrap=config.n_bootstrap, seed=config.bootstrap_seed
        )
        for run, per_seed in zip(runs, task.info.pop("per_seed_macro"), strict=True):
            run["test_macro_auroc"] = per_seed
        task.task = name
        task.info.update(
            mode=config.mode, fraction=fraction, features=feature_desc, classes=classes, runs=runs,
            n_val=int(len(va)), options=dataclasses.asdict(config.options()),
        )  # fmt: skip
        tasks[name] = task
        timings[f"train:{name}"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    return EvalResult(
        model=model_name or getattr(predictor, "spec", "") or type(predictor.model).__name__,
        dataset=data.source,
        tasks=tasks,
        timings=timings,
        meta={"version": __version__, "device": str(device), "config": dataclasses.asdict(config)},
    )


@dataclass
class _Job:
    """What every seed's training run shares."""

    predictor: Any
    backbone: torch.nn.Module
    sources: list[Any]  # image path (or loader) per item
    y: np.ndarray  # (N, C) targets
    val: np.ndarray  # val item indices
    test: np.ndarray  # test item indices
    config: FinetuneConfig
    device: torch.device
    features: torch.Tensor | None  # (N, F) frozen features, linear mode

    def train(self, sub: np.ndarray, seed: int, on_steps: Callable[[int, int], None]) -> tuple[np.ndarray, Any]:
        """Train on items ``sub`` and return test scores ``[n_test, C]`` and the ``TrainOutcome``."""
        opts, y_sub, va, te = self.config.options(), torch.from_numpy(self.y[sub]), self.val, self.test
        if self.config.mode == "linear":
            x = self.features
            head, outcome = train_linear_probe(x[sub], y_sub, x[va], self.y[va], opts, device=self.device)
            with torch.no_grad():
                return head(x[te].to(self.device)).float().cpu().numpy(), outcome
        workers, images = _workers(self.config, self.device), EvalTransform(self.predictor)
        model, outcome = train_full(
            self.backbone,
            _n_features(self.backbone, self.predictor, self.sources[sub[0]], self.device),
            ImageSet([self.sources[i] for i in sub], TrainAugment(self.predictor)),
            y_sub,
            ImageSet([self.sources[i] for i in va], images),
            self.y[va],
            opts,
            device=self.device,
            seed=seed,
            num_workers=workers,
            on_progress=on_steps,
        )
        test_set = ImageSet([self.sources[i] for i in te], images)
        bs = self.config.embed_batch_size
        return predict(model, test_set, device=self.device, batch_size=bs, num_workers=workers), outcome


def embed_for_probe(
    predictor: Any,
    data: LabelledSet,
    *,
    config: FinetuneConfig | None = None,
    on_progress: StageProgressFn | None = None,
) -> torch.Tensor:
    """Frozen backbone features of every item (stage ``embed``): ``[len(data.items), F]`` float32 CPU.

    Pass the result as ``features=`` to several :func:`run_finetune` calls to embed once.
    """
    config = config or FinetuneConfig()
    device = torch.device(getattr(predictor, "device", "cpu"))
    backbone, _ = backbone_of(predictor.model)
    workers = _workers(config, device)
    dataset = ImageSet([_source(it) for it in data.items], EvalTransform(predictor))
    return extract_features(
        backbone,
        dataset,
        device=device,
        batch_size=config.embed_batch_size,
        num_workers=workers,
        on_progress=(lambda d, n: on_progress("embed", d, n)) if on_progress else None,
    )


def _workers(config: FinetuneConfig, device: torch.device) -> int:
    if config.num_workers is not None:
        return config.num_workers
    return 0 if device.type == "cpu" else min(8, os.cpu_count() or 1)


def _n_features(backbone: torch.nn.Module, predictor: Any, source: Any, device: torch.device) -> int:
    """Feature size F of ``backbone``: ``num_features`` for a timm trunk, else one forward pass on ``source``."""
    n = getattr(backbone, "num_features", None)
    if isinstance(n, int):
        return n
    return int(extract_features(backbone, ImageSet([source], EvalTransform(predictor)), device=device).shape[1])
