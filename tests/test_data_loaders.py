"""Dataset loaders on small fixtures written in each dataset's real layout."""

from __future__ import annotations

import csv
import gzip
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cxrvlp.config import DataConfig
from cxrvlp.data.openi import load_openi_reports
from cxrvlp.data.records import hashed_split, report_text
from cxrvlp.data.sources import dataset_names, load_records

REPORT = "FINDINGS: Small right pleural effusion. IMPRESSION: Effusion."


def _png(path: Path, *, bits: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    if bits == 16:
        Image.fromarray(rng.integers(0, 65535, (40, 36), dtype=np.uint16)).save(path)
    else:
        Image.fromarray(rng.integers(0, 255, (40, 36), dtype=np.uint8)).save(path)


def _csv(path: Path, header: list[str], rows: list[list[str]], *, gz: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", newline="") if gz else path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def test_registry_lists_every_dataset() -> None:
    assert dataset_names() == ["chexpert_plus", "manifest", "mimic", "openi"]


def test_manifest_paths_splits_views_and_text_alias(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    _png(tmp_path / "b.png", bits=16)
    _png(tmp_path / "c.png")
    _csv(
        tmp_path / "manifest.csv",
        ["image", "text", "view", "patient_id"],
        [["a.png", REPORT, "PA", "p1"], ["b.png", "Normal chest.", "LATERAL", "p2"], ["c.png", "", "AP", "p3"]],
    )
    recs = load_records(DataConfig(dataset="manifest", root=str(tmp_path), frontal_only=True, seed=3))
    assert [Path(r.image).name for r in recs] == ["a.png"]  # lateral dropped, empty report dropped
    assert recs[0].image == str(tmp_path / "a.png") and recs[0].report == REPORT
    assert recs[0].split == hashed_split("p1", seed=3)
    both = load_records(DataConfig(dataset="manifest", root=str(tmp_path / "manifest.csv"), frontal_only=False))
    assert [Path(r.image).name for r in both] == ["a.png", "b.png"]


def test_manifest_errors_name_the_problem(tmp_path: Path) -> None:
    _csv(tmp_path / "m.csv", ["path", "report"], [["x.png", "r"]])
    with pytest.raises(ValueError, match="image and report"):
        load_records(DataConfig(dataset="manifest", root=str(tmp_path / "m.csv")))
    with pytest.raises(FileNotFoundError):
        load_records(DataConfig(dataset="manifest", root=str(tmp_path / "missing.csv")))
    with pytest.raises(KeyError, match="valid names"):
        load_records(DataConfig(dataset="nope", root=str(tmp_path)))


def test_hashed_split_is_deterministic_and_roughly_proportional() -> None:
    splits = [hashed_split(f"p{i}", seed=0) for i in range(2000)]
    assert splits == [hashed_split(f"p{i}", seed=0) for i in range(2000)]
    assert 0.75 < splits.count("train") / 2000 < 0.85
    assert splits != [hashed_split(f"p{i}", seed=1) for i in range(2000)]


@pytest.mark.parametrize("reports_as", ["folder", "zip"])
def test_mimic_layout(tmp_path: Path, reports_as: str) -> None:
    root = tmp_path / "mimic-cxr-jpg" / "2.1.0"
    rows = [  # dicom, study, subject, split, view
        ("d1", "50000001", "10000032", "train", "PA"),
        ("d2", "50000001", "10000032", "train", "LATERAL"),
        ("d3", "50000002", "11000011", "validate", "AP"),
        ("d4", "50000003", "12000022", "test", "PA"),  # no report -> skipped
    ]
    for dicom, study, subject, *_ in rows:
        _png(root / f"files/p{subject[:2]}/p{subject}/s{study}/{dicom}.jpg")
    _csv(
        root / "mimic-cxr-2.0.0-split.csv.gz",
        ["dicom_id", "study_id", "subject_id", "split"],
        [list(r[:4]) for r in rows],
        gz=True,
    )
    _csv(
        root / "mimic-cxr-2.0.0-metadata.csv.gz",
        ["dicom_id", "subject_id", "study_id", "ViewPosition"],
        [[r[0], r[2], r[1], r[4]] for r in rows],
        gz=True,
    )
    texts = {
        "files/p10/p10000032/s50000001.txt": "FINAL REPORT\n FINDINGS: Cardiomegaly.\n IMPRESSION: Enlarged heart.",
        "files/p11/p11000011/s50000002.txt": "IMPRESSION: No acute process.",
    }
    if reports_as == "zip":
        reports = tmp_path / "mimic-cxr-reports.zip"
        with zipfile.ZipFile(reports, "w") as z:
            for rel, text in texts.items():
                z.writestr(f"mimic-cxr-reports/{rel}", text)
    else:
        reports = tmp_path / "mimic-cxr-reports"
        for rel, text in texts.items():
            (reports / rel).parent.mkdir(parents=True, exist_ok=True)
            (reports / rel).write_text(text)
    cfg = DataConfig(dataset="mimic", root=str(root), reports=str(reports))
    recs = load_records(cfg)
    assert [(Path(r.image).stem, r.split, r.view) for r in recs] == [("d1", "train", "PA"), ("d3", "val", "AP")]
    assert "Cardiomegaly" in recs[0].report and recs[0].patient == "10000032" and recs[0].study == "50000001"
    assert len(load_records(DataConfig(dataset="mimic", root=str(root), reports=str(reports), frontal_only=False))) == 3
    assert [r.labels for r in recs] == ["", ""]  # no CheXpert label file: no image labels
    _csv(  # the optional label file: 1 positive, 0 negative, -1 uncertain, blank unmentioned
        root / "mimic-cxr-2.0.0-chexpert.csv.gz",
        ["subject_id", "study_id", "Cardiomegaly", "Edema", "Pleural Effusion", "No Finding"],
        [["10000032", "50000001", "1.0", "-1.0", "1.0", ""], ["11000011", "50000002", "0.0", "", "", "1.0"]],
        gz=True,
    )
    recs = load_records(cfg)
    assert [r.labels for r in recs] == ["Cardiomegaly;Pleural Effusion", "No Finding"]


def test_chexpert_plus_layout(tmp_path: Path) -> None:
    header = [
        "path_to_image",
        "frontal_lateral",
        "ap_pa",
        "deid_patient_id",
        "report",
        "section_findings",
        "section_impression",
        "split",
    ]
    rows = [
        [
            "train/patient1/study1/view1_frontal.jpg",
            "Frontal",
            "PA",
            "patient1",
            "full text",
            "Lungs clear.",
            "Normal.",
            "train",
        ],
        [
            "train/patient1/study1/view2_lateral.jpg",
            "Lateral",
            "",
            "patient1",
            "full text",
            "Lungs clear.",
            "",
            "train",
        ],
        ["valid/patient2/study1/view1_frontal.jpg", "Frontal", "AP", "patient2", "Whole report only.", "", "", "valid"],
    ]
    _csv(tmp_path / "df_chexpert_plus_240401.csv", header, rows)
    for row in rows:
        _png(tmp_path / "PNG" / Path(row[0]).with_suffix(".png"))
    recs = load_records(DataConfig(dataset="chexpert_plus", root=str(tmp_path)))
    assert [r.split for r in recs] == ["train", "val"]
    assert recs[0].report == "FINDINGS: Lungs clear. IMPRESSION: Normal." and recs[0].image.endswith(".png")
    assert recs[1].report == "Whole report only." and recs[1].view == "AP"


def test_openi_layout_pairs_wheel_reports_with_pngs(tmp_path: Path) -> None:
    reports = [r for r in load_openi_reports() if r.text and len(r.image_ids) >= 2][:2]
    frontal, lateral = reports[0].image_ids[:2]
    for image_id in (frontal, lateral, reports[1].image_ids[0]):
        _png(tmp_path / "NLMCXR_png" / f"{image_id}.png")
    recs = load_records(DataConfig(dataset="openi", root=str(tmp_path)))
    assert {Path(r.image).stem for r in recs} == {frontal, lateral, reports[1].image_ids[0]}
    assert all(r.view == "" for r in recs)  # no projection table: views unknown, all kept
    assert {r.report for r in recs} == {reports[0].text, reports[1].text}
    _csv(
        tmp_path / "indiana_projections.csv",
        ["uid", "filename", "projection"],
        [["1", f"{frontal[3:]}.dcm.png", "Frontal"], ["1", f"{lateral[3:]}.dcm.png", "Lateral"]],
    )
    recs = load_records(DataConfig(dataset="openi", root=str(tmp_path)))
    assert lateral not in {Path(r.image).stem for r in recs} and frontal in {Path(r.image).stem for r in recs}


def test_report_text_keeps_only_the_sections_present() -> None:
    assert report_text("A.", "B.") == "FINDINGS: A. IMPRESSION: B."
    assert report_text("", "B.") == "IMPRESSION: B."
    assert report_text("A.", "") == "FINDINGS: A."
    assert report_text("", "") == ""
