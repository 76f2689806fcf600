"""OpenAI-CLIP-format state dicts (``openai_clip:FILE``), e.g. CheXzero's, converted to a Hugging Face ``CLIPModel``.

Safety: a ``.safetensors`` file is read directly (it holds tensors only). A pickle (``.pt`` / ``.pth`` / ``.bin``)
can run arbitrary code when unpickled, so it is refused unless the caller passes ``trust_checkpoint=True``
(``--trust-checkpoint`` on the CLI). Even then it is read with ``torch.load(weights_only=True)``, PyTorch's
restricted unpickler that only rebuilds tensors and plain containers; a TorchScript archive or a pickle holding
other objects is refused, and we never fall back to a full unpickle. Convert such a file once on a machine you
trust (``torch.load(f, weights_only=False)`` then ``safetensors.torch.save_file``) and use the ``.safetensors``.

Architecture: read from the tensor shapes, as OpenAI's ``build_model`` does (ViT image towers only; ResNet towers
are refused). Tokenizer: OpenAI's BPE, from ``tokenizer.json`` / ``vocab.json`` + ``merges.txt`` next to FILE, else
the Hugging Face cache copy of ``openai/clip-vit-base-patch32`` (offline without it: a clear error). Image
preprocessing: OpenAI CLIP's (bicubic resize of the short side, centre crop, CLIP mean / std) at the checkpoint's
resolution. CheXzero normalised with its own statistics instead (mean 101.49, std 83.44 on 0-255 pixels); the
difference is a small affine change of the input.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from cxrvlp.models.adapters.hf import HFClip
from cxrvlp.models.text import quiet_transformers
from cxrvlp.models.weights import WeightsError, resolve_hf

TOKENIZER_ID = "openai/clip-vit-base-patch32"
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
_LAYER = re.compile(r"^(visual\.)?transformer\.resblocks\.(\d+)\.(.+)$")
_BLOCK = {
    "ln_1": "layer_norm1",
    "ln_2": "layer_norm2",
    "mlp.c_fc": "mlp.fc1",
    "mlp.c_proj": "mlp.fc2",
    "attn.out_proj": "self_attn.out_proj",
}


def read_state_dict(path: str | Path, *, trust_checkpoint: bool = False) -> dict[str, torch.Tensor]:
    """Tensors of ``path``: safetensors directly; a pickle only with ``trust_checkpoint`` and ``weights_only``.

    Raises:
        WeightsError: a missing file, a pickle without ``trust_checkpoint``, or one ``weights_only`` rejects.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"checkpoint file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    if not trust_checkpoint:
        raise WeightsError(
            f"{path} is a pickle, which can run arbitrary code when loaded; cxrvlp refuses it by default. If you trust "
            "its source, pass --trust-checkpoint (Python: trust_checkpoint=True): it is then read with "
            "torch.load(weights_only=True), which rebuilds tensors only. Better: convert it once to .safetensors "
            "(safetensors.torch.save_file) and load that."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError, a TorchScript archive, ...
        raise WeightsError(
            f"{path} could not be read with torch.load(weights_only=True) ({type(e).__name__}: {e}). It holds more "
            "than tensors (e.g. a TorchScript model or pickled objects); cxrvlp never unpickles arbitrary objects. "
            "Convert it to .safetensors on a machine you trust."
        ) from e
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path} is not a state dict (a mapping of names to tensors)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _count_layers(state: dict[str, torch.Tensor], prefix: str) -> int:
    found = {int(m.group(2)) for k in state if (m := _LAYER.match(k)) and (m.group(1) or "") == prefix}
    return max(found) + 1 if found else 0


