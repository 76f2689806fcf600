"""Several :class:`~cxrvlp.eval.EvalResult` side by side as DataFrames (the Benchmarks page's tables): one row per
run, task and metric; the per-finding breakdown of a task; each metric beside its grounding controls, with a plain
reading. :func:`cxrvlp.analysis.figures.controls_figure` draws the last."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from cxrvlp.eval.results import EvalResult, Metric, control_rows


def _value(metric: Metric) -> float:
    scale = 100.0 if metric.percent else 1.0
    return metric.value * scale if math.isfinite(metric.value) else float("nan")


def comparison_frame(results: Sequence[EvalResult], names: Sequence[str] | None = None) -> pd.DataFrame:
    """Long table: one row per (run, task, metric) with the value (proportions in %), its CI and n.

    Args:
        results: the runs.
        names: a display name per run (default: each result's ``model``).
    """
    names = list(names) if names is not None else [r.model for r in results]
    rows = []
    for name, r in zip(names, results, strict=True):
        for task, t in r.tasks.items():
            for metric_name, m in t.metrics.items():
                scale = 100.0 if m.percent else 1.0
                rows.append(
                    {
                        "run": name,
                        "task": task,
                        "metric": metric_name,
                        "value": _value(m),
                        "low": m.low * scale,
                        "high": m.high * scale,
                        "n": m.n,
                        "unit": "%" if m.percent else "",
                    }
                )
    return pd.DataFrame(rows, columns=["run", "task", "metric", "value", "low", "high", "n", "unit"])


def wide_table(long: pd.DataFrame) -> pd.DataFrame:
    """Runs as rows, ``task/metric`` as columns (the paper's table layout)."""
    if long.empty:
        return pd.DataFrame()
    cols = list(dict.fromkeys(long["task"] + "/" + long["metric"]))
    wide = long.assign(col=long["task"] + "/" + long["metric"]).pivot_table(
        index="run", columns="col", values="value", sort=False, dropna=False
    )
    return wide.reindex(columns=cols)


def breakdown_frame(result: EvalResult, task: str) -> pd.DataFrame:
    """Per-finding metrics of one task: columns ``finding, metric, value, n`` (proportions in %)."""
    t = result.tasks.get(task)
    rows = []
    if t is not None:
        for group, metrics in t.breakdown.items():
            for metric_name, m in metrics.items():
                rows.append({"finding": group, "metric": metric_name, "value": _value(m), "n": m.n})
    return pd.DataFrame(rows, columns=["finding", "metric", "value", "n"])


def run_labels(results: Sequence[EvalResult]) -> list[str]:
    """A distinct label per run: model, dataset and the file it came from (``meta["source"]``), so two result
    files of the same model stay two rows. A label that would repeat gets `` (2)``, `` (3)``, ..."""
    labels, seen = [], Counter()
    for r in results:
        parts = [r.model or "?"]
        data = r.dataset.split()
        if data:
            parts.append(" ".join([Path(data[0]).name, *data[1:]]))
        source = str(r.meta.get("source", "")) if isinstance(r.meta, dict) else ""
        if source:
            parts.append(Path(source).name)
        label = " · ".join(parts)
        seen[label] += 1
        labels.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return labels


CONDITIONS: dict[str, str] = {
    "own": "own image",
    "shuffled": "another image (shuffled)",
    "other_image_without_finding": "an image without the finding",
    "text_only": "no image (text only)",
}
"""Column of :func:`controls_frame` -> the words the page shows for it."""


def controls_frame(results: Sequence[EvalResult], names: Sequence[str] | None = None) -> pd.DataFrame:
    """Each metric that has grounding controls, per run: own score, each control, the gaps with their 95% CI and
    a plain reading (proportions in %).

    Columns: ``run, task, metric, own, own_low, own_high, shuffled, shuffled_low, shuffled_high, ...`` for every
    condition in :data:`CONDITIONS`, then ``grounding_gap, gap_low, gap_high``, ``grounding_gap_without_finding,
    gap_wf_low, gap_wf_high`` and ``reading``. A control that was not computed is NaN.
    """
    names = list(names) if names is not None else [r.model for r in results]
    rows = []
    for name, r in zip(names, results, strict=True):
        for row in control_rows(r):
            out: dict = {"run": name, "task": row["task"], "metric": row["metric"]}
            for key in CONDITIONS:
                m = row[key]
                out[key], out[f"{key}_low"], out[f"{key}_high"] = _triple(m)
            out["grounding_gap"], out["gap_low"], out["gap_high"] = _triple(row["grounding_gap"])
            g = row["grounding_gap_without_finding"]
            out["grounding_gap_without_finding"], out["gap_wf_low"], out["gap_wf_high"] = _triple(g)
            out["reading"] = _reading(row)
            rows.append(out)
    cols = ["run", "task", "metric"]
    for key in CONDITIONS:
        cols += [key, f"{key}_low", f"{key}_high"]
    cols += ["grounding_gap", "gap_low", "gap_high", "grounding_gap_without_finding", "gap_wf_low", "gap_wf_high"]
    return pd.DataFrame(rows, columns=[*cols, "reading"])


def _triple(m: Metric | None) -> tuple[float, float, float]:
    if m is None:
        return (float("nan"),) * 3
    scale = 100.0 if m.percent else 1.0
    return _value(m), m.low * scale, m.high * scale


def _reading(row: dict) -> str:
    """One plain sentence about a control row."""
    if row["metric"] == "image_sensitivity":
        m = row["own"]
        if not math.isfinite(m.low):
            return "image sensitivity without a CI"
        if m.low <= 0.0 <= m.high:
            return "the preference does not change with the finding's presence (CI contains 0): a text prior"
        return "the preference changes with the finding's presence: image evidence"
    gap = row["grounding_gap"] or row["grounding_gap_without_finding"]
    if gap is None or not math.isfinite(gap.low):
        return "no gap CI (bootstrap off or too few cases)"
    if gap.low <= 0.0 <= gap.high:
        return "another image scores the same (gap CI contains 0): the text side's prior, not image evidence"
    if gap.low > 0.0:
        return "the own image scores higher than another image: part of the score needs this image"
    return "another image scores higher than the own image"
