"""Report language engine: pure Python, deterministic, data-driven (no torch, no models, no UI).

Stands in for the tools Ko & Park (CVPR 2025) used and we cannot download: the CheXbert labeler
(:func:`label_report`), the LLM rewriting reports into single-finding statements and their negated / finding-removed
variants (:func:`clean_report`, :func:`make_negated`, :func:`make_omitted`) and RadGraph (:func:`extract_graph`).
See ``docs/text_engine.md``.
"""

from cxrvlp.text.graph import extract_graph
from cxrvlp.text.labeler import LabeledReport, clinical_vector, label_report
from cxrvlp.text.negation import hardneg_for_normal, make_negated, make_omitted, negative_statements
from cxrvlp.text.prompts import negative_prompts, positive_prompts
from cxrvlp.text.sections import extract_sections, split_sentences
from cxrvlp.text.statements import clean_report, split_statement
from cxrvlp.types import CHEXPERT_CLASSES

__all__ = [
    "CHEXPERT_CLASSES",
    "LabeledReport",
    "clean_report",
    "clinical_vector",
    "extract_graph",
    "extract_sections",
    "hardneg_for_normal",
    "label_report",
    "make_negated",
    "make_omitted",
    "negative_prompts",
    "negative_statements",
    "positive_prompts",
    "split_sentences",
    "split_statement",
]
