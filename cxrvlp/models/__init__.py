"""Models: image / text / graph towers, the CLIP wrapper, presets and weight loading."""

from cxrvlp.models.clip import CheckpointError, CXRClip
from cxrvlp.models.factory import create_model, list_presets, preset_config
from cxrvlp.models.graph import GraphEncoder, collate_graphs, graph_to_data
from cxrvlp.models.image import ImageEncoder
from cxrvlp.models.text import TextEncoder
from cxrvlp.models.weights import WeightsError

__all__ = [
    "CXRClip",
    "CheckpointError",
    "GraphEncoder",
    "ImageEncoder",
    "TextEncoder",
    "WeightsError",
    "collate_graphs",
    "create_model",
    "graph_to_data",
    "list_presets",
    "preset_config",
]
