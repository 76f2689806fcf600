"""One loop for frozen and partly frozen trunks: the feature cache replays the uncached run; partial unfreezing, also
on a cached frozen prefix of the image trunk."""

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
EFFNET = ("model.image_encoder=test_efficientnet", "model.image_kwargs={}")
"""timm's 0.1M-parameter EfficientNet test model (5 stages; forward = its children in order) at the tiny 64 px."""


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
        ((*FROZEN[:3], "train.cache_features=true", "train.unfreeze_text_layers=1"), "unfreeze_text_layers"),
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


def _stop_at_step_4(cfg) -> None:
    """Train ``cfg`` until the progress callback of step 4 interrupts it (an exception, as a SIGINT would)."""

    def stop_at_4(p) -> None:
        if p.step == 4:
            raise _Stop

    with pytest.raises(_Stop):
        train(cfg, on_progress=stop_at_4)


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

    cfg = tiny_config(manifest, tmp_path / "run", *extra)
    _stop_at_step_4(cfg)
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


def test_check_freezing_accepts_a_cached_image_prefix_but_not_a_cached_text_tail() -> None:
    from cxrvlp.config import TrainConfig
    from cxrvlp.train.model_setup import check_freezing

    frozen = {"freeze_image": True, "freeze_text": True, "cache_features": True}
    check_freezing(TrainConfig(**frozen, unfreeze_image_blocks=1))
    with pytest.raises(ValueError, match="unfreeze_text_layers"):
        check_freezing(TrainConfig(**frozen, unfreeze_text_layers=1))
    with pytest.raises(ValueError, match="both trunks frozen"):
        check_freezing(TrainConfig(freeze_image=True, cache_features=True, unfreeze_image_blocks=1))


@pytest.mark.parametrize("method", [(), ("loss.name=conclip",)])
def test_cached_prefix_partial_unfreeze_trains_exactly_like_the_uncached_run(
    manifest: Path, tmp_path: Path, method
) -> None:
    """unfreeze_image_blocks=1: caching the frozen prefix and running the last stage + conv_head / bn2 per step ends
    with the weights of the run that decodes images and runs the whole trunk (BatchNorm of the tail in train mode
    in both; CON2's distractor images through the same cached prefix)."""
    from safetensors.torch import load_file

    cache = tmp_path / "cache"
    common = (*EFFNET, *FROZEN, "train.unfreeze_image_blocks=1", f"data.cache_dir={cache}", *method)
    plain = train(tiny_config(manifest, tmp_path / "plain", *common))
    cached = train(tiny_config(manifest, tmp_path / "cached", *common, "train.cache_features=true"))
    files = sorted(cache.glob("trunk_*.safetensors"))
    assert len(files) == 1
    model = create_model(tiny_config(manifest, tmp_path / "m", *EFFNET).model)
    prefix = load_file(str(files[0]))["image"]
    # 12 images at the input of test_efficientnet's last stage at 64 px: 48 channels at stride 16
    assert prefix.shape == (12, 48, 4, 4) and prefix.dtype == torch.float32
    before = model.state_dict()
    a = CXRClip.from_pretrained(plain.last).state_dict()
    b = CXRClip.from_pretrained(cached.last).state_dict()
    changed = {k for k in before if not torch.equal(before[k], a[k])}
    assert any(k.startswith("image.trunk.blocks.4.") and k.endswith("running_mean") for k in changed)
    assert any(k.startswith("image.trunk.conv_head.") for k in changed) and "image.proj.weight" in changed
    assert not any(k.startswith(("image.trunk.blocks.3.", "image.trunk.conv_stem.", "text.backbone.")) for k in changed)
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=2e-5, rtol=1e-4, msg=key)
    assert cached.train_metrics["loss"] == pytest.approx(plain.train_metrics["loss"], rel=1e-4)
    assert cached.val_metrics["loss"] == pytest.approx(plain.val_metrics["loss"], rel=1e-4)
    if method:
        assert "distractor_loss" in cached.train_metrics


