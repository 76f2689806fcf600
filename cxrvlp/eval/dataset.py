"""Evaluation records and the CSV manifest reader.

A manifest is a CSV with at least ``image`` (path relative to the CSV's folder), and optionally ``text`` or
``report`` (the report; empty = none), ``labels`` (``;``-separated finding names) and ``split`` — the layout of
the prepared data in ``shared/data``. Images are opened lazily, only when the evaluation embeds them.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

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


def read_manifest(path: str | Path, *, split: str | None = None) -> list[EvalItem]:
    """Read a CSV manifest into :class:`EvalItem` records.

    Args:
        path: the CSV file; image paths inside are relative to its folder (absolute paths are kept).
        split: keep only rows whose ``split`` equals this (None keeps all rows).

    Returns:
        Items in file order. Text is decoded as UTF-8 with undecodable bytes replaced.

    Raises:
        FileNotFoundError: when the CSV does not exist.
        ValueError: when it has no ``image`` column, or ``split`` is given and no row matches.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    root = path.resolve().parent
    items: list[EvalItem] = []
    splits: set[str] = set()
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.DictReader(f)
        if "image" not in (reader.fieldnames or []):
            raise UserError(f"{path}: manifest needs an 'image' column, found {reader.fieldnames}")
        for row in reader:
            row_split = (row.get("split") or "").strip()
            splits.add(row_split)
            if split is not None and row_split != split:
                continue
            image_path = str((root / row["image"]).resolve())
            text = (row.get("text") or row.get("report") or "").strip()
            labels = tuple(normalize_label(x) for x in (row.get("labels") or "").split(";") if x.strip())
            items.append(
                EvalItem(
                    id=row["image"],
                    image=functools.partial(open_image, image_path),
                    report=text or None,
                    labels=labels,
                    image_path=image_path,
                    split=row_split,
                )
            )
    if split is not None and not items:
        raise UserError(f"{path}: no rows with split {split!r}; splits present: {sorted(splits)}")
    return items
