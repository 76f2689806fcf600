"""Zero-shot and negation prompt ensembles per finding (CheXpert-14 and NIH ChestX-ray14 names).

``positive_prompts(f)`` describe a study showing ``f``; ``negative_prompts(f)`` describe one without it. "No
Finding" is the exception: its positive prompts describe a normal study and its negative prompts an abnormal one
(never "no no finding"). Prompts are data: the phrase of each finding and the templates below.
"""

from __future__ import annotations

from cxrvlp.types import CHEXPERT_CLASSES, UserError

FINDING_PHRASES: dict[str, str] = {
    "Enlarged Cardiomediastinum": "enlarged cardiomediastinum",
    "Cardiomegaly": "cardiomegaly",
    "Lung Opacity": "lung opacity",
    "Lung Lesion": "lung lesion",
    "Edema": "pulmonary edema",
    "Consolidation": "consolidation",
    "Pneumonia": "pneumonia",
    "Atelectasis": "atelectasis",
    "Pneumothorax": "pneumothorax",
    "Pleural Effusion": "pleural effusion",
    "Pleural Other": "pleural thickening",
    "Fracture": "fracture",
    "Support Devices": "support devices",
    # NIH ChestX-ray14 names not spelled as a CheXpert class
    "Effusion": "pleural effusion",
    "Infiltration": "infiltration",
    "Mass": "lung mass",
    "Nodule": "lung nodule",
    "Emphysema": "emphysema",
    "Fibrosis": "pulmonary fibrosis",
    "Pleural_Thickening": "pleural thickening",
    "Hernia": "hiatal hernia",
}
"""How each finding is written inside a prompt."""

POSITIVE_TEMPLATES: tuple[str, ...] = (
    "{f}.",
    "There is {f}.",
    "Findings consistent with {f}.",
    "Chest x-ray showing {f}.",
    "{F} is present.",
)
NEGATIVE_TEMPLATES: tuple[str, ...] = (
    "No {f}.",
    "There is no {f}.",
    "No evidence of {f}.",
    "Chest x-ray without {f}.",
    "{F} is not present.",
)
NORMAL_PROMPTS: tuple[str, ...] = (
    "No acute cardiopulmonary abnormality.",
    "Normal chest x-ray.",
    "The lungs are clear.",
    "No acute cardiopulmonary process.",
    "The heart size is normal and the lungs are clear.",
)
ABNORMAL_PROMPTS: tuple[str, ...] = (
    "Acute cardiopulmonary abnormality.",
    "Abnormal chest x-ray.",
    "The lungs are not clear.",
    "There are abnormal findings in the chest.",
    "Findings of acute cardiopulmonary disease.",
)

NO_FINDING_NAMES = ("No Finding",)
VALID_NAMES: tuple[str, ...] = tuple(dict.fromkeys([*CHEXPERT_CLASSES, *FINDING_PHRASES]))


_BY_KEY = {name.lower().replace("_", " "): name for name in FINDING_PHRASES}


def _phrase(finding: str) -> str:
    """Phrase of a finding; names match ignoring case and ``_`` vs space (NIH writes ``Pleural_Thickening``)."""
    if finding in NO_FINDING_NAMES:
        return ""
    try:
        return FINDING_PHRASES[_BY_KEY.get(finding.strip().lower().replace("_", " "), finding)]
    except KeyError:
        raise UserError(f"unknown finding {finding!r}; valid names: {', '.join(VALID_NAMES)}") from None


def _fill(templates: tuple[str, ...], phrase: str) -> list[str]:
    out = []
    for t in templates:
        text = t.format(f=phrase, F=phrase[0].upper() + phrase[1:])
        out.append(text[0].upper() + text[1:])
    return out


def positive_prompts(finding: str) -> list[str]:
    """Prompts describing a study that shows ``finding`` ("No Finding": a normal study).

    Raises:
        ValueError: unknown name (the message lists the valid ones).
    """
    phrase = _phrase(finding)
    return list(NORMAL_PROMPTS) if not phrase else _fill(POSITIVE_TEMPLATES, phrase)


def negative_prompts(finding: str) -> list[str]:
    """Prompts describing a study without ``finding`` ("No Finding": an abnormal study).

    Raises:
        ValueError: unknown name (the message lists the valid ones).
    """
    phrase = _phrase(finding)
    return list(ABNORMAL_PROMPTS) if not phrase else _fill(NEGATIVE_TEMPLATES, phrase)
