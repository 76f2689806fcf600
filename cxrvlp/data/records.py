"""Image-report records: the one shape every dataset loader returns, view filtering and deterministic splits.

A loader turns a dataset on disk (MIMIC-CXR-JPG, CheXpert Plus, Open-I, a CSV manifest) into a list of
:class:`Record`; everything downstream (preprocessing cache, torch dataset, trainer) sees only records.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cxrvlp.registry import Registry

log = logging.getLogger(__name__)

FRONTAL_VIEWS = frozenset({"PA", "AP", "FRONTAL"})
"""Views kept by ``frontal_only`` (MIMIC ``ViewPosition``, CheXpert ``AP/PA`` or ``Frontal``, manifests)."""

SPLIT_NAMES = {"validate": "val", "valid": "val", "validation": "val", "dev": "val", "train": "train", "test": "test"}
"""Spellings of split names in the wild -> ``train`` / ``val`` / ``test``."""


@dataclass(frozen=True)
class Record:
    """One training pair.

    Attributes:
        image: absolute path of the image file (JPEG / PNG, 8 or 16 bit, or DICOM).
        report: the raw report text as the dataset ships it (cleaning happens in preprocessing).
        split: ``"train"``, ``"val"`` or ``"test"``.
        view: view position as in the metadata (``"PA"``, ``"AP"``, ``"LATERAL"``, ...); ``""`` when unknown.
        patient: patient id ("" when unknown); splits are made per patient so no patient crosses splits.
        study: study / report id ("" when unknown).
        labels: the dataset's own image labels, ``;``-separated (a manifest's ``labels`` column; "" when the
            dataset has none). Used to draw CON2 distractor images (:mod:`cxrvlp.data.distractors`).
        dataset: the collection the image comes from (a manifest's ``dataset`` column; "" when one collection):
            CON2 distractors are drawn from the sample's own collection, never across collections.
    """

    image: str
    report: str
    split: str
    view: str = ""
    patient: str = ""
    study: str = ""
    labels: str = ""
    dataset: str = ""


Loader = Callable[..., list[Record]]
DATASETS: Registry[Loader] = Registry("dataset")
"""Dataset name -> ``loader(root, *, frontal_only, seed) -> list[Record]``."""


def normalise_split(name: str) -> str:
    """``"validate"`` / ``"valid"`` / ... -> ``"val"``; unknown spellings are returned lower-cased."""
    key = str(name).strip().lower()
    return SPLIT_NAMES.get(key, key)


def hashed_split(key: str, *, seed: int, val: float = 0.1, test: float = 0.1) -> str:
    """A deterministic split for datasets without one: a hash of ``(seed, key)`` mapped to train / val / test.

    Args:
        key: the grouping key (patient id when known, else the study id) so a patient never crosses splits.
        seed: changes the assignment.
        val: fraction of keys in ``val``. test: likewise.
    """
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    return "test" if u < test else "val" if u < test + val else "train"


def report_text(findings: str, impression: str) -> str:
    """``"FINDINGS: <findings> IMPRESSION: <impression>"`` with only the non-empty parts ("" when both are empty)."""
    parts = ([f"FINDINGS: {findings}"] if findings else []) + ([f"IMPRESSION: {impression}"] if impression else [])
    return " ".join(parts)


def is_frontal(view: str) -> bool:
    """True for PA / AP / FRONTAL (``"AP AXIAL"``, laterals and unknown views are not frontal)."""
    return view.strip().upper() in FRONTAL_VIEWS


def filter_frontal(records: Iterable[Record], *, frontal_only: bool, dataset: str) -> list[Record]:
    """Keep PA / AP records when ``frontal_only``; records with an unknown view are kept and counted in the log."""
    records = list(records)
    if not frontal_only:
        return records
    kept = [r for r in records if not r.view or is_frontal(r.view)]
    unknown = sum(not r.view for r in records)
    log.info("%s: %d of %d records are frontal (PA/AP)", dataset, len(kept) - unknown, len(records))
    if unknown:
        log.info("%s: %d records have no view metadata and are kept", dataset, unknown)
    return kept
