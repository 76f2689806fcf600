"""Build the :class:`~cxrvlp.config.ExperimentConfig` of a run: preset, then YAML file, then ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cxrvlp.config import ConfigError, ExperimentConfig, apply_overrides, from_dict, to_dict

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
        import yaml

        path = Path(config)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"cannot read config file {path}: {e}") from e
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        data = _merge(ExperimentConfig, data, raw)
    return apply_overrides(from_dict(ExperimentConfig, data), list(overrides))
