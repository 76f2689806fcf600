"""CXRClip: image, text (and optional graph) towers with a learnable temperature.

``forward(batch)`` returns exactly the keyword arguments of the losses (ARCHITECTURE.md, "Model -> loss"); the loss
is never computed inside the model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from cxrvlp import __version__
from cxrvlp.config import ConfigError, ModelConfig, from_dict, to_dict
from cxrvlp.data.transforms import image_transform
from cxrvlp.models.image import ImageEncoder
from cxrvlp.models.text import TextEncoder
from cxrvlp.types import UserError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
TEXT_DIR = "text_encoder"
DELTA_NAME = "delta.safetensors"  # a compact checkpoint (cxrvlp.models.delta)


class CheckpointError(UserError, RuntimeError):
    """A directory is not a cxrvlp checkpoint, or its files are corrupt or do not fit its config."""


class CXRClip(nn.Module):
    """CLIP-style chest X-ray model.

    Args:
        cfg: the model configuration (``cfg.seed`` seeds the random initialisation, see ``__init__``).
        load_weights: False builds the architecture without pretrained weights (checkpoint loading).
        text_source: ``(path, local_only)`` of the text config/tokenizer; default from ``cfg``.
    """

    def __init__(
        self, cfg: ModelConfig, *, load_weights: bool = True, text_source: tuple[str, bool] | None = None
    ) -> None:
        super().__init__()
        self.config = cfg
        # Every random initialisation (projections, random-init trunks, the graph tower) draws from a forked RNG
        # seeded by cfg.seed: the same config builds the same weights every time, and the caller's RNG is untouched.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.image = ImageEncoder(cfg, load_weights=load_weights)
            self.text = TextEncoder(cfg, source=text_source, load_weights=load_weights)
            self.graph: nn.Module | None = None
            if cfg.graph.enabled:
                from cxrvlp.models.graph import GraphEncoder

                self.graph = GraphEncoder(
                    self.text.word_embeddings(),
                    embed_dim=cfg.embed_dim,
                    hidden_dim=cfg.graph.hidden_dim,
                    num_layers=cfg.graph.num_layers,
                    dropout=cfg.graph.dropout,
                )
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / cfg.init_temperature)))
        self._max_log_scale = math.log(cfg.max_logit_scale)

    # ------------------------------------------------------------------------------------------------ encoders
    @property
    def tokenizer(self) -> Any:
        return self.text.tokenizer

    def tokenize(self, texts: list[str], *, max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Texts -> ``{"input_ids": [B, L], "attention_mask": [B, L]}``."""
        return self.text.tokenize(texts, max_length=max_length)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """images [B, 3, H, W] -> L2-normalised [B, D]."""
        return F.normalize(self.image(images), dim=-1)

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token ids / mask [B, L] -> L2-normalised [B, D]."""
        return F.normalize(self.text(input_ids, attention_mask), dim=-1)

    def encode_image_trunk(self, features: torch.Tensor) -> torch.Tensor:
        """Pooled image-trunk features [B, F] (``image.trunk(images)``, precomputed) -> L2-normalised [B, D]."""
        return F.normalize(self.image.proj(features), dim=-1)

    def encode_image_prefix(self, prefix: torch.Tensor, tail_blocks: int) -> torch.Tensor:
        """Image-trunk activations at the input of its last ``tail_blocks`` blocks [B, C, H, W] (precomputed, see
        :func:`cxrvlp.models.image.split_trunk`) -> the trunk's tail -> projection -> L2-normalised [B, D]."""
        return self.encode_image_trunk(self.image.trunk_tail(prefix, tail_blocks))

    def encode_text_trunk(self, features: torch.Tensor) -> torch.Tensor:
        """Pooled text-trunk features [B, H] (``text.pool(backbone(...))``, precomputed) -> L2-normalised [B, D]."""
        return F.normalize(self.text.proj(features), dim=-1)

    def encode_graph(self, graphs: Any) -> torch.Tensor:
        """torch_geometric Batch of report graphs -> L2-normalised [G, D] (the graph tower normalises)."""
        if self.graph is None:
            raise RuntimeError("this model has no graph encoder (model.graph.enabled is false)")
        return self.graph(graphs)

    def scale(self) -> torch.Tensor:
        """exp(logit_scale) clamped to ``max_logit_scale`` (a scalar tensor; no host sync)."""
        return self.logit_scale.clamp(max=self._max_log_scale).exp()

    def image_transform(self, *, train: bool = False) -> Callable[[Image.Image], torch.Tensor]:
        """PIL image -> ``[3, S, S]``: cxrvlp's CXR transform for this config (augmenting with ``train``)."""
        return image_transform(self.config, train=train)

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Encode every stream present in ``batch`` (see ARCHITECTURE.md "Batch").

        Returns:
            ``image_features [B, D]``, ``text_features [B, D]``, optionally ``hardneg_text_features [B, D]``,
            ``graph_features`` / ``hardneg_graph_features [B, D]``, ``clinical`` / ``hardneg_clinical [B, 14]``,
            ``distractor_image_features [B, D]``, and ``logit_scale`` (scalar, exp'ed).
        """
        return encode_batch(self, batch)

    # --------------------------------------------------------------------------------------------- checkpoints
    def save_pretrained(self, directory: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
        """Write ``config.json`` + ``model.safetensors`` + ``text_encoder/`` (tokenizer and HF config).

        Files are written to temporary names and renamed, so an interrupted save never leaves a half checkpoint
        under the final names.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_weights(self, directory)
        self.text.save_tokenizer_and_config(directory / TEXT_DIR)
        save_config(directory, {"cxrvlp_version": __version__, "model": to_dict(self.config), **(extra or {})})
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, map_location: str | torch.device = "cpu") -> CXRClip:
        """Load a directory written by :meth:`save_pretrained`; never unpickles anything.

        Raises:
            CheckpointError: missing files, corrupt JSON / safetensors, or tensors that do not fit the config.
        """
        directory = Path(directory).expanduser()
        cfg_path, weights_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
        if not directory.is_dir():
            raise CheckpointError(f"{directory} is not a directory")
        if (directory / DELTA_NAME).is_file() and not weights_path.is_file():
            raise CheckpointError(
                f"{directory} is a delta checkpoint: load it with cxrvlp.models.load_checkpoint (or --model cxrvlp:DIR)"
            )
        if not cfg_path.is_file() or not weights_path.is_file() or not (directory / TEXT_DIR).is_dir():
            raise CheckpointError(
                f"{directory} is not a cxrvlp checkpoint: it needs {CONFIG_NAME}, {WEIGHTS_NAME} and {TEXT_DIR}/"
            )
        try:
            meta = json.loads(cfg_path.read_text(encoding="utf-8"))
            cfg = from_dict(ModelConfig, meta["model"], prefix="model.")
        except (json.JSONDecodeError, KeyError, TypeError, ConfigError) as e:
            raise CheckpointError(f"{cfg_path} is corrupt or not a cxrvlp config: {e}") from e
        try:
            model = cls(cfg, load_weights=False, text_source=(str(directory / TEXT_DIR), True))
        except Exception as e:  # a broken text_encoder/ folder, an unknown timm name, ...
            raise CheckpointError(f"cannot rebuild the model described by {cfg_path}: {e}") from e
        load_weights_strict(model, weights_path, mismatch="does not match its config", device=str(map_location))
        return model.eval()


