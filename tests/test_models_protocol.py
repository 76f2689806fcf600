"""The :class:`ClipModel` protocol: CXRClip and every adapter satisfy it (runtime ``isinstance`` on the model and on
its text tower), a module missing part of the surface does not, and every adapter fills the base class's hooks."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
import torch
from _external_models import save_tiny_clip, save_tiny_siglip, tiny_open_clip
from torch import nn

from cxrvlp.models import ClipModel, CXRClip, ExternalClip, TextTower, create_model, load_model

BUILDERS = {
    "cxrclip": lambda tmp: create_model("tiny"),
    "hf_clip": lambda tmp: load_model(f"hf:{save_tiny_clip(tmp)}"),
    "hf_siglip": lambda tmp: load_model(f"hf:{save_tiny_siglip(tmp)}"),
    "open_clip": tiny_open_clip,
}


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_every_model_kind_is_a_clip_model(kind: str, tmp_path: Path) -> None:
    model = BUILDERS[kind](tmp_path)
    assert isinstance(model, ClipModel)
    assert isinstance(model.text, TextTower)
    assert isinstance(model, CXRClip if kind == "cxrclip" else ExternalClip)
    tok = model.tokenize(["No pneumothorax."])
    size = model.config.image_size
    with torch.no_grad():
        text = model.encode_text(tok["input_ids"], tok["attention_mask"])
        image = model.encode_image(torch.randn(1, 3, size, size))
    assert text.shape == image.shape == (1, model.config.embed_dim)
    assert model.scale().shape == ()


def test_the_protocol_names_the_shared_surface() -> None:
    members = set(ClipModel.__protocol_attrs__) if hasattr(ClipModel, "__protocol_attrs__") else None
    if members is None:  # Python < 3.12 keeps them private
        members = typing._get_protocol_attrs(ClipModel)  # type: ignore[attr-defined]
    assert {"encode_image", "encode_text", "tokenize", "tokenizer", "scale", "config", "text", "image"} <= members


def test_a_module_without_the_surface_is_not_a_clip_model() -> None:
    class TextOnly(nn.Module):  # everything a ClipModel has except encode_image
        config, text, image, graph, tokenizer = None, None, None, None, None

        def tokenize(self, texts, *, max_length=None): ...
        def encode_text(self, input_ids, attention_mask): ...
        def encode_graph(self, graphs): ...
        def scale(self): ...
        def image_transform(self, *, train=False): ...
        def save_pretrained(self, directory, *, extra=None): ...

    assert not isinstance(nn.Linear(2, 2), ClipModel)
    assert not isinstance(TextOnly(), ClipModel)
    TextOnly.encode_image = lambda self, images: images
    assert isinstance(TextOnly(), ClipModel)


def test_every_adapter_fills_the_base_class_hooks() -> None:
    import cxrvlp.models.adapters.hf
    import cxrvlp.models.adapters.openai
    import cxrvlp.models.adapters.openclip  # noqa: F401  (importable without the open_clip extra)

    hooks = ("_image_features", "_log_scale", "_eval_transform", "_save_base")
    adapters = ExternalClip.__subclasses__()
    assert {cls.__name__ for cls in adapters} >= {"HFClip", "OpenClip"}
    for cls in adapters:
        missing = [h for h in hooks if getattr(cls, h) is getattr(ExternalClip, h)]
        assert not missing, f"{cls.__name__} does not implement {missing}"
