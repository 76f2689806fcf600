"""Evaluation suite: CXR-Align, zero-shot classification, report retrieval, adversarial prediction, normal-case
detection, negated-prompt retrieval and text-only diagnostics, with bootstrap 95% CIs.

Metric functions are pure: they take embeddings or similarity matrices and return :class:`TaskResult` objects.
:func:`evaluate` runs several tasks on one dataset, embedding each image and each distinct text once.
"""

from cxrvlp.eval.adversarial import AdversarialPair, adversarial_pairs, score_adversarial
from cxrvlp.eval.align import (
    AlignCase,
    align_correct,
    align_scores,
    build_cxr_align,
    load_cxr_align,
    save_cxr_align,
    score_align,
)
from cxrvlp.eval.bootstrap import resample_weights, weighted_auroc, weighted_mean
from cxrvlp.eval.dataset import EvalItem, read_manifest
from cxrvlp.eval.embedder import Embedder
from cxrvlp.eval.finetune import FinetuneConfig, embed_for_probe, read_labelled_manifest, run_finetune
from cxrvlp.eval.negprompt import precision_at_k, score_negated_prompt_retrieval
from cxrvlp.eval.results import (
    CONTROL_NAMES,
    EvalResult,
    Metric,
    TaskResult,
    compare_table,
    control_rows,
    controls_table,
)
from cxrvlp.eval.retrieval import label_prf, score_normal_case_detection, score_report_retrieval, topk_credit
from cxrvlp.eval.runner import TASKS, check_inputs, evaluate
from cxrvlp.eval.textdiag import score_text_diagnostics, text_diagnostics
from cxrvlp.eval.zeroshot import PromptSet, build_prompt_sets, check_prompt_set, class_scores, score_zeroshot

__all__ = [
    "TASKS",
    "FinetuneConfig",
    "embed_for_probe",
    "read_labelled_manifest",
    "run_finetune",
    "AdversarialPair",
    "AlignCase",
    "EvalItem",
    "EvalResult",
    "Embedder",
    "Metric",
    "PromptSet",
    "TaskResult",
    "adversarial_pairs",
    "align_correct",
    "align_scores",
    "build_cxr_align",
    "build_prompt_sets",
    "check_prompt_set",
    "class_scores",
    "compare_table",
    "control_rows",
    "controls_table",
    "CONTROL_NAMES",
    "check_inputs",
    "evaluate",
    "label_prf",
    "load_cxr_align",
    "precision_at_k",
    "read_manifest",
    "resample_weights",
    "save_cxr_align",
    "score_adversarial",
    "score_align",
    "score_negated_prompt_retrieval",
    "score_normal_case_detection",
    "score_report_retrieval",
    "score_text_diagnostics",
    "score_zeroshot",
    "text_diagnostics",
    "topk_credit",
    "weighted_auroc",
    "weighted_mean",
]
