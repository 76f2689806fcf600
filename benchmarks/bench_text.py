"""Speed of the report language engine over the 3,955 Open-I reports, on one CPU core.

Usage: ``python benchmarks/bench_text.py [--repeats 3]``. Prints reports/s for ``label_report``,
``make_negated`` (each report's first positive finding, or Pneumothorax when it has none) and ``extract_graph``,
the best of ``--repeats`` passes, next to the issue's goals (label_report >= 2,000/s, extract_graph >= 1,000/s).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from cxrvlp.data.openi import load_openi_reports
from cxrvlp.text import extract_graph, label_report, make_negated

GOALS = {"label_report": 2000.0, "extract_graph": 1000.0}


def best_rate(fn: Callable[[], object], n: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    reports = [r.text for r in load_openi_reports()]
    findings = [next(iter(label_report(r).positives()), "Pneumothorax") for r in reports]
    n = len(reports)
    rates = {
        "label_report": best_rate(lambda: [label_report(r) for r in reports], n, args.repeats),
        "make_negated": best_rate(
            lambda: [make_negated(r, f, seed=0) for r, f in zip(reports, findings, strict=True)], n, args.repeats
        ),
        "extract_graph": best_rate(lambda: [extract_graph(r) for r in reports], n, args.repeats),
    }
    print(f"Open-I reports: {n}, one core, best of {args.repeats}")
    for name, rate in rates.items():
        goal = GOALS.get(name)
        vs = f"  goal {goal:,.0f}/s  ratio {rate / goal:.2f}x" if goal else ""
        print(f"{name:14s} {rate:9,.0f} reports/s{vs}")


if __name__ == "__main__":
    main()
