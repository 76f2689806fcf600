"""Adapters for other people's CLIP-style models behind the :class:`ClipModel` protocol (:mod:`.base`): Hugging Face
CLIP / SigLIP / ``AutoModel`` (:mod:`.hf`), open_clip (:mod:`.openclip`) and OpenAI-format state dicts such as
CheXzero (:mod:`.openai`). The adapter modules are imported by :mod:`cxrvlp.models.loading` when a spec names them.
"""

from cxrvlp.models.adapters.base import ANALYSES, BASE_DIR, ClipModel, ExternalClip, TextTower

__all__ = ["ANALYSES", "BASE_DIR", "ClipModel", "ExternalClip", "TextTower"]
