"""``cxrvlp graph``: the RadGraph-like entity / relation graph of a report, as JSON."""

from __future__ import annotations

import argparse
import json

from cxrvlp.commands.negate import add_report_source, read_report


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "graph",
        help="entity/relation graph of a report (JSON)",
        description="Print the report graph as JSON: nodes (text, kind, status, start, end) and edges (src, dst, "
        "relation) — the ReportGraph.to_dict() format.",
    )
    add_report_source(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cxrvlp.text import extract_graph

    print(json.dumps(extract_graph(read_report(args)).to_dict(), indent=2, ensure_ascii=False))
    return 0
