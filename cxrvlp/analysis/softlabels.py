"""Soft-label matrices of a batch: S_t, S_c, S_g and y_t, y_c, y_g (Ko & Park Eq. 3-5, 8-9), with loss values.

Everything is computed by :mod:`cxrvlp.losses` — :func:`~cxrvlp.losses.functional.similarity`,
:func:`~cxrvlp.losses.functional.normalize_clinical`, :func:`~cxrvlp.losses.functional.soft_labels` and
:class:`~cxrvlp.losses.soft_label.DynamicSoftLabelLoss` — never by a second implementation, so what you see is
what the loss trains on. Rows and columns are the ``N`` reports: the ``B`` originals, then their hard negatives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from cxrvlp.losses import functional as LF
from cxrvlp.losses.soft_label import DynamicSoftLabelLoss
from cxrvlp.models import ClipModel
from cxrvlp.types import UserError

STREAMS = ("text", "clinical", "graph")


@dataclass(frozen=True)
class StreamMatrices:
    """One stream's similarity ``S`` and row-normalised soft labels ``y`` (both ``[N, N]``), and its loss."""

    name: str
    tau: float
    similarity: np.ndarray
    targets: np.ndarray
    loss: float | None


@dataclass(frozen=True)
class SoftLabelMatrices:
    """Matrices of every requested stream for one batch.

    Attributes:
        reports: the ``N`` reports labelling rows and columns (originals, then hard negatives).
        num_originals: ``B``; rows ``B:`` are hard negatives.
        streams: per stream (text / clinical / graph, those available).
        total_loss: the loss with all listed streams on (needs image features; None otherwise).
        skipped: streams requested but not computable, with the reason.
    """

    reports: tuple[str, ...]
    num_originals: int
    streams: tuple[StreamMatrices, ...]
    total_loss: float | None
    skipped: dict[str, str]


def _clinical(reports: Sequence[str]) -> torch.Tensor:
    from cxrvlp.text import clinical_vector, label_report

    return torch.tensor([clinical_vector(label_report(r).labels) for r in reports], dtype=torch.float32)


def _graph_features(model: ClipModel, reports: Sequence[str]) -> torch.Tensor:
    from cxrvlp.data.graphs import collate_graphs, graph_to_data
    from cxrvlp.text import extract_graph

    device = next(model.parameters()).device
    batch = collate_graphs([graph_to_data(extract_graph(r), model.tokenizer) for r in reports]).to(device)
    with torch.inference_mode():
        return model.encode_graph(batch).float().cpu()


def soft_label_matrices(
    model: ClipModel,
    reports: Sequence[str],
    hardneg_reports: Sequence[str] | None = None,
    *,
    image_features: torch.Tensor | None = None,
    tau_t: float = 0.9,
    tau_c: float = 0.9,
    tau_g: float = 0.9,
    streams: Sequence[str] = STREAMS,
) -> SoftLabelMatrices:
    """Similarity and soft-label matrices of ``reports`` (+ hard negatives) for each stream.

    Args:
        model: supplies text (and, when it has a graph encoder, graph) embeddings.
        reports: the ``B`` original reports.
        hardneg_reports: their ``B`` hard negatives, or None.
        image_features: ``[B, D]`` image embeddings; with them each stream's loss value is computed.
        tau_t, tau_c, tau_g: thresholds of the text, clinical and graph streams.
        streams: which of ``"text", "clinical", "graph"`` to compute.

    Raises:
        ValueError: for an unknown stream, empty reports, or mismatched lengths.
    """
    unknown = set(streams) - set(STREAMS)
    if unknown:
        raise UserError(f"unknown streams {sorted(unknown)}; valid: {', '.join(STREAMS)}")
    if not reports:
        raise UserError("give at least one report")
    if hardneg_reports is not None and len(hardneg_reports) != len(reports):
        raise ValueError(f"{len(hardneg_reports)} hard negatives for {len(reports)} reports")
    if image_features is not None and image_features.shape[0] != len(reports):
        raise ValueError(f"{image_features.shape[0]} image embeddings for {len(reports)} reports")
    everything = list(reports) + list(hardneg_reports or [])
    b = len(reports)
    device = next(model.parameters()).device
    tok = model.tokenize(everything)
    with torch.inference_mode():
        text = model.encode_text(tok["input_ids"].to(device), tok["attention_mask"].to(device)).float().cpu()
    features: dict[str, torch.Tensor] = {}
    skipped: dict[str, str] = {}
    taus = {"text": tau_t, "clinical": tau_c, "graph": tau_g}
    if "text" in streams:
        features["text"] = text
    # Raw clinical vectors, labelled once: normalised for the stream, sliced raw for the losses.
    clinical = _clinical(everything) if "clinical" in streams or image_features is not None else None
    if "clinical" in streams:
        features["clinical"] = LF.normalize_clinical(clinical)
    if "graph" in streams:
        if model.graph is None:
            skipped["graph"] = "the model has no graph encoder (model.graph.enabled is false)"
        else:
            features["graph"] = _graph_features(model, everything)
    graph = features.get("graph")

    def loss_with(active: Sequence[str]) -> float | None:
        if image_features is None:
            return None
        loss = DynamicSoftLabelLoss(
            hard_negatives=hardneg_reports is not None,
            text_stream="text" in active,
            clinical_stream="clinical" in active,
            graph_stream="graph" in active,
            graph_pairs=False,
            tau_t=tau_t,
            tau_c=tau_c,
            tau_g=tau_g,
            gather=False,
        )
        with torch.inference_mode():
            terms = loss(
                image_features=image_features.float().cpu(),
                text_features=text[:b],
                hardneg_text_features=text[b:] if hardneg_reports is not None else None,
                graph_features=graph[:b] if graph is not None else None,
                hardneg_graph_features=graph[b:] if graph is not None and hardneg_reports is not None else None,
                clinical=clinical[:b],
                hardneg_clinical=clinical[b:] if hardneg_reports is not None else None,
                logit_scale=model.scale().detach().float().cpu(),
            )
        return float(sum(terms.values()))

    out = []
    for name, feats in features.items():
        sim = LF.similarity(feats, feats)  # (N, N)
        y = LF.soft_labels(sim, taus[name])  # (N, N), rows sum to 1
        out.append(StreamMatrices(name, taus[name], sim.numpy(), y.numpy(), loss_with([name])))
    return SoftLabelMatrices(
        reports=tuple(everything),
        num_originals=b,
        streams=tuple(out),
        total_loss=loss_with(list(features)) if features else None,
        skipped=skipped,
    )
