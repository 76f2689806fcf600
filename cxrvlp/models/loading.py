"""One model-spec grammar for every entry point: ``Predictor.from_spec``, ``--model``, ``train.init_from``, the app.

=====================  ================================================================================
spec                   what it loads
=====================  ================================================================================
``demo``               the bundled trained model (``cxrvlp/assets/demo``)
``preset:NAME``        a :class:`~cxrvlp.models.CXRClip` preset (``lite``, ``paper``, ``tiny``); a bare preset name
                       (``lite``) means the same
``cxrvlp:DIR``         a cxrvlp checkpoint directory (a bare directory too): a CXRClip, a delta checkpoint, or
                       a fine-tuned adapter (it records its base)
``hf:ID_OR_DIR``       a Hugging Face CLIP / SigLIP / ``AutoModel`` (:mod:`cxrvlp.models.adapters.hf`)
``open_clip:NAME``     an open_clip model (:mod:`cxrvlp.models.adapters.openclip`; ``pip install 'cxrvlp[open_clip]'``)
``openai_clip:FILE``   an OpenAI-CLIP-format state dict, e.g. CheXzero (:mod:`cxrvlp.models.adapters.openai`)
=====================  ================================================================================

This module sits above ``clip``, ``delta``, ``factory`` and the adapters, so none of them imports another in a
circle (``tests/test_architecture.py`` checks).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cxrvlp.config import ConfigError, ModelConfig, from_dict
from cxrvlp.models.adapters.base import BASE_DIR, ClipModel, ExternalClip
from cxrvlp.models.clip import CONFIG_NAME, WEIGHTS_NAME, CheckpointError, CXRClip
from cxrvlp.models.delta import is_delta_checkpoint, load_delta
from cxrvlp.models.factory import create_model, list_presets
from cxrvlp.registry import Registry
from cxrvlp.types import UserError

DEMO_DIR = Path(__file__).resolve().parents[1] / "assets" / "demo"
"""The bundled trained model that the spec ``demo`` names."""

SPEC_LOADERS: Registry[Callable[[str, bool], ClipModel]] = Registry("model spec kind")
"""``kind`` -> ``loader(rest, trust_checkpoint) -> model``: one entry per spec kind ``kind:rest``."""


@SPEC_LOADERS.register("preset")
def _load_preset(rest: str, trust_checkpoint: bool) -> CXRClip:
    return create_model(rest).eval()


@SPEC_LOADERS.register("cxrvlp")
def _load_cxrvlp(rest: str, trust_checkpoint: bool) -> CXRClip | ExternalClip:
    return load_checkpoint(rest)


@SPEC_LOADERS.register("hf")
def _load_hf(rest: str, trust_checkpoint: bool) -> ExternalClip:
    from cxrvlp.models.adapters.hf import load_hf

    return load_hf(rest).eval()


@SPEC_LOADERS.register("open_clip")
def _load_open_clip(rest: str, trust_checkpoint: bool) -> ExternalClip:
    from cxrvlp.models.adapters.openclip import load_open_clip

    return load_open_clip(rest).eval()


@SPEC_LOADERS.register("openai_clip")
def _load_openai_clip(rest: str, trust_checkpoint: bool) -> ExternalClip:
    from cxrvlp.models.adapters.openai import load_openai_clip

    return load_openai_clip(rest, trust_checkpoint=trust_checkpoint).eval()


SPEC_KINDS: tuple[str, ...] = tuple(SPEC_LOADERS.names())
"""Spec kinds with an argument (``kind:rest``); ``demo`` and bare preset names are aliases (:func:`parse_spec`)."""


def parse_spec(spec: str) -> tuple[str, str]:
    """``"kind:rest"`` -> ``(kind, rest)``. Aliases: ``demo`` is ``("cxrvlp", DEMO_DIR)``, a bare preset name
    (``lite``) is ``("preset", name)``, a bare existing directory is ``("cxrvlp", dir)``.

    Raises:
        UserError: unknown kind or empty rest (the message lists the kinds with an example each).
    """
    spec = spec.strip()
    if spec == "demo":
        return "cxrvlp", str(DEMO_DIR)
    if spec in list_presets():
        return "preset", spec
    kind, sep, rest = spec.partition(":")
    if sep and kind in SPEC_LOADERS and rest.strip():
        return kind, rest.strip()
    if Path(spec).expanduser().is_dir():
        return "cxrvlp", spec
    raise UserError(
        f"unknown model spec {spec!r}; use preset:NAME (preset:lite), cxrvlp:DIR (a checkpoint), hf:ID_OR_DIR "
        "(hf:openai/clip-vit-base-patch32), open_clip:NAME (open_clip:hf-hub:ORG/REPO) or openai_clip:FILE "
        "(an OpenAI-CLIP state dict such as CheXzero's)"
    )


def load_model(spec: str, *, trust_checkpoint: bool = False) -> ClipModel:
    """Load the model a spec names (see the module docstring), in eval mode.

    Args:
        spec: ``demo``, ``preset:NAME`` (or a bare preset name), ``cxrvlp:DIR`` (or a bare directory),
            ``hf:ID_OR_DIR``, ``open_clip:NAME`` or ``openai_clip:FILE``.
        trust_checkpoint: allow ``openai_clip:`` pickles (``.pt`` / ``.pth`` / ``.bin``); see
            :func:`cxrvlp.models.adapters.openai.read_state_dict`.

    Raises:
        UserError: unknown spec kind. WeightsError: a hub id not cached while offline (names the id and how to
        pass a local directory). CheckpointError: a broken checkpoint directory. ImportError: open_clip missing.
    """
    kind, rest = parse_spec(spec)
    return SPEC_LOADERS.get(kind)(rest, trust_checkpoint)


def load_checkpoint(directory: str | Path) -> CXRClip | ExternalClip:
    """A cxrvlp checkpoint directory: a fine-tuned adapter (``config.json`` has ``adapter``), a delta checkpoint
    (:mod:`cxrvlp.models.delta`) or a CXRClip.

    Raises:
        CheckpointError: missing / corrupt files, or weights that do not fit.
    """
    directory = Path(directory).expanduser()
    cfg_path = directory / CONFIG_NAME
    meta: Any = {}
    adapter = None
    if cfg_path.is_file():
        try:
            meta = json.loads(cfg_path.read_text(encoding="utf-8"))
            adapter = meta.get("adapter")
        except (json.JSONDecodeError, AttributeError) as e:
            raise CheckpointError(f"{cfg_path} is corrupt or not a cxrvlp config: {e}") from e
    if adapter is None:
        if is_delta_checkpoint(directory):  # compact: the difference from the pip-packaged lite weights
            return load_delta(directory).eval()
        return CXRClip.from_pretrained(directory)
    try:
        cfg = from_dict(ModelConfig, meta["model"], prefix="model.")
        kind = adapter["kind"]
    except (KeyError, TypeError, ConfigError) as e:
        raise CheckpointError(f"{cfg_path} is not a valid adapter checkpoint config: {e}") from e
    if not (directory / WEIGHTS_NAME).is_file():
        raise CheckpointError(f"{directory} has no {WEIGHTS_NAME}")
    if kind == "hf":
        from cxrvlp.models.adapters.hf import rebuild_hf

        model: ExternalClip = rebuild_hf(directory / BASE_DIR, adapter)
    elif kind == "open_clip":
        from cxrvlp.models.adapters.openclip import rebuild_open_clip

        model = rebuild_open_clip(adapter)
    else:
        raise CheckpointError(f"{cfg_path}: unknown adapter kind {kind!r}; valid: hf, open_clip")
    model.config = cfg
    model.load_weights_file(directory / WEIGHTS_NAME)
    return model.eval()
