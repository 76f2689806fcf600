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

STREAMS = ("hardneg", "labels", "graph")
"""Optional streams: hard negatives, clinical vectors, report graphs."""


def streams_for(model: ModelConfig, loss: LossConfig) -> frozenset[str]:
    """The optional streams a (model, loss) pair consumes; the others are never loaded or collated.

    Raises:
        ValueError: the loss needs graph features but ``model.graph.enabled`` is false.
    """
    streams = set()
    if loss.name == "conclip" or (loss.name == "dsl" and loss.hard_negatives):
        streams.add("hardneg")
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
        streams: subset of :data:`STREAMS` to return.
        max_side: images are decoded at most this large (JPEG draft mode) before the transform.

    Records whose cleaned report is empty, and (when ``"hardneg"`` is requested) records without a hard negative,
    are dropped with a log line.
    """

    def __init__(
        self,
        records: Sequence[Record],
        table: Any,
        *,
        transform: Callable[[Image.Image], torch.Tensor],
        streams: frozenset[str] = frozenset(),
        max_side: int = 512,
    ) -> None:
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
        for r in records:
            row = rows[r.report]
            if not reports[row]:
                empty += 1
            elif hardnegs is not None and not hardnegs[row]:
                no_hardneg += 1
            else:
                keep.append((r.image, row))
        if empty or no_hardneg:
            log.info("dataset: dropped %d records with an empty report, %d without a hard negative", empty, no_hardneg)
        self.images = [image for image, _ in keep]
        self.rows = [row for _, row in keep]
        self.streams = frozenset(streams)
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

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        """``key``: an index, or ``(index, seed)`` to make the augmentation a function of ``seed``."""
        index, seed = key if isinstance(key, tuple) else (key, None)
        image = read_image(self.images[index], max_side=self.max_side)
        if seed is None:
            pixels = self.transform(image)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                pixels = self.transform(image)
        row = self.rows[index]
        return {"image": pixels, **{c: values[row] for c, values in self._text.items()}}
