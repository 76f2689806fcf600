"""The training loop: an explicit ~200-line loop in the spirit of nanoGPT and open_clip's ``train_one_epoch``.

Per optimiser step: ``grad_accum`` micro-batches (DDP gradient sync only on the last), bf16 autocast on CUDA, the
loss's ``*_loss`` terms summed, global-norm clipping, AdamW, and the cosine schedule's closure. Nothing in the step
reads a value back to the host: loss terms, the gradient norm and a non-finite flag accumulate on the device and are
read once every ``log_every`` steps (and before every checkpoint, so a checkpoint never holds a diverged model).

Exact resume: a checkpoint stores the step, the epoch and the micro-batch position in it, the optimiser, and every
rank's RNG states; augmentation is seeded per sample (:class:`~cxrvlp.data.sampler.ResumableSampler`), and the
loaders draw their worker seeds from their own generators, so a resumed run replays the uninterrupted one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler

from cxrvlp.config import ExperimentConfig, save_config
from cxrvlp.data.collate import Collator, move_to
from cxrvlp.data.dataset import CXRDataset, streams_for
from cxrvlp.data.sampler import ResumableSampler
from cxrvlp.data.sources import prepare
from cxrvlp.losses import create_loss
from cxrvlp.train.checkpoint import find_checkpoint, load_trainer_state, rng_state, save_checkpoint, set_rng_state
from cxrvlp.train.distributed import DistInfo, barrier, cleanup, setup_distributed
from cxrvlp.train.logger import RunLogger
from cxrvlp.train.model_setup import build_model, set_train_mode
from cxrvlp.train.optim import build_optimizer, cosine_lr
from cxrvlp.train.runconfig import RUN_CONFIG
from cxrvlp.types import UserError

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
RESULT_NAME = "train_result.json"
"""What a finished run writes into its folder: final step, seeds (model / train / data), last metrics."""


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the message names the step window and the last good checkpoint."""


@dataclass(frozen=True)
class Progress:
    """What ``on_progress`` receives after every optimiser step (``metrics`` only on logging steps)."""

    step: int
    total_steps: int
    epoch: int
    metrics: dict[str, float] | None = None


@dataclass
class TrainResult:
    """The outcome of :func:`train`."""

    run_dir: Path
    step: int
    last: Path | None
    best: Path | None
    train_metrics: dict[str, float] = field(default_factory=dict)
    val_metrics: dict[str, float] = field(default_factory=dict)


def _loaders(cfg: ExperimentConfig, model: Any, info: DistInfo, on_prepare: Callable | None):
    streams = streams_for(model.config, cfg.loss)
    if info.is_main:  # rank 0 builds the preprocessing cache; the others then read it
        records, table = prepare(cfg.data, graphs="graph" in streams, on_progress=on_prepare)
    barrier(info)
    if not info.is_main:
        records, table = prepare(cfg.data, graphs="graph" in streams)
    max_side = max(256, 2 * model.config.image_size)
    collate = Collator(model.tokenizer, max_length=model.text.max_length)
    split = {name: [r for r in records if r.split == name] for name in (cfg.data.split, cfg.data.val_split)}
    features = None
    if cfg.train.cache_features:
        features = _trunk_features(cfg, model, split, table, info, max_side, on_prepare)
    train_ds = CXRDataset(
        split[cfg.data.split],
        table,
        transform=model.image_transform(train=cfg.data.augment),
        streams=streams,
        max_side=max_side,
        features=features,
    )
    batch = cfg.train.batch_size
    if len(train_ds) < batch * info.world_size:
        raise UserError(
            f"split {cfg.data.split!r} has {len(train_ds)} usable pairs, fewer than one global batch "
            f"({batch} x {info.world_size} processes)"
        )
    common = {
        "batch_size": batch,
        "num_workers": cfg.data.num_workers,
        "collate_fn": collate,
        "pin_memory": info.device.type == "cuda",
        "persistent_workers": cfg.data.num_workers > 0,
    }
    sampler = ResumableSampler(train_ds, num_replicas=info.world_size, rank=info.rank, seed=cfg.train.seed)
    train = DataLoader(
        train_ds, sampler=sampler, drop_last=True, generator=torch.Generator().manual_seed(cfg.train.seed), **common
    )
    val = None
    val_records = split[cfg.data.val_split]
    if val_records and cfg.data.val_split != cfg.data.split:
        val_ds = CXRDataset(
            val_records, table, transform=model.image_transform(), streams=streams, max_side=max_side, features=features
        )
        if len(val_ds) >= 2 * info.world_size:
            vs = DistributedSampler(val_ds, num_replicas=info.world_size, rank=info.rank, shuffle=False)
            val = DataLoader(val_ds, sampler=vs, generator=torch.Generator().manual_seed(0), **common)
    if val is None:
        log.info("no usable %r split: the best checkpoint is not tracked", cfg.data.val_split)
    return train, sampler, val


