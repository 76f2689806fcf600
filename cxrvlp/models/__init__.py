"""Models: image / text / graph towers, the CLIP wrapper, presets, weight loading, and adapters for other
people's CLIP-style models selected by a model spec (:func:`load_model`).

The graph tower (``GraphEncoder`` and its helpers) is not imported here: import it from :mod:`cxrvlp.models.graph`.
``torch_geometric`` takes seconds to import (it pulls in ``torch._dynamo``) and a model without a graph encoder never
needs it, so the app's first page does not wait for it.
"""

from cxrvlp.models.adapters import ANALYSES, ClipModel, ExternalClip, TextTower
from cxrvlp.models.clip import CheckpointError, CXRClip
from cxrvlp.models.factory import create_model, list_presets, preset_config
from cxrvlp.models.image import ImageEncoder
from cxrvlp.models.loading import SPEC_KINDS, load_checkpoint, load_model, parse_spec
from cxrvlp.models.text import TextEncoder
from cxrvlp.models.weights import WeightsError

__all__ = [
    "ANALYSES",
    "SPEC_KINDS",
    "CXRClip",
    "CheckpointError",
    "ClipModel",
    "ExternalClip",
    "ImageEncoder",
    "TextEncoder",
    "TextTower",
    "WeightsError",
    "create_model",
    "list_presets",
    "load_checkpoint",
    "load_model",
    "parse_spec",
    "preset_config",
]
