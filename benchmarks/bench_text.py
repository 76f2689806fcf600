"""Speed of the report language engine over the 3,955 Open-I reports, on one CPU core.

Usage: ``python benchmarks/bench_text.py [--repeats 3]``. Prints reports/s for ``label_report`` (all reports),
``make_negated`` (the reports with a positive finding, each with its first one: r^n is built for positive findings)
and ``extract_graph``: the best of ``--repeats`` passes by wall clock and by CPU time, next to the goals
(label_report >= 2,000/s, make_negated >= 1,000/s, extract_graph >= 1,000/s).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from cxrvlp.data.openi import load_openi_reports
from cxrvlp.text import extract_graph, label_report, make_negated

GOALS = {"label_report": 2000.0, "make_negated": 1000.0, "extract_graph": 1000.0}


def best_rates(fn: Callable[[], object], n: int, repeats: int) -> tuple[float, float]:
    """Best reports/s over ``repeats`` passes, by wall clock and by this process's CPU time (robust to other load)."""
    wall = cpu = float("inf")
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - w0)
        cpu = min(cpu, time.process_time() - c0)
    return n / wall, n / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    reports = [r.text for r in load_openi_reports()]
    pairs = [(r, p[0]) for r in reports if (p := label_report(r).positives())]
    n = len(reports)
    rates = {
        "label_report": best_rates(lambda: [label_report(r) for r in reports], n, args.repeats),
        "make_negated": best_rates(lambda: [make_negated(r, f, seed=0) for r, f in pairs], len(pairs), args.repeats),
        "extract_graph": best_rates(lambda: [extract_graph(r) for r in reports], n, args.repeats),
    }
    print(f"Open-I reports: {n} ({len(pairs)} with a positive finding), one core, best of {args.repeats}; reports/s")
    for name, (wall, cpu) in rates.items():
        goal = GOALS.get(name)
        vs = f"  goal {goal:,.0f}/s  ratio {wall / goal:.2f}x (wall)" if goal else ""
        print(f"{name:14s} wall {wall:7,.0f}  cpu {cpu:7,.0f}{vs}")


if __name__ == "__main__":
    main()
