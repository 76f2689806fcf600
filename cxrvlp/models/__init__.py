"""Models: image / text / graph towers, the CLIP wrapper, presets, weight loading, and adapters for other
people's CLIP-style models selected by a model spec (:func:`load_model`)."""

from cxrvlp.models.clip import CheckpointError, CXRClip
from cxrvlp.models.external import ANALYSES, ExternalClip
from cxrvlp.models.factory import create_model, list_presets, preset_config
from cxrvlp.models.graph import GraphEncoder, collate_graphs, graph_to_data, graphs_to_data
from cxrvlp.models.image import ImageEncoder
from cxrvlp.models.loading import SPEC_KINDS, load_checkpoint, load_model, parse_spec
from cxrvlp.models.text import TextEncoder
from cxrvlp.models.weights import WeightsError

__all__ = [
    "ANALYSES",
    "SPEC_KINDS",
    "CXRClip",
    "CheckpointError",
    "ExternalClip",
    "GraphEncoder",
    "ImageEncoder",
    "TextEncoder",
    "WeightsError",
    "collate_graphs",
    "create_model",
    "graph_to_data",
    "graphs_to_data",
    "list_presets",
    "load_checkpoint",
    "load_model",
    "parse_spec",
    "preset_config",
]
