"""``cxrvlp negate``: the CXR-Align variants of a report: r^n (finding negated) and r^r (finding omitted)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_report_source(p: argparse.ArgumentParser) -> None:
    """``REPORT`` text, ``--file PATH`` or ``-`` for stdin (shared by negate and graph)."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("report", nargs="?", help="report text ('-' reads stdin)")
    src.add_argument("--file", type=Path, help="read the report from a text file")


def read_report(args: argparse.Namespace) -> str:
    if args.file is not None:
        if not args.file.is_file():
            raise FileNotFoundError(f"no such file: {args.file}")
        return args.file.read_text(encoding="utf-8")
    return sys.stdin.read() if args.report == "-" else args.report


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "negate",
        help="negated (r^n) and finding-omitted (r^r) versions of a report",
        description="Print JSON with the report, r^n (statements asserting FINDING removed and one negative "
        "statement that denies it as the report states it inserted) and r^r (statements asserting FINDING removed), "
        "and the labels of each. r^n is a hard negative for a finding the report asserts as positive; for any "
        "other finding a note goes to stderr.",
    )
    add_report_source(p)
    p.add_argument("--finding", required=True, help="a CheXpert class, e.g. 'Pleural Effusion'")
    p.add_argument("--seed", type=int, default=0, help="seed of the template / position choice (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cxrvlp.text import label_report, make_negated, make_omitted

    report = read_report(args)
    negated = make_negated(report, args.finding, seed=args.seed)
    omitted = make_omitted(report, args.finding)
    stated = label_report(report).labels.get(args.finding, "not mentioned")
    if stated != "positive":
        print(
            f"note: {args.finding} is {stated} in this report; r^n is a hard negative only for a positive finding",
            file=sys.stderr,
        )
    result = {
        "finding": args.finding,
        "finding_in_report": stated,
        "seed": args.seed,
        "report": report,
        "negated": negated,
        "omitted": omitted,
        "labels": {
            k: label_report(v).labels for k, v in (("report", report), ("negated", negated), ("omitted", omitted))
        },
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0
