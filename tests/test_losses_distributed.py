"""Two gloo processes x B samples == one process x 2B samples, for the loss value and the gradients.

Gradient convention (see cxrvlp.losses.distributed): each rank's local features receive ``world_size`` times the
single-process gradient of its rows; DDP's averaging divides by ``world_size``. So the feature-level check divides
by 2, and the parameter-level check wraps a tiny model in DistributedDataParallel and compares its averaged grads
directly with the single-process grads.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from _loss_reference import make_outputs
from torch import nn

from cxrvlp.config import LossConfig
from cxrvlp.losses import create_loss

WORLD, LOCAL_B = 2, 3
PER_SAMPLE = ("image_features", "text_features", "hardneg_text_features", "graph_features", "hardneg_graph_features")
CONFIGS = {
    "dsl_full": LossConfig(name="dsl", graph_stream=True, graph_pairs=True, tau_t=0.5, tau_c=0.5, tau_g=0.5),
    "dsl_chunked": LossConfig(name="dsl", graph_stream=True, graph_pairs=True, tau_t=0.5, chunk_size=4),
    "infonce": LossConfig(name="infonce"),
    "conclip": LossConfig(name="conclip"),
}


class TinyTowers(nn.Module):
    """Linear towers mapping raw inputs to L2-normalised features, standing in for the model."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.image = nn.Linear(5, 8).double()
        self.text = nn.Linear(5, 8).double()

    def forward(self, raw: dict) -> dict:
        out = {k: F.normalize((self.image if k == "image_features" else self.text)(raw[k]), dim=-1) for k in PER_SAMPLE}
        return {**out, "clinical": raw["clinical"], "hardneg_clinical": raw["hardneg_clinical"]}


def global_batch() -> tuple[dict, dict]:
    feats = make_outputs(WORLD * LOCAL_B, seed=5)
    g = torch.Generator().manual_seed(6)
    raw = {k: torch.randn(WORLD * LOCAL_B, 5, generator=g, dtype=torch.float64) for k in PER_SAMPLE}
    raw["clinical"], raw["hardneg_clinical"] = feats["clinical"], feats["hardneg_clinical"]
    return feats, raw


def run_loss(cfg: LossConfig, feats: dict) -> tuple[float, dict]:
    leaves = {k: v.clone().requires_grad_(True) for k, v in feats.items() if k in PER_SAMPLE}
    extra = {"distractor_image_features": leaves["graph_features"]} if cfg.name == "conclip" else {}
    terms = create_loss(cfg)(**{**feats, **leaves, **extra})
    value = sum(terms.values())
    value.backward()
    return value.item(), {k: v.grad for k, v in leaves.items() if v.grad is not None}


def run_model(cfg: LossConfig, model: nn.Module, raw: dict) -> tuple[float, dict]:
    value = sum(create_loss(cfg)(**model(raw), logit_scale=torch.tensor(5.0, dtype=torch.float64)).values())
    value.backward()
    return value.item(), {n.removeprefix("module."): p.grad.clone() for n, p in model.named_parameters()}


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        feats, raw = global_batch()
        local = slice(rank * LOCAL_B, (rank + 1) * LOCAL_B)
        local_feats = {k: (v if k == "logit_scale" else v[local]) for k, v in feats.items()}
        results = {name: run_loss(cfg, local_feats) for name, cfg in CONFIGS.items()}
        ddp = nn.parallel.DistributedDataParallel(TinyTowers())
        results["ddp"] = run_model(CONFIGS["dsl_full"], ddp, {k: v[local] for k, v in raw.items()})
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_processes_equal_one_process_on_the_global_batch(tmp_path: Path) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    feats, raw = global_batch()
    for name, cfg in CONFIGS.items():
        value, grads = run_loss(cfg, feats)
        for rank, res in enumerate(ranks):
            r_value, r_grads = res[name]
            assert abs(r_value - value) < 1e-5, (name, rank)
            assert r_grads.keys() == grads.keys(), name
            for key, g in grads.items():
                local = g[rank * LOCAL_B : (rank + 1) * LOCAL_B]
                torch.testing.assert_close(r_grads[key] / WORLD, local, atol=1e-5, rtol=0, msg=f"{name} {key}")
    value, grads = run_model(CONFIGS["dsl_full"], TinyTowers(), raw)
    for res in ranks:
        assert abs(res["ddp"][0] - value) < 1e-5
        for key, g in grads.items():
            torch.testing.assert_close(res["ddp"][1][key], g, atol=1e-5, rtol=0, msg=f"ddp {key}")
