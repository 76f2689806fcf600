"""``cxrvlp eval``: score a model on the evaluation tasks; ``eval compare`` / ``build-align`` / ``textdiag``.

Examples::

    cxrvlp eval --model preset:lite --data shared/data/covid_chestxray/manifest.csv --split test \\
        --tasks align,zeroshot,retrieval --out lite.json
    cxrvlp eval compare lite.json trained.json
    cxrvlp eval build-align --data manifest.csv --split test --out cxr_align.json
    cxrvlp eval textdiag --model preset:lite --limit 500 --out lite_text.json
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate a model (CXR-Align, zero-shot, retrieval, ...)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", help="model spec: preset:NAME or cxrvlp:DIR (see cxrvlp.inference.Predictor.from_spec)")
    p.add_argument("--checkpoint", help="checkpoint directory; same as --model cxrvlp:DIR")
    p.add_argument("--data", help="manifest CSV (image,text,labels,split; image paths relative to the CSV)")
    p.add_argument("--split", help="manifest split to evaluate (default: all rows)")
    p.add_argument("--tasks", default="align,zeroshot,retrieval,adversarial,ncd,negprompt,textdiag")
    p.add_argument("--align", dest="align_file", help="CXR-Align JSON (ours or the official file) instead of building")
    p.add_argument("--image-root", help="folder the align file's images resolve against (default: its folder)")
    p.add_argument("--label-source", choices=("auto", "dataset", "report"), default="auto")
    p.add_argument("--limit", type=int, default=0, help="evaluate a seeded random subset of this many items")
    p.add_argument("--ncd-pool", choices=("none", "openi"), default="none", help="extra abnormal reports for NCD")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% CIs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--out", help="write the result JSON here")
    p.add_argument("--markdown", help="also write the markdown report here")
    p.set_defaults(func=run)
    sub = p.add_subparsers(dest="eval_command", metavar="{compare,build-align,textdiag}")

    c = sub.add_parser("compare", help="one markdown table over several result JSON files")
    c.add_argument("results", nargs="+", help="result JSON files written by `cxrvlp eval --out`")
    c.add_argument("--ci", action="store_true", help="include the 95%% CIs")
    c.set_defaults(func=run_compare)

    b = sub.add_parser("build-align", help="build CXR-Align cases from a manifest and write the JSON")
    b.add_argument("--data", required=True)
    b.add_argument("--split")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--out", required=True)
    b.set_defaults(func=run_build_align)

    t = sub.add_parser("textdiag", help="text-only negation diagnostics over the Open-I reports")
    t.add_argument("--model", required=True)
    t.add_argument("--limit", type=int, default=0, help="use the first N reports")
    t.add_argument("--bootstrap", type=int, default=1000)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out")
    t.set_defaults(func=run_textdiag)


def load_model(spec: str) -> Any:
    """The embedder for a model spec (``preset:NAME``, ``cxrvlp:DIR``)."""
    from cxrvlp.inference import Predictor

    return Predictor.from_spec(spec)


def run(args: argparse.Namespace) -> int:
    from cxrvlp.cli import CLIError
    from cxrvlp.eval import evaluate, load_cxr_align, read_manifest

    if args.checkpoint:
        args.model = f"cxrvlp:{args.checkpoint}"
    if not args.model:
        raise CLIError("--model or --checkpoint is required (e.g. --model preset:lite)")
    if not args.data and not args.align_file:
        raise CLIError("give --data MANIFEST.csv and/or --align FILE.json")
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    items = read_manifest(args.data, split=args.split) if args.data else []
    if args.limit and len(items) > args.limit:
        keep = sorted(random.Random(args.seed).sample(range(len(items)), args.limit))
        items = [items[i] for i in keep]
    cases = load_cxr_align(args.align_file, image_root=args.image_root) if args.align_file else None
    pool: list[str] = []
    if args.ncd_pool == "openi":
        from cxrvlp.data.openi import load_openi_reports

        pool = [r.text for r in load_openi_reports()]
    model = load_model(args.model)
    with _Bars() as bars:
        result = evaluate(
            model,
            items,
            tasks=tasks,
            align_cases=cases,
            label_source=args.label_source,
            report_pool=pool,
            n_bootstrap=args.bootstrap,
            seed=args.seed,
            batch_size=args.batch_size,
            on_progress=bars,
            model_name=args.model,
            dataset_name=_describe_data(args),
        )
    markdown = result.to_markdown()
    print(markdown)
    if args.out:
        result.save(args.out)
        log.info("wrote %s", args.out)
    if args.markdown:
        Path(args.markdown).write_text(markdown, encoding="utf-8")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from cxrvlp.eval import EvalResult, compare_table

    print(compare_table([EvalResult.load(p) for p in args.results], ci=args.ci))
    return 0


def run_build_align(args: argparse.Namespace) -> int:
    from cxrvlp.eval import build_cxr_align, read_manifest, save_cxr_align

    cases = build_cxr_align(read_manifest(args.data, split=args.split), seed=args.seed)
    save_cxr_align(cases, args.out)
    print(f"{len(cases)} CXR-Align cases -> {args.out}")
    return 0


def run_textdiag(args: argparse.Namespace) -> int:
    from cxrvlp.eval import EvalResult, text_diagnostics

    model = load_model(args.model)
    with _Bars() as bars:
        result = text_diagnostics(
            model,
            max_reports=args.limit or None,
            seed=args.seed,
            n_bootstrap=args.bootstrap,
            on_progress=lambda done, total: bars("texts", done, total),
        )
    out = EvalResult(model=args.model, dataset="openi-reports", tasks={"textdiag": result})
    print(out.to_markdown())
    print(json.dumps(result.info.get("quantiles", {}), indent=1))
    if args.out:
        out.save(args.out)
    return 0


def _describe_data(args: argparse.Namespace) -> str:
    parts = [args.data or "", f"split={args.split}" if args.split else "", f"limit={args.limit}" if args.limit else ""]
    if args.align_file:
        parts.append(f"align={args.align_file}")
    return " ".join(p for p in parts if p)


class _Bars:
    """One tqdm bar per stage, fed by ``evaluate``'s ``on_progress(stage, done, total)``."""

    def __init__(self) -> None:
        self.bars: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(total=total, desc=f"embed {stage}", unit="it", file=sys.stderr)
        bar.update(done - bar.n)

    def __enter__(self) -> _Bars:
        return self

    def __exit__(self, *exc: object) -> None:
        for bar in self.bars.values():
            bar.close()
