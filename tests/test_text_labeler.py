"""CheXpert labeler: cue scopes, size mentions, No Finding rule, evidence, clinical vector, gold-set quality."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxrvlp.text import CHEXPERT_CLASSES, LabeledReport, clinical_vector, label_report
from cxrvlp.text.labeler import no_finding, positive_pathologies
from cxrvlp.text.metrics import label_scores, macro_f1, read_gold

GOLD = Path(__file__).parent / "data" / "gold_openi.csv"


def findings(text: str) -> dict[str, str]:
    return {k: v for k, v in label_report(text).labels.items() if k != "No Finding"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("No pleural effusion or pneumothorax.", {"Pleural Effusion": "negative", "Pneumothorax": "negative"}),
        ("No pneumothorax, mild cardiomegaly.", {"Pneumothorax": "negative", "Cardiomegaly": "positive"}),
        ("Cardiomegaly without pulmonary edema.", {"Cardiomegaly": "positive", "Edema": "negative"}),
        ("No edema but possible pneumonia.", {"Edema": "negative", "Pneumonia": "uncertain"}),
        ("Left basilar opacity, likely atelectasis.", {"Lung Opacity": "positive", "Atelectasis": "uncertain"}),
        ("Pneumothorax cannot be excluded.", {"Pneumothorax": "uncertain"}),
        (
            "There are no airspace opacities to suggest pneumonia.",
            {"Lung Opacity": "negative", "Pneumonia": "negative"},
        ),
        ("Opacity suggestive of pneumonia.", {"Lung Opacity": "positive", "Pneumonia": "uncertain"}),
        ("No significant change in the left pleural effusion.", {"Pleural Effusion": "positive"}),  # pseudo-trigger
        ("Atelectasis versus scarring in the left base.", {"Atelectasis": "uncertain"}),
        ("Left basilar atelectasis or infiltrate.", {"Atelectasis": "uncertain", "Lung Opacity": "uncertain"}),
        ("Consolidation or effusion is not seen.", {"Consolidation": "negative", "Pleural Effusion": "negative"}),
        ("The PICC line has been removed.", {"Support Devices": "negative"}),
        ("Interval resolution of the right lower lobe pneumonia.", {"Pneumonia": "negative"}),
        ("Heart size is normal.", {"Cardiomegaly": "negative"}),
        (
            "The heart is enlarged and the mediastinum is normal.",
            {"Cardiomegaly": "positive", "Enlarged Cardiomediastinum": "negative"},
        ),
        (
            "Normal heart size and mediastinal contours.",
            {"Cardiomegaly": "negative", "Enlarged Cardiomediastinum": "negative"},
        ),
        ("Heart size upper limits of normal.", {"Cardiomegaly": "uncertain"}),
        ("There is no enlargement of the cardiac silhouette.", {"Cardiomegaly": "negative"}),
        ("The costophrenic XXXX are blunted.", {"Pleural Effusion": "uncertain"}),
        ("Small pericardial effusion. No lytic lesion.", {}),
        ("Large left hydropneumothorax.", {"Pneumothorax": "positive", "Pleural Effusion": "positive"}),
        ("Calcified granuloma in the right upper lobe.", {}),
        # conventions of the report gold set (tests/data/gold_reports/CONVENTIONS.md)
        (
            "The cardiomediastinal silhouette is normal.",
            {"Enlarged Cardiomediastinum": "negative", "Cardiomegaly": "negative"},
        ),
        (
            "The heart, XXXX and mediastinum are within normal limits.",
            {"Cardiomegaly": "negative", "Enlarged Cardiomediastinum": "negative"},
        ),
        ("The right chest XXXX tip is visualized in the mid SVC.", {"Support Devices": "positive"}),
        ("Leads overlie the right atrium and right ventricle.", {"Support Devices": "positive"}),
        ("A large pleural air collection is present on the right.", {"Pneumothorax": "positive"}),
        ("Pulmonary vascular engorgement appears within limits of normal.", {"Edema": "negative"}),
        ("Normal pulmonary vascularity.", {}),
        ("Mild pulmonary vascular congestion.", {"Edema": "positive"}),
        ("Blunting of the left costophrenic angle.", {"Pleural Effusion": "uncertain"}),
        ("Small pneumothorax cannot be excluded.", {"Pneumothorax": "uncertain"}),
        ("Please note that fractures may not be demonstrated.", {"Fracture": "uncertain"}),
        ("The most caudal XXXX sternotomy XXXX is fractured.", {"Support Devices": "positive"}),
        ("Old healed left rib fractures.", {"Fracture": "positive"}),
        ("Calcified nodules consistent with sequela of old granulomatous infection.", {"Lung Lesion": "positive"}),
        ("Opacities are related to overlying soft tissues.", {"Lung Opacity": "negative"}),
        ("Mild prominence of the mediastinum.", {"Enlarged Cardiomediastinum": "positive"}),
        ("Left ventricular enlargement.", {"Cardiomegaly": "positive"}),
        ("Large calcified mediastinal adenopathy.", {}),
        # phrasings found in Open-I (issue 15, round 4 of the engine)
        ("Mild increased lung markings XXXX due to chronic changes.", {"Lung Opacity": "positive"}),
        ("No increased interstitial markings.", {"Lung Opacity": "negative"}),
        ("Crowded bronchovascular markings.", {}),
        ("Possible right upper lobe cavity.", {"Lung Lesion": "uncertain"}),
        ("The pleural cavity is clear.", {}),
        ("A mass density is present in the left midlung zone.", {"Lung Lesion": "positive"}),
        ("There is a prominence of the pulmonary vasculature.", {"Edema": "positive"}),
        ("Normal pulmonary vascularity.", {}),
        ("The prosthetic pulmonic valve is unchanged in position.", {"Support Devices": "positive"}),
        ("Right humeral head bone anchor.", {"Support Devices": "positive"}),
        ("TIPS noted.", {"Support Devices": "positive"}),
        ("Cardiac XXXX projects over the right ventricle.", {"Support Devices": "positive"}),
        ("Left XXXX XXXX noted with tip approximating the high SVC.", {"Support Devices": "positive"}),
        ("Scarring at the lateral costophrenic XXXX.", {"Pleural Other": "positive"}),
        (
            "Lateral view curvilinear densities over the heart suggestive of coronary artery stents.",
            {"Support Devices": "uncertain"},
        ),
        ("There is a small retrocardiac density which may be secondary to small hiatal hernia.", {}),
        (
            "Retrocardiac opacity may represent atelectasis or pneumonia.",
            {"Lung Opacity": "positive", "Atelectasis": "uncertain", "Pneumonia": "uncertain"},
        ),
        ("Stable heart size, moderately enlarged and tortuous calcified aorta.", {}),
        ("The heart is enlarged and the aorta is tortuous.", {"Cardiomegaly": "positive"}),
        ("Heart size is mildly increased.", {"Cardiomegaly": "positive"}),
        ("Fractured sternal wire.", {"Support Devices": "positive"}),
        ("The lateral most screw is fractured.", {"Support Devices": "positive"}),
        ("Broken left 5th rib.", {"Fracture": "positive"}),
        (
            "no cardiomegaly with bilateral small pleural effusions.",
            {"Cardiomegaly": "negative", "Pleural Effusion": "positive"},
        ),
        (
            "There is redemonstration without significant interval change of mild subsegmental atelectasis.",
            {"Atelectasis": "positive"},
        ),
        ("Moderate right-sided hemopneumothorax.", {"Pneumothorax": "positive", "Pleural Effusion": "positive"}),
        ("No significant interval change in the left pleural effusion.", {"Pleural Effusion": "positive"}),
        ("No other abnormality besides cardiomegaly.", {"Cardiomegaly": "positive"}),
        (
            "No pneumothorax with a right chest tube in place.",
            {"Pneumothorax": "negative", "Support Devices": "positive"},
        ),
        ("There is suggestion of a deep sulcus sign on the right.", {"Pneumothorax": "uncertain"}),
        ("Minimal fluid within the right horizontal fissure.", {"Pleural Effusion": "positive"}),
        (
            "Normal heart size, mediastinal and aortic contours.",
            {"Cardiomegaly": "negative", "Enlarged Cardiomediastinum": "negative"},
        ),
        ("Stable enlargement of the cardiac silhouette, stable mediastinal contours.", {"Cardiomegaly": "positive"}),
        ("The left costophrenic XXXX is clear.", {"Pleural Effusion": "negative"}),
        ("The costophrenic angles are sharp.", {"Pleural Effusion": "negative"}),
        # devices named only by their kind or with the device word hidden by XXXX
        ("Incidental note of bilateral breast implants.", {"Support Devices": "positive"}),
        ("Partially visualized lower cervical spine fusion XXXX.", {"Support Devices": "positive"}),
        ("Valve XXXX and sternotomy wires.", {"Support Devices": "positive"}),
        # vascular enlargement / engorgement is Edema; its denial too
        ("Pulmonary vasculature is persistently enlarged.", {"Edema": "positive"}),
        ("Pulmonary XXXX are engorged.", {"Edema": "positive"}),
        ("Central pulmonary vasculature is not engorged.", {"Edema": "negative"}),
        ("Prominent interstitium is stable.", {"Lung Opacity": "positive"}),
        ("There is stable prominence of the pulmonary interstitium.", {"Lung Opacity": "positive"}),
        ("Stable left upper lobe aspergilloma.", {"Lung Lesion": "positive"}),
        ("Thickening of the right minor fissure.", {"Pleural Other": "positive"}),
        # "not seen on prior" compares; it does not deny the finding
        ("Left midlung opacity noted, not visualized on prior.", {"Lung Opacity": "positive"}),
        ("Previously seen right pneumothorax is not visualized on today's exam.", {"Pneumothorax": "negative"}),
        # outside the lung / not the class
        ("Redemonstration of right chest wall mass compatible with known breast carcinoma.", {}),
        ("XXXX density foreign body present in the soft tissues overlying the left chest wall.", {}),
        (
            "Tubular densities overlying the heart XXXX are XXXX coronary artery stents.",
            {"Support Devices": "positive"},
        ),
        ("Sternotomy wires with fracture of the superior-most sternotomy XXXX.", {"Support Devices": "positive"}),
        ("The mediastinal and hilar lymph XXXX are less prominent than previously.", {}),
        ("Stable left thoracotomy changes with left-sided volume loss.", {}),
        ("No change right upper lobe volume loss and fibrosis.", {}),
        ("Right lower lobe volume loss.", {}),  # the report gold set's readers never label volume loss
        # hedges: slash alternatives, "XXXX" hiding "likely" / "upper limits"
        (
            "Left upper lobe atelectasis / infiltrate, unchanged.",
            {"Atelectasis": "uncertain", "Lung Opacity": "uncertain"},
        ),
        ("Minimal left basilar scarring/atelectasis.", {"Atelectasis": "uncertain"}),
        ("Right apical pleural scarring/thickening.", {"Pleural Other": "positive"}),
        ("Small left pleural effusion/hemothorax.", {"Pleural Effusion": "positive"}),
        # the slash hedges the two words it joins, not a finding further on
        ("Right apical thickening/atelectasis with right lower lobe collapse.", {"Atelectasis": "positive"}),
        ("Mild bibasilar opacities, XXXX atelectasis.", {"Lung Opacity": "positive", "Atelectasis": "uncertain"}),
        ("Patchy retrocardiac opacity XXXX atelectasis.", {"Lung Opacity": "positive", "Atelectasis": "uncertain"}),
        ("There is XXXX XXXX atelectasis.", {"Atelectasis": "positive"}),
        ("The cardiac silhouette is of the XXXX of normal.", {"Cardiomegaly": "uncertain"}),
        # round 7 (dev): a density outside the lung, or explained as a structure, names no lung finding
        ("Small density within the subcutaneous fat represents a bullet fragment.", {}),
        ("There is a round density in the AP window.", {}),
        ("Lobulated anterior mediastinal opacity.", {}),
        ("Retrocardiac density corresponds to the patient's known hiatal hernia.", {}),
        ("Nodular densities over the 9th ribs are consistent with nipple shadows.", {}),
        ("Nodular densities consistent with chronic granulomatous disease.", {"Lung Lesion": "positive"}),
        ("Rounded calcified density in the left lung base, XXXX calcified granuloma.", {}),
        ("Retrocardiac density in the left lower lobe.", {"Lung Opacity": "positive"}),
        ("Findings suggest infectious or reactive small airways disease.", {}),
        ("Chronic bibasilar pleural abnormality.", {"Pleural Other": "positive"}),
        ("Postoperative changes of mitral valve surgery.", {"Support Devices": "positive"}),
        ("Minimal interstitial nodular opacities.", {"Lung Opacity": "positive", "Lung Lesion": "positive"}),
        ("Findings consistent with interstitial lung disease.", {}),
        # round 8 (dev)
        (
            "Slight cardiomegaly with no failure or pneumonia.",
            {"Cardiomegaly": "positive", "Edema": "negative", "Pneumonia": "negative"},
        ),
        ("Central vascular markings are mildly prominent.", {"Edema": "positive"}),
        ("Marked increase in heart size.", {"Cardiomegaly": "positive"}),
        (
            "Mild blunting of the right costophrenic angle, without definite pleural effusion.",
            {"Pleural Effusion": "negative"},
        ),
        ("Mild blunting of the right costophrenic angle.", {"Pleural Effusion": "uncertain"}),
        ("The nodule in the right lower lung is not well-seen on today's study.", {"Lung Lesion": "negative"}),
        ("Ovoid opacity on the AP view, not well-seen on the lateral view.", {"Lung Opacity": "positive"}),
        ("Calcified lymph nodes suggesting prior histoplasmosis infection.", {}),
        (
            "Prominence of the superior mediastinum may be due to the known thyroid mass.",
            {"Enlarged Cardiomediastinum": "positive"},
        ),
        ("Cervical spinal fusion, XXXX intact without complicating features.", {"Support Devices": "positive"}),
        # round 9 (dev)
        ("Abnormal configuration of the heart and mediastinum.", {}),
        ("Abnormal enlargement of the heart.", {"Cardiomegaly": "positive"}),
        ("XXXX anchors over the left humeral head.", {"Support Devices": "positive"}),
        ("Right apical pleural retraction.", {"Pleural Other": "positive"}),
        ("Scarring left costophrenic XXXX, unchanged.", {"Pleural Other": "positive"}),
        ("There is a stable appearing left-sided XXXX.", {"Support Devices": "positive"}),
        ("Nodular opacity may represent overlying telemetry leads.", {"Support Devices": "uncertain"}),
        ("Expansile lesion of the right posterior 9th rib.", {}),
        ("Lesion in the right upper lobe.", {"Lung Lesion": "positive"}),
        ("Nodular density over the left 4th rib XXXX represents a healing rib fracture.", {"Fracture": "uncertain"}),
        ("Nodular density on the PA view XXXX represents an artifact.", {}),
    ],
)
def test_label_examples(text: str, expected: dict[str, str]) -> None:
    assert findings(text) == expected


def test_no_finding_rule() -> None:
    assert label_report("Lungs are clear. No pneumothorax.").labels["No Finding"] == "positive"
    assert label_report("Pacemaker in place. Clear lungs.").labels["No Finding"] == "positive"
    assert label_report("Possible small effusion.").labels["No Finding"] == "negative"
    assert label_report("Mild cardiomegaly.").labels["No Finding"] == "negative"
    assert no_finding({}) == "positive"


def test_empty_and_headers_only_have_no_labels() -> None:
    assert label_report("").labels == {}
    assert label_report("FINDINGS: IMPRESSION:").labels == {}
    assert label_report("...").labels == {}


def test_only_findings_and_impression_are_read() -> None:
    labels = label_report("INDICATION: r/o pneumonia. FINDINGS: Lungs are clear.").labels
    assert labels == {"No Finding": "positive"}


def test_evidence_spans_point_into_text() -> None:
    text = "FINDINGS: Heart size normal. There is no pleural effusion. Small left apical pneumothorax."
    lr = label_report(text)
    words = {cls: [text[a:b].lower() for a, b in spans] for cls, spans in lr.evidence.items()}
    assert words["Pneumothorax"] == ["pneumothorax"]
    assert words["Pleural Effusion"] == ["no", "pleural effusion"]
    assert words["Cardiomegaly"] == ["heart size", "normal"]
    assert words["No Finding"] == []
    assert list(lr.labels) == [c for c in CHEXPERT_CLASSES if c in lr.labels]


def test_positives_order_and_exclusion() -> None:
    lr = label_report("Pleural effusion. Cardiomegaly. Pacemaker. Possible pneumonia.")
    assert lr.positives() == ["Cardiomegaly", "Pleural Effusion", "Support Devices"]
    assert LabeledReport("", {"No Finding": "positive"}, {}).positives() == []


def test_clinical_vector_encoding() -> None:
    vec = clinical_vector({"Cardiomegaly": "positive", "Pneumonia": "uncertain", "Edema": "negative"})
    assert len(vec) == 14
    assert vec[CHEXPERT_CLASSES.index("Cardiomegaly")] == 1.0
    assert vec[CHEXPERT_CLASSES.index("Pneumonia")] == 0.5
    assert vec[CHEXPERT_CLASSES.index("Edema")] == 0.0
    assert vec[0] == 0.0  # No Finding recomputed: abnormal
    assert clinical_vector({}) == [1.0] + [0.0] * 13  # never all-zero
    assert clinical_vector({"No Finding": "negative", "Edema": "negative"})[0] == 1.0
    assert clinical_vector({"Support Devices": "positive"})[0] == 1.0


def test_clinical_vector_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="valid names: No Finding, Enlarged Cardiomediastinum"):
        clinical_vector({"Effusion": "positive"})
    with pytest.raises(ValueError, match="polarity"):
        clinical_vector({"Edema": "maybe"})


def _gold(split: str | None = None) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    rows = read_gold(GOLD, split=split)
    return [g for _, g in rows], [label_report(s).labels for s, _ in rows]


def test_gold_set_is_real_and_large_enough() -> None:
    gold, _ = _gold()
    assert len(gold) >= 200
    assert sum(len(g) > 1 for g in gold) >= 150  # sentences mentioning at least one finding


@pytest.mark.parametrize(("split", "floor"), [(None, 0.95), ("test", 0.95)])
def test_gold_set_macro_f1(split: str | None, floor: float) -> None:
    scores = label_scores(*_gold(split))
    assert macro_f1(scores) >= floor, {k: round(v.f1, 3) for k, v in scores.items()}


def test_label_scores_hand_computed() -> None:
    gold = [{"Edema": "positive"}, {"Edema": "negative"}, {}]
    pred = [{"Edema": "positive"}, {"Edema": "positive"}, {"Edema": "negative"}]
    s = label_scores(gold, pred)["Edema"]
    assert (s.precision, s.recall, s.support) == (1 / 3, 1 / 2, 2)
    assert s.f1 == pytest.approx(0.4)


def test_positive_pathologies_skip_no_finding_and_support_devices() -> None:
    labels = {"No Finding": "positive", "Support Devices": "positive", "Edema": "uncertain", "Pneumothorax": "positive"}
    assert positive_pathologies(labels) == ["Pneumothorax"]
    assert positive_pathologies({"Pneumothorax": "positive", "Atelectasis": "positive"}) == [
        "Atelectasis",
        "Pneumothorax",
    ]
    assert positive_pathologies({}) == []
