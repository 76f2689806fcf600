"""CXR-Align variants: make_omitted (r^r), make_negated (r^n), hardneg_for_normal; the corpus invariant."""

from __future__ import annotations

import re

import pytest

from cxrvlp.data.openi import load_openi_reports
from cxrvlp.text import (
    hardneg_for_normal,
    label_report,
    make_negated,
    make_omitted,
    negative_statements,
    split_sentences,
)
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
    # the asserting statements go; the denial "no ... pneumothorax is seen" does not assert it and stays as written
    assert out == "FINDINGS: Mild cardiomegaly. No pleural effusion or pneumothorax is seen. IMPRESSION:"
    assert label_report(out).labels.get("Pneumothorax") == "negative"
    assert others(label_report(out).labels, "Pneumothorax") == others(label_report(REPORT).labels, "Pneumothorax")


# Hand-written expectations (what a reader wants from r^r), not outputs copied from the code.
@pytest.mark.parametrize(
    ("report", "finding", "expected"),
    [
        ("Cardiomegaly with small bilateral effusions.", "Pleural Effusion", "Cardiomegaly."),
        (
            "There is mild cardiomegaly and small bilateral pleural effusions.",
            "Pleural Effusion",
            "There is mild cardiomegaly.",
        ),
        (
            "Moderate cardiomegaly, small left effusion, and left basilar atelectasis.",
            "Pleural Effusion",
            "Moderate cardiomegaly and left basilar atelectasis.",
        ),
        ("Cardiomegaly with associated pulmonary edema.", "Cardiomegaly", "Pulmonary edema."),
        # a device phrase modifying the subject goes, the rest of the sentence stays as written
        (
            "View of the chest with overlying monitor leads shows normal heart size and no pleural effusion.",
            "Support Devices",
            "View of the chest shows normal heart size and no pleural effusion.",
        ),
        ("Patchy opacity suggestive of pneumonia.", "Lung Opacity", "Possible pneumonia."),
        # an uncertain mention is removed too, and the opacity stays a plain statement
        (
            "Left lower lobe opacity may represent atelectasis or pneumonia.",
            "Atelectasis",
            "Left lower lobe opacity. Possible pneumonia.",
        ),
        ("Small left pleural effusion; mild cardiomegaly.", "Pleural Effusion", "Mild cardiomegaly."),
        ("Mild cardiomegaly.", "Edema", "Mild cardiomegaly."),
        # a denial only: nothing asserts the finding, nothing changes
        ("No pneumothorax, mild cardiomegaly.", "Pneumothorax", "No pneumothorax, mild cardiomegaly."),
        # the item's list number goes with it
        (
            "IMPRESSION: 1. Cardiomegaly. 2. Small effusion. 3. No pneumothorax.",
            "Pleural Effusion",
            "IMPRESSION: 1. Cardiomegaly. 3. No pneumothorax.",
        ),
        # paraphrases and masked devices
        ("A large pleural air collection is present on the right. No effusion.", "Pneumothorax", "No effusion."),
        (
            "The right chest XXXX tip is visualized in the mid SVC. No pneumothorax.",
            "Support Devices",
            "No pneumothorax.",
        ),
        ("Blunting of the left costophrenic angle. Mild cardiomegaly.", "Pleural Effusion", "Mild cardiomegaly."),
        # every other finding's words stay, not only its class label
        (
            "Pulmonary vasculature is prominent with increased interstitial markings, suggesting mild pulmonary edema.",
            "Lung Opacity",
            "Pulmonary vasculature is prominent, suggesting mild pulmonary edema.",
        ),
        # a coordinated modifier goes, the shared head noun stays with the other finding
        (
            "Prominent interstitial and nodular opacities are increased.",
            "Lung Lesion",
            "Prominent interstitial opacities are increased.",
        ),
        # a rebuilt statement keeps every mention of the other finding
        (
            "Cardiomegaly with pulmonary edema and vascular congestion.",
            "Cardiomegaly",
            "Pulmonary edema and vascular congestion.",
        ),
        # an explanation trailing a list item goes with it, unless it names another finding
        (
            "Stable mediastinal contours, mediastinal clips, left base pleural-parenchymal irregularity compatible "
            "with scarring.",
            "Pleural Other",
            "Stable mediastinal contours, mediastinal clips.",
        ),
        ("Cardiomegaly, left base opacity compatible with atelectasis.", "Lung Opacity", "Cardiomegaly. Atelectasis."),
        # a density explained by a structure outside the lung is no Lung Opacity: nothing to remove
        (
            "Retrocardiac density consistent with hiatal hernia. Mild cardiomegaly.",
            "Cardiomegaly",
            "Retrocardiac density consistent with hiatal hernia.",
        ),
        # a device named by its kind, an enlarged vasculature, a hedged "XXXX atelectasis" after an opacity
        ("Mild bibasilar opacities. Bilateral breast implants.", "Support Devices", "Mild bibasilar opacities."),
        ("Pulmonary vasculature is persistently enlarged. Small right effusion.", "Edema", "Small right effusion."),
        (
            "Mild bibasilar opacities, XXXX atelectasis. No effusion.",
            "Atelectasis",
            "Mild bibasilar opacities. No effusion.",
        ),
    ],
)
def test_make_omitted_examples(report: str, finding: str, expected: str) -> None:
    assert make_omitted(report, finding) == expected


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
    report = "Small right pneumothorax. Mild cardiomegaly. Clear lungs. No effusion."
    starts = {make_negated(report, "Pneumothorax", seed=s).split(". ")[0] for s in range(30)}
    assert "Mild cardiomegaly" in starts and len(starts) > 1  # inserted at the beginning sometimes, not always


