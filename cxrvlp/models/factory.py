"""Presets and the one entry point that builds a model: :func:`create_model`.

| preset | image | text | weights |
|---|---|---|---|
| ``lite`` (offline default) | ``tf_efficientnet_lite0`` | all-MiniLM-L6-v2 | pip packages (offline) |
| ``paper`` | ``swin_tiny_patch4_window7_224`` | ``emilyalsentzer/Bio_ClinicalBERT`` | Hugging Face hub or local dirs |
| ``tiny`` | 2-block ViT at 64 px | 2-layer 64-wide BERT (MiniLM vocabulary) | random init, for tests |
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from cxrvlp.config import ConfigError, GraphConfig, ModelConfig, from_dict, to_dict
from cxrvlp.models.clip import CXRClip
from cxrvlp.registry import Registry

PRESETS: Registry[Callable[[], ModelConfig]] = Registry("model preset")

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@PRESETS.register("lite")
def _lite() -> ModelConfig:
    # timm's tf_efficientnet_lite0 was trained on inputs scaled to [-1, 1] (mean = std = 0.5).
    return ModelConfig(image_mean=(0.5, 0.5, 0.5), image_std=(0.5, 0.5, 0.5))


@PRESETS.register("paper")
def _paper() -> ModelConfig:
    return ModelConfig(
        image_encoder="swin_tiny_patch4_window7_224",
        image_weights="hub",
        text_encoder="emilyalsentzer/Bio_ClinicalBERT",
        text_weights="hub",
        text_pooling="cls",
        max_text_length=256,
        graph=GraphConfig(enabled=True),
    )


@PRESETS.register("tiny")
def _tiny() -> ModelConfig:
    return ModelConfig(
        image_encoder="vit_tiny_patch16_224",
        image_weights="none",
        image_kwargs={"img_size": 64, "depth": 2, "embed_dim": 64, "num_heads": 2},
        image_size=64,
        image_mean=(0.5, 0.5, 0.5),
        image_std=(0.5, 0.5, 0.5),
        text_weights="none",
        text_config={"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 2, "intermediate_size": 128},
        max_text_length=64,
        embed_dim=32,
        graph=GraphConfig(hidden_dim=32),
    )


def list_presets() -> list[str]:
    """Names accepted by :func:`create_model` and :func:`preset_config`."""
    return PRESETS.names()


def preset_config(name: str, **overrides: Any) -> ModelConfig:
    """The :class:`ModelConfig` of a preset, with keyword overrides (``None`` values are dropped, as in timm).

    Raises:
        KeyError: unknown preset (the message lists the valid names).
        ConfigError: an override that is not a ModelConfig field or has the wrong type.
    """
    cfg = PRESETS.get(name)()
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if not overrides:
        return cfg
    data = to_dict(cfg)
    for key, value in overrides.items():
        if key not in data:
            raise ConfigError(f"unknown model option {key!r}; valid: {', '.join(sorted(data))}")
        data[key] = to_dict(value) if dataclasses.is_dataclass(value) else value
    return from_dict(ModelConfig, data, prefix="model.")


def create_model(preset_or_config: str | ModelConfig = "lite", **overrides: Any) -> CXRClip:
    """Build a :class:`CXRClip` from a preset name or a :class:`ModelConfig` (weights loaded per the config)."""
    if isinstance(preset_or_config, ModelConfig):
        cfg = preset_or_config
        if overrides:
            data = to_dict(cfg) | {k: v for k, v in overrides.items() if v is not None}
            cfg = from_dict(ModelConfig, data, prefix="model.")
    else:
        cfg = preset_config(preset_or_config, **overrides)
    return CXRClip(cfg)
