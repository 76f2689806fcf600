"""The one CSV manifest reader (training, evaluation, fine-tuning and the app): ``image[,report|text][,labels]
[,split][,view][,patient|patient_id|subject_id][,dataset]``.

``image`` is a path relative to the CSV's folder (absolute paths are kept); ``report`` (or ``text``, the layout of
``../shared/data/*/manifest.csv``) the free-text report, the first non-empty of the two per row; ``labels`` a
``;``-separated list of dataset findings (the image's own labels: CON2 draws distractor images from them);
``split`` is normalised (``validate`` / ``valid`` -> ``val``, see :func:`~cxrvlp.data.records.normalise_split`);
``view`` is PA / AP / LATERAL ... (``frontal_only``); the first patient column present groups images by patient;
``dataset`` names the collection of each row in a manifest that joins several (``cxrvlp compose --add``).
Text is decoded as UTF-8 with undecodable bytes replaced.

:func:`read_manifest_rows` returns the rows; :func:`load_manifest` (the ``manifest`` training dataset) turns them
into :class:`~cxrvlp.data.records.Record` s, :func:`cxrvlp.eval.dataset.read_manifest` into evaluation items.
Training drops rows without a report (logged) and, without a ``split`` column, draws splits per patient (or per
image) with :func:`~cxrvlp.data.records.hashed_split`.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from cxrvlp.data.records import DATASETS, Record, filter_frontal, hashed_split, normalise_split
from cxrvlp.types import UserError

log = logging.getLogger(__name__)

REPORT_COLUMNS: tuple[str, ...] = ("report", "text")
"""Columns read as the report, first non-empty wins."""
PATIENT_COLUMNS: tuple[str, ...] = ("patient", "patient_id", "subject_id")
"""Columns read as the patient id, first present wins (NIH: ``patient_id``; MIMIC: ``subject_id``)."""


@dataclass(frozen=True)
class ManifestRow:
    """One manifest row.

    Attributes:
        image: the ``image`` value as written (the item id of evaluation).
        path: the image's absolute path.
        report: the report (``""`` when none).
        labels: the ``labels`` entries, stripped, empty ones dropped (dataset spelling).
        split: the normalised split (``""`` when the row has none).
        view: the ``view`` value (``""`` when absent).
        patient: the patient id (``""`` when the manifest has no patient column).
        dataset: the ``dataset`` value (``""`` when absent).
    """

    image: str
    path: str
    report: str = ""
    labels: tuple[str, ...] = ()
    split: str = ""
    view: str = ""
    patient: str = ""
    dataset: str = ""


@dataclass(frozen=True)
class Manifest:
    """A manifest file's rows and columns."""

    path: Path
    columns: tuple[str, ...]
    rows: tuple[ManifestRow, ...]

    @property
    def patient_column(self) -> str | None:
        return next((c for c in PATIENT_COLUMNS if c in self.columns), None)


def manifest_path(root: str | Path) -> Path:
    """``root`` itself, or ``root/manifest.csv`` for a folder; raises ``FileNotFoundError`` when it is missing."""
    path = Path(root).expanduser()
    if path.is_dir():
        path = path / "manifest.csv"
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path} (give a CSV file or a folder with manifest.csv)")
    return path


def read_manifest_rows(root: str | Path, *, need_report: bool = False) -> Manifest:
    """Read a manifest CSV (or ``root/manifest.csv``).

    Args:
        need_report: require a ``report`` or ``text`` column (training).

    Raises:
        FileNotFoundError: no manifest at ``root``.
        UserError: the CSV has no ``image`` column (or, with ``need_report``, no report column).
    """
    path = manifest_path(root)
    base = path.resolve().parent
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.DictReader(f)
        columns = tuple(reader.fieldnames or ())
        if need_report and ("image" not in columns or not any(c in columns for c in REPORT_COLUMNS)):
            raise UserError(f"{path}: a manifest needs columns image and report (or text); it has {list(columns)}")
        if "image" not in columns:
            raise UserError(f"{path}: a manifest needs an 'image' column; it has {list(columns)}")
        patient_col = next((c for c in PATIENT_COLUMNS if c in columns), None)
        rows = []
        for row in reader:
            image = (row.get("image") or "").strip()
            report = next((text for c in REPORT_COLUMNS if (text := (row.get(c) or "").strip())), "")
            rows.append(
                ManifestRow(
                    image=image,
                    path=str((base / Path(image).expanduser()).resolve()),
                    report=report,
                    labels=tuple(x.strip() for x in (row.get("labels") or "").split(";") if x.strip()),
                    split=normalise_split(row.get("split") or ""),
                    view=(row.get("view") or "").strip(),
                    patient=(row.get(patient_col) or "").strip() if patient_col else "",
                    dataset=(row.get("dataset") or "").strip(),
                )
            )
    return Manifest(path=path, columns=columns, rows=tuple(rows))


@DATASETS.register("manifest")
def load_manifest(root: str | Path, *, frontal_only: bool = True, seed: int = 0) -> list[Record]:
    """Read a CSV manifest into training records (rows without a report are dropped, logged).

    Args:
        root: the CSV file, or a folder holding ``manifest.csv``.
        frontal_only: drop rows whose ``view`` is known and not PA / AP.
        seed: seeds the split assignment of rows without a ``split``.

    Raises:
        FileNotFoundError: no manifest at ``root``.
        UserError: the CSV lacks an ``image`` or ``report`` / ``text`` column.
    """
    manifest = read_manifest_rows(root, need_report=True)
    records, empty = [], 0
    for row in manifest.rows:
        if not row.report:
            empty += 1
            continue
        split = row.split or hashed_split(row.patient or row.image, seed=seed)
        records.append(
            Record(
                image=row.path,
                report=row.report,
                split=split,
                view=row.view,
                patient=row.patient,
                labels=";".join(row.labels),
                dataset=row.dataset,
            )
        )
    if empty:
        log.info("%s: dropped %d rows without a report", manifest.path.name, empty)
    return filter_frontal(records, frontal_only=frontal_only, dataset=f"manifest {manifest.path.name}")
