"""Result dataclasses, their JSON round trip and markdown rendering (one run, or a comparison of several).

Proportions (accuracies, AUROC, precision) are stored as fractions in [0, 1] and rendered as percentages with one
decimal, like the paper's tables; raw quantities (cosine similarities) have ``percent=False`` and render with three
decimals.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Metric:
    """One number with its bootstrap 95% confidence interval.

    Attributes:
        value: the point estimate on the full data.
        low: 2.5th percentile of the bootstrap replicates (NaN when no CI was computed).
        high: 97.5th percentile.
        n: number of units the estimate averages over (cases, images, queries).
        percent: True for a proportion in [0, 1] (rendered x100), False for a raw value.
    """

    value: float
    low: float
    high: float
    n: int
    percent: bool = True

    def format(self, *, ci: bool = True) -> str:
        """``"72.4 [69.0, 75.8]"`` for a proportion, ``"0.912 [0.90, 0.92]"`` for a raw value."""
        if not math.isfinite(self.value):
            return "n/a"
        scale, digits = (100.0, 1) if self.percent else (1.0, 3)
        text = f"{self.value * scale:.{digits}f}"
        if ci and math.isfinite(self.low) and math.isfinite(self.high):
            text += f" [{self.low * scale:.{digits}f}, {self.high * scale:.{digits}f}]"
        return text


@dataclass
class TaskResult:
    """The outcome of one evaluation task.

    Attributes:
        task: task name (``"align"``, ``"zeroshot"``, ...).
        metrics: headline metrics by name, e.g. ``{"task_a": Metric(...), "task_b": ...}``.
        breakdown: per-group metrics (per finding), ``{group: {metric name: Metric}}``.
        info: settings and counts that make the numbers interpretable (K values, gallery size, skipped items).
    """

    task: str
    metrics: dict[str, Metric]
    breakdown: dict[str, dict[str, Metric]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalResult:
    """Everything one ``evaluate`` call produced.

    Attributes:
        model: the model spec or name that was evaluated.
        dataset: a description of the data (manifest path and split).
        tasks: results by task name, in the order they ran.
        timings: seconds per stage (``prepare``, ``embed_images``, ``embed_texts``, ``metrics:<task>``, ``total``).
        meta: free-form settings (seed, bootstrap resamples, package version).
    """

    model: str
    dataset: str
    tasks: dict[str, TaskResult]
    timings: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalResult:
        tasks = {
            name: TaskResult(
                task=t["task"],
                metrics={k: _metric(v) for k, v in t["metrics"].items()},
                breakdown={g: {k: _metric(v) for k, v in ms.items()} for g, ms in t.get("breakdown", {}).items()},
                info=t.get("info", {}),
            )
            for name, t in d["tasks"].items()
        }
        return cls(
            model=d["model"], dataset=d["dataset"], tasks=tasks, timings=d.get("timings", {}), meta=d.get("meta", {})
        )

    def save(self, path: str | Path) -> None:
        """Write the result as JSON (NaN stored as null)."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> EvalResult:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def to_markdown(self, *, breakdown: bool = True) -> str:
        """A markdown report: one table of headline metrics, then per-finding tables, then timings."""
        lines = [f"**model** `{self.model}` · **data** `{self.dataset}`", "", "| task | metric | value [95% CI] | n |"]
        lines.append("|---|---|---|---|")
        for name, t in self.tasks.items():
            for metric_name, m in t.metrics.items():
                lines.append(f"| {name} | {metric_name} | {m.format()} | {m.n} |")
        if breakdown:
            for name, t in self.tasks.items():
                if not t.breakdown:
                    continue
                cols = list(dict.fromkeys(k for ms in t.breakdown.values() for k in ms))
                lines += ["", f"**{name}** per finding", "", "| finding | " + " | ".join(cols) + " |"]
                lines.append("|---" * (len(cols) + 1) + "|")
                for group, ms in t.breakdown.items():
                    cells = [ms[c].format(ci=False) + f" (n={ms[c].n})" if c in ms else "" for c in cols]
                    lines.append(f"| {group} | " + " | ".join(cells) + " |")
                few = t.info.get("few") or []
                if few:
                    counts = t.info.get("counts", {})
                    listed = ", ".join(f"{c} ({counts[c][0]} positive / {counts[c][1]} negative)" for c in few)
                    lines += ["", f"Too few images for a CI of their own (read with care): {listed}."]
        if self.timings:
            lines += ["", "| stage | seconds |", "|---|---|"]
            lines += [f"| {k} | {v:.2f} |" for k, v in self.timings.items()]
        return "\n".join(lines) + "\n"


