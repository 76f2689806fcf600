"""The small-scale ablation behind the README's "Results" and the demo checkpoint.

Data: the NIH ChestX-ray14 sample in ``../shared/data`` (690 real images, labels only, split by patient) with reports
COMPOSED from real Open-I sentences (``cxrvlp compose``). Model: the ``lite`` preset with BOTH trunks frozen
(ImageNet EfficientNet-Lite0, all-MiniLM-L6-v2): the image and text projections, the temperature and (for the
graph methods) the GCN graph encoder train. Because the trunks are frozen, their pooled features are computed once
and each step runs only the trainable heads; the heads, the graph encoder and every loss are the library's own
(``cxrvlp.models``, ``cxrvlp.losses.ablation_config``), so a run is exactly a ``CXRClip`` trained with frozen trunks.

Every row gets the same data, steps, batch size, optimiser and seeds. Checkpoint selection (early stopping) uses the
val loss; every reported number is on the ``test`` split; the configuration shipped as the demo is chosen on val
by ``scripts/package_demo.py``.

    python scripts/demo_ablation.py OUT [--steps 600] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import time
from pathlib import Path

import torch

METHODS = {  # row name -> (ablation row of cxrvlp.losses.ablation_config, graph tower)
    "clip": ("CLIP", False),
    "clip_n": ("CLIP^N", False),
    "n_dsl_tc": ("CLIP^N-D_{t+c}", False),
    "n_g_dsl_tcg": ("CLIP^{N,G}-D_{t+c+g}", True),
}
FINETUNES = ("con1", "con2")  # from the CLIP run of the same seed
TEST_TASKS = ["align", "zeroshot", "adversarial", "negprompt"]


def build_model(graph: bool):
    from cxrvlp.models import create_model

    model = create_model("lite", graph={"enabled": graph, "hidden_dim": 256, "num_layers": 2, "dropout": 0.1})
    model.image.trunk.requires_grad_(False)
    model.text.backbone.requires_grad_(False)
    return model


@torch.inference_mode()
def features(model, records, table) -> dict:
    """Frozen trunk features of every record: image [N, F], report / hard negative [N, H], clinical, graphs."""
    from cxrvlp.data.images import read_image
    from cxrvlp.data.transforms import image_transform
    from cxrvlp.models import graph_to_data
    from cxrvlp.types import ReportGraph

    model.eval()
    rows = table.set_index("raw").loc[[r.report for r in records]]
    transform = image_transform(model.config)
    images = []
    for start in range(0, len(records), 32):
        x = torch.stack([transform(read_image(r.image)) for r in records[start : start + 32]])
        images.append(model.image.trunk(x))

    def text(texts: list[str]) -> torch.Tensor:
        out = []
        for start in range(0, len(texts), 64):
            tok = model.tokenize(texts[start : start + 64])
            hidden = model.text.backbone(**tok).last_hidden_state
            out.append(model.text.pool(hidden, tok["attention_mask"]))
        return torch.cat(out)

    def graphs(column: str) -> list:
        return [graph_to_data(ReportGraph.from_dict(json.loads(g)), model.tokenizer) for g in rows[column]]

    return {
        "image": torch.cat(images),
        "report": text(list(rows["report"])),
        "hardneg": text(list(rows["hardneg_report"])),
        "clinical": torch.tensor([list(v) for v in rows["labels"]], dtype=torch.float32),
        "hardneg_clinical": torch.tensor([list(v) for v in rows["hardneg_labels"]], dtype=torch.float32),
        "graph": graphs("graph"),
        "hardneg_graph": graphs("hardneg_graph"),
        "split": [r.split for r in records],
    }


def outputs(model, feats: dict, idx: torch.Tensor, *, graph: bool) -> dict:
    """The loss's keyword arguments for the records ``idx`` (what ``CXRClip.forward`` returns)."""
    import torch.nn.functional as F

    from cxrvlp.models import collate_graphs

    out = {
        "image_features": F.normalize(model.image.proj(feats["image"][idx]), dim=-1),
        "text_features": F.normalize(model.text.proj(feats["report"][idx]), dim=-1),
        "hardneg_text_features": F.normalize(model.text.proj(feats["hardneg"][idx]), dim=-1),
        "clinical": feats["clinical"][idx],
        "hardneg_clinical": feats["hardneg_clinical"][idx],
        "logit_scale": model.scale(),
    }
    if graph:
        ids = idx.tolist()
        out["graph_features"] = model.encode_graph(collate_graphs([feats["graph"][i] for i in ids]))
        out["hardneg_graph_features"] = model.encode_graph(collate_graphs([feats["hardneg_graph"][i] for i in ids]))
    return out


