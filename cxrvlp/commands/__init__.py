"""Subcommands of the ``cxrvlp`` console script, one module each (see :mod:`cxrvlp.cli`)."""

from __future__ import annotations

MODEL_SPEC_KINDS: tuple[str, ...] = ("demo", "preset", "cxrvlp", "hf", "open_clip", "openai_clip")
"""Every model-spec kind ``Predictor.from_spec`` accepts (``demo`` has no argument); kept light for ``--help``."""

MODEL_SPEC_HELP = (
    "model spec: demo (the bundled trained model), preset:NAME (preset:lite), cxrvlp:DIR (a checkpoint; a bare "
    "directory works too), hf:ID_OR_DIR, open_clip:NAME or openai_clip:FILE (docs/external_models.md)"
)
"""The ``--model`` help every command shows."""