@pytest.mark.parametrize(
    ("finding", "phrase", "word"),
    [
        ("Lung Opacity", "interstitial opacities", "opacit"),
        ("Lung Opacity", "interstitial pattern", "opacit"),
        ("Lung Opacity", "interstitial markings", "markings"),
        ("Lung Opacity", "airspace disease", "airspace disease"),
        ("Lung Opacity", "airspace opacity", "opacity"),
        ("Lung Lesion", "mass density", "lesion|nodule"),
        ("Lung Lesion", "metastatic disease", "lesion"),
        ("Edema", "chf", "edema"),
    ],
)
def test_every_subtype_statement_names_the_finding_as_stated(finding: str, phrase: str, word: str) -> None:
    # whichever template the seed draws, it names the finding with the report's word or one covering all subtypes
    statements = negative_statements(finding, phrase)
    assert statements and all(re.search(word, s.lower()) for s in statements), statements


def _new_statement(report: str, finding: str, seed: int) -> str:
    rr, rn = make_omitted(report, finding), make_negated(report, finding, seed=seed)
    new = [s for s in split_sentences(rn) if s not in split_sentences(rr)]
    assert len(new) == 1, (rr, rn)
    return new[0]


@pytest.mark.parametrize(
    ("report", "finding", "must", "must_not"),
    [
        # the denial names the finding as the report states it, without a narrowing qualifier
        (
            "Minimal bibasilar interstitial opacities. No focal airspace opacity.",
            "Lung Opacity",
            "interstitial",
            "airspace",
        ),
        ("Patchy left basilar airspace opacity.", "Lung Opacity", "airspace", "interstitial"),
        ("Old healed left rib fractures.", "Fracture", "rib fracture", "acute"),
        ("Right upper lobe nodule.", "Lung Lesion", "nodul", "acute"),
        ("Large left hilar mass.", "Lung Lesion", "mass", "large"),
        ("Endotracheal tube in place.", "Support Devices", "endotracheal tube", "support device"),
        ("Right chest XXXX tip in the SVC.", "Support Devices", "central venous catheter", "support device"),
        ("Left-sided pacemaker.", "Support Devices", "pacemaker", "support device"),
        ("Median sternotomy.", "Support Devices", "sternotomy", "support device"),
        ("Mild pulmonary vascular congestion.", "Edema", "congestion", "interstitial"),
        ("Bilateral breast implants.", "Support Devices", "breast implants", "hardware"),
        ("Bilateral breast prostheses.", "Support Devices", "breast prostheses", "hardware"),
    ],
)
def test_make_negated_denies_the_subtype(report: str, finding: str, must: str, must_not: str) -> None:
    for seed in range(8):
        statement = _new_statement(report, finding, seed).lower()
        assert must in statement and must_not not in statement, statement
        assert {k: v for k, v in label_report(statement).labels.items() if k != "No Finding"} == {finding: "negative"}


