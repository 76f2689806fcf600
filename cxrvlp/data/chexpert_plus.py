"""CheXpert Plus (Stanford AIMI): the report CSV + the images.

Layout read::

    ROOT/df_chexpert_plus_240401.csv   path_to_image, frontal_lateral, ap_pa, deid_patient_id, report,
                                       section_findings, section_impression, ..., split (train / valid)
    ROOT/PNG/train/patient42142/study1/view1_frontal.png     (the PNG release; or)
    ROOT/train/patient42142/study1/view1_frontal.jpg         (CheXpert JPEGs at path_to_image)

The report text is ``FINDINGS: <section_findings> IMPRESSION: <section_impression>`` when either section is filled,
else the full ``report`` column. View: ``ap_pa`` for frontal images, ``LATERAL`` for laterals.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cxrvlp.data.records import DATASETS, Record, filter_frontal, normalise_split, report_text

log = logging.getLogger(__name__)

CSV_NAMES = ("df_chexpert_plus_240401.csv", "df_chexpert_plus.csv")


def _csv(root: Path) -> Path:
    for name in CSV_NAMES:
        if (root / name).is_file():
            return root / name
    found = sorted(root.glob("df_chexpert_plus*.csv"))
    if found:
        return found[-1]
    raise FileNotFoundError(f"CheXpert Plus: no df_chexpert_plus*.csv in {root}")


def _image(root: Path, rel: str) -> Path | None:
    rel_path = Path(rel)
    png = rel_path.with_suffix(".png")
    for candidate in (root / "PNG" / png, root / rel_path, root / png):
        if candidate.is_file():
            return candidate
    return None


def _text(row: dict) -> str:
    findings = str(row.get("section_findings") or "").strip()
    impression = str(row.get("section_impression") or "").strip()
    if findings or impression:
        return report_text(findings, impression)
    return str(row.get("report") or "").strip()


@DATASETS.register("chexpert_plus")
def load_chexpert_plus(root: str | Path, *, frontal_only: bool = True, seed: int = 0) -> list[Record]:
    """Read CheXpert Plus into records (``valid`` becomes ``val``).

    Args:
        root: folder with the report CSV and the images.
        frontal_only: keep frontal (AP / PA) images.
        seed: unused (the CSV carries the split); accepted for a uniform loader signature.

    Raises:
        FileNotFoundError: no report CSV in ``root``.
    """
    import pandas as pd

    root = Path(root).expanduser()
    df = pd.read_csv(_csv(root), dtype=str, keep_default_na=False)
    records, no_report, no_image = [], 0, 0
    for row in df.to_dict("records"):
        text = _text(row)
        if not text:
            no_report += 1
            continue
        image = _image(root, row["path_to_image"])
        if image is None:
            no_image += 1
            continue
        frontal = str(row.get("frontal_lateral", "")).strip().lower() == "frontal"
        view = str(row.get("ap_pa", "")).strip().upper() if frontal else "LATERAL"
        records.append(
            Record(
                image=str(image),
                report=text,
                split=normalise_split(row.get("split", "train")),
                view=view if view else ("FRONTAL" if frontal else ""),
                patient=str(row.get("deid_patient_id", "")),
                study=str(Path(row["path_to_image"]).parent),
            )
        )
    if no_report or no_image:
        log.info("CheXpert Plus: skipped %d rows without a report and %d missing image files", no_report, no_image)
    return filter_frontal(records, frontal_only=frontal_only, dataset="CheXpert Plus")
