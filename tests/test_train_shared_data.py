"""Real-data smoke test: the ``lite`` preset trains for a few steps on real chest X-rays and its loss falls.

Images come from ``../shared/data`` (never copied): ``covid_chestxray`` pairs with its real free-text case notes, and
``nih_cxr14_sample`` with reports COMPOSED here from its NIH labels by fixed template sentences (that collection has
no reports). The composed texts are synthetic; nothing measured on them is a result on real reports.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from cxrvlp.train import build_config, train
from cxrvlp.train.logger import read_log

NIH_SENTENCES = {
    "Atelectasis": "Atelectasis.", "Cardiomegaly": "Cardiomegaly.", "Consolidation": "Consolidation.",
    "Edema": "Pulmonary edema.", "Effusion": "Pleural effusion.", "Emphysema": "Emphysema.",
    "Fibrosis": "Pulmonary fibrosis.", "Hernia": "Hiatal hernia.", "Infiltration": "Pulmonary infiltrate.",
    "Mass": "Lung mass.", "Nodule": "Pulmonary nodule.", "Pleural_Thickening": "Pleural thickening.",
    "Pneumonia": "Pneumonia.", "Pneumothorax": "Pneumothorax.",
    "No Finding": "The lungs are clear. No acute cardiopulmonary abnormality.",
}  # fmt: skip


def compose_report(labels: str) -> str:
    """A short synthetic report from NIH ChestX-ray14 labels (``;``-separated)."""
    return "FINDINGS: " + " ".join(NIH_SENTENCES[label] for label in labels.split(";"))


def _rows(folder: Path, n: int, *, composed: bool) -> list[list[str]]:
    rows = []
    with (folder / "manifest.csv").open(newline="", encoding="utf-8", errors="replace") as f:
        for row in csv.DictReader(f):
            if row["split"] != "train" or row["view"] not in ("PA", "AP"):
                continue
            text = compose_report(row["labels"]) if composed else row["text"].strip()
            if text:
                rows.append([str(folder / row["image"]), text, "train"])
            if len(rows) == n:
                break
    return rows


@pytest.mark.shared_data
def test_lite_loss_falls_on_real_images(shared_data: Path, tmp_path: Path) -> None:
    rows = _rows(shared_data / "covid_chestxray", 8, composed=False) + _rows(
        shared_data / "nih_cxr14_sample", 8, composed=True
    )
    assert len(rows) == 16
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="") as f:
        csv.writer(f).writerows([["image", "report", "split"], *rows])
    cfg = build_config(
        preset="lite",
        overrides=[
            f"data.root={manifest}", f"data.cache_dir={tmp_path / 'cache'}", "data.num_workers=0",
            "data.augment=false", "model.image_size=128", f"train.run_dir={tmp_path / 'run'}", "train.batch_size=8",
            "train.epochs=5", "train.lr=2e-3", "train.warmup_steps=1", "train.log_every=1", "train.freeze_image=true",
            "train.freeze_text=true", "train.weight_decay=0", "train.save_every=100",
        ],
    )  # fmt: skip
    result = train(cfg)
    losses = [e["loss"] for e in read_log(result.run_dir) if e["kind"] == "train"]
    assert len(losses) == 10
    assert sum(losses[-2:]) / 2 < 0.8 * sum(losses[:2]) / 2, losses
