"""Frozen-trunk feature cache (``train.cache_features``): trunk outputs computed once per image and per report.

With both trunks frozen, a training step only needs the pooled trunk features (image ``[F]``, text ``[H]``): the
projections, the temperature and the graph tower are what trains. :func:`trunk_features` computes them once, in
eval mode and without augmentation, for every image of the given records and every report / hard negative of
theirs, and stores them as ``trunk_<key>.safetensors`` in the data cache folder. The key is a SHA-256 of the trunk
weights, the input settings (image size, normalisation, token limit, pooling), the image files (path, size, mtime)
and the texts, so every run with the same trunks and data (all ablation rows and seeds) shares one file, and a
resumed run reads back exactly what it trained on.

**Cached prefix** (``train.unfreeze_image_blocks=k`` with ``train.cache_features``): only the image trunk's last k
blocks and what follows them train (:func:`cxrvlp.models.image.split_trunk`), so the cache holds the activations at
the input of those blocks, ``image [N_images, C, H, W]`` (fp32), and each step runs the trainable tail, then the
projection (:meth:`~cxrvlp.models.CXRClip.encode_image_prefix`); text features stay pooled. The key then also
covers k, and of the image trunk only the frozen prefix's weights (a resumed or fine-tuned run, whose tail has
moved, reads the same file). Size per image for ``preset:lite`` (``tf_efficientnet_lite0``, 224 px): k=1 caches
192 x 7 x 7 floats = 37.6 kB (22 MB for the 580 train + val images of the NIH sample), k=2 112 x 14 x 14 = 87.8 kB; the
pooled features of a whole-trunk cache are 1280 floats = 5.1 kB. Building the cache checks, on its first batch and
in eval mode, that the tail applied to the prefix equals the trunk's own forward (to 1e-5), and refuses trunks where
it does not (a ViT: its forward adds position embeddings and pools outside its children).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cxrvlp.data.records import Record
from cxrvlp.models.image import run_modules, split_trunk

log = logging.getLogger(__name__)

FEATURES_VERSION = 1


@dataclass(frozen=True)
class TrunkFeatures:
    """Pooled trunk features: ``image [N_images, F]`` by image path, ``text [N_texts, H]`` by report text.

    With ``image_tail_blocks = k > 0``, ``image [N_images, C, H, W]`` holds the image trunk's activations at the
    input of its last k blocks instead (the tail still runs per step)."""

    image: torch.Tensor
    image_index: dict[str, int]
    text: torch.Tensor
    text_index: dict[str, int]
    image_tail_blocks: int = 0


def _inputs(records: Sequence[Record], table: Any) -> tuple[list[str], list[str]]:
    rows = {raw: i for i, raw in enumerate(table["raw"])}
    reports, hardnegs = table["report"].tolist(), table["hardneg_report"].tolist()
    paths, texts = set(), set()
    for r in records:
        paths.add(r.image)
        row = rows.get(r.report)
        if row is not None:
            texts.update(t for t in (reports[row], hardnegs[row]) if t)
    return sorted(paths), sorted(texts)


def cache_key(model: Any, paths: Sequence[str], texts: Sequence[str], *, image_tail_blocks: int = 0) -> str:
    """SHA-256 (hex, 24 chars) of the trunk weights, input settings, image files and texts.

    ``image_tail_blocks = k > 0``: k is part of the settings, and of the image trunk only the weights of the prefix
    before its last k blocks are hashed (the tail trains)."""
    h = hashlib.sha256()
    cfg = model.config
    settings = {
        "version": FEATURES_VERSION,
        "image_size": cfg.image_size,
        "image_mean": list(cfg.image_mean),
        "image_std": list(cfg.image_std),
        "max_length": model.text.max_length,
        "pooling": model.text.pooling,
    }
    if image_tail_blocks:  # absent for whole-trunk caches, so their keys (and files) stay what they were
        settings["image_tail_blocks"] = image_tail_blocks
    h.update(json.dumps(settings, sort_keys=True).encode())
    image_modules = [model.image.trunk]
    if image_tail_blocks:
        image_modules = split_trunk(model.image.trunk, image_tail_blocks)[0]
    for i, module in enumerate([*image_modules, model.text.backbone]):
        for name, tensor in module.state_dict().items():
            h.update(f"{i}.{name}".encode() if image_tail_blocks else name.encode())
            h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    for path in paths:
        st = os.stat(path)
        h.update(f"{path}\x00{st.st_size}\x00{st.st_mtime_ns}\x00".encode())
    for text in texts:
        h.update(text.encode() + b"\x00")
    return h.hexdigest()[:24]


def check_split(trunk: torch.nn.Module, k: int, x: torch.Tensor) -> torch.Tensor:
    """The prefix activations of ``x`` (:func:`~cxrvlp.models.image.split_trunk`), after checking that the tail
    applied to them gives ``trunk(x)`` (allclose, 1e-5). Call in eval mode.

    Raises:
        ValueError: the trunk's forward is not its children in order (e.g. a ViT), naming the trunk class.
    """
    prefix, tail = split_trunk(trunk, k)
    hidden = run_modules(prefix, x)
    full = trunk(x)
    try:
        via = run_modules(tail, hidden)
        same = via.shape == full.shape and torch.allclose(via.float(), full.float(), rtol=1e-5, atol=1e-5)
        problem = "gives a different output" if not same else ""
    except Exception as e:  # a tail that cannot even run on the prefix (shapes, missing arguments)
        problem = f"fails ({type(e).__name__}: {e})"
    if problem:
        raise ValueError(
            f"train.cache_features with train.unfreeze_image_blocks={k}: {type(trunk).__name__}'s forward is not "
            f"its children in order (its last {k} blocks and what follows, applied to the cached prefix, {problem}), "
            "so its prefix cannot be cached; run without train.cache_features"
        )
    return hidden


@torch.inference_mode()
def _compute(
    model: Any,
    paths: list[str],
    texts: list[str],
    *,
    device: torch.device,
    batch_size: int,
    max_side: int,
    image_tail_blocks: int,
    on_progress: Callable[[str, int, int], None] | None,
) -> dict[str, torch.Tensor]:
    from cxrvlp.data.images import read_image

    was_training = model.training
    model.eval()
    transform = model.image_transform(train=False)
    total = len(paths) + len(texts)
    images, text_feats = [], []
    for start in range(0, len(paths), batch_size):
        x = torch.stack([transform(read_image(p, max_side=max_side)) for p in paths[start : start + batch_size]])
        x = x.to(device)
        if not image_tail_blocks:
            out = model.image.trunk(x)
        elif start == 0:
            out = check_split(model.image.trunk, image_tail_blocks, x)
            prefix = split_trunk(model.image.trunk, image_tail_blocks)[0]
        else:
            out = run_modules(prefix, x)
        images.append(out.float().cpu())
        if on_progress is not None:
            on_progress("features", min(start + batch_size, len(paths)), total)
    for start in range(0, len(texts), 2 * batch_size):
        tok = {k: v.to(device) for k, v in model.tokenize(texts[start : start + 2 * batch_size]).items()}
        hidden = model.text.backbone(**tok).last_hidden_state
        text_feats.append(model.text.pool(hidden, tok["attention_mask"]).float().cpu())
        if on_progress is not None:
            on_progress("features", len(paths) + min(start + 2 * batch_size, len(texts)), total)
    model.train(was_training)
    empty = torch.zeros(0, 0)
    return {"image": torch.cat(images) if images else empty, "text": torch.cat(text_feats) if text_feats else empty}


def trunk_features(
    model: Any,
    records: Sequence[Record],
    table: Any,
    *,
    cache_dir: str | Path,
    device: torch.device | str = "cpu",
    batch_size: int = 32,
    max_side: int = 512,
    image_tail_blocks: int = 0,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> TrunkFeatures:
    """The pooled trunk features of ``records``' images and reports (computed once, then read from the cache).

    Args:
        model: a :class:`~cxrvlp.models.CXRClip` (its ``image.trunk``, ``text.backbone`` and ``text.pool``).
        records: the records to cover (all splits a run reads).
        table: the preprocessing table (reports and hard negatives).
        cache_dir: folder of the ``trunk_<key>.safetensors`` files.
        device: where the trunks run. batch_size: images per forward (texts: twice that).
        max_side: images are decoded at most this large before the (eval) transform, as in the dataset.
        image_tail_blocks: k > 0 caches the image trunk's activations before its last k blocks instead of its
            pooled output (see the module docstring for the size).
        on_progress: ``(stage, done, total)`` while computing.

    Raises:
        ValueError: ``image_tail_blocks`` > 0 and the trunk cannot be split there (:func:`check_split`).
    """
    from safetensors.torch import load_file, save_file

    paths, texts = _inputs(records, table)
    key = cache_key(model, paths, texts, image_tail_blocks=image_tail_blocks)
    path = Path(cache_dir) / f"trunk_{key}.safetensors"
    tensors = None
    if path.is_file():
        tensors = load_file(str(path))
        if tensors["image"].shape[0] != len(paths) or tensors["text"].shape[0] != len(texts):
            log.warning("%s does not fit the data; recomputing", path)
            tensors = None
        else:
            log.info("frozen-trunk features read from %s", path)
    if tensors is None:
        device = torch.device(device)
        tensors = _compute(
            model, paths, texts, device=device, batch_size=batch_size, max_side=max_side,
            image_tail_blocks=image_tail_blocks, on_progress=on_progress,
        )  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        save_file(tensors, str(tmp), metadata={"format": "cxrvlp-trunk-features"})
        tmp.replace(path)
        log.info("frozen-trunk features of %d images and %d texts written to %s", len(paths), len(texts), path)
    return TrunkFeatures(
        image=tensors["image"],
        image_index={p: i for i, p in enumerate(paths)},
        text=tensors["text"],
        text_index={t: i for i, t in enumerate(texts)},
        image_tail_blocks=image_tail_blocks,
    )