def test_make_negated_never_restates_the_report() -> None:
    report = "No pleural effusion. Small left pleural effusion on the lateral view."
    for seed in range(10):
        assert _new_statement(report, "Pleural Effusion", seed) != "No pleural effusion."


def test_make_negated_strict_refuses_a_finding_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="asserts as positive.*'Pneumothorax' is not mentioned"):
        make_negated("Clear lungs.", "Pneumothorax", strict=True)
    with pytest.raises(ValueError, match="'Pneumonia' is uncertain"):
        make_negated("Possible pneumonia.", "Pneumonia", strict=True)
    with pytest.raises(ValueError, match="'Pneumothorax' is negative"):
        make_negated("No pneumothorax.", "Pneumothorax", strict=True)
    assert make_negated("Small pneumothorax.", "Pneumothorax", strict=True) != "Small pneumothorax."


def test_make_negated_when_finding_not_positive() -> None:
    # documented behaviour without strict: an uncertain finding's hedge is removed and a denial inserted; an absent
    # finding only gets the denial
    out = make_negated("Clear lungs.", "Pneumothorax", seed=0)
    assert out.startswith("Clear lungs.") or out.endswith("Clear lungs.")
    assert label_report(out).labels["Pneumothorax"] == "negative"
    hedged = make_negated("Possible pneumonia. Mild cardiomegaly.", "Pneumonia", seed=0)
    assert "Possible pneumonia" not in hedged and label_report(hedged).labels["Pneumonia"] == "negative"
    assert label_report(make_negated("", "Edema")).labels["Edema"] == "negative"
    assert label_report(make_negated("FINDINGS: IMPRESSION:", "Edema")).labels["Edema"] == "negative"


def test_make_negated_does_not_merge_into_an_unterminated_sentence() -> None:
    report = "Left lower lobe pneumonia. Heart size normal. No effusion"
    for seed in range(10):
        out = make_negated(report, "Pneumonia", seed=seed)
        assert "No effusion" in split_sentences(out)


@pytest.mark.parametrize("finding", FINDINGS)
def test_every_negative_statement_is_read_as_negative_of_only_its_finding(finding: str) -> None:
    statements = negative_statements(finding)
    assert len(statements) >= 4  # several fluent templates per finding
    for statement in statements:
        labels = label_report(statement).labels
        assert {k: v for k, v in labels.items() if k != "No Finding"} == {finding: "negative"}, statement
        assert statement[0].isupper() and statement.endswith(".")


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
    return [r.text for r in load_openi_reports()]


@pytest.mark.slow
def test_invariant_over_every_openi_report_with_a_positive_finding(openi_texts: list[str]) -> None:
    """Self-consistency only (the labeler judges the generator it is built on; the independent check is
    ``cxrvlp.text.validation`` on the hand-labelled gold reports): for every positive finding of every report, the
    labeler reads r^n as negative, r^r as not asserting it, and every other finding unchanged ("No Finding" is
    derived and may flip)."""
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
                rr.get(finding) in ("positive", "uncertain")
                or rn.get(finding) != "negative"
                or others(rr, finding) != want
                or others(rn, finding) != want
            ):
                failures.append((finding, report))
    assert pairs > 2000
    # 2,326 / 2,327 pass over the whole corpus (docs/text_engine.md); the one residue lies in a report of the gold
    # set's held-out split, which is not read while the engine is tuned, so a small residue is allowed here
    assert len(failures) <= pairs // 500, f"{len(failures)}/{pairs} failed, first: {[f for f, _ in failures[:3]]}"


def test_make_negated_device_list_agrees_with_the_nearer_noun() -> None:
    # "No X or Y is seen" takes the number of Y; "There is no X or Y" the number of X
    report = "Valve XXXX and sternotomy wires. Mild cardiomegaly."
    statements = {_new_statement(report, "Support Devices", seed) for seed in range(12)}
    assert any(" or " in st for st in statements), statements
    for st in statements:
        assert "wires is" not in st and "There are no prosthetic valve" not in st, st
