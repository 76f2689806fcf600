"""Which model a run trains (fresh, fine-tuned from ``train.init_from``, or resumed) and which parts are frozen."""

from __future__ import annotations

import logging
from pathlib import Path

from cxrvlp.config import ExperimentConfig, TrainConfig
from cxrvlp.models import CXRClip, create_model, list_presets

log = logging.getLogger(__name__)


def build_model(cfg: ExperimentConfig, *, checkpoint: str | Path | None = None) -> CXRClip:
    """The model to train, in train mode, with :func:`apply_freezing` applied.

    Order: ``checkpoint`` (a resume: the run's own ``last``), else ``cfg.train.init_from`` (a checkpoint directory,
    or a preset name, for CON1 / CON2 fine-tuning; its architecture replaces ``cfg.model``), else
    ``create_model(cfg.model)``.

    Raises:
        FileNotFoundError: ``init_from`` is neither a directory nor a preset name.
    """
    source = checkpoint or cfg.train.init_from
    if not source:
        model = create_model(cfg.model)
    elif Path(source).expanduser().is_dir():
        model = CXRClip.from_pretrained(Path(source).expanduser())
        log.info("model initialised from %s", source)
    elif str(source) in list_presets():
        model = create_model(str(source))
    else:
        raise FileNotFoundError(
            f"train.init_from {source!r} is neither a checkpoint directory nor a preset ({', '.join(list_presets())})"
        )
    apply_freezing(model, cfg.train)
    return model.train()


def apply_freezing(model: CXRClip, cfg: TrainConfig) -> None:
    """``freeze_image`` / ``freeze_text``: stop gradients into the trunks (projections and temperature still train)."""
    if cfg.freeze_image:
        model.image.trunk.requires_grad_(False)
    if cfg.freeze_text:
        model.text.backbone.requires_grad_(False)


def set_train_mode(model: CXRClip, cfg: TrainConfig) -> None:
    """``model.train()``, keeping frozen trunks in eval mode (their BatchNorm statistics and dropout stay fixed)."""
    model.train()
    if cfg.freeze_image:
        model.image.trunk.eval()
    if cfg.freeze_text:
        model.text.backbone.eval()
