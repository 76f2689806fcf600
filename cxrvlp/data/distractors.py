"""CoN-CLIP distractor images: for each sample, another image of the same dataset that its negated report describes.

CoN-CLIP (Singh et al.) pairs every negated caption ``r^n`` with a *distractor image*: an image consistent with
``r^n``. With our hard negatives (:mod:`cxrvlp.data.preprocess`), ``r^n`` of an abnormal report denies one of its
positive findings and keeps the others; ``r^n`` of a normal report is another report with one positive finding. So,
from the report's and the hard negative's clinical vectors:

* ``denied`` = classes positive in ``r`` and negative in ``r^n`` (the negated finding);
* ``asserted`` = classes positive (or uncertain) in ``r^n`` ("No Finding" and "Support Devices" left out).

A distractor for sample ``i`` is an image ``j != i`` whose *dataset labels* (not the text labeler's reading of its
report) contain none of ``denied``; among those, the ones sharing the most of ``asserted``, then with the fewest
other findings, form the best tier, and one of them is drawn with the sample's seed. Samples with no admissible
image are dropped by the dataset (logged). In a manifest that joins several collections (its ``dataset``
column), a distractor comes from the sample's own collection only: an image from another collection would differ
by its source (scanner, preprocessing), a shortcut the model could learn instead of the finding. Image labels are
the manifest's ``labels`` column (``;``-separated), NIH ChestX-ray14 names mapped to CheXpert classes as in
:data:`cxrvlp.data.compose.NIH_FINDINGS` and the COVID-19 collection's as in
:data:`cxrvlp.data.compose.COVID_FINDINGS` (``COVID-19`` is a Pneumonia); names with no CheXpert class (e.g.
``Emphysema``) are kept as they are and count as "other findings".

The cost is one pass per distinct ``(denied, asserted)`` signature over the distinct label sets of the images, so
it stays small for large datasets.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from cxrvlp.types import CHEXPERT_CLASSES

IGNORED = frozenset({"No Finding", "Support Devices"})
NO_LABEL = ("", "No Finding")


class MissingLabelsError(ValueError):
    """CON2 distractors were asked for on data whose images carry no labels."""


def image_label_set(labels: str) -> frozenset[str]:
    """A manifest ``labels`` string (``"Effusion;Mass"``) -> CheXpert classes (other names kept as they are)."""
    from cxrvlp.data.compose import chexpert_class

    out = set()
    for name in (n.strip() for n in labels.split(";")):
        if name in NO_LABEL:
            continue
        out.add(chexpert_class(name) or name)
    return frozenset(out - IGNORED)


def report_sets(labels: Sequence[float], hardneg_labels: Sequence[float]) -> tuple[frozenset[str], frozenset[str]]:
    """``(denied, asserted)`` of a report and its hard negative from their clinical vectors (CheXpert order)."""
    pos = {c for c, v in zip(CHEXPERT_CLASSES, labels, strict=True) if v >= 1.0}
    neg_pos = {c for c, v in zip(CHEXPERT_CLASSES, hardneg_labels, strict=True) if v > 0.0}
    return frozenset(pos - neg_pos - IGNORED), frozenset(neg_pos - IGNORED)


Signature = tuple[frozenset[str], frozenset[str]]
"""``(denied, asserted)`` of a report and its hard negative."""


class DistractorPool:
    """Draws distractor images from a set of labelled candidate images (a split's records).

    Args:
        labels: per candidate image, its label set (:func:`image_label_set`); ``None`` = unlabelled (never drawn).
        datasets: per candidate image, its collection (default: all one collection); a draw for a sample of
            collection ``d`` only considers candidates of ``d``.

    Raises:
        MissingLabelsError: no candidate has labels.
    """

    def __init__(self, labels: Sequence[frozenset[str] | None], datasets: Sequence[str] | None = None) -> None:
        if not any(lbl is not None for lbl in labels):
            raise MissingLabelsError("no image has labels")
        if datasets is not None and len(datasets) != len(labels):
            raise ValueError(f"{len(datasets)} dataset names for {len(labels)} candidates")
        groups: dict[tuple[str, frozenset[str]], list[int]] = {}
        for i, lbl in enumerate(labels):
            if lbl is not None:
                groups.setdefault((datasets[i] if datasets is not None else "", lbl), []).append(i)
        self._groups = groups
        self._tiers: dict[tuple[Signature, str], list[int]] = {}

    def _best(self, signature: Signature, exclude: int | None, dataset: str) -> list[int]:
        denied, asserted = signature
        best, tier = None, []
        for (group, labels), items in self._groups.items():
            items = [j for j in items if j != exclude]
            if group != dataset or not items or labels & denied:
                continue
            key = (-len(labels & asserted), len(labels - asserted))
            if best is None or key < best:
                best, tier = key, items
            elif key == best:
                tier = tier + items
        return sorted(tier)

    def candidates(self, signature: Signature, exclude: int | None = None, dataset: str = "") -> list[int]:
        """The best tier of admissible candidates of collection ``dataset`` for a sample with ``signature``;
        ``exclude``: the sample's own image (a candidate index), never its own distractor."""
        key = (signature, dataset)
        if key not in self._tiers:
            self._tiers[key] = self._best(signature, None, dataset)
        tier = self._tiers[key]
        if exclude is None or exclude not in tier:
            return tier
        return [j for j in tier if j != exclude] or self._best(signature, exclude, dataset)

    def draw(self, signature: Signature, seed: int, exclude: int | None = None, dataset: str = "") -> int:
        """One candidate index of collection ``dataset``, a pure function of ``(signature, seed, exclude, dataset)``.

        Raises:
            LookupError: no admissible candidate.
        """
        options = self.candidates(signature, exclude, dataset)
        if not options:
            raise LookupError(f"no admissible distractor image for denied={sorted(signature[0])}")
        return options[random.Random(f"{seed}\x00distractor\x00{exclude}").randrange(len(options))]
