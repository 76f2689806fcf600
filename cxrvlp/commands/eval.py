"""``cxrvlp eval``: score a model on the evaluation tasks; ``eval compare`` / ``build-align`` / ``textdiag``.

Examples::

    cxrvlp eval --model preset:lite --data ../shared/data/covid_chestxray/manifest.csv --split test \\
        --tasks align,zeroshot,retrieval --out lite.json
    cxrvlp eval --model demo --data nih_composed.csv --split test --tasks align   # + grounding controls
    cxrvlp eval --model demo --data nih_composed.csv --split test --tasks align --no-controls
    cxrvlp eval compare lite.json trained.json     # own metrics, then each metric beside its controls
    cxrvlp eval build-align --data manifest.csv --split test --out cxr_align.json
    cxrvlp eval textdiag --model preset:lite --limit 500 --out lite_text.json
    cxrvlp eval finetune --model preset:lite --data ../shared/data/nih_cxr14_sample/manifest.csv --mode linear \\
        --fraction 0.1 1.0 --seeds 0 1 2 --out lite_lp.json
"""

from __future__ import annotations

import argparse
import json
import logging
import random
from pathlib import Path
from typing import Any

from cxrvlp.commands import MODEL_SPEC_HELP
from cxrvlp.commands.progress import StageBars

log = logging.getLogger(__name__)

