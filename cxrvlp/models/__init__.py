"""Models: image / text / graph towers, the CLIP wrapper, presets and weight loading."""

from cxrvlp.models.clip import CheckpointError, CXRClip
from cxrvlp.models.factory import create_model, list_presets, preset_config
from cxrvlp.models.image import ImageEncoder
from cxrvlp.models.text import TextEncoder
from cxrvlp.models.weights import WeightsError

__all__ = [
    "CXRClip",
    "CheckpointError",
    "ImageEncoder",
    "TextEncoder",
    "WeightsError",
    "create_model",
    "list_presets",
    "preset_config",
]
