"""The negation probe's table: the original report, its CXR-Align variants and the user's edits, scored and flagged.

The Negation probe page renders the frame. Text embeddings go through an
:class:`~cxrvlp.analysis.projection.EmbeddingCache`, so an edit embeds one new text and the image is embedded once
per image (the page caches it), which keeps a report edit well under the 300 ms goal on CPU.

Flags (where the model prefers a wrong text):

* ``denies <F>``: the row's labels deny a finding ``F`` the original asserts (the labeler says positive in the
  original, negative in the row) and the row scores higher than the original (CXR-Align Task A for ``r^n``).
* ``asserts <F>``: the other direction, as wrong: the row asserts a finding the original denies (say the report
  with its negations removed) and scores higher than the original.
* ``r^n over r^r``: a negated variant scores higher than the variant that only omits the finding (Task B).

With the reference set's embeddings (:mod:`cxrvlp.analysis.reference`), each flag also says whether the wrong
preference is this image's or a text prior: ``[text prior: 47/48 reference images too]`` when at least
:data:`~cxrvlp.analysis.reference.PRIOR_SHARE` of the reference X-rays share it, else ``[this image: 3/48
reference images]``; the columns ``reference`` (how many reference images prefer the original over the row) and
``evidence`` hold the same for every row.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import pandas as pd
import torch

from cxrvlp.analysis.projection import EmbeddingCache
from cxrvlp.analysis.reference import PRIOR_SHARE
from cxrvlp.models import ClipModel
from cxrvlp.text import LabeledReport, label_report, make_negated, make_omitted
from cxrvlp.types import ProgressFn

VARIANT_NAMES = {"negated": "r^n", "omitted": "r^r"}  # CXR-Align notation
COLUMNS = ["version", "kind", "finding", "text", "cosine", "softmax", "flag", "reference", "evidence", "truncated"]


class TextScorer(Protocol):
    """What :func:`score_versions` needs of a loaded model (``cxrvlp.inference.Predictor`` is one)."""

    model: ClipModel
    spec: str

    def embed_texts(
        self, texts: Sequence[str], *, batch_size: int = 64, on_progress: ProgressFn | None = None
    ) -> torch.Tensor: ...

    def truncated(self, texts: Sequence[str]) -> list[bool]: ...


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
    predictor: TextScorer,
    rows: Sequence[Version],
    reference: torch.Tensor,
    *,
    cache: EmbeddingCache,
    ref_embeddings: torch.Tensor | None = None,
    prior_share: float = PRIOR_SHARE,
) -> pd.DataFrame:
    """Score each version against ``reference`` and flag wrong preferences.

    Args:
        predictor: the loaded model (a ``Predictor``).
        rows: from :func:`versions`; the first row is the original.
        reference: an L2-normalised ``[D]`` embedding (an image's, or a reference report's in text-only mode).
        cache: text-embedding cache (only texts not seen before go through the model).
        ref_embeddings: ``[N, D]`` embeddings of the reference X-rays; with them, ``reference`` / ``evidence``
            are filled and each flag says whether it is this image's preference or a text prior.
        prior_share: see :data:`~cxrvlp.analysis.reference.PRIOR_SHARE`.

    Returns:
        A DataFrame with :data:`COLUMNS`; ``softmax`` is over all rows with the model's logit scale.
    """
    texts = [r.text for r in rows]
    emb = cache.embed_texts(predictor, texts)  # (T, D)
    cos = emb @ reference.float().cpu()  # (T,)
    ref_cos = None  # (N, T); numpy for the tiny product (torch's thread pool costs tens of ms on a busy CPU)
    if ref_embeddings is not None:
        ref_cos = torch.from_numpy(ref_embeddings.float().cpu().numpy() @ emb.float().cpu().numpy().T)
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
            "reference": "",
            "evidence": "",
            "truncated": predictor.truncated(texts),
        },
        columns=COLUMNS,
    )
    frame["flag"] = flags(rows, frame["cosine"].tolist(), ref_cos, prior_share=prior_share)
    if ref_cos is not None:
        n = ref_cos.shape[0]
        for i in range(1, len(rows)):
            image_prefers = bool(cos[0] > cos[i])
            prefer = int((ref_cos[:, 0] > ref_cos[:, i]).sum())
            same = prefer if image_prefers else n - prefer
            frame.loc[i, "reference"] = f"{prefer}/{n}"
            frame.loc[i, "evidence"] = "text prior" if same >= prior_share * n else "this image"
    return frame


def _evidence(ref_wrong: torch.Tensor, prior_share: float) -> str:
    """`` [text prior: k/N reference images too]`` or `` [this image: k/N reference images]`` for a wrong
    preference of this image (``ref_wrong``: per reference image whether it shares it)."""
    n, k = len(ref_wrong), int(ref_wrong.sum())
    if n == 0:
        return ""
    if k >= prior_share * n:
        return f" [text prior: {k}/{n} reference images too]"
    return f" [this image: {k}/{n} reference images]"


def flags(
    rows: Sequence[Version],
    cosine: Sequence[float],
    ref_cos: torch.Tensor | None = None,
    *,
    prior_share: float = PRIOR_SHARE,
) -> list[str]:
    """Per row, why the model's preference is wrong ("" when it is not); see the module docstring.

    Args:
        rows: the versions, the original first.
        cosine: per row its similarity to the image.
        ref_cos: ``[N, T]`` similarities of each reference image to each row; with it every reason says whether
            the reference images share the wrong preference (a text prior) or not (this image's).
    """
    original = labels_of(rows[0].text)
    asserted = original.positives()
    denied_by_original = [f for f, v in original.labels.items() if v == "negative" and f != "No Finding"]
    base = cosine[0]
    omitted = {r.finding: i for i, r in enumerate(rows) if r.kind == "omitted"}
    out = []
    for i, (row, c) in enumerate(zip(rows, cosine, strict=True)):
        reasons = []
        if i > 0 and c > base:
            labels = labels_of(row.text).labels
            denied = [f for f in asserted if labels.get(f) == "negative"]
            added = [f for f in denied_by_original if labels.get(f) == "positive"]
            why = ""
            if ref_cos is not None:
                why = _evidence(ref_cos[:, i] > ref_cos[:, 0], prior_share)
            if denied:
                reasons.append("denies " + ", ".join(denied) + " yet scores above the original" + why)
            if added:
                reasons.append(
                    "asserts " + ", ".join(added) + f" (the original denies {'it' if len(added) == 1 else 'them'})"
                    " yet scores above the original" + why
                )
        if row.kind == "negated" and row.finding in omitted and c > cosine[omitted[row.finding]]:
            j = omitted[row.finding]
            why = "" if ref_cos is None else _evidence(ref_cos[:, i] > ref_cos[:, j], prior_share)
            reasons.append("r^n over r^r" + why)
        out.append("; ".join(reasons))
    return out
