"""Image tower: a timm trunk (pooled features) followed by a projection into the joint space."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from cxrvlp.config import ModelConfig
from cxrvlp.models.weights import WeightsError, hub_offline, hub_reachable, load_efficientnet_lite0_into
from cxrvlp.types import UserError

log = logging.getLogger(__name__)


def make_projection(in_dim: int, out_dim: int, kind: str) -> nn.Module:
    """``linear``: one bias-free matrix (CLIP); ``mlp``: Linear-GELU-Linear."""
    if kind == "linear":
        return nn.Linear(in_dim, out_dim, bias=False)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(in_dim, in_dim), nn.GELU(), nn.Linear(in_dim, out_dim))
    raise UserError(f"unknown projection {kind!r}; valid: linear, mlp")


def split_trunk(trunk: nn.Module, k: int) -> tuple[list[nn.Module], list[nn.Module]]:
    """A timm trunk's children split before its last ``k`` blocks: ``(prefix, tail)``.

    The block container is the trunk's ``blocks`` (EfficientNet stages, ViT blocks) or ``layers`` (Swin stages).
    ``prefix`` = the children before the container + all blocks but the last ``k``; ``tail`` = the last ``k`` blocks
    + every child after the container (final conv / norm, pooling, classifier). Running ``prefix`` then ``tail`` in
    order equals ``trunk(x)`` only for trunks whose forward is their children in order (EfficientNet, not ViT):
    callers that rely on it check it (:func:`cxrvlp.train.features.trunk_features`).

    Raises:
        ValueError: the trunk has neither container, or fewer than ``k`` blocks (``k >= 1``).
    """
    children = list(trunk.named_children())
    names = [n for n, _ in children]
    container = next((n for n in ("blocks", "layers") if n in names), None)
    if container is None:
        raise ValueError(f"{type(trunk).__name__} has no blocks / layers to split")
    blocks = list(getattr(trunk, container).children())
    if not 0 < k <= len(blocks):
        raise ValueError(f"the image trunk has {len(blocks)} blocks (asked for the last {k})")
    at = names.index(container)
    prefix = [m for _, m in children[:at]] + blocks[:-k]
    return prefix, blocks[-k:] + [m for _, m in children[at + 1 :]]


def run_modules(modules: list[nn.Module], x: torch.Tensor) -> torch.Tensor:
    """``x`` through ``modules`` in order (a :func:`split_trunk` prefix or tail)."""
    for module in modules:
        x = module(x)
    return x


class ImageEncoder(nn.Module):
    """timm trunk -> pooled features [B, F] -> projection [B, D] (not normalised; CXRClip normalises).

    Args:
        cfg: ``image_encoder`` (timm name), ``image_weights`` ("package", "hub", "none" or a .safetensors file),
            ``image_kwargs``, ``embed_dim``, ``projection``.
        load_weights: False skips pretrained weights (used when a checkpoint overwrites them anyway).
    """

    def __init__(self, cfg: ModelConfig, *, load_weights: bool = True) -> None:
        super().__init__()
        import timm

        source = cfg.image_weights if load_weights else "none"
        pretrained = source == "hub"
        if pretrained and (hub_offline() or not hub_reachable()):
            raise WeightsError(
                f"timm model {cfg.image_encoder!r} needs pretrained weights from the Hugging Face hub, which is "
                "unreachable (offline). Save its weights as a .safetensors file on a machine with network "
                "(timm.create_model(name, pretrained=True) then safetensors.torch.save_file(model.state_dict(), F)) "
                "and set image_weights to that file's path."
            )
        self.trunk = timm.create_model(cfg.image_encoder, pretrained=pretrained, num_classes=0, **cfg.image_kwargs)
        if source == "package":
            if cfg.image_encoder != "tf_efficientnet_lite0":
                raise WeightsError(
                    f"packaged offline weights exist only for tf_efficientnet_lite0, not {cfg.image_encoder!r}; "
                    "use image_weights=hub, none or a .safetensors path"
                )
            load_efficientnet_lite0_into(self.trunk)
        elif source not in ("hub", "none"):
            self._load_file(Path(source))
        self.proj = make_projection(self.trunk.num_features, cfg.embed_dim, cfg.projection)

    def _load_file(self, path: Path) -> None:
        if path.suffix != ".safetensors":
            raise WeightsError(
                f"image weights {path} must be a .safetensors file (pickled .pth/.bin files are never loaded: "
                "they can run arbitrary code)"
            )
        if not path.is_file():
            raise WeightsError(f"image weights file {path} does not exist")
        from safetensors.torch import load_file

        state = {k: v for k, v in load_file(str(path)).items() if not k.startswith(("head.fc.", "classifier.", "fc."))}
        missing, unexpected = self.trunk.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise WeightsError(
                f"{path} does not fit {type(self.trunk).__name__}: missing={missing[:5]} unexpected={unexpected[:5]}"
            )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images [B, 3, H, W] (normalised) -> [B, D]."""
        return self.proj(self.trunk(images))

    def trunk_tail(self, prefix: torch.Tensor, k: int) -> torch.Tensor:
        """Activations at the input of the trunk's last ``k`` blocks (:func:`split_trunk`) -> pooled features [B, F]."""
        return run_modules(split_trunk(self.trunk, k)[1], prefix)
