"""``create_loss(LossConfig)`` through the ``LOSSES`` registry, and the paper's ablation rows as configs."""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from cxrvlp.config import LossConfig
from cxrvlp.losses.clip import InfoNCE
from cxrvlp.losses.conclip import ConCLIPLoss
from cxrvlp.losses.soft_label import DynamicSoftLabelLoss
from cxrvlp.registry import Registry
from cxrvlp.types import UnknownNameError

LOSSES: Registry[Any] = Registry("loss")
"""Loss classes by name; each has ``from_config(LossConfig)`` and returns a dict of ``*_loss`` terms."""
LOSSES.add("infonce", InfoNCE)
LOSSES.add("dsl", DynamicSoftLabelLoss)
LOSSES.add("conclip", ConCLIPLoss)

_SOFT_OFF = {"text_stream": False, "clinical_stream": False, "graph_stream": False}
ABLATIONS: dict[str, dict[str, Any]] = {
    "CLIP": {"name": "infonce"},
    "CLIP^N": {"name": "dsl", "hard_negatives": True, "graph_pairs": False, **_SOFT_OFF},
    "CLIP-D_t": {"name": "dsl", "hard_negatives": False, "graph_pairs": False, **_SOFT_OFF, "text_stream": True},
    "CLIP-D_{t+c}": {
        "name": "dsl", "hard_negatives": False, "graph_pairs": False, **_SOFT_OFF,
        "text_stream": True, "clinical_stream": True,
    },
    "CLIP^N-D_{t+c}": {
        "name": "dsl", "hard_negatives": True, "graph_pairs": False, **_SOFT_OFF,
        "text_stream": True, "clinical_stream": True,
    },
    "CLIP^G": {"name": "dsl", "hard_negatives": False, "graph_pairs": True, **_SOFT_OFF},
    "CLIP^G-D_{t+c+g}": {
        "name": "dsl", "hard_negatives": False, "graph_pairs": True,
        "text_stream": True, "clinical_stream": True, "graph_stream": True,
    },
    "CLIP^{N,G}-D_{t+c+g}": {
        "name": "dsl", "hard_negatives": True, "graph_pairs": True,
        "text_stream": True, "clinical_stream": True, "graph_stream": True,
    },
}  # fmt: skip
"""Ko & Park Table 2 rows -> the LossConfig fields that select them (thresholds and weights keep their values)."""


def create_loss(cfg: LossConfig) -> nn.Module:
    """Instantiate the loss named ``cfg.name``.

    Raises:
        KeyError: for an unknown name; the message lists the valid names.
    """
    return LOSSES.get(cfg.name).from_config(cfg)


def ablation_config(row: str, base: LossConfig | None = None) -> LossConfig:
    """The :class:`LossConfig` of one ablation row of Ko & Park Table 2 (e.g. ``"CLIP^N-D_{t+c}"``).

    Args:
        row: a key of :data:`ABLATIONS`.
        base: config whose other fields (thresholds, weights, gather, chunk_size) are kept.

    Raises:
        KeyError: for an unknown row; the message lists the valid rows.
    """
    if row not in ABLATIONS:
        raise UnknownNameError(f"unknown ablation row {row!r}; valid rows: {', '.join(ABLATIONS)}")
    return dataclasses.replace(base or LossConfig(), **ABLATIONS[row])
