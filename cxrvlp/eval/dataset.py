"""Evaluation records from a CSV manifest.

Manifests are read by the one reader, :func:`cxrvlp.data.manifest.read_manifest_rows` (columns, report column
preference, split normalisation: see there); this module turns its rows into :class:`EvalItem` s. Images are read
lazily, only when the evaluation embeds them, by the one image reader (:func:`cxrvlp.data.images.read_image`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cxrvlp.data.manifest import ManifestRow, read_manifest_rows
from cxrvlp.data.records import normalise_split
from cxrvlp.types import UserError

if TYPE_CHECKING:
    from PIL import Image

LABEL_ALIASES: dict[str, str] = {"normal": "No Finding", "no finding": "No Finding"}
"""Dataset label spellings mapped to our class names (Open-I's MeSH ``normal`` is CheXpert's ``No Finding``)."""


@dataclass(frozen=True)
class EvalItem:
    """One image with its report and labels.

    Attributes:
        id: unique identifier (the manifest's ``image`` value); CXR-Align case ids are item ids.
        image: a PIL image, or a zero-argument callable that opens it, or None for a text-only item.
        report: the free-text report, or None when the dataset has none.
        labels: finding names from the dataset (``"No Finding"`` for a normal study); may be empty.
        image_path: absolute path of the image file when it came from disk.
        split: the manifest's split (``""`` when absent).
    """

    id: str
    image: Image.Image | Callable[[], Image.Image] | None
    report: str | None = None
    labels: tuple[str, ...] = ()
    image_path: str | None = None
    split: str = ""

    def load_image(self) -> Image.Image:
        """The image as a PIL image (opening it if ``image`` is a callable)."""
        if self.image is None:
            raise ValueError(f"item {self.id!r} has no image")
        return self.image() if callable(self.image) else self.image


def open_image(path: str | Path) -> Image.Image:
    """Read an image file (PNG/JPEG of any bit depth, or DICOM) with :func:`cxrvlp.data.images.read_image`, as RGB.

    The one image reader of training, fine-tuning and the app: 16-bit PNGs keep their contrast (``PIL``'s own
    ``convert("RGB")`` clips them to white) and DICOM files are read for their pixels only.
    """
    from cxrvlp.data.images import read_image

    return read_image(path).convert("RGB")


def normalize_label(name: str) -> str:
    """Strip, map known aliases (``normal`` -> ``No Finding``) and replace ``_`` by a space (NIH spelling)."""
    name = name.strip()
    return LABEL_ALIASES.get(name.lower(), name.replace("_", " "))


def item_from_row(row: ManifestRow) -> EvalItem:
    """One manifest row as an :class:`EvalItem` (labels mapped by :func:`normalize_label`)."""
    return EvalItem(
        id=row.image,
        image=functools.partial(open_image, row.path),
        report=row.report or None,
        labels=tuple(normalize_label(x) for x in row.labels),
        image_path=row.path,
        split=row.split,
    )


def read_manifest(path: str | Path, *, split: str | None = None) -> list[EvalItem]:
    """Read a CSV manifest into :class:`EvalItem` records.

    Args:
        path: the CSV file (or a folder with ``manifest.csv``); image paths inside are relative to its folder.
        split: keep only rows of this split (normalised like the manifest's: ``valid`` = ``val``; None keeps all).

    Returns:
        Items in file order.

    Raises:
        FileNotFoundError: when the CSV does not exist.
        UserError: when it has no ``image`` column, or ``split`` is given and no row matches.
    """
    manifest = read_manifest_rows(path)
    wanted = None if split is None else normalise_split(split)
    items = [item_from_row(r) for r in manifest.rows if wanted is None or r.split == wanted]
    if split is not None and not items:
        present = sorted({r.split for r in manifest.rows})
        raise UserError(f"{manifest.path}: no rows with split {split!r}; splits present: {present}")
    return items
