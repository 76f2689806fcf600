"""One loop for frozen and partly frozen trunks: the feature cache replays the uncached run; partial unfreezing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_train_loop import tiny_config, write_dataset

from cxrvlp.models import CXRClip, create_model
from cxrvlp.train import load_trainer_state, train
from cxrvlp.train.loop import RESULT_NAME
from cxrvlp.train.model_setup import apply_freezing, set_train_mode

FROZEN = ("train.freeze_image=true", "train.freeze_text=true", "data.augment=false", "train.max_steps=3")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("feat"))


@pytest.mark.parametrize(
    "method", [(), ("model.graph.enabled=true", "loss.graph_pairs=true", "loss.graph_stream=true")]
)
def test_cached_trunk_features_train_exactly_like_the_uncached_frozen_run(
    manifest: Path, tmp_path: Path, method
) -> None:
    cache = tmp_path / "cache"
    plain = train(tiny_config(manifest, tmp_path / "plain", *FROZEN, *method, f"data.cache_dir={cache}"))
    cached = train(
        tiny_config(
            manifest, tmp_path / "cached", *FROZEN, *method, f"data.cache_dir={cache}", "train.cache_features=true"
        )
    )
    files = sorted(cache.glob("trunk_*.safetensors"))
    assert len(files) == 1
    a = CXRClip.from_pretrained(plain.last).state_dict()
    b = CXRClip.from_pretrained(cached.last).state_dict()
    assert not torch.equal(a["image.proj.weight"], create_model("tiny").state_dict()["image.proj.weight"])
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=2e-5, rtol=1e-4, msg=key)
    assert cached.train_metrics["loss"] == pytest.approx(plain.train_metrics["loss"], rel=1e-4)
    if method:
        assert "g2t_loss" in cached.train_metrics
    # a second run reads the same file (all rows and seeds of an ablation share it)
    mtime = files[0].stat().st_mtime_ns
    train(tiny_config(manifest, tmp_path / "again", *FROZEN, f"data.cache_dir={cache}", "train.cache_features=true"))
    assert files[0].stat().st_mtime_ns == mtime and sorted(cache.glob("trunk_*.safetensors")) == files


def test_seeds_are_recorded_in_the_checkpoint_and_the_result_json(manifest: Path, tmp_path: Path) -> None:
    import json

    result = train(tiny_config(manifest, tmp_path / "r", *FROZEN, "model.seed=3", "train.seed=5"))
    assert load_trainer_state(result.last)["seeds"] == {"model": 3, "train": 5, "data": 0}
    summary = json.loads((tmp_path / "r" / RESULT_NAME).read_text())
    assert summary["seeds"] == {"model": 3, "train": 5, "data": 0} and summary["step"] == 3
    assert CXRClip.from_pretrained(result.last).config.seed == 3


@pytest.mark.parametrize(
    "overrides,match",
    [
        (("train.cache_features=true", "data.augment=false"), "both trunks frozen"),
        (("train.cache_features=true", "train.freeze_image=true", "train.freeze_text=true"), "data.augment=false"),
        (("train.unfreeze_image_blocks=1",), "freeze_image=true"),
        (("train.freeze_text=true", "train.unfreeze_text_layers=5"), "has 2 layers"),
    ],
)
def test_inconsistent_freezing_options_are_refused(manifest: Path, tmp_path: Path, overrides, match) -> None:
    with pytest.raises(ValueError, match=match):
        train(tiny_config(manifest, tmp_path / "x", *overrides))


def test_partial_unfreezing_trains_only_the_last_blocks(manifest: Path, tmp_path: Path) -> None:
    cfg = tiny_config(
        manifest, tmp_path / "p", "train.freeze_image=true", "train.freeze_text=true", "train.max_steps=2",
        "train.unfreeze_image_blocks=1", "train.unfreeze_text_layers=1",
    )  # fmt: skip
    model = create_model(cfg.model)
    apply_freezing(model, cfg.train)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any(n.startswith("image.trunk.blocks.1.") for n in trainable)
    assert any(n.startswith("image.trunk.norm.") for n in trainable)  # what follows the blocks trains too
    assert not any(n.startswith(("image.trunk.blocks.0.", "image.trunk.patch_embed.")) for n in trainable)
    assert any(n.startswith("text.backbone.encoder.layer.1.") for n in trainable)
    assert not any(n.startswith(("text.backbone.encoder.layer.0.", "text.backbone.embeddings.")) for n in trainable)
    set_train_mode(model, cfg.train)
    assert model.image.trunk.blocks[1].training and not model.image.trunk.blocks[0].training

    before = create_model(cfg.model).state_dict()
    after = CXRClip.from_pretrained(train(cfg).last).state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("image.trunk.blocks.1.") for k in changed)
    assert any(k.startswith("text.backbone.encoder.layer.1.") for k in changed)
    assert not any(k.startswith(("image.trunk.blocks.0.", "text.backbone.encoder.layer.0.")) for k in changed)


class _Stop(Exception):
    pass


def test_interrupted_con2_run_on_cached_features_resumes_exactly(manifest: Path, tmp_path: Path) -> None:
    """CON2 (distractors drawn per sample seed) on cached features: stop after step 4, resume from the mid-epoch
    step-3 checkpoint, and end with the weights and losses of the uninterrupted run."""
    from cxrvlp.train.logger import read_log

    extra = (*FROZEN[:3], "train.epochs=3", "train.save_every=3", "loss.name=conclip", "train.cache_features=true")
    extra += (f"data.cache_dir={tmp_path / 'cache'}",)
    reference = train(tiny_config(manifest, tmp_path / "ref", *extra))
    assert reference.step == 6  # 8 train pairs, B = 4: 2 steps per epoch

    def stop_at_4(p) -> None:
        if p.step == 4:
            raise _Stop

    cfg = tiny_config(manifest, tmp_path / "run", *extra)
    with pytest.raises(_Stop):
        train(cfg, on_progress=stop_at_4)
    state = load_trainer_state(tmp_path / "run" / "checkpoints" / "last")
    assert state["step"] == 3 and state["micro"] != 0  # stopped mid-epoch, one step lost
    resumed = train(cfg, resume=True)
    a = CXRClip.from_pretrained(reference.last).state_dict()
    b = CXRClip.from_pretrained(resumed.last).state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)
    ref_log = [e for e in read_log(tmp_path / "ref") if e["kind"] == "train"]
    run_log = [e for e in read_log(tmp_path / "run") if e["kind"] == "train"]
    assert [e["step"] for e in run_log] == [1, 2, 3, 4, 5, 6]
    assert "distractor_loss" in ref_log[0]
    assert [e["loss"] for e in run_log] == pytest.approx([e["loss"] for e in ref_log], rel=1e-6)