TASK_NAMES: tuple[str, ...] = ("align", "zeroshot", "retrieval", "adversarial", "ncd", "negprompt", "textdiag")
"""``cxrvlp.eval.runner.TASKS``, spelled here so ``--help`` imports no torch (a test keeps the two equal)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate a model (CXR-Align, zero-shot, retrieval, ...)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", help=MODEL_SPEC_HELP)
    p.add_argument("--checkpoint", help="checkpoint directory; same as --model cxrvlp:DIR")
    p.add_argument("--data", help="manifest CSV (image,text,labels,split; image paths relative to the CSV)")
    p.add_argument("--split", help="manifest split to evaluate (default: all rows)")
    p.add_argument(
        "--tasks",
        help=f"comma-separated tasks, any of: {', '.join(TASK_NAMES)} (default: all, skipping those the data cannot "
        "feed; named tasks must all be feedable; docs/evaluation.md)",
    )
    p.add_argument("--align", dest="align_file", help="CXR-Align JSON (ours or the official file) instead of building")
    p.add_argument("--image-root", help="folder the align file's images resolve against (default: its folder)")
    p.add_argument("--label-source", choices=("auto", "dataset", "report"), default="auto")
    p.add_argument("--limit", type=int, default=0, help="evaluate a seeded random subset of this many items")
    p.add_argument("--ncd-pool", choices=("none", "openi"), default="none", help="extra abnormal reports for NCD")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% CIs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--no-controls",
        dest="controls",
        action="store_false",
        help="skip the grounding controls (shuffled / without-finding / text-only images, grounding gaps, image "
        "sensitivity; on by default, cheap: they reuse the embeddings)",
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--out", help="write the result JSON here")
    p.add_argument("--markdown", help="also write the markdown report here")
    p.set_defaults(func=run)
    sub = p.add_subparsers(dest="eval_command", metavar="{compare,build-align,textdiag,finetune}")

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
    t.add_argument("--model", required=True, help=MODEL_SPEC_HELP)
    t.add_argument("--limit", type=int, default=0, help="use the first N reports")
    t.add_argument("--bootstrap", type=int, default=1000)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out")
    t.set_defaults(func=run_textdiag)

    f = sub.add_parser(
        "finetune",
        help="linear probe / fine-tune the image encoder on a labelled manifest (FT10 / FT100)",
        description="Train a multi-label head on the train split (a label fraction of its patients), stop early on "
        "val, report per-finding and macro AUROC on test over seeds. See docs/finetune.md.",
    )
    f.add_argument("--model", help=MODEL_SPEC_HELP)
    f.add_argument("--checkpoint", help="checkpoint directory; same as --model cxrvlp:DIR")
    f.add_argument("--data", required=True, help="manifest CSV with image,labels,split[,patient_id]")
    f.add_argument("--mode", choices=("linear", "full"), default="linear")
    f.add_argument("--fraction", type=float, nargs="+", default=[1.0], help="label fraction(s) of train patients")
    f.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    f.add_argument("--classes", help="comma-separated class names (default: findings with a train positive)")
    f.add_argument("--patience", type=int, help="L2 values (linear) / epochs (full) without val improvement (3)")
    f.add_argument("--lr", type=float, help="full: backbone learning rate (1e-4)")
    f.add_argument("--head-lr", type=float, default=1e-3, help="full: learning rate of the new head")
    f.add_argument("--weight-decay", type=float, help="full: AdamW weight decay (1e-2)")
    f.add_argument("--epochs", type=int, help="full: maximum epochs (20)")
    f.add_argument("--batch-size", type=int, help="full: training batch size (32)")
    f.add_argument("--pos-weight", choices=("none", "balanced"), default="none")
    f.add_argument("--num-workers", type=int, help="image-loading workers (default 0 on CPU, 8 on CUDA)")
    f.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA when available)")
    f.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% CIs")
    f.add_argument("--out", help="write the result JSON here (readable by `cxrvlp eval compare`)")
    f.add_argument("--markdown", help="also write the markdown report here")
    f.set_defaults(func=run_finetune)


def load_model(spec: str) -> Any:
    """The embedder for a model spec (``preset:NAME``, ``cxrvlp:DIR``)."""
    from cxrvlp.inference import Predictor

    return Predictor.from_spec(spec)


def run(args: argparse.Namespace) -> int:
    from cxrvlp.cli import CLIError
    from cxrvlp.eval import control_rows, controls_table, evaluate, load_cxr_align, read_manifest

    if args.checkpoint:
        args.model = f"cxrvlp:{args.checkpoint}"
    if not args.model:
        raise CLIError("--model or --checkpoint is required (e.g. --model preset:lite)")
    if not args.data and not args.align_file:
        raise CLIError("give --data MANIFEST.csv and/or --align FILE.json")
    from cxrvlp.eval.runner import TASKS, check_inputs, inputs_error

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else list(TASKS)
    items = read_manifest(args.data, split=args.split) if args.data else []
    if args.limit and len(items) > args.limit:
        keep = sorted(random.Random(args.seed).sample(range(len(items)), args.limit))
        items = [items[i] for i in keep]
    cases = load_cxr_align(args.align_file, image_root=args.image_root) if args.align_file else None
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise CLIError(f"unknown task(s) {unknown}; valid tasks: {', '.join(TASKS)}")
    problems = check_inputs(items, tasks, align_cases=cases, label_source=args.label_source)
    if problems and (args.tasks or len(problems) == len(tasks)):  # before the model loads or anything is embedded
        raise CLIError(inputs_error(problems))
    pool: list[str] = []
    if args.ncd_pool == "openi":
        from cxrvlp.data.openi import load_openi_reports

        pool = [r.text for r in load_openi_reports()]
    model = load_model(args.model)
    with StageBars("embed ") as bars:
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
            controls=args.controls,
        )
    _emit(result, args)
    if control_rows(result):
        print(
            "Grounding controls (gap = own - control, paired 95% CI; a CI containing 0 = no evidence the score "
            "needs the image):\n"
        )
        print(controls_table([result]))
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from cxrvlp.eval import EvalResult, compare_table, control_rows, controls_table

    results = [EvalResult.load(p) for p in args.results]
    print(compare_table(results, ci=args.ci))
    with_controls = [(Path(p).name, r) for p, r in zip(args.results, results, strict=True) if control_rows(r)]
    if with_controls:
        print("Grounding controls (gap = own - control, paired 95% CI):\n")
        print(controls_table([r for _, r in with_controls], names=[n for n, _ in with_controls]))
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
    with StageBars("embed ") as bars:
        result = text_diagnostics(
            model,
            max_reports=args.limit or None,
            seed=args.seed,
            n_bootstrap=args.bootstrap,
            on_progress=bars.stage("texts"),
        )
    out = EvalResult(model=args.model, dataset="openi-reports", tasks={"textdiag": result})
    print(out.to_markdown())
    print(json.dumps(result.info.get("quantiles", {}), indent=1))
    if args.out:
        out.save(args.out)
    return 0


def run_finetune(args: argparse.Namespace) -> int:
    from cxrvlp.cli import CLIError
    from cxrvlp.eval.finetune import FinetuneConfig, read_labelled_manifest, run_finetune
    from cxrvlp.inference import Predictor

    spec = f"cxrvlp:{args.checkpoint}" if args.checkpoint else args.model
    if not spec:
        raise CLIError("--model or --checkpoint is required (e.g. --model preset:lite)")
    config = FinetuneConfig(
        mode=args.mode,
        fractions=tuple(args.fraction),
        seeds=tuple(args.seeds),
        classes=tuple(c.strip() for c in args.classes.split(",") if c.strip()) if args.classes else None,
        lr=args.lr,
        head_lr=args.head_lr,
        weight_decay=args.weight_decay,
        epochs=args.epochs,
        patience=args.patience,
        batch_size=args.batch_size,
        pos_weight=args.pos_weight,
        num_workers=args.num_workers,
        n_bootstrap=args.bootstrap,
    )
    data = read_labelled_manifest(args.data)
    predictor = Predictor.from_spec(spec, device=args.device)
    with StageBars() as bars:
        result = run_finetune(predictor, data, config=config, on_progress=bars, model_name=spec)
    _emit(result, args)
    return 0


def _emit(result: Any, args: argparse.Namespace) -> None:
    """Print the result as markdown; write it to ``--out`` (JSON) and ``--markdown`` when given."""
    markdown = result.to_markdown()
    print(markdown)
    if args.out:
        result.save(args.out)
        log.info("wrote %s", args.out)
    if args.markdown:
        Path(args.markdown).write_text(markdown, encoding="utf-8")


def _describe_data(args: argparse.Namespace) -> str:
    parts = [args.data or "", f"split={args.split}" if args.split else "", f"limit={args.limit}" if args.limit else ""]
    if args.align_file:
        parts.append(f"align={args.align_file}")
    return " ".join(p for p in parts if p)
