"""Tiny random Hugging Face CLIP / SigLIP models saved to directories, and a tiny random open_clip model, offline
(shared by test_external_*.py and test_models_protocol.py).

CLIP gets a real ``CLIPTokenizer`` with a byte-level vocabulary and no merges (one token per character); SigLIP gets
the packaged MiniLM WordPiece tokenizer (SigLIP's own is sentencepiece, not installed). Both get an image processor.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

TEXT = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
VISION = TEXT | {"image_size": 32, "patch_size": 8}


def clip_tokenizer():
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    chars = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab |= {c + "</w>": len(chars) + i for i, c in enumerate(chars)}
    vocab |= {"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1}
    return CLIPTokenizer(vocab=vocab, merges=[])


def save_tiny_clip(directory: Path, *, seed: int = 0) -> Path:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    tok = clip_tokenizer()
    ids = {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id}
    text = TEXT | ids | {"vocab_size": len(tok), "max_position_embeddings": 77}
    cfg = CLIPConfig(text_config=text, vision_config=VISION, projection_dim=16)
    torch.manual_seed(seed)
    CLIPModel(cfg).save_pretrained(str(directory))
    tok.save_pretrained(str(directory))
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor.save_pretrained(str(directory))
    return directory


def save_tiny_siglip(directory: Path, *, seed: int = 0) -> Path:
    from transformers import AutoTokenizer, SiglipConfig, SiglipImageProcessor, SiglipModel

    from cxrvlp.models.weights import minilm_dir

    tok = AutoTokenizer.from_pretrained(str(minilm_dir()), local_files_only=True)
    ids = {"bos_token_id": tok.cls_token_id, "eos_token_id": tok.sep_token_id, "pad_token_id": tok.pad_token_id}
    text = TEXT | ids | {"vocab_size": tok.vocab_size, "max_position_embeddings": 24, "projection_size": 32}
    cfg = SiglipConfig(text_config=text, vision_config=VISION)
    torch.manual_seed(seed)
    model = SiglipModel(cfg)
    with torch.no_grad():  # SigLIP's initial temperature and bias: t' = log 10, b = -10
        model.logit_scale.fill_(math.log(10.0))
        model.logit_bias.fill_(-10.0)
    model.save_pretrained(str(directory))
    tok.save_pretrained(str(directory))
    SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(str(directory))
    return directory


def tiny_open_clip(tmp_path: Path):
    """A random-init open_clip model (16-d, 32 px) loaded through ``open_clip:``; skips without the extra."""
    import pytest

    from cxrvlp.models import load_model

    open_clip = pytest.importorskip("open_clip", reason="needs the optional extra: pip install -e '.[open_clip]'")
    cfg = {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    }
    (tmp_path / "cxrvlp-tiny-test.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(tmp_path / "cxrvlp-tiny-test.json")
    return load_model("open_clip:cxrvlp-tiny-test")  # random init, offline
