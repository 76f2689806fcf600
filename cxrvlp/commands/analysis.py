"""``cxrvlp explain | project | heads | softlabels``: the analysis toolkit from the command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cxrvlp.commands import MODEL_SPEC_HELP
from cxrvlp.commands.progress import StageBars
from cxrvlp.types import UserError


def _model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="preset:lite", help=f"{MODEL_SPEC_HELP}; default preset:lite")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="token attribution of a report's similarity to an image (HTML + JSON)")
    _model_arg(p)
    p.add_argument("--image", help="chest X-ray (PNG/JPEG/DICOM); without it --reference-text is used")
    p.add_argument("--reference-text", help="explain similarity to this text instead of an image")
    p.add_argument("--report", required=True, help="the report to explain")
    p.add_argument("--negated", action="store_true", help="also explain the report with its first finding negated")
    p.add_argument("--steps", type=int, default=32, help="integration steps (default 32)")
    p.add_argument("--method", choices=["ig", "occlusion"], default="ig")
    p.add_argument("--out", default="explain", help="output prefix: writes PREFIX.html and PREFIX.json")
    p.set_defaults(func=run_explain)

    p = sub.add_parser("project", help="t-SNE / UMAP of reports and their negated / omitted variants")
    _model_arg(p)
    p.add_argument(
        "--reports",
        help="TXT (one report per line) or CSV with a 'report' or 'text' column; default: the Open-I corpus",
    )
    p.add_argument("--limit", type=int, default=500, help="reports to sample (default 500)")
    p.add_argument("--method", choices=["umap", "tsne"], default="umap")
    p.add_argument("--color", choices=["finding", "polarity", "kind"], default="polarity")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="projection", help="output prefix: writes PREFIX.csv and PREFIX.html")
    p.set_defaults(func=run_project)

    p = sub.add_parser("heads", help="attention-head ablation sweep of the text tower on report / negation pairs")
    _model_arg(p)
    p.add_argument("--reports", help="reports file as for `project`; default: Open-I reports with a positive finding")
    p.add_argument("--pairs", type=int, default=64, help="report / negated pairs (default 64)")
    p.add_argument(
        "--method",
        choices=["patching", "exact"],
        default="patching",
        help="patching: first-order estimates of every head from one forward + backward pass (default); "
        "exact: mask each head and re-encode",
    )
    p.add_argument("--verify", type=int, default=0, metavar="K", help="measure the top K heads exactly (patching)")
    p.add_argument("--top", type=int, default=10, help="heads to list (default 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out", default="heads", help="output directory: writes heads.json, heads.csv (layer x head) and heads.html"
    )
    p.set_defaults(func=run_heads)

    p = sub.add_parser("softlabels", help="S and y matrices of each soft-label stream for a batch of reports")
    _model_arg(p)
    p.add_argument("--reports", help="reports file as for `project`; default: a seeded sample of Open-I")
    p.add_argument("--batch", type=int, default=8, help="reports in the batch (default 8)")
    p.add_argument("--tau-t", type=float, default=0.9)
    p.add_argument("--tau-c", type=float, default=0.9)
    p.add_argument("--tau-g", type=float, default=0.9)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="softlabels", help="output prefix: writes PREFIX.json and PREFIX.html")
    p.set_defaults(func=run_softlabels)


def read_reports(path: str | None, *, limit: int, seed: int) -> list[str]:
    """Reports from a TXT / CSV file, or a seeded sample of the Open-I corpus."""
    from cxrvlp.analysis.corpus import csv_reports, openi_texts, sample_reports

    if path is None:
        reports = openi_texts()
    elif Path(path).suffix.lower() == ".csv":
        import pandas as pd

        df = pd.read_csv(path)
        reports = csv_reports(df)
        if reports is None:
            raise UserError(f"{path} has no 'report' or 'text' column (columns: {', '.join(df.columns)})")
    else:
        reports = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not reports:
        raise UserError("no reports to analyse")
    return sample_reports(reports, limit, seed)


def _write_html(path: Path, body: str, title: str) -> None:
    import html

    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body style='font-family:sans-serif;max-width:1100px;margin:2em auto'>{body}</body></html>",
        encoding="utf-8",
    )


def run_explain(args: argparse.Namespace) -> int:
    from cxrvlp.analysis import attribute, occlusion
    from cxrvlp.analysis.figures import attribution_bar, attribution_html, attribution_pair_html
    from cxrvlp.inference import Predictor

    if not args.image and not args.reference_text:
        raise UserError("give --image or --reference-text")
    predictor = Predictor.from_spec(args.model)
    reference = predictor.embed_images([args.image])[0] if args.image else args.reference_text

    def explain(text: str) -> Any:
        if args.method == "occlusion":
            return occlusion(predictor.model, text, reference)
        return attribute(predictor.model, text, reference, n_steps=args.steps)

    result = explain(args.report)
    results = [result]
    if args.negated:
        from cxrvlp.text import label_report, make_negated

        positives = label_report(args.report).positives()
        if not positives:
            raise UserError("--negated: the labeler finds no positive finding in the report to negate")
        results.append(explain(make_negated(args.report, positives[0], seed=0)))
    body = attribution_pair_html(*results) if len(results) == 2 else attribution_html(result)
    body += attribution_bar(result).to_html(full_html=False, include_plotlyjs=True)
    prefix = Path(args.out)
    _write_html(prefix.with_suffix(".html"), body, "cxrvlp explain")
    payload = [
        {
            "text": r.text,
            "method": r.method,
            "similarity": r.similarity,
            "baseline_similarity": r.baseline_similarity,
            "delta": r.delta,
            "truncated": r.truncated,
            "words": [{"word": w.word, "start": w.start, "end": w.end, "score": w.score} for w in r.words],
        }
        for r in results
    ]
    prefix.with_suffix(".json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    for r in results:
        print(f"similarity {r.similarity:+.4f}  delta {r.delta:+.5f}  {r.text[:80]}")
        top = sorted(r.words, key=lambda w: -abs(w.score))[:5]
        print("  top words: " + ", ".join(f"{w.word} ({w.score:+.4f})" for w in top))
    print(f"wrote {prefix.with_suffix('.html')} and {prefix.with_suffix('.json')}")
    return 0


def run_project(args: argparse.Namespace) -> int:
    from cxrvlp.analysis import projection_frame, variant_records
    from cxrvlp.analysis.figures import projection_scatter
    from cxrvlp.inference import Predictor

    predictor = Predictor.from_spec(args.model)
    records = variant_records(read_reports(args.reports, limit=args.limit, seed=args.seed), seed=args.seed)
    with StageBars(unit="item") as bars:
        frame = projection_frame(
            predictor, records, method=args.method, seed=args.seed, on_progress=bars.stage("embed")
        )
    prefix = Path(args.out)
    frame.to_csv(prefix.with_suffix(".csv"), index=False)
    fig = projection_scatter(frame, color=args.color, title=f"{args.method.upper()} of {len(frame)} texts")
    _write_html(prefix.with_suffix(".html"), fig.to_html(full_html=False, include_plotlyjs=True), "cxrvlp project")
    print(f"projected {len(frame)} texts; wrote {prefix.with_suffix('.csv')} and {prefix.with_suffix('.html')}")
    return 0


def _model_and_pairs(args: argparse.Namespace, pairs: int) -> tuple[Any, list[str], list[str]]:
    """The ``--model`` predictor and up to ``pairs`` (report, negated report) pairs from ``--reports`` (seeded)."""
    from cxrvlp.analysis.corpus import negation_pairs
    from cxrvlp.inference import Predictor

    predictor = Predictor.from_spec(args.model)
    reports = read_reports(args.reports, limit=10_000, seed=args.seed)
    return (predictor, *negation_pairs(reports, pairs=pairs, seed=args.seed))


def run_heads(args: argparse.Namespace) -> int:
    from cxrvlp.analysis import head_sweep, refine_sweep
    from cxrvlp.analysis.figures import head_heatmap

    if args.verify < 0 or args.top < 1:
        raise SystemExit("--verify must be >= 0 and --top >= 1")
    predictor, originals, negated = _model_and_pairs(args, args.pairs)
    with StageBars(unit="item") as bars:
        sweep = head_sweep(
            predictor.model,
            originals,
            negated,
            method=args.method,
            top_k=args.top,
            on_progress=bars.stage("exact sweep" if args.method == "exact" else "patching"),
        )
        if args.verify and args.method == "patching":
            sweep = refine_sweep(
                sweep, predictor.model, originals, negated, k=args.verify, on_progress=bars.stage("verify")
            )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    estimated = sweep.is_estimate()
    payload = {
        "metric": sweep.metric,
        "method": sweep.method,
        "baseline": sweep.baseline,
        "delta": [[None if d != d else d for d in row] for row in sweep.delta.tolist()],
        "estimated": estimated.tolist(),
        "top_heads": [
            {"layer": layer, "head": h, "delta": d, "estimated": bool(estimated[layer, h])}
            for layer, h, d in sweep.top_heads
        ],
        "pairs": len(originals),
    }
    (out / "heads.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    rows = ["layer," + ",".join(f"h{h}" for h in range(sweep.delta.shape[1]))]
    rows += [f"{layer}," + ",".join(f"{d:.6g}" for d in row) for layer, row in enumerate(sweep.delta.tolist())]
    (out / "heads.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    html_fig = head_heatmap(sweep).to_html(full_html=False, include_plotlyjs=True)
    _write_html(out / "heads.html", html_fig, "cxrvlp heads")
    kind = {"exact": "exact", "patching": "first-order estimates", "patching+exact": "estimates, top heads exact"}
    print(f"{sweep.metric} baseline {sweep.baseline:.4f} over {len(originals)} pairs ({kind[sweep.method]});")
    print("heads whose masking lowers it most:")
    for layer, head, delta in sweep.top_heads:
        tag = "estimate" if estimated[layer, head] else "exact"
        print(f"  layer {layer} head {head}: {delta:+.4f} ({tag})")
    print(f"wrote {out / 'heads.json'}, {out / 'heads.csv'} and {out / 'heads.html'}")
    return 0


def run_softlabels(args: argparse.Namespace) -> int:
    from cxrvlp.analysis.figures import matrix_heatmap
    from cxrvlp.analysis.softlabels import soft_label_matrices

    predictor, originals, negated = _model_and_pairs(args, args.batch)
    m = soft_label_matrices(predictor.model, originals, negated, tau_t=args.tau_t, tau_c=args.tau_c, tau_g=args.tau_g)
    prefix = Path(args.out)
    payload = {
        "reports": list(m.reports),
        "num_originals": m.num_originals,
        "skipped": m.skipped,
        "streams": [
            {"name": s.name, "tau": s.tau, "similarity": s.similarity.tolist(), "targets": s.targets.tolist()}
            for s in m.streams
        ],
    }
    prefix.with_suffix(".json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    figs = []
    for s in m.streams:
        figs.append(matrix_heatmap(s.similarity, m.reports, title=f"S_{s.name[0]}", zmin=-1, zmax=1))
        figs.append(matrix_heatmap(s.targets, m.reports, title=f"y_{s.name[0]} (tau={s.tau})", zmin=0, zmax=1))
    body = "".join(f.to_html(full_html=False, include_plotlyjs=i == 0) for i, f in enumerate(figs))
    _write_html(prefix.with_suffix(".html"), body, "cxrvlp softlabels")
    for s in m.streams:
        shared = int(((s.targets > 0).sum(axis=1) > 1).sum())
        print(f"{s.name:<9} tau={s.tau}: {shared}/{len(m.reports)} rows share their label with another report")
    for name, why in m.skipped.items():
        print(f"{name}: skipped ({why})")
    print(f"wrote {prefix.with_suffix('.json')} and {prefix.with_suffix('.html')}")
    return 0
