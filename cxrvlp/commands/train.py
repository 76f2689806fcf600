"""``cxrvlp train``: train a model from a config (``--config X.yaml key=value ...``) or resume a run."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train or fine-tune a model (single process, or every rank of a torchrun job)",
        description="Examples: cxrvlp train --config configs/n_g_dsl_tcg.yaml data.root=/data/mimic ; "
        "torchrun --nproc-per-node 8 -m cxrvlp.cli train --config configs/clip.yaml ; "
        "cxrvlp train --resume runs/clip",
    )
    p.add_argument("--config", help="YAML/JSON experiment config (see configs/)")
    p.add_argument("--preset", help="model preset the config's model keys start from (lite, paper, tiny)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run exactly from its last checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs only)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.lr=3e-4")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import logging
    import os
    import sys
    from pathlib import Path

    from cxrvlp.cli import CLIError
    from cxrvlp.train import NonFiniteLossError, build_config, train
    from cxrvlp.train.runconfig import RUN_CONFIG

    if args.resume:
        if args.config or args.preset:
            raise CLIError("--resume reads RUN_DIR/config.yaml; do not pass --config or --preset with it")
        run_dir = Path(args.resume)
        if not (run_dir / RUN_CONFIG).is_file():
            raise CLIError(f"{run_dir} is not a run folder (no {RUN_CONFIG})")
        cfg = build_config(run_dir / RUN_CONFIG, overrides=args.overrides)
        if args.overrides:
            logging.getLogger(__name__).warning("overrides on resume: the run is no longer an exact continuation")
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, run_dir=str(run_dir)))
    else:
        cfg = build_config(args.config, preset=args.preset, overrides=args.overrides)

    bar = None
    main_rank = os.environ.get("RANK", "0") == "0"

    def on_progress(p) -> None:
        nonlocal bar
        if args.no_progress or not main_rank:
            return
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=p.total_steps, initial=p.step - 1, desc="train", unit="step", dynamic_ncols=True)
        bar.update(p.step - bar.n)
        if p.metrics:
            bar.set_postfix(loss=f"{p.metrics['loss']:.4f}", lr=f"{p.metrics['lr']:.2e}", epoch=p.epoch)

    stage_bar = None

    def on_prepare(stage: str, done: int, total: int) -> None:
        """Bars for the one-off work before step 1 (preprocessing cache, frozen-trunk features)."""
        nonlocal stage_bar
        if args.no_progress or not main_rank:
            return
        if stage_bar is not None and stage_bar.desc != stage:
            stage_bar.close()
            stage_bar = None
        if stage_bar is None:
            from tqdm import tqdm

            stage_bar = tqdm(total=total, desc=stage, dynamic_ncols=True)
        stage_bar.update(done - stage_bar.n)
        if done >= total:
            stage_bar.close()
            stage_bar = None

    try:
        result = train(cfg, resume=bool(args.resume), on_progress=on_progress, on_prepare=on_prepare)
    except NonFiniteLossError as e:
        print(f"cxrvlp train: stopped: {e}", file=sys.stderr)
        return 3
    finally:
        for b in (bar, stage_bar):
            if b is not None:
                b.close()
    if main_rank:
        print(f"done: step {result.step}; last checkpoint {result.last}; best {result.best or '(no val split)'}")
    return 0
