"""CON2 fine-tuning of Hugging Face adapters through the trainer (``train.init_from: hf:DIR``), saved as cxrvlp
checkpoints that record the base spec and load back, offline, without the base directory."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from _external_models import save_tiny_clip, save_tiny_siglip
from PIL import Image

from cxrvlp.inference import Predictor
from cxrvlp.models import ExternalClip, load_model
from cxrvlp.train import build_config, train

REPO = Path(__file__).resolve().parents[1]
REPORTS = [
    "FINDINGS: There is a small right pleural effusion. IMPRESSION: Small right pleural effusion.",
    "FINDINGS: Cardiomegaly. Mild pulmonary edema. IMPRESSION: Cardiomegaly with mild edema.",
    "FINDINGS: Left apical pneumothorax. IMPRESSION: Small left pneumothorax.",
    "FINDINGS: Bibasilar atelectasis. IMPRESSION: Bibasilar atelectasis.",
]
LABELS = ["Effusion", "Cardiomegaly;Edema", "Pneumothorax", "Atelectasis"]  # the images' own labels (CON2 distractors)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ds")
    (root / "img").mkdir()
    rng = np.random.default_rng(0)
    with (root / "manifest.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "report", "labels", "split"])
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (40, 36), dtype=np.uint8)).save(root / "img" / f"{i}.png")
            split = "val" if i >= 8 else "train"
            w.writerow([f"img/{i}.png", REPORTS[i % len(REPORTS)], LABELS[i % len(LABELS)], split])
    return root / "manifest.csv"


@pytest.mark.parametrize("builder", [save_tiny_clip, save_tiny_siglip], ids=["clip", "siglip"])
def test_con2_two_steps_save_and_reload(builder, manifest: Path, tmp_path: Path) -> None:
    base = builder(tmp_path / "base")
    cfg = build_config(
        REPO / "configs" / "con2.yaml",
        overrides=[
            f"train.init_from=hf:{base}", "data.dataset=manifest", f"data.root={manifest}",
            f"data.cache_dir={tmp_path / 'cache'}", "data.num_workers=0", f"train.run_dir={tmp_path / 'run'}",
            "train.batch_size=4", "train.max_steps=2", "train.lr=1e-3", "train.warmup_steps=0", "train.log_every=1",
        ],
    )  # fmt: skip
    result = train(cfg)
    assert result.step == 2 and result.last is not None
    assert cfg.loss.name == "conclip" and {"i2t_loss", "t2i_loss"} <= set(result.train_metrics)
    assert math.isfinite(result.train_metrics["loss"])
    meta = json.loads((result.last / "config.json").read_text())
    assert meta["adapter"]["base_spec"] == f"hf:{base}" and meta["adapter"]["kind"] == "hf"
    original = load_model(f"hf:{base}")
    shutil.rmtree(base)  # the checkpoint is self-contained
    tuned = load_model(f"cxrvlp:{result.last}")
    assert isinstance(tuned, ExternalClip) and tuned.spec == f"hf:{base}" and tuned.config == original.config
    before, after = original.state_dict(), tuned.state_dict()
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # the fine-tuning moved the weights
    predictor = Predictor.from_spec(f"cxrvlp:{result.last}", device="cpu")
    scores = predictor.similarity(Image.open(manifest.parent / "img" / "0.png"), REPORTS[:2])
    assert sum(scores.probs) == pytest.approx(1.0)
    assert train(cfg, resume=True).step == 2  # a resume rebuilds the adapter from its own checkpoint


def test_con_configs_document_model_specs() -> None:
    for name in ("con1", "con2"):
        text = (REPO / "configs" / f"{name}.yaml").read_text()
        assert "hf:" in text and "open_clip:" in text
