"""``openai_clip:FILE`` (OpenAI-format CLIP state dicts such as CheXzero's) and the optional ``open_clip:`` extra.

The OpenAI-format file is written from a tiny random Hugging Face CLIP with an inverse key map written here
independently, so loading it back must reproduce the Hugging Face model's embeddings exactly.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from _external_models import clip_tokenizer, tiny_open_clip

from cxrvlp.models import WeightsError, load_model
from cxrvlp.models.adapters.openai import read_state_dict

HF_TO_OPENAI_BLOCK = {
    "layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
    "self_attn.out_proj": "attn.out_proj",
}  # fmt: skip


def to_openai(hf: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {
        "token_embedding.weight": hf["text_model.embeddings.token_embedding.weight"],
        "positional_embedding": hf["text_model.embeddings.position_embedding.weight"],
        "ln_final.weight": hf["text_model.final_layer_norm.weight"],
        "ln_final.bias": hf["text_model.final_layer_norm.bias"],
        "text_projection": hf["text_projection.weight"].T,
        "visual.proj": hf["visual_projection.weight"].T,
        "visual.class_embedding": hf["vision_model.embeddings.class_embedding"],
        "visual.positional_embedding": hf["vision_model.embeddings.position_embedding.weight"],
        "visual.conv1.weight": hf["vision_model.embeddings.patch_embedding.weight"],
        "visual.ln_pre.weight": hf["vision_model.pre_layrnorm.weight"],
        "visual.ln_pre.bias": hf["vision_model.pre_layrnorm.bias"],
        "visual.ln_post.weight": hf["vision_model.post_layernorm.weight"],
        "visual.ln_post.bias": hf["vision_model.post_layernorm.bias"],
        "logit_scale": hf["logit_scale"],
    }
    for tower, prefix in (("text_model", ""), ("vision_model", "visual.")):
        for i in range(2):
            src, dst = f"{tower}.encoder.layers.{i}.", f"{prefix}transformer.resblocks.{i}."
            for kind in ("weight", "bias"):
                qkv = [hf[f"{src}self_attn.{p}_proj.{kind}"] for p in "qkv"]
                out[f"{dst}attn.in_proj_{kind}"] = torch.cat(qkv)
                for a, b in HF_TO_OPENAI_BLOCK.items():
                    out[f"{dst}{b}.{kind}"] = hf[f"{src}{a}.{kind}"]
    return {k: v.contiguous() for k, v in out.items()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A tiny HF CLIP (OpenAI shapes: 64-wide heads, 4x MLP) and its OpenAI-format files with the tokenizer."""
    from safetensors.torch import save_file
    from transformers import CLIPConfig, CLIPModel

    tok = clip_tokenizer()
    width = {"hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 1}
    text = width | {"vocab_size": len(tok), "max_position_embeddings": 20, "eos_token_id": tok.eos_token_id}
    torch.manual_seed(0)
    hf = CLIPModel(CLIPConfig(text_config=text, vision_config=width | {"image_size": 32, "patch_size": 16})).eval()
    folder = tmp_path_factory.mktemp("chexzero")
    state = to_openai(hf.state_dict())
    save_file(state, str(folder / "model.safetensors"))
    torch.save(state, folder / "model.pt")
    tok.save_pretrained(str(folder))  # the tokenizer next to the checkpoint
    return hf, folder


def test_safetensors_state_dict_matches_the_hf_model(reference) -> None:
    hf, folder = reference
    model = load_model(f"openai_clip:{folder / 'model.safetensors'}")
    tok = model.tokenize(["no pleural effusion", "cardiomegaly"])
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected_text = torch.nn.functional.normalize(hf.get_text_features(**tok).pooler_output, dim=-1)
        expected_image = torch.nn.functional.normalize(hf.get_image_features(pixel_values=pixels).pooler_output, dim=-1)
        torch.testing.assert_close(model.encode_text(tok["input_ids"], tok["attention_mask"]), expected_text)
        torch.testing.assert_close(model.encode_image(pixels), expected_image)
    assert model.spec.startswith("openai_clip:")
    assert (model.config.image_size, model.config.max_text_length) == (32, 20)


def test_pickle_is_refused_without_trust_and_read_weights_only_with_it(reference, tmp_path: Path) -> None:
    _, folder = reference
    with pytest.raises(WeightsError, match="--trust-checkpoint"):
        load_model(f"openai_clip:{folder / 'model.pt'}")
    trusted = load_model(f"openai_clip:{folder / 'model.pt'}", trust_checkpoint=True)
    assert trusted.config.embed_dim == 512  # CLIPConfig's default projection
    evil = tmp_path / "evil.pt"
    torch.save({"weights": torch.zeros(1), "payload": Path("x")}, evil)  # a non-tensor object: weights_only refuses
    with pytest.raises(WeightsError, match="weights_only=True"):
        read_state_dict(evil, trust_checkpoint=True)


def test_missing_tokenizer_offline_names_the_fix(reference, tmp_path: Path) -> None:
    _, folder = reference
    (tmp_path / "m.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    with pytest.raises(WeightsError, match="tokenizer.json"):
        load_model(f"openai_clip:{tmp_path / 'm.safetensors'}")


def test_open_clip_without_the_extra_gives_the_install_hint(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "open_clip", None)  # `import open_clip` raises ImportError, installed or not
    with pytest.raises(ImportError, match=r"cxrvlp\[open_clip\]"):
        load_model("open_clip:ViT-B-32")


def test_open_clip_tiny_model(tmp_path: Path) -> None:
    model = tiny_open_clip(tmp_path)
    tok = model.tokenize(["no pleural effusion"])
    with torch.no_grad():
        text = model.encode_text(tok["input_ids"], tok["attention_mask"])
        image = model.encode_image(torch.randn(1, 3, model.config.image_size, model.config.image_size))
    assert text.shape == image.shape and not model.supports("head_ablation")
