"""``cxrvlp compose``: a training manifest with composed reports for a label-only image set (CXR-CLIP style)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compose",
        help="compose reports from real Open-I sentences for label-only images (e.g. NIH ChestX-ray14)",
        description="Builds sentence banks from the Open-I reports with the labeler (or reads --banks), then writes "
        "a manifest image,report,labels,split,... where each report is composed from real sentences: one per "
        "present finding and negated ones about absent findings. Composed reports are not real reports: say so "
        "wherever results on them are shown.",
    )
    p.add_argument("--data", required=True, help="folder with manifest.csv (columns image, labels[, split]) or a CSV")
    p.add_argument("--out", required=True, help="manifest CSV to write")
    p.add_argument("--banks", help="sentence banks JSON: read it if it exists, else build and write it there")
    p.add_argument("--seed", type=int, default=0, help="seeds the banks and every report (default 0)")
    p.add_argument("--negatives", type=int, default=2, help="negated sentences per report (default 2)")
    p.add_argument(
        "--add",
        action="append",
        default=[],
        metavar="MANIFEST",
        help="also take the rows of this collection that have real text (e.g. ../shared/data/covid_chestxray), "
        "their splits kept, marked composed=no and dataset=<folder>; repeatable",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cxrvlp.data.compose import SentenceBanks, build_banks, compose_manifest
    from cxrvlp.data.openi import load_openi_reports

    if args.banks and Path(args.banks).is_file():
        banks = SentenceBanks.from_json(args.banks)
        print(f"read sentence banks from {args.banks}")
    else:
        banks = build_banks([r.text for r in load_openi_reports()], seed=args.seed)
        if args.banks:
            banks.to_json(args.banks)
            print(f"wrote sentence banks to {args.banks}")
    for finding, (pos, neg) in banks.counts().items():
        print(f"  {finding:<20} {pos:4d} positive / {neg:4d} negated sentences")
    n = compose_manifest(args.data, args.out, banks, seed=args.seed, negatives=args.negatives, add=args.add)
    note = "reports are COMPOSED from Open-I sentences, not real reports"
    if args.add:
        note = "rows with composed=yes are COMPOSED from Open-I sentences; composed=no rows keep their own real text"
    print(f"wrote {n} rows to {args.out} ({note})")
    return 0
