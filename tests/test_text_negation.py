"""CXR-Align variants: make_omitted (r^r), make_negated (r^n), hardneg_for_normal; the corpus invariant."""

from __future__ import annotations

import pytest

from cxrvlp.data.openi import load_openi_reports
from cxrvlp.text import hardneg_for_normal, label_report, make_negated, make_omitted, negative_statements
from cxrvlp.text.labeler import LabeledReport
from cxrvlp.text.vocab import FINDINGS

REPORT = (
    "FINDINGS: Mild cardiomegaly. No pleural effusion or pneumothorax is seen. Small right apical pneumothorax. "
    "IMPRESSION: Right apical pneumothorax."
)


def others(labels: dict[str, str], finding: str) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k not in (finding, "No Finding")}


def test_make_omitted_removes_statements_and_keeps_the_rest() -> None:
    out = make_omitted(REPORT, "Pneumothorax")
    assert out == "FINDINGS: Mild cardiomegaly. No pleural effusion is seen. IMPRESSION:"
    assert "Pneumothorax" not in label_report(out).labels
    assert others(label_report(out).labels, "Pneumothorax") == others(label_report(REPORT).labels, "Pneumothorax")


@pytest.mark.parametrize(
    ("sentence", "finding", "expected"),
    [
        ("No pneumonia, effusions, edema or masses.", "Pleural Effusion", "No pneumonia, edema or masses."),
        ("No pneumothorax, mild cardiomegaly.", "Pneumothorax", "Mild cardiomegaly."),
        ("Cardiomegaly with small bilateral effusions.", "Pleural Effusion", "Cardiomegaly."),
        ("Patchy opacity suggestive of pneumonia.", "Lung Opacity", "Possible pneumonia."),
        ("Mild cardiomegaly.", "Edema", "Mild cardiomegaly."),
    ],
)
def test_make_omitted_examples(sentence: str, finding: str, expected: str) -> None:
    assert make_omitted(sentence, finding) == expected


def test_make_negated_inserts_a_template_and_is_deterministic() -> None:
    outs = {make_negated(REPORT, "Pneumothorax", seed=s) for s in range(20)}
    assert len(outs) > 3  # templates and positions vary with the seed
    assert make_negated(REPORT, "Pneumothorax", seed=3) == make_negated(REPORT, "Pneumothorax", seed=3)
    for out in outs:
        labels = label_report(out).labels
        assert labels["Pneumothorax"] == "negative"
        assert others(labels, "Pneumothorax") == others(label_report(REPORT).labels, "Pneumothorax")
        assert sum(s in out for s in negative_statements("Pneumothorax")) >= 1


def test_make_negated_positions() -> None:
    report = "Mild cardiomegaly. Clear lungs. No effusion."
    starts = {make_negated(report, "Pneumothorax", seed=s).split(". ")[0] for s in range(30)}
    assert "Mild cardiomegaly" in starts and len(starts) > 1  # inserted at the beginning sometimes, not always


def test_make_negated_when_finding_not_mentioned() -> None:
    out = make_negated("Clear lungs.", "Pneumothorax", seed=0)
    assert out.startswith("Clear lungs.") or out.endswith("Clear lungs.")
    assert label_report(out).labels["Pneumothorax"] == "negative"
    assert label_report(make_negated("", "Edema")).labels["Edema"] == "negative"
    assert label_report(make_negated("FINDINGS: IMPRESSION:", "Edema")).labels["Edema"] == "negative"


@pytest.mark.parametrize("finding", FINDINGS)
def test_every_negative_statement_is_read_as_negative_of_only_its_finding(finding: str) -> None:
    for statement in negative_statements(finding):
        labels = label_report(statement).labels
        assert {k: v for k, v in labels.items() if k != "No Finding"} == {finding: "negative"}, statement


@pytest.mark.parametrize("fn", [make_omitted, make_negated])
def test_unknown_finding_raises_with_valid_names(fn) -> None:
    with pytest.raises(ValueError, match="valid names: Enlarged Cardiomediastinum, Cardiomegaly"):
        fn("Clear lungs.", "Effusion")
    with pytest.raises(ValueError, match="unknown finding 'No Finding'"):
        fn("Clear lungs.", "No Finding")


def test_hardneg_for_normal() -> None:
    pool = ["Clear lungs.", "Mild cardiomegaly. Pacemaker.", "Cardiomegaly and edema.", "Possible pneumonia."]
    picks = {hardneg_for_normal(pool, seed=s) for s in range(10)}
    assert picks == {"Mild cardiomegaly. Pacemaker."}
    labels = [label_report(r) for r in pool]
    assert hardneg_for_normal(pool, seed=1, labels=labels) == "Mild cardiomegaly. Pacemaker."
    pool2 = ["Left effusion.", "Right pneumothorax.", "Small nodule.", "Clear."]
    assert len({hardneg_for_normal(pool2, seed=s) for s in range(20)}) == 3
    assert hardneg_for_normal(pool2, seed=5) == hardneg_for_normal(pool2, seed=5)


def test_hardneg_for_normal_errors() -> None:
    with pytest.raises(ValueError, match="exactly one positive finding"):
        hardneg_for_normal(["Clear lungs.", "Cardiomegaly and edema."])
    with pytest.raises(ValueError, match="labels has 1 entries"):
        hardneg_for_normal(["a", "b"], labels=[LabeledReport("a")])


@pytest.fixture(scope="module")
def openi_texts() -> list[str]:
    try:
        return [r.text for r in load_openi_reports()]
    except FileNotFoundError as e:
        pytest.skip(str(e))


@pytest.mark.slow
def test_invariant_over_every_openi_report_with_a_positive_finding(openi_texts: list[str]) -> None:
    """r^n reads the finding as negative, r^r as absent, every other finding unchanged ("No Finding" is derived
    and may flip). Checked for every positive finding of every report (2,466 pairs), not one sampled finding."""
    failures = []
    pairs = 0
    for report in openi_texts:
        original = label_report(report)
        for finding in original.positives():
            pairs += 1
            rr = label_report(make_omitted(report, finding)).labels
            rn = label_report(make_negated(report, finding, seed=pairs)).labels
            want = others(original.labels, finding)
            if (
                finding in rr
                or rn.get(finding) != "negative"
                or others(rr, finding) != want
                or others(rn, finding) != want
            ):
                failures.append((finding, report))
    assert pairs > 2000
    assert not failures, f"{len(failures)}/{pairs} failed, first: {failures[:3]}"
