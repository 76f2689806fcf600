"""Speed of the report language engine over the 3,955 Open-I reports, on one CPU core.

Usage: ``python benchmarks/bench_text.py [--repeats 3] [--invariants]``. Prints reports/s for ``label_report``
(all reports), ``make_negated`` (the reports with a positive finding, each with its first one: r^n is built for
positive findings) and ``extract_graph``: the best of ``--repeats`` passes by wall clock and by CPU time, next to
the goals (label_report >= 2,000/s, make_negated >= 1,000/s, extract_graph >= 1,000/s). ``--invariants`` also counts the
engine's self-consistency over the corpus (the labeler judging its own rewrites; the independent check is
``python -m cxrvlp.text.validation``): reports whose labels ``clean_report`` keeps, and (report, positive finding)
pairs where r^r no longer asserts the finding, r^n denies it and every other finding reads the same.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from cxrvlp.data.openi import load_openi_reports
from cxrvlp.text import clean_report, extract_graph, label_report, make_negated, make_omitted

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


def invariants(reports: list[str]) -> tuple[int, int, int]:
    """(reports whose 13 finding labels clean_report keeps, pairs passing the r^r / r^n invariant, pairs)."""

    def others(labels: dict[str, str], finding: str | None) -> dict[str, str]:
        return {k: v for k, v in labels.items() if k not in (finding, "No Finding")}

    kept = ok = pairs = 0
    for report in reports:
        labeled = label_report(report)
        labels = labeled.labels
        kept += others(label_report(clean_report(report)).labels, None) == others(labels, None)
        for finding in labeled.positives():
            pairs += 1
            rr = label_report(make_omitted(report, finding)).labels
            rn = label_report(make_negated(report, finding, seed=pairs)).labels
            ok += (
                rr.get(finding) not in ("positive", "uncertain")
                and rn.get(finding) == "negative"
                and others(rr, finding) == others(labels, finding) == others(rn, finding)
            )
    return kept, ok, pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--invariants", action="store_true", help="also count the self-consistency invariants")
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
    if args.invariants:
        kept, ok, pairs = invariants(reports)
        print(
            f"clean_report keeps the labels of {kept:,} / {n:,} reports; r^r / r^n invariant: {ok:,} / {pairs:,} pairs"
        )


if __name__ == "__main__":
    main()
