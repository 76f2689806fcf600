"""The trainer in-process on a tiny generated dataset: logs, checkpoints, NaN stop, schedule, configs."""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cxrvlp import cli
from cxrvlp.config import ConfigError, LossConfig
from cxrvlp.losses import ablation_config
from cxrvlp.models import CXRClip
from cxrvlp.train import NonFiniteLossError, build_config, cosine_lr, find_checkpoint, load_trainer_state, train
from cxrvlp.train.logger import read_log

REPO = Path(__file__).resolve().parents[1]
REPORTS = [
    "FINDINGS: The heart is normal in size. The lungs are clear. IMPRESSION: No acute cardiopulmonary abnormality.",
    "FINDINGS: There is a small right pleural effusion. IMPRESSION: Small right pleural effusion.",
    "FINDINGS: Cardiomegaly. Mild pulmonary edema. IMPRESSION: Cardiomegaly with mild edema.",
    "FINDINGS: Left apical pneumothorax. IMPRESSION: Small left pneumothorax.",
    "FINDINGS: Bibasilar atelectasis. IMPRESSION: Bibasilar atelectasis.",
    "IMPRESSION: Normal chest.",
]
LABELS = ["No Finding", "Effusion", "Cardiomegaly;Edema", "Pneumothorax", "Atelectasis", "No Finding"]
"""The NIH-style image labels of REPORTS (the manifest's ``labels`` column; CON2 draws distractors from them)."""


