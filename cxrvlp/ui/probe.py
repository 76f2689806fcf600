"""The negation probe's table: the original report, its CXR-Align variants and the user's edits, scored and flagged.

No Streamlit here (the page renders the frame). Text embeddings go through an
:class:`~cxrvlp.analysis.projection.EmbeddingCache`, so an edit embeds one new text and the image is embedded once
per image (the page caches it), which keeps a report edit well under the 300 ms goal on CPU.

Flags (where the model prefers a wrong text):

* ``denies <F>``: the row's labels deny a finding ``F`` the original asserts (the labeler says positive in the
  original, negative in the row) and the row scores higher than the original (CXR-Align Task A for ``r^n``).
* ``r^n over r^r``: a negated variant scores higher than the variant that only omits the finding (Task B).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch

from cxrvlp.analysis.projection import EmbeddingCache
from cxrvlp.inference import Predictor
from cxrvlp.text import LabeledReport, label_report, make_negated, make_omitted

VARIANT_NAMES = {"negated": "r^n", "omitted": "r^r"}  # CXR-Align notation
COLUMNS = ["version", "kind", "finding", "text", "cosine", "softmax", "flag", "truncated"]


@dataclass(frozen=True)
class Version:
    """One text of the probe table.

    Attributes:
        name: row label ("original", "r^n Pleural Effusion", "edit 2", ...).
        kind: ``"original" | "negated" | "omitted" | "edit"``.
        finding: the finding a variant is about ("" for the original and edits).
        text: the report text.
    """

    name: str
    kind: str
    finding: str
    text: str


@functools.lru_cache(maxsize=4096)
def labels_of(text: str) -> LabeledReport:
    """:func:`cxrvlp.text.label_report`, memoised (the table re-labels the same texts on every rerun)."""
    return label_report(text)


def versions(original: str, edits: Sequence[str], *, seed: int = 0) -> list[Version]:
    """The original, ``r^n`` and ``r^r`` for each finding the original asserts, then each distinct edit."""
    rows = [Version("original", "original", "", original)]
    seen = {original}
    for finding in labels_of(original).positives():
        for kind, text in (
            ("negated", make_negated(original, finding, seed=seed)),
            ("omitted", make_omitted(original, finding)),
        ):
            if text.strip() and text not in seen:
                seen.add(text)
                rows.append(Version(f"{VARIANT_NAMES[kind]} {finding}", kind, finding, text))
    for i, text in enumerate(edits, start=1):
        if text.strip() and text not in seen:
            seen.add(text)
            rows.append(Version(f"edit {i}", "edit", "", text))
    return rows


def score_versions(
    predictor: Predictor,
    rows: Sequence[Version],
    reference: torch.Tensor,
    *,
    cache: EmbeddingCache,
) -> pd.DataFrame:
    """Score each version against ``reference`` and flag wrong preferences.

    Args:
        predictor: the loaded model.
        rows: from :func:`versions`; the first row is the original.
        reference: an L2-normalised ``[D]`` embedding (an image's, or a reference report's in text-only mode).
        cache: text-embedding cache (only texts not seen before go through the model).

    Returns:
        A DataFrame with :data:`COLUMNS`; ``softmax`` is over all rows with the model's logit scale.
    """
    texts = [r.text for r in rows]
    emb = cache.embed_texts(predictor, texts)  # (T, D)
    cos = emb @ reference.float().cpu()  # (T,)
    scale = float(predictor.model.scale().detach().float().cpu())
    probs = (cos * scale).softmax(-1)
    frame = pd.DataFrame(
        {
            "version": [r.name for r in rows],
            "kind": [r.kind for r in rows],
            "finding": [r.finding for r in rows],
            "text": texts,
            "cosine": cos.tolist(),
            "softmax": probs.tolist(),
            "flag": "",
            "truncated": predictor.truncated(texts),
        },
        columns=COLUMNS,
    )
    frame["flag"] = flags(rows, frame["cosine"].tolist())
    return frame


def flags(rows: Sequence[Version], cosine: Sequence[float]) -> list[str]:
    """Per row, why the model's preference is wrong ("" when it is not); see the module docstring."""
    asserted = labels_of(rows[0].text).positives()
    base = cosine[0]
    omitted = {r.finding: c for r, c in zip(rows, cosine, strict=True) if r.kind == "omitted"}
    out = []
    for i, (row, c) in enumerate(zip(rows, cosine, strict=True)):
        reasons = []
        if i > 0 and c > base:
            labels = labels_of(row.text).labels
            denied = [f for f in asserted if labels.get(f) == "negative"]
            if denied:
                reasons.append("denies " + ", ".join(denied) + " yet scores above the original")
        if row.kind == "negated" and row.finding in omitted and c > omitted[row.finding]:
            reasons.append("r^n over r^r")
        out.append("; ".join(reasons))
    return out
