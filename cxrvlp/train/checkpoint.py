"""Atomic training checkpoints (``last`` and ``best``) and everything an exact resume needs.

A checkpoint is a directory: the model as :meth:`~cxrvlp.models.CXRClip.save_pretrained` writes it (``config.json``,
``model.safetensors``, ``text_encoder/``; loadable by ``CXRClip.from_pretrained`` and the app) plus
``trainer_state.pt``: optimiser state, schedule position, RNG states of every rank, step, epoch and data position.
``trainer_state.pt`` is our own file, written by :func:`torch.save` and read back with ``weights_only=True`` (tensors
and plain Python containers only; nothing is unpickled as code). Model weights never go through pickle.

Atomicity: the directory is written as ``NAME.tmp``, the previous ``NAME`` is renamed ``NAME.old``, ``NAME.tmp``
becomes ``NAME``, and ``NAME.old`` is removed. A crash at any point leaves either ``NAME`` or ``NAME.old`` complete;
:func:`find_checkpoint` returns whichever exists.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

STATE_NAME = "trainer_state.pt"


def rng_state() -> dict[str, Any]:
    """This process's RNG states (torch CPU, CUDA, Python, NumPy) in a ``weights_only``-loadable form."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": (kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


def save_checkpoint(path: str | Path, model: Any, state: dict[str, Any]) -> Path:
    """Write ``model`` (a ``CXRClip``) and ``state`` to the directory ``path`` atomically (see module docstring)."""
    path = Path(path)
    tmp, old = path.with_name(path.name + ".tmp"), path.with_name(path.name + ".old")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(tmp)
    torch.save(state, tmp / STATE_NAME)
    if path.exists():
        if old.exists():
            shutil.rmtree(old)
        path.rename(old)
    tmp.rename(path)
    if old.exists():
        shutil.rmtree(old)
    return path


def find_checkpoint(path: str | Path) -> Path | None:
    """``path`` if it is a complete checkpoint, else ``path.old`` (a crash mid-swap), else None."""
    path = Path(path)
    for candidate in (path, path.with_name(path.name + ".old")):
        if (candidate / STATE_NAME).is_file() and (candidate / "model.safetensors").is_file():
            return candidate
    return None


def load_trainer_state(path: str | Path) -> dict[str, Any]:
    """Read ``trainer_state.pt`` of a checkpoint directory (``weights_only=True``)."""
    return torch.load(Path(path) / STATE_NAME, map_location="cpu", weights_only=True)
