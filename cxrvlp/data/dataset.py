"""The torch dataset of image-report pairs and the streams a method needs from it.

A sample is a dict: ``image [3, S, S]``, ``report`` (the cleaned report), and, when the method uses them,
``hardneg_report``, ``labels [14]`` / ``hardneg_labels [14]`` (clinical vectors) and ``graph`` / ``hardneg_graph``
(:class:`~cxrvlp.types.ReportGraph` JSON). Everything text-derived comes from the preprocessing cache; the dataset
only reads and transforms images.

Augmentation randomness is a pure function of a per-sample seed that the sampler passes with the index
(:class:`~cxrvlp.data.sampler.ResumableSampler` yields ``(index, seed)``), so a resumed run sees exactly the same
augmented images whatever the number of loader workers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset

from cxrvlp.config import LossConfig, ModelConfig
from cxrvlp.data.images import read_image
from cxrvlp.data.records import Record
from cxrvlp.types import UserError

log = logging.getLogger(__name__)

STREAMS = ("hardneg", "labels", "graph", "distractor")
"""Optional streams: hard negatives, clinical vectors, report graphs, CON2 distractor images."""

NO_LABELS_MESSAGE = (
    "loss.name=conclip (CON2 = CoN-CLIP) draws a distractor image for every sample from the images' own labels, "
    "and the {split!r} records have none (a manifest needs a `labels` column, e.g. the NIH ChestX-ray14 findings). "
    "Train on labelled data, or set loss.conclip_distractors=false for the no-distractor variant (whose loss is "
    "exactly CLIP^N's)."
)


def streams_for(model: ModelConfig, loss: LossConfig) -> frozenset[str]:
    """The optional streams a (model, loss) pair consumes; the others are never loaded or collated.

    Raises:
        ValueError: the loss needs graph features but ``model.graph.enabled`` is false.
    """
    streams = set()
    if loss.name == "conclip" or (loss.name == "dsl" and loss.hard_negatives):
        streams.add("hardneg")
    if loss.name == "conclip" and loss.conclip_distractors:
        streams.add("distractor")
    if loss.name == "dsl" and loss.clinical_stream:
        streams.add("labels")
    if loss.name == "dsl" and (loss.graph_stream or loss.graph_pairs):
        if not model.graph.enabled:
            raise UserError("loss.graph_stream / loss.graph_pairs need model.graph.enabled=true")
        streams.add("graph")
    return frozenset(streams)


class CXRDataset(Dataset):
    """Records joined with their preprocessed reports.

    Args:
        records: the pairs of one split.
        table: the preprocessing table (:func:`~cxrvlp.data.preprocess.preprocess_reports`) covering their reports.
        transform: PIL image -> tensor ``[3, S, S]`` (:func:`~cxrvlp.data.transforms.image_transform`).
        streams: subset of :data:`STREAMS` to return (``"distractor"`` implies ``"hardneg"``).
        max_side: images are decoded at most this large (JPEG draft mode) before the transform.
        features: precomputed frozen-trunk features (:class:`~cxrvlp.train.features.TrunkFeatures`); samples then
            hold ``image_trunk`` / ``text_trunk`` / ``hardneg_text_trunk`` (/ ``distractor_image_trunk``) instead of
            decoded images and report strings; with ``features.image_tail_blocks = k > 0`` the image entries are
            the trunk's activations before its last k blocks, ``image_prefix`` (/ ``distractor_image_prefix``),
            and each sample also holds ``image_tail_blocks`` = k.

    Records whose cleaned report is empty, (when ``"hardneg"`` is requested) records without a hard negative, and
    (with ``"distractor"``) records for which no image of the split is an admissible distractor are dropped with a
    log line. Distractors (:mod:`cxrvlp.data.distractors`) are drawn per sample from the same split's records,
    with the sample's seed (a fixed one without), so they replay exactly on resume.

    Raises:
        MissingLabelsError: ``"distractor"`` requested and no record has image labels.
    """

    def __init__(
        self,
        records: Sequence[Record],
        table: Any,
        *,
        transform: Callable[[Image.Image], torch.Tensor],
        streams: frozenset[str] = frozenset(),
        max_side: int = 512,
        features: Any = None,
    ) -> None:
        streams = frozenset(streams) | ({"hardneg"} if "distractor" in streams else set())
        unknown = set(streams) - set(STREAMS)
        if unknown:
            raise UserError(f"unknown streams {sorted(unknown)}; valid: {', '.join(STREAMS)}")
        rows = {raw: i for i, raw in enumerate(table["raw"])}
        missing = [r.report for r in records if r.report not in rows]
        if missing:
            raise UserError(f"{len(missing)} reports are not in the preprocessing table (stale cache?)")
        reports = table["report"].tolist()
        hardnegs = table["hardneg_report"].tolist() if "hardneg" in streams else None
        keep, empty, no_hardneg = [], 0, 0
        for k, r in enumerate(records):
            row = rows[r.report]
            if not reports[row]:
                empty += 1
            elif hardnegs is not None and not hardnegs[row]:
                no_hardneg += 1
            else:
                keep.append((r.image, row, k))
        if empty or no_hardneg:
            log.info("dataset: dropped %d records with an empty report, %d without a hard negative", empty, no_hardneg)
        self.pool = None
        self.distractor_images: list[str] = []
        self._candidate: list[int] = []
        self._signature: list[Any] = []
        self._dataset: list[str] = []
        if "distractor" in streams:
            keep = self._setup_distractors(records, table, keep)
        self.images = [image for image, _, _ in keep]
        self.rows = [row for _, row, _ in keep]
        self.streams = frozenset(streams)
        self.features = features
        self.transform = transform
        self.max_side = max_side
        cols = ["report"]
        cols += ["hardneg_report"] if "hardneg" in streams else []
        cols += ["labels", "hardneg_labels"] if "labels" in streams else []
        cols += ["graph", "hardneg_graph"] if "graph" in streams else []
        self._text = {c: table[c].tolist() for c in cols}
        for c in ("labels", "hardneg_labels"):
            if c in self._text:
                self._text[c] = torch.tensor([list(v) for v in self._text[c]], dtype=torch.float32)  # (N_rows, 14)

    def _setup_distractors(self, records: Sequence[Record], table: Any, keep: list) -> list:
        from cxrvlp.data.distractors import DistractorPool, MissingLabelsError, image_label_set, report_sets

        labels = [image_label_set(r.labels) if r.labels.strip() else None for r in records]
        try:
            self.pool = DistractorPool(labels, datasets=[r.dataset for r in records])
        except MissingLabelsError:
            split = records[0].split if records else "?"
            raise MissingLabelsError(NO_LABELS_MESSAGE.format(split=split)) from None
        self.distractor_images = [r.image for r in records]
        clinical, hardneg_clinical = table["labels"].tolist(), table["hardneg_labels"].tolist()
        kept, none = [], 0
        for image, row, k in keep:
            signature = report_sets(list(clinical[row]), list(hardneg_clinical[row]))
            if self.pool.candidates(signature, exclude=k, dataset=records[k].dataset):
                kept.append((image, row, k))
                self._candidate.append(k)
                self._signature.append(signature)
                self._dataset.append(records[k].dataset)
            else:
                none += 1
        if none:
            log.info("dataset: dropped %d records with no admissible distractor image", none)
        return kept

    def distractor_of(self, index: int, seed: int | None) -> int:
        """Index into :attr:`distractor_images` of sample ``index``'s distractor (a function of ``seed``)."""
        if self.pool is None:
            raise RuntimeError("this dataset was built without the 'distractor' stream")
        seed = 0 if seed is None else seed
        return self.pool.draw(
            self._signature[index], seed, exclude=self._candidate[index], dataset=self._dataset[index]
        )

    def __len__(self) -> int:
        return len(self.images)

    def _pixels(self, path: str, seed: int | None) -> torch.Tensor:
        image = read_image(path, max_side=self.max_side)
        if seed is None:
            return self.transform(image)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.transform(image)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        """``key``: an index, or ``(index, seed)`` to make the augmentation (and the distractor) a function of
        ``seed``."""
        index, seed = key if isinstance(key, tuple) else (key, None)
        row = self.rows[index]
        sample = {c: values[row] for c, values in self._text.items()}
        distractor = self.distractor_of(index, seed) if self.pool is not None else None
        if self.features is not None:
            f = self.features
            image_key = "image_prefix" if f.image_tail_blocks else "image_trunk"
            if f.image_tail_blocks:
                sample["image_tail_blocks"] = f.image_tail_blocks
            sample[image_key] = f.image[f.image_index[self.images[index]]]
            sample["text_trunk"] = f.text[f.text_index[sample.pop("report")]]
            if "hardneg_report" in sample:
                sample["hardneg_text_trunk"] = f.text[f.text_index[sample.pop("hardneg_report")]]
            if distractor is not None:
                sample[f"distractor_{image_key}"] = f.image[f.image_index[self.distractor_images[distractor]]]
            return sample
        sample["image"] = self._pixels(self.images[index], seed)
        if distractor is not None:
            other = None if seed is None else (seed ^ 0x5DEECE66D) % (1 << 63)
            sample["distractor_image"] = self._pixels(self.distractor_images[distractor], other)
        return sample
