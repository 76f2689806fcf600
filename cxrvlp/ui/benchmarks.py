"""Tables behind the Benchmarks page: several :class:`~cxrvlp.eval.EvalResult` side by side (no Streamlit here)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from cxrvlp.eval import EvalResult


def _value(metric) -> float:
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
        index="run", columns="col", values="value", sort=False
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