def write_dataset(root: Path, n: int = 12, n_val: int = 4, *, labels: bool = True) -> Path:
    """``n`` random 72x80 PNGs and a manifest (last ``n_val`` rows in ``val``; a ``labels`` column unless not)."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with (root / "manifest.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "report", "split"] + (["labels"] if labels else []))
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (80, 72), dtype=np.uint8)).save(root / "img" / f"{i}.png")
            row = [f"img/{i}.png", REPORTS[i % len(REPORTS)], "val" if i >= n - n_val else "train"]
            w.writerow(row + ([LABELS[i % len(LABELS)]] if labels else []))
    return root / "manifest.csv"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("ds"))


def tiny_config(manifest: Path, run_dir: Path, *overrides: str):
    base = [
        f"data.root={manifest}", f"data.cache_dir={manifest.parent / 'cache'}", "data.num_workers=0",
        f"train.run_dir={run_dir}", "train.batch_size=4", "train.epochs=2", "train.lr=1e-3", "train.warmup_steps=2",
        "train.log_every=1",
    ]  # fmt: skip
    return build_config(preset="tiny", overrides=base + list(overrides))


def test_cosine_schedule_warms_up_then_decays() -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.0)
    adjust = cosine_lr(opt, base_lr=1.0, warmup_steps=4, total_steps=14)
    lrs = [adjust(s) for s in range(14)]
    assert lrs[:4] == [0.25, 0.5, 0.75, 1.0]
    assert lrs[9] == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert all(a > b for a, b in zip(lrs[4:], lrs[5:], strict=False)) and opt.param_groups[0]["lr"] == lrs[-1]


def test_build_config_layers_preset_file_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("model: {embed_dim: 16, graph: {enabled: true}}\ntrain: {lr: 0.5}\n")
    cfg = build_config(path, preset="tiny", overrides=["train.batch_size=3"])
    assert cfg.model.image_size == 64 and cfg.model.embed_dim == 16 and cfg.model.graph.enabled
    assert cfg.model.graph.hidden_dim == 32  # the preset's value survives a partial graph section
    assert (cfg.train.lr, cfg.train.batch_size) == (0.5, 3)
    with pytest.raises(ConfigError, match="train.nope"):
        build_config(path, overrides=["train.nope=1"])
    path.write_text("trian: {lr: 1}\n")
    with pytest.raises(ConfigError, match="trian"):
        build_config(path)


def test_cli_rejects_unknown_override(tmp_path: Path, capsys) -> None:
    assert cli.main(["train", "--preset", "tiny", "train.bogus=1"]) == 2
    assert "train.bogus" in capsys.readouterr().err


ROWS = {
    "clip": "CLIP", "clip_n": "CLIP^N", "dsl_t": "CLIP-D_t", "dsl_tc": "CLIP-D_{t+c}", "n_dsl_tc": "CLIP^N-D_{t+c}",
    "g_dsl_tcg": "CLIP^G-D_{t+c+g}", "n_g_dsl_tcg": "CLIP^{N,G}-D_{t+c+g}",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(ROWS))
def test_ablation_configs_match_the_paper_rows(name: str) -> None:
    cfg = build_config(REPO / "configs" / f"{name}.yaml")
    expected = ablation_config(ROWS[name])
    if expected.name == "infonce":
        assert cfg.loss.name == "infonce"
    else:
        assert cfg.loss == expected
    assert cfg.model.graph.enabled == (expected.graph_pairs or expected.graph_stream)


@pytest.mark.parametrize("name,loss", [("con1", "infonce"), ("con2", "conclip")])
def test_con_configs_start_from_a_checkpoint(name: str, loss: str) -> None:
    cfg = build_config(REPO / "configs" / f"{name}.yaml")
    assert cfg.loss.name == loss and cfg.train.init_from


def test_train_logs_every_term_and_writes_loadable_checkpoints(manifest: Path, tmp_path: Path) -> None:
    seen = []
    result = train(tiny_config(manifest, tmp_path / "run"), on_progress=seen.append)
    assert result.step == 4 and [p.step for p in seen] == list(range(1, 5)) and seen[-1].total_steps == 4
    log = read_log(tmp_path / "run")
    train_lines = [e for e in log if e["kind"] == "train"]
    assert [e["step"] for e in train_lines] == list(range(1, 5))
    assert {"i2t_loss", "t2i_loss", "loss", "lr", "grad_norm", "samples_per_s"} <= set(train_lines[0])
    assert all(math.isfinite(e["loss"]) and 0 <= e["data_wait_frac"] <= 1 for e in train_lines)
    assert [e["step"] for e in log if e["kind"] == "val"] == [2, 4]
    model = CXRClip.from_pretrained(result.last)
    state = load_trainer_state(result.last)
    assert state["step"] == 4 and state["epoch"] == 2 and state["micro"] == 0
    assert result.best is not None and (tmp_path / "run" / "config.yaml").is_file()
    assert model.config.image_size == 64


def test_freezing_and_init_from_a_checkpoint(manifest: Path, tmp_path: Path) -> None:
    first = train(tiny_config(manifest, tmp_path / "a", "train.max_steps=1", "loss.name=infonce"))
    before = CXRClip.from_pretrained(first.last).state_dict()
    second = train(
        tiny_config(
            manifest, tmp_path / "b", f"train.init_from={first.last}", "train.freeze_image=true",
            "train.max_steps=2", "loss.name=conclip", "model.embed_dim=8",  # ignored: the checkpoint's architecture
        )
    )  # fmt: skip
    assert "distractor_loss" in read_log(tmp_path / "b")[0]  # CON2 with distractor images from the labels
    after = CXRClip.from_pretrained(second.last)
    assert after.config.embed_dim == 32
    trunk = [k for k in before if k.startswith("image.trunk.")]
    assert trunk and all(torch.equal(before[k], after.state_dict()[k]) for k in trunk)
    assert not torch.equal(before["image.proj.weight"], after.state_dict()["image.proj.weight"])


def test_nonfinite_loss_stops_and_keeps_the_last_good_checkpoint(manifest: Path, tmp_path: Path, monkeypatch) -> None:
    import cxrvlp.train.loop as loop

    real = loop.create_loss

    def poisoned(cfg: LossConfig):
        fn, calls = real(cfg), {"n": 0}

        def call(**outputs):
            calls["n"] += 1
            terms = fn(**outputs)
            if calls["n"] >= 4 and fn.training:
                terms = {k: v * float("nan") for k, v in terms.items()}
            return terms

        call.to = lambda device: call
        call.training = True
        return call

    monkeypatch.setattr(loop, "create_loss", poisoned)
    cfg = tiny_config(manifest, tmp_path / "run", "train.save_every=2", "train.log_every=2", "train.epochs=3")
    with pytest.raises(NonFiniteLossError, match=r"between steps 3 and 4.*step 2\)"):
        train(cfg)
    last = find_checkpoint(tmp_path / "run" / "checkpoints" / "last")
    assert load_trainer_state(last)["step"] == 2
    assert all(torch.isfinite(v).all() for v in CXRClip.from_pretrained(last).state_dict().values())


def test_find_checkpoint_survives_a_crash_mid_swap(manifest: Path, tmp_path: Path) -> None:
    result = train(tiny_config(manifest, tmp_path / "run", "train.max_steps=1", "loss.name=infonce"))
    old = result.last.with_name("last.old")
    result.last.rename(old)  # as if killed between the two renames
    assert find_checkpoint(result.last) == old
    assert dataclasses.is_dataclass(result)
