"""Prompt ensembles: per class, NIH names, "No Finding", and agreement with the labeler."""

from __future__ import annotations

import pytest

from cxrvlp.text import CHEXPERT_CLASSES, label_report, negative_prompts, positive_prompts

NIH = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
    "No Finding",
)


@pytest.mark.parametrize("finding", CHEXPERT_CLASSES[1:])
def test_chexpert_prompts_agree_with_the_labeler(finding: str) -> None:
    for p in positive_prompts(finding):
        assert label_report(p).labels.get(finding) == "positive", p
    for p in negative_prompts(finding):
        assert label_report(p).labels.get(finding) == "negative", p


@pytest.mark.parametrize("finding", NIH)
def test_nih_names_have_prompts(finding: str) -> None:
    pos, neg = positive_prompts(finding), negative_prompts(finding)
    assert len(pos) >= 3 and len(neg) >= 3 and not set(pos) & set(neg)
    assert all(p[0].isupper() and p.endswith(".") for p in pos + neg)


def test_no_finding_prompts_are_sane() -> None:
    pos, neg = positive_prompts("No Finding"), negative_prompts("No Finding")
    assert all("no finding" not in p.lower() for p in pos + neg)
    assert all(label_report(p).labels["No Finding"] == "positive" for p in pos)
    assert any("abnormal" in p.lower() for p in neg)


def test_unknown_name_raises() -> None:
    with pytest.raises(ValueError, match="valid names: No Finding, Enlarged Cardiomediastinum"):
        positive_prompts("Broken Heart")


def test_nih_names_match_with_spaces_or_underscores():
    from cxrvlp.text.prompts import negative_prompts, positive_prompts

    assert positive_prompts("Pleural Thickening") == positive_prompts("Pleural_Thickening")
    assert negative_prompts("pleural effusion") == negative_prompts("Pleural Effusion")
