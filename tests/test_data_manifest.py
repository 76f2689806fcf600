"""One manifest reader for training, evaluation and fine-tuning: same columns, same preferences, same splits."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from cxrvlp.data.manifest import load_manifest, read_manifest_rows
from cxrvlp.eval.dataset import read_manifest
from cxrvlp.eval.finetune.data import read_labelled_manifest
from cxrvlp.types import UserError

ROWS = [
    # image, report, text, labels, split, view, patient_id
    ["a.png", "Small left effusion.", "ignored text", "Effusion", "train", "PA", "p1"],
    ["sub/b.png", "", "No pneumothorax.", "No Finding", "Validate", "AP", "p2"],
    ["c.png", "", "", "Cardiomegaly;", "TEST", "LATERAL", "p3"],
]


def _write(tmp_path: Path, rows=ROWS, header=("image", "report", "text", "labels", "split", "view", "patient_id")):
    path = tmp_path / "manifest.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_rows_columns_preferences_and_splits(tmp_path):
    _write(tmp_path)
    m = read_manifest_rows(tmp_path)  # a folder finds manifest.csv
    assert [r.report for r in m.rows] == ["Small left effusion.", "No pneumothorax.", ""]  # report, then text
    assert [r.split for r in m.rows] == ["train", "val", "test"]
    assert [r.patient for r in m.rows] == ["p1", "p2", "p3"] and m.patient_column == "patient_id"
    assert m.rows[1].path == str((tmp_path / "sub" / "b.png").resolve()) and m.rows[2].labels == ("Cardiomegaly",)


def test_training_eval_and_finetune_read_the_same_rows(tmp_path):
    path = _write(tmp_path)
    records = load_manifest(path, frontal_only=False)
    items = read_manifest(path)
    tuned = read_labelled_manifest(path)
    assert [r.image for r in records] == [it.image_path for it in items[:2]]  # training drops the empty report
    assert [r.report for r in records] == [it.report for it in items[:2]]
    assert [r.split for r in records] == [it.split for it in items[:2]] == ["train", "val"]
    assert [r.patient for r in records] == list(tuned.patients[:2]) == ["p1", "p2"]
    assert [it.labels for it in items] == [("Effusion",), ("No Finding",), ("Cardiomegaly",)]
    assert [it.id for it in read_manifest(path, split="valid")] == ["sub/b.png"]  # the same split spelling rules
    assert [r.view for r in load_manifest(path)] == ["PA", "AP"]  # frontal_only drops the lateral


def test_errors_are_user_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest not found"):
        read_manifest_rows(tmp_path / "none.csv")
    with pytest.raises(UserError, match="'image' column"):
        read_manifest(_write(tmp_path, [["x"]], header=("path",)))
    with pytest.raises(UserError, match="report \\(or text\\)"):
        load_manifest(_write(tmp_path, [["a.png", "Effusion"]], header=("image", "labels")))
    with pytest.raises(UserError, match="no rows with split 'val'"):
        read_manifest(_write(tmp_path, [["a.png", "r", "train"]], header=("image", "report", "split")), split="val")