def compare_table(results: Sequence[EvalResult], *, ci: bool = False, controls: bool = False) -> str:
    """One markdown table comparing several runs, as in the paper's baseline tables.

    Rows are models (``model`` of each result), columns are ``task/metric`` in order of first appearance; a run
    that lacks a column shows ``-``.

    Args:
        results: the runs to compare (usually loaded with :meth:`EvalResult.load`).
        ci: include the 95% CI in each cell.
        controls: also give the grounding-control metrics a column each (default: left to :func:`controls_table`).
    """
    cols: dict[str, None] = {}
    for r in results:
        for name, t in r.tasks.items():
            for metric_name in t.metrics:
                if controls or not is_control_metric(metric_name):
                    cols[f"{name}/{metric_name}"] = None
    header = "| model | " + " | ".join(cols) + " |"
    lines = [header, "|---" * (len(cols) + 1) + "|"]
    for r in results:
        cells = []
        for col in cols:
            task, metric_name = col.split("/", 1)
            m = r.tasks.get(task).metrics.get(metric_name) if task in r.tasks else None
            cells.append(m.format(ci=ci) if m is not None else "-")
        lines.append(f"| {r.model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


CONTROL_NAMES: tuple[str, ...] = ("shuffled", "other_image_without_finding", "text_only")
"""Grounding controls, in the order tables show them (see docs/evaluation.md)."""
GAP_NAMES: tuple[str, ...] = ("grounding_gap", "grounding_gap_without_finding")
"""Own score minus the ``shuffled`` / ``other_image_without_finding`` control, per case, with a paired CI."""
_CONTROL_WORDS = (*CONTROL_NAMES, *GAP_NAMES, "image_sensitivity")


def is_control_metric(name: str) -> bool:
    """True for a control, gap or image-sensitivity metric (its name carries one of those words)."""
    return any(name.endswith(f"_{w}") or name == w for w in _CONTROL_WORDS)


def control_rows(result: EvalResult) -> list[dict[str, Any]]:
    """The grounding controls of one run, one row per metric that has them.

    Each row: ``task``, ``metric`` (the own metric's name), ``own`` and one key per control in
    :data:`CONTROL_NAMES` and gap in :data:`GAP_NAMES` (a :class:`Metric`, or None when that control was not
    computed). A task's ``image_sensitivity`` is a row of its own with the value under ``own``.
    """
    rows = []
    for task, t in result.tasks.items():
        for name, m in t.metrics.items():
            if is_control_metric(name):
                continue
            extra = {k: t.metrics.get(f"{name}_{k}") for k in (*CONTROL_NAMES, *GAP_NAMES)}
            if any(v is not None for v in extra.values()):
                rows.append({"task": task, "metric": name, "own": m, **extra})
        if "image_sensitivity" in t.metrics:
            rows.append(
                {
                    "task": task,
                    "metric": "image_sensitivity",
                    "own": t.metrics["image_sensitivity"],
                    **dict.fromkeys((*CONTROL_NAMES, *GAP_NAMES)),
                }
            )
    return rows


def controls_table(results: Sequence[EvalResult], names: Sequence[str] | None = None) -> str:
    """Markdown: each metric beside its controls and its grounding gap with the gap's 95% CI.

    A gap whose CI contains 0 means the score is not shown to need the image: a text prior would score the same.

    Args:
        results: the runs.
        names: a label per run (default: each result's ``model``).
    """
    names = list(names) if names is not None else [r.model for r in results]
    head = ["run", "task", "metric", "own", "shuffled", "without finding", "text only", "gap (own − shuffled)"]
    head.append("gap (own − without finding)")
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for name, r in zip(names, results, strict=True):
        for row in control_rows(r):
            cells = [row["own"].format(ci=False)]
            cells += [row[k].format(ci=False) if row[k] is not None else "-" for k in CONTROL_NAMES]
            cells += [row[k].format(ci=True) if row[k] is not None else "-" for k in GAP_NAMES]
            if row["metric"] == "image_sensitivity":
                cells[0] = row["own"].format(ci=True)
            lines.append(f"| {name} | {row['task']} | {row['metric']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _metric(d: dict[str, Any]) -> Metric:
    nan = float("nan")
    return Metric(
        value=nan if d["value"] is None else d["value"],
        low=nan if d["low"] is None else d["low"],
        high=nan if d["high"] is None else d["high"],
        n=d["n"],
        percent=d.get("percent", True),
    )


def _json_safe(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    return x
