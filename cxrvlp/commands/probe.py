"""``cxrvlp probe``: similarity of one chest X-ray with one or more reports, for any model spec."""

from __future__ import annotations

import argparse
import json

from cxrvlp.commands import MODEL_SPEC_HELP


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("probe", help="score reports against one image with any model (preset, checkpoint, hf:, ...)")
    p.add_argument(
        "--model",
        default="preset:lite",
        help=f"{MODEL_SPEC_HELP}; default preset:lite",
    )
    p.add_argument("--image", required=True, help="chest X-ray (PNG / JPEG / DICOM)")
    p.add_argument("--report", action="append", required=True, help="a report to score (repeat for several)")
    p.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="allow an openai_clip: pickle (.pt/.pth/.bin); it is read with torch.load(weights_only=True)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from cxrvlp.cli import CLIError
    from cxrvlp.inference import Predictor

    # WeightsError, CheckpointError and ImageReadError (a ValueError) are user errors to cxrvlp.cli already
    try:
        predictor = Predictor.from_spec(args.model, trust_checkpoint=args.trust_checkpoint)
        result = predictor.similarity(args.image, args.report)
    except (ImportError, NotImplementedError) as e:
        raise CLIError(str(e)) from e
    bias = predictor.describe().get("logit_bias", 0.0)
    with torch.no_grad():  # SigLIP-style models: the independent per-pair probability sigmoid(logit + bias)
        sigmoid = predictor.model.pair_probability(torch.tensor(result.cosine)).tolist() if bias else []
    rows = []
    for i, text in enumerate(result.texts):
        row = {"report": text, "cosine": result.cosine[i], "logit": result.logits[i], "softmax": result.probs[i]}
        if bias:
            row["sigmoid"] = sigmoid[i]
        row["truncated"] = result.truncated[i]
        rows.append(row)
    if args.json:
        print(json.dumps({"model": args.model, "image": args.image, "logit_bias": bias, "results": rows}, indent=2))
        return 0
    print(f"model {args.model}  ·  image {args.image}")
    extra = "  sigmoid" if bias else ""
    print(f"{'cosine':>8}  {'logit':>8}  {'softmax':>7}{extra}  report")
    for row in rows:
        sig = f"  {row['sigmoid']:7.4f}" if bias else ""
        cut = " [truncated]" if row["truncated"] else ""
        print(f"{row['cosine']:8.4f}  {row['logit']:8.3f}  {row['softmax']:7.4f}{sig}  {row['report']}{cut}")
    return 0
