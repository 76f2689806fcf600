from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from cxrvlp.data.compose import (
    NIH_FINDINGS,
    SentenceBanks,
    build_banks,
    compose_manifest,
    compose_report,
    parse_labels,
)
from cxrvlp.text import label_report
from cxrvlp.types import UserError

CORPUS = [
    "FINDINGS: The heart is enlarged. No pleural effusion. The lungs are clear. IMPRESSION: Cardiomegaly.",
    "FINDINGS: Small right pleural effusion. No pneumothorax. Heart size is normal.",
    "FINDINGS: Moderate right pneumothorax. No focal consolidation. Small hiatal hernia.",
    "FINDINGS: Left lower lobe consolidation. There is no pneumothorax. No hiatal hernia.",
    "FINDINGS: Bibasilar atelectasis. Mild pulmonary edema. Right upper lobe pneumonia. Severe emphysema.",
    "FINDINGS: A 1 cm nodule in the right upper lobe. Left hilar mass. Patchy airspace opacity in the left base.",
    "FINDINGS: Apical pleural thickening. Bibasilar fibrosis. No edema. No focal airspace opacity.",
]


@pytest.fixture(scope="module")
def banks() -> SentenceBanks:
    return build_banks(CORPUS, seed=0)


def test_banks_hold_single_label_sentences(banks):
    assert banks.positive["Cardiomegaly"] == ["The heart is enlarged."]
    assert "No hiatal hernia." in banks.negative["Hernia"] and banks.positive["Hernia"] == ["Small hiatal hernia."]
    for finding, (cls, _) in NIH_FINDINGS.items():
        for s in banks.positive[finding]:
            labels = {k: v for k, v in label_report(s).labels.items() if k != "No Finding"}
            assert labels == ({cls: "positive"} if cls else {}), (finding, s)
    assert all("XXXX" not in s for s in banks.normal)
    assert build_banks(CORPUS, seed=0) == banks  # deterministic


def test_composed_reports_state_present_findings(banks):
    rng = random.Random(0)
    report = compose_report(["Cardiomegaly", "Pneumothorax"], banks, rng=rng)
    positives = set(label_report(report).positives())
    assert {"Cardiomegaly", "Pneumothorax"} <= positives
    normal = compose_report([], banks, rng=random.Random(1))
    assert not label_report(normal).positives()


def test_parse_labels():
    assert parse_labels("Atelectasis;Effusion") == ["Atelectasis", "Effusion"]
    assert parse_labels("No Finding") == [] == parse_labels("")
    with pytest.raises(ValueError, match="unknown finding"):
        parse_labels("Dragons")


def test_manifest_is_seeded_and_order_independent(banks, tmp_path):
    src = tmp_path / "manifest.csv"
    pd.DataFrame(
        {
            "image": ["a.png", "b.png", "c.png"],
            "labels": ["Cardiomegaly", "No Finding", "Effusion;Nodule"],
            "split": ["train", "val", "test"],
        }
    ).to_csv(src, index=False)
    compose_manifest(src, tmp_path / "out1.csv", banks, seed=3)
    pd.read_csv(src).iloc[::-1].to_csv(src, index=False)
    compose_manifest(src, tmp_path / "out2.csv", banks, seed=3)
    a = pd.read_csv(tmp_path / "out1.csv").set_index("labels")
    b = pd.read_csv(tmp_path / "out2.csv").set_index("labels")
    assert a.loc["Cardiomegaly", "report"] == b.loc["Cardiomegaly", "report"]
    assert (a["composed"] == "yes").all() and a.loc["Cardiomegaly", "image"].endswith("a.png")


def test_banks_json_round_trip(banks, tmp_path):
    banks.to_json(tmp_path / "b.json")
    assert SentenceBanks.from_json(tmp_path / "b.json") == banks


def test_add_joins_collections_with_real_text_keeping_their_splits(banks, tmp_path):
    nih = tmp_path / "nih" / "manifest.csv"
    covid = tmp_path / "covid" / "manifest.csv"
    nih.parent.mkdir()
    covid.parent.mkdir()
    pd.DataFrame(
        {"image": ["a.png", "b.png"], "labels": ["Cardiomegaly", "No Finding"], "split": ["train", "test"],
         "patient_id": ["1", "2"]}
    ).to_csv(nih, index=False)  # fmt: skip
    pd.DataFrame(
        {"image": ["c.jpg", "d.jpg", "e.jpg"], "text": ["Bilateral opacities. No effusion.", "", "Clear lungs."],
         "labels": ["COVID-19", "COVID-19", "No Finding"], "split": ["val", "train", "test"],
         "patient_id": ["1", "1", "9"], "view": ["PA", "AP", "LAT"]}
    ).to_csv(covid, index=False)  # fmt: skip
    n = compose_manifest(nih, tmp_path / "out.csv", banks, seed=0, add=[covid.parent])
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False).set_index("image")
    assert n == 4 == len(out)  # the covid row without text is left out
    real = out[out["composed"] == "no"]
    assert list(real["report"]) == ["Bilateral opacities. No effusion.", "Clear lungs."]
    assert list(real["split"]) == ["val", "test"] and set(real["dataset"]) == {"covid"}
    assert set(out[out["composed"] == "yes"]["dataset"]) == {"nih"}
    # patient ids are per collection: NIH patient 1 and COVID patient 1 are different people
    assert set(out["patient_id"]) == {"nih:1", "nih:2", "covid:1", "covid:9"}
    assert all(Path(p).is_absolute() for p in out.index)
    # training records carry the collection (CON2 draws distractors within it)
    from cxrvlp.data.manifest import load_manifest

    records = load_manifest(tmp_path / "out.csv", frontal_only=True)
    assert {(Path(r.image).name, r.dataset) for r in records} == {
        ("a.png", "nih"),
        ("b.png", "nih"),
        ("c.jpg", "covid"),
    }
    with pytest.raises(UserError, match="text"):
        compose_manifest(nih, tmp_path / "bad.csv", banks, add=[nih])
