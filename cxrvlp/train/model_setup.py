"""Which model a run trains (fresh, fine-tuned from ``train.init_from``, or resumed) and which parts are frozen."""

from __future__ import annotations

import logging
from pathlib import Path

from torch import nn

from cxrvlp.config import ExperimentConfig, TrainConfig
from cxrvlp.models import SPEC_KINDS, ClipModel, create_model, list_presets, load_checkpoint, load_model
from cxrvlp.models.image import split_trunk

log = logging.getLogger(__name__)


def build_model(cfg: ExperimentConfig, *, checkpoint: str | Path | None = None) -> ClipModel:
    """The model to train, in train mode, with :func:`apply_freezing` applied.

    Order: ``checkpoint`` (a resume: the run's own ``last``), else ``cfg.train.init_from`` for CON1 / CON2
    fine-tuning — a checkpoint directory, a preset name, or any model spec (``hf:...``, ``open_clip:...``,
    ``openai_clip:...``, ``cxrvlp:DIR``, ``preset:NAME``); its architecture replaces ``cfg.model`` — else
    ``create_model(cfg.model)``. A fine-tuned adapter is saved as a cxrvlp checkpoint recording its base spec.

    Raises:
        FileNotFoundError: ``init_from`` is neither a directory, a preset name nor a model spec.
    """
    source = str(checkpoint or cfg.train.init_from)
    if not source:
        model = create_model(cfg.model)
    elif Path(source).expanduser().is_dir():
        model = load_checkpoint(Path(source).expanduser())
        log.info("model initialised from %s", source)
    elif source == "demo" or source in list_presets() or source.partition(":")[0] in SPEC_KINDS:
        model = load_model(source)  # one grammar (models.loading); openai_clip pickles are refused here
        log.info("model initialised from %s", source)
    else:
        raise FileNotFoundError(
            f"train.init_from {source!r} is neither a checkpoint directory, demo, a preset "
            f"({', '.join(list_presets())}) nor a model spec ({', '.join(k + ':' for k in SPEC_KINDS)})"
        )
    apply_freezing(model, cfg.train)
    return model.train()


def image_tail(trunk: nn.Module, k: int) -> list[nn.Module]:
    """The last ``k`` blocks of a timm trunk and every child module after the block container (final conv / norm):
    the tail of :func:`cxrvlp.models.image.split_trunk`.

    The block container is the trunk's ``blocks`` (EfficientNet stages, ViT blocks) or ``layers`` (Swin stages).

    Raises:
        ValueError: the trunk has neither, or fewer than ``k`` blocks.
    """
    try:
        return split_trunk(trunk, k)[1]
    except ValueError as e:
        raise ValueError(f"train.unfreeze_image_blocks={k}: {e}") from None


def text_tail(backbone: nn.Module, k: int) -> list[nn.Module]:
    """The last ``k`` transformer layers of a Hugging Face encoder (``encoder.layer``).

    Raises:
        ValueError: no ``encoder.layer`` list, or fewer than ``k`` layers.
    """
    layers = getattr(getattr(backbone, "encoder", None), "layer", None)
    if layers is None:
        raise ValueError(f"train.unfreeze_text_layers: {type(backbone).__name__} has no encoder.layer")
    if not 0 < k <= len(layers):
        raise ValueError(f"train.unfreeze_text_layers={k}: the text trunk has {len(layers)} layers")
    return list(layers)[-k:]


def _tails(model: ClipModel, cfg: TrainConfig) -> list[nn.Module]:
    tails: list[nn.Module] = []
    if cfg.unfreeze_image_blocks:
        tails += image_tail(model.image.trunk, cfg.unfreeze_image_blocks)
    if cfg.unfreeze_text_layers:
        tails += text_tail(model.text.backbone, cfg.unfreeze_text_layers)
    return tails


def check_freezing(cfg: TrainConfig) -> None:
    """Consistency of the freezing options.

    Raises:
        ValueError: an ``unfreeze_*`` without its ``freeze_*``, a negative count, or ``cache_features`` without
            both trunks frozen or with ``unfreeze_text_layers`` (``unfreeze_image_blocks`` is allowed: the frozen
            prefix of the image trunk is cached, :mod:`cxrvlp.train.features`).
    """
    for key, tower, flag, k in (
        ("unfreeze_image_blocks", "image", cfg.freeze_image, cfg.unfreeze_image_blocks),
        ("unfreeze_text_layers", "text", cfg.freeze_text, cfg.unfreeze_text_layers),
    ):
        if k < 0:
            raise ValueError(f"train.{key} must be >= 0, got {k}")
        if k and not flag:
            raise ValueError(f"train.{key}={k} unfreezes the end of a frozen trunk: set train.freeze_{tower}=true")
    if cfg.cache_features and not (cfg.freeze_image and cfg.freeze_text):
        raise ValueError("train.cache_features needs both trunks frozen (train.freeze_image=true freeze_text=true)")
    if cfg.cache_features and cfg.unfreeze_text_layers:
        raise ValueError(
            "train.cache_features caches the text trunk's pooled output: it cannot be combined with "
            "train.unfreeze_text_layers (train.unfreeze_image_blocks can: the frozen image prefix is cached)"
        )


def apply_freezing(model: ClipModel, cfg: TrainConfig) -> None:
    """``freeze_image`` / ``freeze_text``: stop gradients into the trunks (projections and temperature still train);
    ``unfreeze_image_blocks`` / ``unfreeze_text_layers`` then let the last ``k`` blocks / layers train again
    (:func:`image_tail`, :func:`text_tail`).

    For Hugging Face CLIP / SigLIP adapters the trunks are ``vision_model`` and ``text_model``; for a generic
    ``AutoModel`` both are the whole model, so either flag freezes everything but the temperature."""
    check_freezing(cfg)
    if cfg.freeze_image:
        model.image.trunk.requires_grad_(False)
    if cfg.freeze_text:
        model.text.backbone.requires_grad_(False)
    for module in _tails(model, cfg):
        module.requires_grad_(True)


def set_train_mode(model: ClipModel, cfg: TrainConfig) -> None:
    """``model.train()``, keeping frozen trunks in eval mode (their BatchNorm statistics and dropout stay fixed);
    unfrozen tails train normally."""
    model.train()
    if cfg.freeze_image:
        model.image.trunk.eval()
    if cfg.freeze_text:
        model.text.backbone.eval()
    for module in _tails(model, cfg):
        module.train()
