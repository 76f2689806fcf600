"""Text-only diagnostics: does a text encoder even notice a negation?

For every report with a positive finding, r^n (finding negated) and r^r (finding's sentence removed) are generated
as for CXR-Align and the distributions of ``cos(t(r), t(r^n))`` and ``cos(t(r), t(r^r))`` are compared. r^n is r^r
plus a sentence that contradicts r, so an encoder that understands negation puts r^n at least as far from r as r^r;
a bag-of-words encoder sees "no effusion" as "effusion" and puts r^n *closer*. ``negation_closer`` is the fraction of
reports where ``cos(r, r^n) > cos(r, r^r)`` — high means the negation goes unnoticed. Only ``embed_texts`` is used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from cxrvlp.eval.align import build_cxr_align
from cxrvlp.eval.bootstrap import DEFAULT_RESAMPLES, mean_metrics, resample_weights
from cxrvlp.eval.dataset import EvalItem
from cxrvlp.eval.embedder import Embedder, embed_texts_checked
from cxrvlp.eval.engine import CleanFn, LabelFn, NegateFn, OmitFn
from cxrvlp.eval.results import TaskResult
from cxrvlp.types import ProgressFn

QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)


def score_text_diagnostics(
    report_emb: torch.Tensor,
    negation_emb: torch.Tensor,
    omitted_emb: torch.Tensor,
    *,
    bins: int = 20,
    n_bootstrap: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> TaskResult:
    """Summarise ``cos(r, r^n)`` and ``cos(r, r^r)``.

    Args:
        report_emb, negation_emb, omitted_emb: ``[N, D]`` L2-normalised text embeddings, row i = report i.
        bins: histogram bins (shared edges over both distributions) stored in ``info``.
        n_bootstrap, seed: bootstrap over reports.

    Returns:
        ``TaskResult`` with raw means ``cos_negation``, ``cos_omitted``, ``cos_gap`` (= negation - omitted) and the
        proportion ``negation_closer``; ``info`` holds quantiles and histograms of both distributions.
    """
    cos_n = (report_emb.float() * negation_emb.float()).sum(dim=1).double().numpy()  # (N,)
    cos_o = (report_emb.float() * omitted_emb.float()).sum(dim=1).double().numpy()  # (N,)
    weights = resample_weights(len(cos_n), n_bootstrap, seed=seed)
    values = {"cos_negation": cos_n, "cos_omitted": cos_o, "cos_gap": cos_n - cos_o, "negation_closer": cos_n > cos_o}
    raw = dict.fromkeys(("cos_negation", "cos_omitted", "cos_gap"), False)
    metrics = mean_metrics(values, weights, percent=raw)
    info: dict = {"reports": len(cos_n)}
    if len(cos_n):
        both = np.concatenate([cos_n, cos_o])
        edges = np.linspace(both.min(), both.max() + 1e-9, bins + 1)
        info["quantiles"] = {
            "q": list(QUANTILES),
            "negation": np.quantile(cos_n, QUANTILES).tolist(),
            "omitted": np.quantile(cos_o, QUANTILES).tolist(),
        }
        info["histogram"] = {
            "edges": edges.tolist(),
            "negation": np.histogram(cos_n, edges)[0].tolist(),
            "omitted": np.histogram(cos_o, edges)[0].tolist(),
        }
    return TaskResult("textdiag", metrics, info=info)


def text_diagnostics(
    embedder: Embedder,
    reports: Sequence[str] | None = None,
    *,
    max_reports: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
    n_bootstrap: int = DEFAULT_RESAMPLES,
    on_progress: ProgressFn | None = None,
    label_fn: LabelFn | None = None,
    negate_fn: NegateFn | None = None,
    omit_fn: OmitFn | None = None,
    clean_fn: CleanFn | None = None,
) -> TaskResult:
    """Text-only diagnostics of an embedder over a report corpus.

    Args:
        embedder: needs only ``embed_texts``.
        reports: report texts; None = the 3,955 real Open-I reports (``cxrvlp.data.openi.load_openi_reports``).
        max_reports: use the first N reports (in corpus order) to bound the time.
        seed: choice of finding and negation phrasing per report, as in :func:`build_cxr_align`.
        batch_size: text batch size.
        n_bootstrap: bootstrap resamples.
        on_progress: ``(texts done, total)`` during embedding.
        label_fn, negate_fn, omit_fn, clean_fn: text-engine callables (None = :mod:`cxrvlp.text`).
    """
    if reports is None:
        from cxrvlp.data.openi import load_openi_reports

        reports = [r.text for r in load_openi_reports()]
    reports = list(reports)[:max_reports]
    items = [EvalItem(id=f"report-{i:05d}", image=None, report=text) for i, text in enumerate(reports)]
    cases = list(
        build_cxr_align(
            items, seed=seed, label_fn=label_fn, negate_fn=negate_fn, omit_fn=omit_fn, clean_fn=clean_fn
        ).values()
    )
    texts = list(dict.fromkeys(t for c in cases for t in (c.report, c.negation, c.omitted)))
    index = {t: i for i, t in enumerate(texts)}
    emb = embed_texts_checked(embedder, texts, batch_size=batch_size, on_progress=on_progress)

    def rows(field: str) -> torch.Tensor:
        return emb[[index[getattr(c, field)] for c in cases]] if cases else torch.zeros(0, 1)

    result = score_text_diagnostics(
        rows("report"), rows("negation"), rows("omitted"), n_bootstrap=n_bootstrap, seed=seed
    )
    result.info["corpus_reports"] = len(reports)
    return result
