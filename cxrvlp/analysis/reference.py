"""Image evidence or text prior? Score every report version against a bundled set of real reference X-rays.

The probe says "the model prefers the report r over its negation r^n for this image". That is only image evidence
when the preference depends on the image: a model that reads the text alone prefers r for *every* image. So each
version is also scored against the reference set (:data:`REFERENCE_DIR`: 48 real NIH ChestX-ray14 test images with
their labels), and for each comparison "original vs version" we count how many reference images share this image's
preference:

* shared by at least ``prior_share`` (default 90%) of the reference images: **a text prior, not image evidence**
  ("prefers r over r^n for this image and for 47 of 48 reference images");
* otherwise: **this image moves the preference** (the model answers differently for other X-rays).

Where the reference labels cover the version's finding (a CheXpert class that an NIH label maps to, see
:data:`cxrvlp.data.compose.NIH_FINDINGS`), the counts are also split into reference images with and without the
finding: a model that reads the image prefers "There is F." on the images that have F and not on the others.

Fast by construction: the reference image embeddings are computed once per model (the app caches them); scoring a
new edit is one text embedding and one ``[N, D] @ [D]`` product.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "assets" / "reference"
"""The bundled reference set: ``manifest.json`` + ``images/*.jpg`` (see its README.md for the acknowledgement)."""
PRIOR_SHARE = 0.9
"""A preference shared by at least this fraction of the reference images is called a text prior."""


@dataclass(frozen=True)
class ReferenceSet:
    """Reference images and their NIH labels.

    Attributes:
        paths: image files.
        labels: per image its NIH ChestX-ray14 labels (``("No Finding",)`` for a normal study).
    """

    paths: tuple[Path, ...]
    labels: tuple[tuple[str, ...], ...]

    @classmethod
    def load(cls, directory: str | Path = REFERENCE_DIR) -> ReferenceSet:
        """Read ``directory/manifest.json`` (written by ``scripts/build_reference_set.py``)."""
        directory = Path(directory)
        manifest = json.loads((directory / "manifest.json").read_text())
        entries = manifest["images"]
        return cls(
            paths=tuple(directory / e["file"] for e in entries),
            labels=tuple(tuple(e["labels"]) for e in entries),
        )

    def __len__(self) -> int:
        return len(self.paths)

    @cached_property
    def classes(self) -> tuple[frozenset[str], ...]:
        """Per image the CheXpert classes its NIH labels map to (``"No Finding"`` included)."""
        from cxrvlp.data.compose import chexpert_class

        out = []
        for labels in self.labels:
            cls = {c for x in labels if (c := chexpert_class(x))}
            if "No Finding" in labels:
                cls.add("No Finding")
            out.append(frozenset(cls))
        return tuple(out)

    def has(self, finding: str) -> list[bool] | None:
        """Per image whether it has ``finding`` (a CheXpert class); None when no NIH label maps to that class
        (the reference labels cannot say whether it is present)."""
        from cxrvlp.data.compose import NIH_CLASSES

        if finding not in NIH_CLASSES:
            return None
        return [finding in c for c in self.classes]


def without(
    reference: ReferenceSet, ref_embeddings: torch.Tensor, drop: Sequence[int]
) -> tuple[ReferenceSet, torch.Tensor]:
    """The reference set and its embeddings without the films at indices ``drop`` (the app drops the film the user
    is probing, so it is not counted as agreeing with itself)."""
    drop_set = set(drop)
    idx = [i for i in range(len(reference)) if i not in drop_set]
    subset = ReferenceSet(paths=tuple(reference.paths[i] for i in idx), labels=tuple(reference.labels[i] for i in idx))
    return subset, ref_embeddings[idx]


def reference_embeddings(predictor: Any, reference: ReferenceSet, *, batch_size: int = 16) -> torch.Tensor:
    """L2-normalised ``[N, D]`` image embeddings of the reference set (cache them per model: this is the slow part)."""
    return predictor.embed_images(list(reference.paths), batch_size=batch_size)


@dataclass(frozen=True)
class Comparison:
    """One "original vs version" comparison, for this image and over the reference set.

    Attributes:
        version: the version's row name (``"r^n Pleural Effusion"``, ``"edit 2"``, ...).
        finding: the finding it is about ("" for edits).
        image_margin: ``cos(image, original) − cos(image, version)`` (> 0: this image prefers the original).
        reference_margins: the same margin for each reference image.
        same: how many reference images share this image's preference (same sign of the margin).
        with_finding: ``(prefer the original, images)`` among reference images that have the finding; None when the
            reference labels do not cover it.
        without_finding: the same among reference images without the finding.
        prior_share: threshold of :attr:`is_prior`.
    """

    version: str
    finding: str
    image_margin: float
    reference_margins: tuple[float, ...]
    same: int
    with_finding: tuple[int, int] | None
    without_finding: tuple[int, int] | None
    prior_share: float = PRIOR_SHARE

    @property
    def n(self) -> int:
        return len(self.reference_margins)

    @property
    def prefers_original(self) -> bool:
        return self.image_margin > 0

    @property
    def is_prior(self) -> bool:
        """This image's preference is shared by at least ``prior_share`` of the reference images."""
        return self.n > 0 and self.same >= self.prior_share * self.n

    @property
    def rank(self) -> int:
        """Rank of this image's margin among the reference margins (1 = the original's strongest lead)."""
        return 1 + sum(m > self.image_margin for m in self.reference_margins)

    @property
    def evidence(self) -> str:
        """``"text prior"`` or ``"this image"``."""
        return "text prior" if self.is_prior else "this image"

    def sentence(self, name: str = "") -> str:
        """The plain-language verdict, e.g. "prefers r over r^n for this image and for 47 of 48 reference images:
        a text prior, not image evidence"."""
        version = name or self.version
        a, b = ("r", version) if self.prefers_original else (version, "r")
        if self.is_prior:
            text = (
                f"prefers {a} over {b} for this image and for {self.same} of {self.n} reference images: "
                "a text prior, not image evidence"
            )
        else:
            text = (
                f"prefers {a} over {b} for this image but only {self.same} of {self.n} reference images do: "
                "this image moves the preference"
            )
        if self.with_finding and self.without_finding:
            (pw, nw), (po, no) = self.with_finding, self.without_finding
            text += f" (reference images prefer r on {pw} of {nw} with {self.finding} and {po} of {no} without it)"
        return text


def _np(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """float32 numpy: these products are tiny, and numpy does them without torch's thread pool (~0.1 ms vs tens
    of ms for torch on a busy CPU)."""
    return x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)


def compare(
    names: Sequence[str],
    findings: Sequence[str],
    text_embeddings: torch.Tensor,
    image_embedding: torch.Tensor,
    ref_embeddings: torch.Tensor,
    *,
    reference: ReferenceSet | None = None,
    prior_share: float = PRIOR_SHARE,
) -> list[Comparison]:
    """Compare the first text (the original) with each other one, for this image and every reference image.

    Args:
        names: row names, the original first.
        findings: per row the finding it is about ("" when none).
        text_embeddings: ``[T, D]`` L2-normalised, the original first.
        image_embedding: ``[D]``, this image.
        ref_embeddings: ``[N, D]``, the reference images (:func:`reference_embeddings`).
        reference: the labels of the reference images, for the with / without split (None: no split).
        prior_share: see :data:`PRIOR_SHARE`.

    Returns:
        One :class:`Comparison` per row after the first.
    """
    texts, image, refs = _np(text_embeddings), _np(image_embedding), _np(ref_embeddings)
    image_cos = texts @ image  # (T,)
    ref_cos = refs @ texts.T  # (N, T)
    out = []
    for j in range(1, len(names)):
        m_image = float(image_cos[0] - image_cos[j])
        m_ref = (ref_cos[:, 0] - ref_cos[:, j]).tolist()
        same = sum((m > 0) == (m_image > 0) for m in m_ref)
        with_f = without_f = None
        has = reference.has(findings[j]) if reference is not None and findings[j] else None
        if has is not None:
            with_m = [m for m, h in zip(m_ref, has, strict=True) if h]
            without_m = [m for m, h in zip(m_ref, has, strict=True) if not h]
            with_f = (sum(m > 0 for m in with_m), len(with_m))
            without_f = (sum(m > 0 for m in without_m), len(without_m))
        out.append(
            Comparison(
                version=names[j],
                finding=findings[j],
                image_margin=m_image,
                reference_margins=tuple(m_ref),
                same=same,
                with_finding=with_f,
                without_finding=without_f,
                prior_share=prior_share,
            )
        )
    return out


def reference_scores(
    names: Sequence[str],
    findings: Sequence[str],
    text_embeddings: torch.Tensor,
    image_embedding: torch.Tensor,
    ref_embeddings: torch.Tensor,
    *,
    reference: ReferenceSet | None = None,
) -> Any:
    """Long table for the reference panel: per version one row per reference image and one for this image.

    Columns: ``version``, ``cosine``, ``source`` (``"reference"`` | ``"this image"``), ``group`` (``"this image"``,
    ``"reference with F"``, ``"reference without F"``, or ``"reference"`` where the labels do not cover the
    version's finding), ``image`` (file name), ``labels`` (NIH labels) and, on this image's rows, ``rank`` (1 = the
    highest cosine among this image and the reference images).
    """
    import pandas as pd

    texts = _np(text_embeddings)
    image_cos = (texts @ _np(image_embedding)).tolist()
    ref_cos = (_np(ref_embeddings) @ texts.T).T.tolist()  # (T, N)
    rows = []
    for i, name in enumerate(names):
        has = reference.has(findings[i]) if reference is not None and findings[i] else None
        for k, c in enumerate(ref_cos[i]):
            group = "reference" if has is None else ("reference with " if has[k] else "reference without ")
            rows.append(
                {
                    "version": name,
                    "cosine": c,
                    "source": "reference",
                    "group": group if has is None else group + findings[i],
                    "image": reference.paths[k].name if reference is not None else str(k),
                    "labels": ", ".join(reference.labels[k]) if reference is not None else "",
                    "rank": None,
                }
            )
        rows.append(
            {
                "version": name,
                "cosine": image_cos[i],
                "source": "this image",
                "group": "this image",
                "image": "this image",
                "labels": "",
                "rank": 1 + sum(c > image_cos[i] for c in ref_cos[i]),
            }
        )
    return pd.DataFrame(rows)