def train_heads(model, loss_fn, feats, *, graph, steps, lr, seed, batch=64, eval_every=20) -> dict:
    """AdamW + cosine on the trainable heads; keeps the state with the lowest val loss. Returns the log."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.1)
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
    )
    split = feats["split"]
    train_idx = torch.tensor([i for i, s in enumerate(split) if s == "train"])
    val_idx = torch.tensor([i for i, s in enumerate(split) if s == "val"])
    gen = torch.Generator().manual_seed(seed)
    best, best_state, log = float("inf"), None, []
    order, pos = train_idx[torch.randperm(len(train_idx), generator=gen)], 0
    for step in range(1, steps + 1):
        model.train()
        if pos + batch > len(order):
            order, pos = train_idx[torch.randperm(len(train_idx), generator=gen)], 0
        idx, pos = order[pos : pos + batch], pos + batch
        loss = sum(loss_fn(**outputs(model, feats, idx, graph=graph)).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % eval_every == 0 or step == steps:
            model.eval()
            with torch.no_grad():
                val = float(sum(loss_fn(**outputs(model, feats, val_idx, graph=graph)).values()))
            log.append({"step": step, "train_loss": float(loss.detach()), "val_loss": val})
            if val < best:
                best, best_state = val, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    return {"log": log, "best_val_loss": best}


def evaluate_run(run_dir: Path, test_items, val_items, results: Path, name: str) -> None:
    from cxrvlp.eval import evaluate
    from cxrvlp.eval.textdiag import text_diagnostics
    from cxrvlp.inference import Predictor

    predictor = Predictor.from_pretrained(run_dir)
    evaluate(
        predictor,
        test_items,
        tasks=TEST_TASKS,
        label_source="dataset",
        n_bootstrap=1000,
        seed=0,
        model_name=name,
        dataset_name="NIH sample, composed reports, test",
    ).save(results / f"{name}.json")
    evaluate(
        predictor,
        val_items,
        tasks=["align", "zeroshot"],
        label_source="dataset",
        n_bootstrap=0,
        seed=0,
        model_name=name,
        dataset_name="NIH sample, composed reports, val",
    ).save(results / f"{name}.val.json")
    save_textdiag(text_diagnostics(predictor, max_reports=1000, n_bootstrap=1000, seed=0), results, name)


def save_textdiag(task, results: Path, name: str) -> None:
    from cxrvlp.eval.results import EvalResult

    EvalResult(model=name, dataset="Open-I reports (real), first 1000", tasks={"textdiag": task}).save(
        results / f"{name}.textdiag.json"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--finetune-steps", type=int, default=200)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(2)

    from cxrvlp.config import DataConfig
    from cxrvlp.data.compose import SentenceBanks, build_banks, compose_manifest
    from cxrvlp.data.openi import load_openi_reports
    from cxrvlp.data.sources import prepare
    from cxrvlp.eval import read_manifest
    from cxrvlp.losses import ablation_config, create_loss
    from cxrvlp.models.delta import save_delta

    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results"
    results.mkdir(exist_ok=True)
    banks_path, manifest = args.out / "banks.json", args.out / "nih_composed.csv"
    if banks_path.is_file():
        banks = SentenceBanks.from_json(banks_path)
    else:
        banks = build_banks([r.text for r in load_openi_reports()], seed=0)
        banks.to_json(banks_path)
    compose_manifest(args.data / "nih_cxr14_sample", manifest, banks, seed=0)
    records, table = prepare(DataConfig(dataset="manifest", root=str(manifest), num_workers=0))
    test_items, val_items = read_manifest(manifest, split="test"), read_manifest(manifest, split="val")
    if not (results / "untrained.json").is_file():
        from cxrvlp.eval import evaluate
        from cxrvlp.eval.textdiag import text_diagnostics
        from cxrvlp.inference import Predictor

        lite = Predictor.from_preset("lite")
        evaluate(
            lite,
            test_items,
            tasks=TEST_TASKS,
            label_source="dataset",
            n_bootstrap=1000,
            seed=0,
            model_name="untrained lite",
        ).save(results / "untrained.json")
        save_textdiag(text_diagnostics(lite, max_reports=1000, n_bootstrap=1000, seed=0), results, "untrained")

    feats = {}
    for graph in (False, True):
        t = time.perf_counter()
        feats[graph] = features(build_model(graph), records, table)
        print(f"frozen features (graph={graph}) of {len(records)} records in {time.perf_counter() - t:.0f} s")

    def run(name: str, row: str, graph: bool, seed: int, *, init: Path | None, steps: int, lr: float, loss_cfg=None):
        out_dir = args.out / name
        if (results / f"{name}.json").is_file():
            return
        torch.manual_seed(seed)
        model = build_model(graph)
        if init is not None:
            from cxrvlp.models.delta import load_delta

            model.load_state_dict(load_delta(init).state_dict())
            model.image.trunk.requires_grad_(False)
            model.text.backbone.requires_grad_(False)
        loss_fn = create_loss(loss_cfg or ablation_config(row))
        t = time.perf_counter()
        info = train_heads(model, loss_fn, feats[graph], graph=graph, steps=steps, lr=lr, seed=seed)
        train_s = time.perf_counter() - t
        save_delta(model.eval(), out_dir, half=False)
        (out_dir / "train_log.json").write_text(json.dumps({**info, "seconds": train_s}, indent=1))
        evaluate_run(out_dir, test_items, val_items, results, name)
        print(f"{name}: {steps} steps in {train_s:.0f} s, best val loss {info['best_val_loss']:.4f}")

    from cxrvlp.config import LossConfig

    for seed in args.seeds:
        for method, (row, graph) in METHODS.items():
            run(f"{method}-s{seed}", row, graph, seed, init=None, steps=args.steps, lr=args.lr)
        clip_dir = args.out / f"clip-s{seed}"
        for name, loss in (("con1", "infonce"), ("con2", "conclip")):  # CON1 / CON2 fine-tuning of CLIP
            run(
                f"{name}-s{seed}",
                "CLIP",
                False,
                seed,
                init=clip_dir,
                steps=args.finetune_steps,
                lr=args.lr / 10,
                loss_cfg=LossConfig(name=loss),
            )


if __name__ == "__main__":
    main()
