"""Data side of fine-tuned classification: patients, class list, label matrix, label-fraction sampling.

Labels follow the NIH ChestX-ray14 convention: a manifest row's ``labels`` is a ``;``-separated list of findings,
and ``No Finding`` is *not* a class: a row labelled only ``No Finding`` is a row of zeros (every finding absent).
A row with no label at all is unlabelled and is left out of training and scoring.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cxrvlp.data.manifest import PATIENT_COLUMNS, read_manifest_rows
from cxrvlp.eval.dataset import EvalItem, item_from_row
from cxrvlp.eval.engine import NO_FINDING
from cxrvlp.types import UserError

log = logging.getLogger(__name__)

SPLITS: tuple[str, str, str] = ("train", "val", "test")


@dataclass(frozen=True)
class LabelledSet:
    """A labelled image set split into train / val / test.

    Attributes:
        items: the images, in manifest order.
        patients: one patient id per item (the item id itself when the manifest has no patient column).
        source: a description (the manifest path) for result files.
    """

    items: tuple[EvalItem, ...]
    patients: tuple[str, ...]
    source: str = ""

    def __post_init__(self) -> None:
        if len(self.items) != len(self.patients):
            raise ValueError(f"{len(self.items)} items but {len(self.patients)} patient ids")


def read_labelled_manifest(path: str | Path) -> LabelledSet:
    """Read a manifest (``image,labels,split[,patient|patient_id|subject_id]``) as a :class:`LabelledSet`.

    Raises:
        FileNotFoundError / UserError: from :func:`cxrvlp.data.manifest.read_manifest_rows`.
    """
    manifest = read_manifest_rows(path)
    if manifest.patient_column is None:
        log.info("%s: no patient column (%s); each image is its own patient", path, ", ".join(PATIENT_COLUMNS))
    items = tuple(item_from_row(r) for r in manifest.rows)
    patients = tuple(r.patient or f"image:{r.image}" for r in manifest.rows)
    return LabelledSet(items, patients, source=str(path))


def class_list(items: Sequence[EvalItem]) -> list[str]:
    """Findings with at least one positive among ``items`` (pass the train split), sorted; ``No Finding`` excluded."""
    return sorted({label for it in items for label in it.labels} - {NO_FINDING})


def label_matrix(items: Sequence[EvalItem], classes: Sequence[str]) -> np.ndarray:
    """Multi-hot targets ``[N, C]`` float32: 1 when the finding is listed (``No Finding`` rows are all zero)."""
    index = {c: j for j, c in enumerate(classes)}
    y = np.zeros((len(items), len(classes)), dtype=np.float32)
    for i, it in enumerate(items):
        for label in it.labels:
            if label in index:
                y[i, index[label]] = 1.0
    return y


def sample_fraction(patients: Sequence[str], fraction: float, *, seed: int) -> np.ndarray:
    """Sample a fraction of the *patients* (all their images together) with a seed.

    The number of patients kept is ``round(fraction * n_patients)``, at least one. Patients are ordered by first
    appearance before the seeded permutation, so the result depends only on the data, the fraction and the seed.

    Args:
        patients: ``[N]`` patient id per image.
        fraction: in (0, 1]; 1 keeps everything.
        seed: seeds ``numpy.random.default_rng``.

    Returns:
        Sorted indices ``[n]`` into ``patients`` of the kept images.

    Raises:
        ValueError: for a fraction outside (0, 1].
    """
    if not 0.0 < fraction <= 1.0:
        raise UserError(f"fraction must be in (0, 1], got {fraction}")
    unique = list(dict.fromkeys(patients))
    n_keep = max(1, round(fraction * len(unique)))
    if n_keep >= len(unique):
        return np.arange(len(patients), dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(unique))
    kept = {unique[k] for k in order[:n_keep]}
    return np.array([i for i, p in enumerate(patients) if p in kept], dtype=np.int64)


def check_splits(data: LabelledSet) -> None:
    """Raise ``ValueError`` unless train, val and test are present and no patient appears in two of them."""
    present = {it.split for it in data.items}
    missing = [s for s in SPLITS if s not in present]
    if missing:
        raise UserError(
            f"{data.source or 'data'}: fine-tuning needs splits {SPLITS} (val for early stopping, test for the final "
            f"numbers); missing {missing}, present {sorted(present)}"
        )
    owner: dict[str, str] = {}
    for it, p in zip(data.items, data.patients, strict=True):
        if it.split in SPLITS and owner.setdefault(p, it.split) != it.split:
            raise UserError(f"patient {p!r} is in both {owner[p]!r} and {it.split!r}: splits must be by patient")
