"""``cxrvlp preprocess``: build a dataset's preprocessing cache (labels, hard negatives, graphs) once."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "preprocess",
        help="label reports, build hard negatives and report graphs once and cache them",
        description="Example: cxrvlp preprocess data.dataset=mimic data.root=/data/mimic-cxr-jpg/2.1.0",
    )
    p.add_argument("--config", help="YAML/JSON experiment config (only its data section is used)")
    p.add_argument("--no-graphs", action="store_true", help="skip report graphs (methods without G)")
    p.add_argument("--workers", type=int, help="processes (default: data.num_workers)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. data.root=/data/x")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cxrvlp.commands.progress import StageBars
    from cxrvlp.data.preprocess import find_cached
    from cxrvlp.data.sources import cache_dir_for, prepare
    from cxrvlp.train import build_config

    cfg = build_config(args.config, overrides=args.overrides)
    with StageBars(unit="report", dynamic_ncols=True) as bars:
        records, table = prepare(cfg.data, graphs=not args.no_graphs, workers=args.workers, on_progress=bars)
    path = table.attrs.get("cache_path")  # set by load_or_build; look it up again only if missing
    if path is None:
        reports = [r.report for r in records]
        path = find_cached(reports, cache_dir=cache_dir_for(cfg.data), seed=cfg.data.seed, graphs=not args.no_graphs)
    splits = {s: sum(r.split == s for r in records) for s in sorted({r.split for r in records})}
    normal = sum(1 for v in table["labels"] if v[0] == 1.0)
    print(f"{len(records)} images, {len(table)} distinct reports ({normal} normal); splits {splits}")
    print(f"cache: {path}")
    return 0