def _trunk_features(cfg, model, split, table, info, max_side, on_prepare):
    """``train.cache_features``: the frozen trunks' features of the train and val records (rank 0 computes); with
    ``train.unfreeze_image_blocks=k`` the image trunk's activations before its last k blocks."""
    from cxrvlp.data.sources import cache_dir_for
    from cxrvlp.train.features import trunk_features

    if not hasattr(model, "encode_image_trunk"):
        raise ValueError("train.cache_features works with cxrvlp models (CXRClip), not external adapters")
    if cfg.data.augment:
        raise ValueError("train.cache_features computes image features once, unaugmented: set data.augment=false")
    records = [r for rs in split.values() for r in rs]
    kwargs = {
        "cache_dir": cache_dir_for(cfg.data), "device": info.device, "max_side": max_side,
        "image_tail_blocks": cfg.train.unfreeze_image_blocks,
    }  # fmt: skip
    if info.is_main:
        feats = trunk_features(model, records, table, on_progress=on_prepare, **kwargs)
    barrier(info)
    if not info.is_main:
        feats = trunk_features(model, records, table, **kwargs)
    return feats


@torch.no_grad()
def evaluate(model: Any, loader: DataLoader, loss_fn: Any, info: DistInfo, *, autocast: Any) -> dict[str, float]:
    """Mean of every loss term (and their sum, ``loss``) over ``loader``, averaged across ranks."""
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    batches = torch.zeros((), device=info.device)
    for batch in loader:
        batch = move_to(batch, info.device, channels_last=info.device.type == "cuda")
        with autocast():
            out = model(batch)
        terms = loss_fn(**out)
        terms["loss"] = sum(terms.values())
        for k, v in terms.items():
            sums[k] = sums.get(k, 0) + v.detach().float()
        batches += 1
    keys = sorted(sums)
    packed = torch.stack([sums[k] for k in keys] + [batches])
    if info.distributed:
        torch.distributed.all_reduce(packed)
    values = packed.tolist()
    return {k: v / max(values[-1], 1.0) for k, v in zip(keys, values[:-1], strict=True)}


def train(
    cfg: ExperimentConfig,
    *,
    resume: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    on_prepare: Callable[[str, int, int], None] | None = None,
) -> TrainResult:
    """Train per ``cfg`` (one process, or one rank of a torchrun job).

    Args:
        cfg: the resolved experiment configuration.
        resume: continue from ``cfg.train.run_dir``'s ``last`` checkpoint (exactly where it stopped).
        on_progress: called after every optimiser step with a :class:`Progress`.
        on_prepare: ``(stage, done, total)`` while the preprocessing cache is built.

    Raises:
        NonFiniteLossError: the loss became NaN / inf (the last good checkpoint is kept).
        ValueError / FileNotFoundError: bad data or configuration, with the key or file named.
    """
    info = setup_distributed(cfg.train.device)
    try:
        return _train(cfg, info, resume=resume, on_progress=on_progress, on_prepare=on_prepare)
    finally:
        cleanup(info)


