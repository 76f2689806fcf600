"""Build the :class:`~cxrvlp.config.ExperimentConfig` of a run: preset, then YAML file, then ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cxrvlp.config import ExperimentConfig, apply_overrides, from_dict, read_config_file, to_dict

RUN_CONFIG = "config.yaml"
"""The resolved config a run writes into its folder (and ``--resume`` reads back)."""


def _merge(cls: type, base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new`` over ``base``, recursing into dataclass sections only (free-form dicts such as ``text_config`` are
    replaced whole). Unknown keys are kept so that :func:`from_dict` reports them by name."""
    hints = typing.get_type_hints(cls)
    out = dict(base)
    for key, value in new.items():
        tp = hints.get(key)
        if tp is not None and dataclasses.is_dataclass(tp) and isinstance(value, dict):
            out[key] = _merge(tp, base.get(key, {}), value)
        else:
            out[key] = value
    return out


def build_config(
    config: str | Path | None = None, *, preset: str | None = None, overrides: Sequence[str] = ()
) -> ExperimentConfig:
    """Resolve a run's configuration.

    Args:
        config: a YAML / JSON file holding any part of an :class:`ExperimentConfig` (missing keys keep defaults).
        preset: a model preset (``lite``, ``paper``, ``tiny``) whose :class:`ModelConfig` is the base of ``model``;
            the file's ``model`` keys then override single fields of it.
        overrides: ``key.sub=value`` strings applied last.

    Raises:
        ConfigError: unknown key or wrong type anywhere (the message names the dotted key).
        KeyError: unknown preset.
    """
    from cxrvlp.models import preset_config

    base = ExperimentConfig()
    if preset:
        base = dataclasses.replace(base, model=preset_config(preset))
    data = to_dict(base)
    if config is not None:
        data = _merge(ExperimentConfig, data, read_config_file(config))
    return apply_overrides(from_dict(ExperimentConfig, data), list(overrides))