def test_cached_prefix_batches_say_what_they_hold(manifest: Path, tmp_path: Path) -> None:
    from cxrvlp.data.collate import Collator
    from cxrvlp.data.dataset import CXRDataset
    from cxrvlp.data.sources import prepare
    from cxrvlp.train.features import trunk_features

    cfg = tiny_config(manifest, tmp_path / "r", *EFFNET, f"data.cache_dir={tmp_path / 'cache'}")
    model = create_model(cfg.model).eval()
    records, table = prepare(cfg.data)
    feats = trunk_features(model, records, table, cache_dir=tmp_path / "cache", image_tail_blocks=2)
    kwargs = {"transform": model.image_transform(), "streams": frozenset({"hardneg"})}
    ds = CXRDataset(records, table, features=feats, **kwargs)
    collate = Collator(model.tokenizer, max_length=16)
    batch = collate([ds[0], ds[1]])
    assert batch["image_tail_blocks"] == 2 and batch["image_prefix"].dim() == 4 and "image_trunk" not in batch
    assert "hardneg_text_trunk" in batch and "image" not in batch
    pixels = collate([CXRDataset(records, table, **kwargs)[i] for i in (0, 1)])["image"]
    with torch.no_grad():  # the tail on the cached prefix = the whole image tower on the decoded images
        torch.testing.assert_close(model(batch)["image_features"], model.encode_image(pixels), atol=1e-5, rtol=1e-5)
    # another k is another cache file; the input of the last 2 stages is bigger than that of the last one
    again = trunk_features(model, records, table, cache_dir=tmp_path / "cache", image_tail_blocks=1)
    assert len(list((tmp_path / "cache").glob("trunk_*.safetensors"))) == 2
    assert again.image[0].numel() < feats.image[0].numel() and again.image_tail_blocks == 1


class _Pooled(torch.nn.Module):
    """A trunk with ``blocks`` whose forward adds a parameter outside its children (as a ViT's position embedding)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.blocks = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3, padding=1), torch.nn.Conv2d(4, 4, 3, padding=1))
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.offset = torch.nn.Parameter(torch.ones(1, 4, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.blocks(self.stem(x) + self.offset)).flatten(1)


def test_the_prefix_check_refuses_a_trunk_whose_children_do_not_compose_to_its_forward() -> None:
    from timm import create_model as timm_model

    from cxrvlp.train.features import check_split

    x = torch.randn(2, 3, 32, 32)
    effnet = timm_model("test_efficientnet", num_classes=0).eval()
    with torch.no_grad():
        assert check_split(effnet, 1, x).shape == (2, 48, 2, 2)
        with pytest.raises(ValueError, match="_Pooled's forward is not its children in order.*different output"):
            check_split(_Pooled().eval(), 1, x)
        vit = timm_model("vit_tiny_patch16_224", img_size=32, depth=2, embed_dim=32, num_heads=2, num_classes=0)
        with pytest.raises(ValueError, match="VisionTransformer's forward is not its children in order"):
            check_split(vit.eval(), 1, x)


def test_a_vit_run_with_a_cached_prefix_is_refused(manifest: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="VisionTransformer.*run without train.cache_features"):
        train(
            tiny_config(manifest, tmp_path / "v", *FROZEN, "train.unfreeze_image_blocks=1", "train.cache_features=true")
        )


def test_interrupted_cached_prefix_run_resumes_exactly(manifest: Path, tmp_path: Path) -> None:
    """A cached-prefix partial-unfreeze run stopped after step 4 and resumed from step 3 replays the uninterrupted
    one (the resumed model's tail has moved; the cache key covers only the frozen prefix, so it reads the same
    file)."""
    extra = (*EFFNET, *FROZEN[:3], "train.epochs=3", "train.save_every=3", "train.unfreeze_image_blocks=1")
    extra += ("train.cache_features=true", f"data.cache_dir={tmp_path / 'cache'}")
    reference = train(tiny_config(manifest, tmp_path / "ref", *extra))
    assert reference.step == 6

    cfg = tiny_config(manifest, tmp_path / "run", *extra)
    _stop_at_step_4(cfg)
    assert load_trainer_state(tmp_path / "run" / "checkpoints" / "last")["step"] == 3
    resumed = train(cfg, resume=True)
    assert len(list((tmp_path / "cache").glob("trunk_*.safetensors"))) == 1
    a = CXRClip.from_pretrained(reference.last).state_dict()
    b = CXRClip.from_pretrained(resumed.last).state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)