def clip_config(state: dict[str, torch.Tensor]) -> Any:
    """A ``CLIPConfig`` that fits an OpenAI-format state dict (shapes as in OpenAI's ``build_model``)."""
    from transformers import CLIPConfig

    if "visual.proj" not in state:
        raise WeightsError("not an OpenAI CLIP ViT state dict (no visual.proj); ResNet image towers are not supported")
    width_v = state["visual.conv1.weight"].shape[0]
    patch = state["visual.conv1.weight"].shape[-1]
    grid = round((state["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    width_t = state["ln_final.weight"].shape[0]
    vocab, context = state["token_embedding.weight"].shape[0], state["positional_embedding"].shape[0]
    text = {
        "vocab_size": vocab, "hidden_size": width_t, "intermediate_size": 4 * width_t,
        "num_hidden_layers": _count_layers(state, ""), "num_attention_heads": max(1, width_t // 64),
        "max_position_embeddings": context, "bos_token_id": vocab - 2, "eos_token_id": vocab - 1,
        "pad_token_id": vocab - 1,
    }  # fmt: skip
    vision = {
        "hidden_size": width_v, "intermediate_size": 4 * width_v, "num_hidden_layers": _count_layers(state, "visual."),
        "num_attention_heads": max(1, width_v // 64), "image_size": patch * grid, "patch_size": patch,
    }  # fmt: skip
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=state["text_projection"].shape[1])


def openai_to_hf(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an OpenAI CLIP state dict into ``CLIPModel`` keys (fused qkv split, projections transposed).

    Raises:
        WeightsError: a key with no mapping.
    """
    out: dict[str, torch.Tensor] = {}
    top = {
        "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
        "positional_embedding": "text_model.embeddings.position_embedding.weight",
        "ln_final.weight": "text_model.final_layer_norm.weight",
        "ln_final.bias": "text_model.final_layer_norm.bias",
        "visual.class_embedding": "vision_model.embeddings.class_embedding",
        "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
        "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
        "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",
        "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
        "visual.ln_post.weight": "vision_model.post_layernorm.weight",
        "visual.ln_post.bias": "vision_model.post_layernorm.bias",
        "logit_scale": "logit_scale",
    }
    unknown = []
    for key, value in state.items():
        if key in ("input_resolution", "context_length", "vocab_size"):
            continue
        if key in top:
            out[top[key]] = value
        elif key == "text_projection":
            out["text_projection.weight"] = value.T.contiguous()
        elif key == "visual.proj":
            out["visual_projection.weight"] = value.T.contiguous()
        elif m := _LAYER.match(key):
            tower = "vision_model" if m.group(1) else "text_model"
            base = f"{tower}.encoder.layers.{m.group(2)}."
            rest = m.group(3)
            if rest.startswith("attn.in_proj_"):
                kind = rest.removeprefix("attn.in_proj_")  # weight / bias, q k v stacked
                for name, part in zip(("q_proj", "k_proj", "v_proj"), value.chunk(3, dim=0), strict=True):
                    out[f"{base}self_attn.{name}.{kind}"] = part.contiguous()
                continue
            module, _, param = rest.rpartition(".")
            if module not in _BLOCK:
                unknown.append(key)
                continue
            out[f"{base}{_BLOCK[module]}.{param}"] = value
        else:
            unknown.append(key)
    if unknown:
        raise WeightsError(f"OpenAI CLIP keys with no Hugging Face mapping: {unknown[:10]}")
    return out


def _tokenizer(path: Path) -> Any:
    from transformers import CLIPTokenizer

    here = path.parent
    if (here / "tokenizer.json").is_file() or (here / "vocab.json").is_file():
        return CLIPTokenizer.from_pretrained(str(here), local_files_only=True)
    try:
        source, local_only = resolve_hf(TOKENIZER_ID)
    except WeightsError as e:
        raise WeightsError(
            f"{path} needs OpenAI CLIP's tokenizer: put tokenizer.json (or vocab.json + merges.txt) next to it, or "
            f"make {TOKENIZER_ID!r} available locally. {e}"
        ) from e
    return CLIPTokenizer.from_pretrained(source, local_files_only=local_only)


def load_openai_clip(file: str, *, trust_checkpoint: bool = False) -> HFClip:
    """``openai_clip:FILE``: an OpenAI-format CLIP state dict as an :class:`HFClip` (see the module docstring)."""
    from transformers import CLIPImageProcessor, CLIPModel

    path = Path(file).expanduser()
    state = read_state_dict(path, trust_checkpoint=trust_checkpoint)
    cfg = clip_config(state)
    with quiet_transformers():
        model = CLIPModel(cfg)
    result = model.load_state_dict(openai_to_hf(state), strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("position_ids")]
    if missing or result.unexpected_keys:
        raise WeightsError(f"{path} does not fit CLIP: missing={missing[:5]} unexpected={result.unexpected_keys[:5]}")
    side = cfg.vision_config.image_size
    processor = CLIPImageProcessor(size={"shortest_edge": side}, crop_size={"height": side, "width": side})
    return HFClip(model, _tokenizer(path), processor, spec=f"openai_clip:{file}")
