"""MIMIC-CXR-JPG (PhysioNet) with the free-text reports of MIMIC-CXR.

Layout read (the archives as PhysioNet ships them)::

    ROOT/files/p10/p10000032/s50414267/<dicom_id>.jpg
    ROOT/mimic-cxr-2.0.0-split.csv[.gz]       dicom_id, study_id, subject_id, split (train / validate / test)
    ROOT/mimic-cxr-2.0.0-metadata.csv[.gz]    dicom_id, ..., ViewPosition (PA, AP, LATERAL, LL, ...)
    ROOT/mimic-cxr-2.0.0-chexpert.csv[.gz]    optional: subject_id, study_id, the 14 CheXpert classes (1 / 0 / -1)

Reports, first found wins: ``reports`` when given (folder or ``mimic-cxr-reports.zip``), else
``ROOT/mimic-cxr-reports/files/...``, ``ROOT/mimic-cxr-reports.zip``, or ``ROOT/files/pXX/pNNN/sMMM.txt`` (the
MIMIC-CXR DICOM layout keeps each report beside its study folder). A report is ``files/pXX/p<subject>/s<study>.txt``.
When the CheXpert label file is there, ``Record.labels`` holds the study's positive classes (``;``-separated), which
CON2 draws distractor images from.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Callable
from pathlib import Path

from cxrvlp.data.records import DATASETS, Record, filter_frontal, normalise_split

log = logging.getLogger(__name__)

SPLIT_CSV = "mimic-cxr-2.0.0-split.csv"
METADATA_CSV = "mimic-cxr-2.0.0-metadata.csv"
REPORTS_ZIP = "mimic-cxr-reports.zip"
CHEXPERT_CSV = "mimic-cxr-2.0.0-chexpert.csv"


def _study_labels(root: Path) -> dict[str, str]:
    """study_id -> its positive CheXpert classes, ``;``-separated (empty when the label file is absent)."""
    import pandas as pd

    from cxrvlp.types import CHEXPERT_CLASSES

    try:
        path = _find_csv(root, CHEXPERT_CSV)
    except FileNotFoundError:
        return {}
    df = pd.read_csv(path, dtype={"subject_id": str, "study_id": str})
    classes = [c for c in CHEXPERT_CLASSES if c in df.columns]
    out = {}
    for row in df.to_dict("records"):
        positive = [c for c in classes if row[c] == 1.0]
        out[str(row["study_id"])] = ";".join(positive) or "No Finding"
    return out


def _find_csv(root: Path, name: str) -> Path:
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"MIMIC-CXR-JPG: {name}[.gz] not found in {root}")


def study_report_path(subject_id: str, study_id: str) -> str:
    """``files/p10/p10000032/s50414267.txt`` for subject ``10000032``, study ``50414267``."""
    return f"files/p{subject_id[:2]}/p{subject_id}/s{study_id}.txt"


def _report_reader(root: Path, reports: str) -> Callable[[str], str | None]:
    """A function ``relative report path -> text`` (None when missing) over a folder or a zip."""
    candidates = [Path(reports).expanduser()] if reports else [root / "mimic-cxr-reports", root / REPORTS_ZIP, root]
    for source in candidates:
        if source.is_file() and source.suffix == ".zip":
            archive = zipfile.ZipFile(source)
            names = {n.split("files/", 1)[-1]: n for n in archive.namelist() if n.endswith(".txt") and "files/" in n}

            def read_zip(rel: str, archive: zipfile.ZipFile = archive, names: dict[str, str] = names) -> str | None:
                name = names.get(rel.split("files/", 1)[-1])
                return archive.read(name).decode("utf-8", errors="replace") if name else None

            return read_zip
        if source.is_dir() and (source / "files").is_dir():

            def read_dir(rel: str, source: Path = source) -> str | None:
                path = source / rel
                return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None

            return read_dir
    raise FileNotFoundError(
        f"MIMIC-CXR reports not found (looked at {', '.join(map(str, candidates))}); set data.reports to the "
        f"mimic-cxr-reports folder or {REPORTS_ZIP}"
    )


@DATASETS.register("mimic")
def load_mimic(root: str | Path, *, frontal_only: bool = True, seed: int = 0, reports: str = "") -> list[Record]:
    """Read MIMIC-CXR-JPG into records (one per image; images of a study share its report).

    Args:
        root: the ``mimic-cxr-jpg/2.x.x`` folder.
        frontal_only: keep ``ViewPosition`` PA / AP only.
        seed: unused (MIMIC ships its official split); accepted for a uniform loader signature.
        reports: the reports folder or zip, when not inside ``root``.

    Raises:
        FileNotFoundError: a CSV or the reports are missing.
    """
    import pandas as pd

    root = Path(root).expanduser()
    split = pd.read_csv(_find_csv(root, SPLIT_CSV), dtype=str)
    meta = pd.read_csv(_find_csv(root, METADATA_CSV), dtype=str, usecols=["dicom_id", "ViewPosition"])
    df = split.merge(meta, on="dicom_id", how="left").fillna({"ViewPosition": ""})
    read = _report_reader(root, reports)
    labels = _study_labels(root)
    texts: dict[str, str | None] = {}
    records, no_report, no_image = [], 0, 0
    for row in df.to_dict("records"):
        subject, study = str(row["subject_id"]), str(row["study_id"])
        rel = study_report_path(subject, study)
        if rel not in texts:
            texts[rel] = read(rel)
        text = texts[rel]
        image = root / rel[: -len(".txt")] / f"{row['dicom_id']}.jpg"
        if not text or not text.strip():
            no_report += 1
            continue
        if not image.is_file():
            no_image += 1
            continue
        records.append(
            Record(
                image=str(image),
                report=text,
                split=normalise_split(row["split"]),
                view=str(row["ViewPosition"]),
                patient=subject,
                study=study,
                labels=labels.get(study, ""),
            )
        )
    if no_report or no_image:
        log.info("MIMIC-CXR: skipped %d images without a report and %d missing image files", no_report, no_image)
    return filter_frontal(records, frontal_only=frontal_only, dataset="MIMIC-CXR")
