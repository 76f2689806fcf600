"""Which model a run trains (fresh, fine-tuned from ``train.init_from``, or resumed) and which parts are frozen."""

from __future__ import annotations

import logging
from pathlib import Path

from cxrvlp.config import ExperimentConfig, TrainConfig
from cxrvlp.models import SPEC_KINDS, CXRClip, ExternalClip, create_model, list_presets, load_checkpoint, load_model

log = logging.getLogger(__name__)


def build_model(cfg: ExperimentConfig, *, checkpoint: str | Path | None = None) -> CXRClip | ExternalClip:
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
    elif source in list_presets():
        model = create_model(source)
    elif source.partition(":")[0] in SPEC_KINDS:
        model = load_model(source)  # openai_clip pickles are refused here: convert them to safetensors first
        log.info("model initialised from %s", source)
    else:
        raise FileNotFoundError(
            f"train.init_from {source!r} is neither a checkpoint directory, a preset ({', '.join(list_presets())}) "
            f"nor a model spec ({', '.join(k + ':' for k in SPEC_KINDS)})"
        )
    apply_freezing(model, cfg.train)
    return model.train()


def apply_freezing(model: CXRClip | ExternalClip, cfg: TrainConfig) -> None:
    """``freeze_image`` / ``freeze_text``: stop gradients into the trunks (projections and temperature still train).

    For Hugging Face CLIP / SigLIP adapters the trunks are ``vision_model`` and ``text_model``; for a generic
    ``AutoModel`` both are the whole model, so either flag freezes everything but the temperature."""
    if cfg.freeze_image:
        model.image.trunk.requires_grad_(False)
    if cfg.freeze_text:
        model.text.backbone.requires_grad_(False)


def set_train_mode(model: CXRClip | ExternalClip, cfg: TrainConfig) -> None:
    """``model.train()``, keeping frozen trunks in eval mode (their BatchNorm statistics and dropout stay fixed)."""
    model.train()
    if cfg.freeze_image:
        model.image.trunk.eval()
    if cfg.freeze_text:
        model.text.backbone.eval()
