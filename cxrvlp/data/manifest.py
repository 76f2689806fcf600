"""A CSV manifest ``image,report[,split]``: the way to train on any folder of images with reports.

Optional columns: ``view`` (PA / AP / LATERAL ...; used by ``frontal_only``), ``patient`` or ``patient_id`` (split
grouping). ``text`` is accepted as another name of ``report`` (the layout of ``../shared/data/*/manifest.csv``).
Relative image paths are resolved against the manifest's folder. Rows without a report are dropped (logged).
Without a ``split`` column, splits are drawn per patient (or per image) by :func:`~cxrvlp.data.records.hashed_split`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cxrvlp.data.records import DATASETS, Record, filter_frontal, hashed_split, normalise_split
from cxrvlp.types import UserError

log = logging.getLogger(__name__)


def _manifest_path(root: str | Path) -> Path:
    path = Path(root).expanduser()
    if path.is_dir():
        path = path / "manifest.csv"
    if not path.is_file():
        raise FileNotFoundError(f"manifest {path} not found (data.root: a CSV file or a folder with manifest.csv)")
    return path


@DATASETS.register("manifest")
def load_manifest(root: str | Path, *, frontal_only: bool = True, seed: int = 0) -> list[Record]:
    """Read a CSV manifest into records.

    Args:
        root: the CSV file, or a folder holding ``manifest.csv``.
        frontal_only: drop rows whose ``view`` is known and not PA / AP.
        seed: seeds the split assignment when the CSV has no ``split`` column.

    Raises:
        FileNotFoundError: no manifest at ``root``.
        ValueError: the CSV lacks an ``image`` or ``report`` / ``text`` column.
    """
    import pandas as pd

    path = _manifest_path(root)
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    text_col = "report" if "report" in df.columns else "text" if "text" in df.columns else None
    if "image" not in df.columns or text_col is None:
        raise UserError(f"{path}: a manifest needs columns image and report (or text); it has {list(df.columns)}")
    patient_col = next((c for c in ("patient", "patient_id") if c in df.columns), None)
    base = path.parent
    records, empty = [], 0
    for row in df.to_dict("records"):
        report = str(row[text_col]).strip()
        if not report:
            empty += 1
            continue
        image = Path(row["image"]).expanduser()
        image = image if image.is_absolute() else base / image
        patient = str(row[patient_col]) if patient_col else ""
        split = row.get("split") or hashed_split(patient or str(row["image"]), seed=seed)
        records.append(
            Record(
                image=str(image),
                report=report,
                split=normalise_split(split),
                view=str(row.get("view", "")),
                patient=patient,
            )
        )
    if empty:
        log.info("%s: dropped %d rows without a report", path.name, empty)
    return filter_frontal(records, frontal_only=frontal_only, dataset=f"manifest {path.name}")
