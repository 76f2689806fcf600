"""Open-I (Indiana University) images in the ``NLMCXR_png/`` layout, paired with the reports from the wheel.

Layout read::

    ROOT/NLMCXR_png/CXR1_1_IM-0001-3001.png       (or ROOT itself holding the PNGs)
    ROOT/indiana_projections.csv                   optional: uid, filename, projection (Frontal / Lateral)

Reports come from :func:`cxrvlp.data.openi.load_openi_reports` (the 3,955 XMLs); an image id ``CXR1_1_IM-0001-3001``
names its file. The XMLs carry no view position, so without ``indiana_projections.csv`` (the Kaggle release's
table) every image is kept, laterals included, and the log says so. Splits are drawn per report uid.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cxrvlp.data.openi import load_openi_reports
from cxrvlp.data.records import DATASETS, Record, filter_frontal, hashed_split

log = logging.getLogger(__name__)

PROJECTIONS_CSV = "indiana_projections.csv"


def _projections(root: Path) -> dict[str, str]:
    """Image stem -> ``PA``-style view from ``indiana_projections.csv`` ({} when absent)."""
    path = root / PROJECTIONS_CSV
    if not path.is_file():
        return {}
    import pandas as pd

    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    views = {}
    for row in df.to_dict("records"):
        # Kaggle names files "1_IM-0001-4001.dcm.png"; NLMCXR_png names them "CXR1_1_IM-0001-4001.png".
        stem = "CXR" + row["filename"].split(".")[0]
        views[stem] = "FRONTAL" if row["projection"].strip().lower() == "frontal" else "LATERAL"
    return views


@DATASETS.register("openi")
def load_openi(root: str | Path, *, frontal_only: bool = True, seed: int = 0) -> list[Record]:
    """Pair the Open-I reports with the PNGs under ``root``.

    Args:
        root: the folder holding ``NLMCXR_png/`` (or the PNG folder itself).
        frontal_only: drop images ``indiana_projections.csv`` marks lateral.
        seed: seeds the per-report split.

    Raises:
        FileNotFoundError: no Open-I PNG under ``root``.
    """
    root = Path(root).expanduser()
    images = root / "NLMCXR_png" if (root / "NLMCXR_png").is_dir() else root
    views = _projections(root)
    records, missing = [], 0
    for report in load_openi_reports():
        text = report.text
        if not text:
            continue
        split = hashed_split(report.uid, seed=seed)
        for image_id in report.image_ids:
            path = images / f"{image_id}.png"
            if not path.is_file():
                missing += 1
                continue
            view = views.get(image_id, "")
            records.append(Record(str(path), text, split, view=view, patient=report.uid, study=report.uid))
    if not records:
        raise FileNotFoundError(f"Open-I: no NLMCXR_png image of a report with text found under {root}")
    log.info("Open-I: %d images paired with reports (%d report images not on disk)", len(records), missing)
    return filter_frontal(records, frontal_only=frontal_only, dataset="Open-I")
