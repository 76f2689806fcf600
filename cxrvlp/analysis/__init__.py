"""Analyses behind the app's pages: token attribution, projections, head ablation, soft-label matrices.

Each returns data (dataclasses, tensors, DataFrames); :mod:`cxrvlp.analysis.figures` turns them into plotly figures.
"""

from cxrvlp.analysis.attribution import Attribution, WordScore, attribute, merge_words, occlusion
from cxrvlp.analysis.heads import (
    HeadAblationUnsupportedError,
    HeadSweep,
    attention_out_projections,
    head_sweep,
    mask_heads,
    refine_sweep,
    scale_heads,
)
from cxrvlp.analysis.projection import EmbeddingCache, project, projection_frame, variant_records

__all__ = [
    "Attribution",
    "EmbeddingCache",
    "HeadAblationUnsupportedError",
    "HeadSweep",
    "WordScore",
    "attention_out_projections",
    "attribute",
    "head_sweep",
    "mask_heads",
    "merge_words",
    "occlusion",
    "project",
    "projection_frame",
    "refine_sweep",
    "scale_heads",
    "variant_records",
]
