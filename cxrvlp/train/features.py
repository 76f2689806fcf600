"""Frozen-trunk feature cache (``train.cache_features``): trunk outputs computed once per image and per report.

With both trunks frozen, a training step only needs the pooled trunk features (image ``[F]``, text ``[H]``): the
projections, the temperature and the graph tower are what trains. :func:`trunk_features` computes them once, in
eval mode and without augmentation, for every image of the given records and every report / hard negative of
theirs, and stores them as ``trunk_<key>.safetensors`` in the data cache folder. The key is a SHA-256 of the trunk
weights, the input settings (image size, normalisation, token limit, pooling), the image files (path, size, mtime)
and the texts, so every run with the same trunks and data (all ablation rows and seeds) shares one file, and a
resumed run reads back exactly what it trained on.
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

log = logging.getLogger(__name__)

FEATURES_VERSION = 1


@dataclass(frozen=True)
class TrunkFeatures:
    """Pooled trunk features: ``image [N_images, F]`` by image path, ``text [N_texts, H]`` by report text."""

    image: torch.Tensor
    image_index: dict[str, int]
    text: torch.Tensor
    text_index: dict[str, int]


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


def cache_key(model: Any, paths: Sequence[str], texts: Sequence[str]) -> str:
    """SHA-256 (hex, 24 chars) of the trunk weights, input settings, image files and texts."""
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
    h.update(json.dumps(settings, sort_keys=True).encode())
    for module in (model.image.trunk, model.text.backbone):
        for name, tensor in module.state_dict().items():
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    for path in paths:
        st = os.stat(path)
        h.update(f"{path}\x00{st.st_size}\x00{st.st_mtime_ns}\x00".encode())
    for text in texts:
        h.update(text.encode() + b"\x00")
    return h.hexdigest()[:24]


@torch.inference_mode()
def _compute(
    model: Any,
    paths: list[str],
    texts: list[str],
    *,
    device: torch.device,
    batch_size: int,
    max_side: int,
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
        images.append(model.image.trunk(x.to(device)).float().cpu())
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
        on_progress: ``(stage, done, total)`` while computing.
    """
    from safetensors.torch import load_file, save_file

    paths, texts = _inputs(records, table)
    path = Path(cache_dir) / f"trunk_{cache_key(model, paths, texts)}.safetensors"
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
            model, paths, texts, device=device, batch_size=batch_size, max_side=max_side, on_progress=on_progress
        )
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
    )
