"""Sections, sentences, statement splitting, temporal removal and clean_report."""

from __future__ import annotations

import pytest

from cxrvlp.text import clean_report, extract_sections, split_sentences, split_statement
from cxrvlp.text.sections import label_regions
from cxrvlp.text.statements import strip_temporal


def test_extract_sections_openi_style() -> None:
    text = "FINDINGS: Heart size normal.  No effusion. IMPRESSION: Normal chest."
    assert extract_sections(text) == {"findings": "Heart size normal. No effusion.", "impression": "Normal chest."}


def test_extract_sections_mimic_style_skips_other_sections() -> None:
    text = (
        "EXAMINATION: CHEST (PA AND LAT)\nINDICATION: ___ with cough, r/o pneumonia\nCOMPARISON: None.\n"
        "FINDINGS:\nThe lungs are clear.\n\nIMPRESSION:\nNo acute process.\n"
    )
    assert extract_sections(text) == {"findings": "The lungs are clear.", "impression": "No acute process."}


def test_extract_sections_without_headers_is_all_findings() -> None:
    assert extract_sections("  No pneumothorax.\nMild cardiomegaly. ") == {
        "findings": "No pneumothorax. Mild cardiomegaly.",
        "impression": "",
    }
    assert extract_sections("") == {"findings": "", "impression": ""}
    assert extract_sections("INDICATION: cough") == {"findings": "", "impression": ""}


def test_label_regions_exclude_indication() -> None:
    text = "INDICATION: pneumonia? FINDINGS: Clear lungs."
    ((start, end),) = label_regions(text)
    assert text[start:end].strip() == "Clear lungs."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("No effusion. Heart size is 1.5 cm.", ["No effusion.", "Heart size is 1.5 cm."]),
        ("IMPRESSION: 1. Normal chest x-XXXX. 2. No acute disease", ["Normal chest x-XXXX.", "No acute disease"]),
        ("Clear lungs..  No pneumothorax!", ["Clear lungs..", "No pneumothorax!"]),
        ("The XXXX are intact. XXXX XXXX.", ["The XXXX are intact.", "XXXX XXXX."]),
        ("First line\n\nSecond line", ["First line", "Second line"]),
        (". . ,", []),
        ("", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("No pleural effusion or pneumothorax is seen.", ["No pleural effusion is seen.", "No pneumothorax is seen."]),
        (
            "No focal consolidation, no definite pleural effusion seen.",
            ["No focal consolidation seen.", "No definite pleural effusion seen."],
        ),
        ("Cardiomegaly with small bilateral effusions.", ["Cardiomegaly.", "Small bilateral effusions."]),
        # alternatives under a hedge stay together: splitting would lose the uncertainty
        (
            "Opacity in the right lower lobe may represent atelectasis or pneumonia.",
            ["Opacity in the right lower lobe may represent atelectasis or pneumonia."],
        ),
        ("Mild cardiomegaly.", ["Mild cardiomegaly."]),
        ("Cardiomegaly with associated pulmonary edema.", ["Cardiomegaly.", "Pulmonary edema."]),
        ("Small left pleural effusion; mild cardiomegaly.", ["Small left pleural effusion.", "Mild cardiomegaly."]),
        # no split before a dependent clause or inside a list of ribs
        (
            "Opacities between the anterior 7th and 8th right ribs which may represent small pulmonary nodules.",
            ["Opacities between the anterior 7th and 8th right ribs which may represent small pulmonary nodules."],
        ),
    ],
)
def test_split_statement(sentence: str, expected: list[str]) -> None:
    assert split_statement(sentence) == expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Stable cardiomegaly.", "Cardiomegaly."),
        ("Unchanged from prior.", ""),
        ("Compared to the prior exam, there is new left lower lobe pneumonia.", "There is left lower lobe pneumonia."),
        ("The heart and lungs have XXXX XXXX in the interval.", ""),
        ("No pneumothorax.", "No pneumothorax."),
        # the temporal words go, the finding (or another observation) stays
        ("Stable calcified granuloma within the lingula.", "Calcified granuloma within the lingula."),
        ("Large hiatal hernia, increased in size from prior exam.", "Large hiatal hernia."),
        ("Interval resolution of the effusion.", "Resolution of the effusion."),
        ("Stable appearance of the chest.", ""),
        ("No change.", ""),
        (
            "Mild patchy opacities in the upper lung zones similar to prior studies.",
            "Mild patchy opacities in the upper lung zones.",
        ),
    ],
)
def test_strip_temporal(sentence: str, expected: str) -> None:
    assert strip_temporal(sentence) == expected


def test_clean_report_end_to_end() -> None:
    report = (
        "INDICATION: cough. COMPARISON: XXXX. FINDINGS: Stable mild cardiomegaly. No pleural effusion or "
        "pneumothorax. Unchanged from prior. IMPRESSION: 1. Interval resolution of pneumonia."
    )
    assert clean_report(report) == ("Mild cardiomegaly. No pleural effusion. No pneumothorax. Resolution of pneumonia.")
    assert clean_report("") == ""