def _train(cfg, info, *, resume, on_progress, on_prepare) -> TrainResult:  # noqa: C901 - the explicit loop
    tc = cfg.train
    run_dir = Path(tc.run_dir)
    ckpt_dir = run_dir / CHECKPOINTS
    state = None
    resume_from = None
    if resume:
        resume_from = find_checkpoint(ckpt_dir / "last")
        if resume_from is None:
            raise FileNotFoundError(f"nothing to resume: no complete checkpoint in {ckpt_dir / 'last'}")
        state = load_trainer_state(resume_from)
        if state["world_size"] != info.world_size:
            raise UserError(f"the run used {state['world_size']} processes; resume it with the same number")
    torch.manual_seed(tc.seed)  # initial weights come from model.seed (a forked RNG); this seeds the rest
    model = build_model(cfg, checkpoint=resume_from)
    cfg = dataclasses.replace(cfg, model=model.config)
    if info.is_main and not resume:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / RUN_CONFIG)
    torch.manual_seed(tc.seed + info.rank)  # per-rank dropout streams

    cuda = info.device.type == "cuda"
    use_bf16 = tc.precision == "bf16" or (tc.precision == "auto" and cuda)
    if use_bf16 and not cuda:
        log.info("bf16 autocast on CPU")
    model.to(info.device)
    if cuda:
        model.to(memory_format=torch.channels_last)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    train_loader, sampler, val_loader = _loaders(cfg, model, info, on_prepare)
    ddp = model
    if info.distributed:
        unused = model.graph is not None and "graph" not in train_loader.dataset.streams
        ddp = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[info.device.index] if cuda else None, find_unused_parameters=unused
        )
    loss_fn = create_loss(cfg.loss).to(info.device)
    optimizer = build_optimizer(model, tc, device=info.device)
    params = [p for p in model.parameters() if p.requires_grad]

    micro_per_epoch = (sampler.num_samples // tc.batch_size) // tc.grad_accum * tc.grad_accum
    steps_per_epoch = micro_per_epoch // tc.grad_accum
    if steps_per_epoch == 0:
        raise UserError(f"an epoch has fewer than grad_accum={tc.grad_accum} batches of {tc.batch_size}")
    total = tc.epochs * steps_per_epoch
    total = min(total, tc.max_steps) if tc.max_steps > 0 else total
    schedule = cosine_lr(optimizer, base_lr=tc.lr, warmup_steps=tc.warmup_steps, total_steps=total)

    step, epoch, micro, best_val = 0, 0, 0, math.inf
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        step, epoch, micro, best_val = state["step"], state["epoch"], state["micro"], state["best_val"]
        set_rng_state(state["rng"][info.rank])
        log.info("resumed %s at step %d (epoch %d, batch %d)", run_dir, step, epoch, micro)
    logger = RunLogger(run_dir, enabled=info.is_main, resume_step=step if state is not None else None)

    def autocast() -> Any:
        return torch.autocast(info.device.type, dtype=torch.bfloat16, enabled=use_bf16)

    def checkpoint(name: str) -> Path | None:
        rngs = [rng_state()]
        if info.distributed:
            rngs = [None] * info.world_size
            torch.distributed.all_gather_object(rngs, rng_state())
        path = None
        if info.is_main:
            payload = {
                "step": step, "epoch": epoch, "micro": micro, "best_val": best_val, "world_size": info.world_size,
                "optimizer": optimizer.state_dict(), "rng": rngs, "schedule": {"total_steps": total, "lr": tc.lr},
                "seeds": seeds,
            }  # fmt: skip
            path = save_checkpoint(ckpt_dir / name, model, payload)
        barrier(info)
        return path

    seeds = {"model": cfg.model.seed, "train": tc.seed, "data": cfg.data.seed}
    sums: dict[str, torch.Tensor] = {}
    nonfinite = torch.zeros((), dtype=torch.bool, device=info.device)
    window = {"steps": 0, "data": 0.0, "start": time.perf_counter()}
    last_good = step if state is not None else None
    train_metrics: dict[str, float] = {}
    val_metrics: dict[str, float] = {}

    def check_finite() -> None:
        if bool(nonfinite):  # one host sync, at logging / checkpoint points only
            where = f"{ckpt_dir / 'last'} (step {last_good})" if last_good is not None else "none was written yet"
            raise NonFiniteLossError(
                f"the loss became NaN/inf between steps {window['first']} and {step}; training stopped. "
                f"Last good checkpoint: {where}. Try a lower train.lr, a longer train.warmup_steps or "
                "train.precision=fp32."
            )

    def validate() -> None:
        nonlocal best_val, val_metrics
        if val_loader is None:
            return
        val_metrics = evaluate(ddp, val_loader, loss_fn, info, autocast=autocast)
        set_train_mode(model, tc)
        logger.log(step, val_metrics, kind="val")
        if val_metrics["loss"] < best_val:
            best_val = val_metrics["loss"]
            check_finite()
            checkpoint("best")

    set_train_mode(model, tc)
    window["first"] = step + 1
    while step < total:
        sampler.set_epoch(epoch, start=micro * tc.batch_size)
        batches = iter(train_loader)
        while step < total:
            for k in range(tc.grad_accum):
                t0 = time.perf_counter()
                batch = next(batches)
                window["data"] += time.perf_counter() - t0
                batch = move_to(batch, info.device, channels_last=cuda)
                no_sync = info.distributed and k < tc.grad_accum - 1
                with ddp.no_sync() if no_sync else contextlib.nullcontext():
                    with autocast():
                        out = ddp(batch)
                    terms = loss_fn(**out)
                    loss = sum(terms.values())
                    (loss / tc.grad_accum).backward()
                for name, value in terms.items():
                    sums[name] = sums.get(name, 0) + value.detach().float()
                sums["loss"] = sums.get("loss", 0) + loss.detach().float()
                nonfinite |= ~torch.isfinite(loss.detach())
                micro += 1
            if tc.grad_clip > 0:
                norm = torch.nn.utils.clip_grad_norm_(params, tc.grad_clip)
                sums["grad_norm"] = sums.get("grad_norm", 0) + norm.detach().float() * tc.grad_accum
            lr = schedule(step)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            window["steps"] += 1
            metrics = None
            if step % tc.log_every == 0 or step == total:
                check_finite()
                keys = sorted(sums)
                values = torch.stack([sums[k] for k in keys]).tolist()  # the one sync per logging window
                n = window["steps"] * tc.grad_accum
                elapsed = time.perf_counter() - window["start"]
                metrics = {k: v / n for k, v in zip(keys, values, strict=True)}
                metrics |= {
                    "lr": lr,
                    "epoch": epoch,
                    "samples_per_s": n * tc.batch_size * info.world_size / elapsed,
                    "data_wait_frac": window["data"] / elapsed,
                }
                logger.log(step, metrics)
                train_metrics = metrics
                sums.clear()
                window.update(steps=0, data=0.0, start=time.perf_counter(), first=step + 1)
            if micro == micro_per_epoch:
                epoch, micro = epoch + 1, 0
            if on_progress is not None:
                on_progress(Progress(step=step, total_steps=total, epoch=epoch, metrics=metrics))
            end_of_epoch = micro == 0
            if (tc.eval_every and step % tc.eval_every == 0) or (not tc.eval_every and end_of_epoch):
                validate()
            if (tc.save_every and step % tc.save_every == 0) or (not tc.save_every and end_of_epoch) or step == total:
                check_finite()
                checkpoint("last")
                last_good = step
            if end_of_epoch:
                break
    logger.close()
    best = find_checkpoint(ckpt_dir / "best")
    if info.is_main:
        summary = {
            "step": step, "seeds": seeds, "best_val_loss": None if math.isinf(best_val) else best_val,
            "train_metrics": train_metrics, "val_metrics": val_metrics,
            "last": str(find_checkpoint(ckpt_dir / "last")), "best": str(best) if best else None,
        }  # fmt: skip
        (run_dir / RESULT_NAME).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return TrainResult(run_dir, step, find_checkpoint(ckpt_dir / "last"), best, train_metrics, val_metrics)