def save_weights(model: nn.Module, directory: Path) -> None:
    """Write ``model``'s state dict to ``directory / model.safetensors`` (via a temporary name, then renamed).

    Tied tensors (e.g. the graph tower sharing the token embedding) are saved once, under their first key.
    """
    from safetensors.torch import save_file

    own = model.state_dict()
    aliases = _alias_keys(own)
    state = {k: v.detach().contiguous().cpu() for k, v in own.items() if k not in aliases}
    tmp = directory / (WEIGHTS_NAME + ".tmp")
    save_file(state, str(tmp), metadata={"format": "pt", "cxrvlp_version": __version__})
    tmp.replace(directory / WEIGHTS_NAME)


def save_config(directory: Path, meta: dict[str, Any]) -> None:
    """Write ``meta`` as ``directory / config.json`` (via a temporary name, then renamed)."""
    tmp = directory / (CONFIG_NAME + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    tmp.replace(directory / CONFIG_NAME)


def load_weights_strict(model: nn.Module, path: Path, *, mismatch: str, device: str = "cpu") -> None:
    """Fill ``model`` from a safetensors file written by :func:`save_weights`: every key and shape must fit
    (tied tensors are filled through the tensor they are tied to).

    Args:
        mismatch: the words after the path in the error for keys / shapes that do not fit
            (``"does not match its config"``).
        device: where the tensors are loaded.

    Raises:
        CheckpointError: a corrupt file, or missing / unexpected keys or shape mismatches.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path), device=device)
    except (SafetensorError, OSError, RuntimeError) as e:
        raise CheckpointError(f"{path} is corrupt or not a safetensors file: {e}") from e
    own = model.state_dict()
    aliases = _alias_keys(own)
    own = {k: v for k, v in own.items() if k not in aliases}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    bad = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or bad:
        raise CheckpointError(
            f"{path} {mismatch}: missing={missing[:5]} unexpected={unexpected[:5]} shape mismatch={bad[:5]}"
        )
    result = model.load_state_dict(state, strict=False)
    assert not result.unexpected_keys and set(result.missing_keys) <= aliases, result


def _alias_keys(state: dict[str, torch.Tensor]) -> set[str]:
    """Keys whose tensor shares storage with an earlier key of ``state`` (tied weights)."""
    seen: set[tuple[int, int]] = set()
    aliases = set()
    for key, value in state.items():
        ident = (value.untyped_storage().data_ptr(), value.storage_offset())
        if ident in seen:
            aliases.add(key)
        seen.add(ident)
    return aliases


def encode_batch(model: Any, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The losses' keyword arguments for ``batch``, from any model with ``encode_image`` / ``encode_text`` /
    ``scale`` (and optionally ``graph`` + ``encode_graph``): CXRClip and the external adapters share it.

    A batch of precomputed frozen-trunk features (``image_trunk``, ``text_trunk``, ... from ``train.cache_features``)
    runs only the projections (``encode_image_trunk`` / ``encode_text_trunk``, CXRClip only); a batch of cached
    image-trunk prefixes (``image_prefix [B, C, H, W]`` and ``image_tail_blocks`` k, from ``train.cache_features``
    with ``train.unfreeze_image_blocks=k``) runs the trunk's last k blocks and what follows, then the projection
    (``encode_image_prefix``)."""
    out: dict[str, torch.Tensor] = {}
    if "image_prefix" in batch:
        out["image_features"] = model.encode_image_prefix(batch["image_prefix"], batch["image_tail_blocks"])
    elif "image_trunk" in batch:
        out["image_features"] = model.encode_image_trunk(batch["image_trunk"])
    else:
        out["image_features"] = model.encode_image(batch["image"])
    text = batch.get("text")
    hardneg = batch.get("hardneg_text")
    if "text_trunk" in batch:
        out["text_features"] = model.encode_text_trunk(batch["text_trunk"])
        if "hardneg_text_trunk" in batch:
            out["hardneg_text_features"] = model.encode_text_trunk(batch["hardneg_text_trunk"])
    elif hardneg is not None:  # one text forward for originals and hard negatives
        n = text["input_ids"].shape[0]
        ids, mask = _cat_padded(text, hardneg)
        feats = model.encode_text(ids, mask)  # (2B, D)
        out["text_features"], out["hardneg_text_features"] = feats[:n], feats[n:]
    else:
        out["text_features"] = model.encode_text(text["input_ids"], text["attention_mask"])
    if getattr(model, "graph", None) is not None and batch.get("graph") is not None:
        out["graph_features"] = model.encode_graph(batch["graph"])
        if batch.get("hardneg_graph") is not None:
            out["hardneg_graph_features"] = model.encode_graph(batch["hardneg_graph"])
    if batch.get("distractor_image") is not None:
        out["distractor_image_features"] = model.encode_image(batch["distractor_image"])
    if batch.get("distractor_image_trunk") is not None:
        out["distractor_image_features"] = model.encode_image_trunk(batch["distractor_image_trunk"])
    if batch.get("distractor_image_prefix") is not None:
        out["distractor_image_features"] = model.encode_image_prefix(
            batch["distractor_image_prefix"], batch["image_tail_blocks"]
        )
    if batch.get("labels") is not None:
        out["clinical"] = batch["labels"]
    if batch.get("hardneg_labels") is not None:
        out["hardneg_clinical"] = batch["hardneg_labels"]
    out["logit_scale"] = model.scale()
    return out


def _cat_padded(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack two tokenised batches (possibly padded to different lengths) -> ids, mask [Ba + Bb, max L]."""
    la, lb = a["input_ids"].shape[1], b["input_ids"].shape[1]
    length = max(la, lb)

    def pad(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, length - t.shape[1]), value=0)

    ids = torch.cat([pad(a["input_ids"]), pad(b["input_ids"])])
    mask = torch.cat([pad(a["attention_mask"]), pad(b["attention_mask"])])
    return ids, mask
