"""Fine-tuned classification and linear probing (the cxrvlp.eval.finetune subpackage)."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from cxrvlp.eval.dataset import EvalItem
from cxrvlp.eval.finetune import FinetuneConfig, embed_for_probe, run_finetune, task_name
from cxrvlp.eval.finetune.data import (
    LabelledSet,
    check_splits,
    class_list,
    label_matrix,
    read_labelled_manifest,
    sample_fraction,
)
from cxrvlp.eval.finetune.full import predict, train_full
from cxrvlp.eval.finetune.scoring import score_seeds
from cxrvlp.eval.finetune.train import ImageSet, TrainOptions, backbone_of, macro_auroc, seeded
from cxrvlp.eval.results import EvalResult, compare_table

CLASSES = ("Cardiomegaly", "Effusion")


# ------------------------------------------------------------------------------------------------------ helpers
def _write_images(root: Path, n_per_split: dict[str, int], *, seed: int = 0, patient_col: bool = True) -> Path:
    """Generated CXR-like images: Effusion = bright lower band, Cardiomegaly = bright central disk, else noise.

    Patients own two images each; labels cycle through none / Cardiomegaly / Effusion / both.
    """
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    rows, k = [], 0
    yy, xx = np.mgrid[0:64, 0:64]
    disk = (yy - 32) ** 2 + (xx - 32) ** 2 < 14**2
    for split, n in n_per_split.items():
        for i in range(n):
            labels = [("No Finding",), ("Cardiomegaly",), ("Effusion",), ("Cardiomegaly", "Effusion")][(i // 2) % 4]
            arr = rng.normal(90, 25, size=(64, 64))
            if "Cardiomegaly" in labels:
                arr[disk] += 110
            if "Effusion" in labels:
                arr[48:] += 110
            name = f"images/{split}_{i:03d}.png"
            Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="L").save(root / name)
            row = {"image": name, "labels": ";".join(labels), "split": split}
            if patient_col:
                row["patient_id"] = f"{split}-p{i // 2}"
            rows.append(row)
            k += 1
    path = root / "manifest.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def _item(i: int, labels: tuple[str, ...], split: str) -> EvalItem:
    return EvalItem(id=f"im{i}", image=None, labels=labels, split=split)


class _FeaturePredictor:
    """A predictor whose ``encode_image`` is never called: linear-probe tests pass features directly."""

    def __init__(self) -> None:
        self.model = torch.nn.Linear(2, 2)
        self.device = torch.device("cpu")
        self.spec = "fake:features"

    def image_tensor(self, image: object) -> torch.Tensor:
        raise AssertionError("features were given; no image should be read")


def _synthetic_probe_data(n: int = 240, *, seed: int = 0) -> tuple[LabelledSet, torch.Tensor]:
    """Features with class signal in dims 0 / 1 plus noise; 60/20/20 split, two images per patient."""
    rng = np.random.default_rng(seed)
    y = rng.random((n, 2)) < 0.4
    x = rng.normal(size=(n, 16)).astype(np.float32)
    x[:, :2] += 2.0 * y
    splits = ["train"] * int(0.6 * n) + ["val"] * int(0.2 * n) + ["test"] * (n - int(0.8 * n))
    items = tuple(
        _item(i, tuple(c for c, on in zip(CLASSES, y[i], strict=True) if on) or ("No Finding",), splits[i])
        for i in range(n)
    )
    patients = tuple(f"{splits[i]}-{i // 2}" for i in range(n))
    return LabelledSet(items, patients, source="synthetic"), torch.from_numpy(x)


# ------------------------------------------------------------------------------------------------------ data
def test_sample_fraction_by_patient_seeded():
    patients = [f"p{i // 3}" for i in range(60)]  # 20 patients x 3 images
    a = sample_fraction(patients, 0.25, seed=1)
    assert len({patients[i] for i in a}) == 5
    assert len(a) == 15  # whole patients
    assert np.array_equal(a, sample_fraction(patients, 0.25, seed=1))
    assert not np.array_equal(a, sample_fraction(patients, 0.25, seed=2))
    assert np.array_equal(sample_fraction(patients, 1.0, seed=3), np.arange(60))
    assert len(sample_fraction(patients, 0.001, seed=0)) == 3  # at least one patient
    with pytest.raises(ValueError, match="fraction"):
        sample_fraction(patients, 0.0, seed=0)


def test_labels_no_finding_is_all_zero_and_not_a_class():
    items = [_item(0, ("No Finding",), "train"), _item(1, ("Effusion", "Mass"), "train"), _item(2, ("Mass",), "val")]
    assert class_list(items[:2]) == ["Effusion", "Mass"]
    y = label_matrix(items, ["Effusion", "Mass"])
    assert y.tolist() == [[0, 0], [1, 1], [0, 1]]


def test_read_labelled_manifest_patients(tmp_path):
    path = _write_images(tmp_path / "a", {"train": 4, "val": 2, "test": 2})
    data = read_labelled_manifest(path)
    assert data.patients[:4] == ("train-p0", "train-p0", "train-p1", "train-p1")
    assert data.items[1].labels == ("No Finding",)
    no_patients = read_labelled_manifest(_write_images(tmp_path / "b", {"train": 2}, patient_col=False))
    assert no_patients.patients == ("image:images/train_000.png", "image:images/train_001.png")


def test_check_splits_rejects_missing_split_and_patient_leak():
    items = (_item(0, ("Mass",), "train"), _item(1, ("Mass",), "val"), _item(2, ("Mass",), "test"))
    check_splits(LabelledSet(items, ("a", "b", "c")))
    with pytest.raises(ValueError, match="missing \\['test'\\]"):
        check_splits(LabelledSet(items[:2], ("a", "b")))
    with pytest.raises(ValueError, match="patient 'a'"):
        check_splits(LabelledSet(items, ("a", "b", "a")))


# ------------------------------------------------------------------------------------------------------ scoring
def test_score_seeds_hand_computed():
    y = np.array([[1, 0], [1, 0], [0, 0], [0, 0]], dtype=np.float32)  # class 2 has no positive: skipped
    perfect = np.array([[0.9, 0], [0.8, 0], [0.1, 0], [0.2, 0]])
    inverted = -perfect
    res = score_seeds(np.stack([perfect, inverted]), y, ["A", "B"], n_bootstrap=200, seed=0)
    assert res.metrics["macro_auroc"].value == pytest.approx(0.5)
    assert res.metrics["macro_auroc_std"].value == pytest.approx(np.std([1.0, 0.0], ddof=1))
    assert res.info["per_seed_macro"] == [1.0, 0.0]
    assert res.info["skipped"] == ["B"]
    assert list(res.breakdown) == ["A"]
    m = res.metrics["macro_auroc"]
    assert m.low <= m.value <= m.high
    assert macro_auroc(perfect, y) == 1.0


# ------------------------------------------------------------------------------------------------------ linear probe
def test_linear_probe_learns_and_never_looks_at_test():
    data, feats = _synthetic_probe_data()
    cfg = FinetuneConfig(fractions=(0.5, 1.0), seeds=(0, 1), n_bootstrap=100)
    stages: list[str] = []
    res = run_finetune(
        _FeaturePredictor(), data, config=cfg, features=feats, on_progress=lambda s, d, n: stages.append(s)
    )
    assert list(res.tasks) == ["lp50", "lp100"]
    assert res.tasks["lp100"].metrics["macro_auroc"].value > 0.9
    assert res.tasks["lp100"].info["classes"] == list(CLASSES)
    runs = res.tasks["lp50"].info["runs"]
    assert [r["n_train_patients"] for r in runs] == [36, 36]  # half of 72 train patients
    assert "lp50" in stages and "embed" not in stages

    # relabel the test split: the selected epochs and validation scores must not move, the test numbers must
    flipped = tuple(
        dataclasses.replace(it, labels=("No Finding",) if it.labels != ("No Finding",) else CLASSES)
        if it.split == "test"
        else it
        for it in data.items
    )
    res2 = run_finetune(
        _FeaturePredictor(), LabelledSet(flipped, data.patients), config=cfg, features=feats
    )  # same seeds
    for name in res.tasks:
        keep = ("best_epoch", "epochs_run", "best_val_auroc", "n_train_images")
        assert [{k: r[k] for k in keep} for r in res.tasks[name].info["runs"]] == [
            {k: r[k] for k in keep} for r in res2.tasks[name].info["runs"]
        ]
    assert res2.tasks["lp100"].metrics["macro_auroc"].value < 0.5


def test_result_json_round_trip_and_compare_table(tmp_path):
    data, feats = _synthetic_probe_data()
    res = run_finetune(_FeaturePredictor(), data, config=FinetuneConfig(seeds=(0,), n_bootstrap=50), features=feats)
    res.save(tmp_path / "r.json")
    back = EvalResult.load(tmp_path / "r.json")
    assert back.tasks["lp100"].metrics["macro_auroc"].value == pytest.approx(
        res.tasks["lp100"].metrics["macro_auroc"].value
    )
    assert "lp100/macro_auroc" in compare_table([back])
    assert json.loads((tmp_path / "r.json").read_text())["tasks"]["lp100"]["info"]["mode"] == "linear"


def test_config_validation_and_task_names():
    with pytest.raises(ValueError, match="mode"):
        FinetuneConfig(mode="probe")
    with pytest.raises(ValueError, match="fraction"):
        FinetuneConfig(fractions=(1.5,))
    assert FinetuneConfig(mode="full", lr=3e-5).options().lr == 3e-5
    assert FinetuneConfig().options().l2_grid[0] == 10.0
    assert FinetuneConfig(mode="full").options().epochs == 20
    assert (task_name("full", 0.1), task_name("linear", 1.0), task_name("linear", 0.01)) == ("ft10", "lp100", "lp1")


# ------------------------------------------------------------------------------------------------------ real models
@pytest.fixture(scope="module")
def tiny_predictor():
    from cxrvlp.inference import Predictor

    return Predictor.from_spec("preset:tiny", device="cpu")


def test_backbone_is_trunk_before_projection(tiny_predictor):
    backbone, desc = backbone_of(tiny_predictor.model)
    assert backbone is tiny_predictor.model.image.trunk
    assert "before the CLIP projection" in desc


def test_full_finetune_tiny_on_generated_images(tmp_path, tiny_predictor):
    data = read_labelled_manifest(_write_images(tmp_path, {"train": 48, "val": 16, "test": 16}))
    before = {k: v.clone() for k, v in tiny_predictor.model.state_dict().items()}
    stages: set[str] = set()
    cfg = FinetuneConfig(mode="full", fractions=(1.0,), seeds=(0,), epochs=6, patience=6, lr=1e-3, n_bootstrap=50)
    res = run_finetune(tiny_predictor, data, config=cfg, on_progress=lambda s, d, n: stages.add(s))
    task = res.tasks["ft100"]
    assert task.info["features"].startswith("image trunk")
    assert task.metrics["macro_auroc"].value > 0.75
    assert stages == {"ft100 seed 0", "ft100"}
    after = tiny_predictor.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the caller's model is untouched


def test_train_full_trains_the_backbone(tmp_path):
    """A zero-initialised conv backbone gives constant features (a head alone stays at chance): only a backbone
    that trains can separate the classes. The caller's backbone is copied, not modified."""
    data = read_labelled_manifest(_write_images(tmp_path, {"train": 48, "val": 16, "test": 16}))
    backbone = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 8, stride=8), torch.nn.Flatten())  # (B,3,64,64) -> (B,256)
    torch.nn.init.zeros_(backbone[0].weight)
    torch.nn.init.zeros_(backbone[0].bias)

    def to_tensor(path: str) -> torch.Tensor:
        return torch.from_numpy(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)

    def subset(split: str) -> tuple[ImageSet, np.ndarray]:
        items = [it for it in data.items if it.split == split]
        return ImageSet([it.image_path for it in items], to_tensor), label_matrix(items, CLASSES)

    (train, y_tr), (val, y_val), (test, y_te) = subset("train"), subset("val"), subset("test")
    opts = TrainOptions(lr=1e-2, head_lr=1e-2, weight_decay=0.0, epochs=8, patience=8, batch_size=16, pos_weight="none")
    with seeded(0, torch.device("cpu")):
        model, outcome = train_full(
            backbone, 256, train, torch.from_numpy(y_tr), val, y_val, opts, device=torch.device("cpu"), seed=0
        )
    assert outcome.best_val_auroc > 0.9
    assert macro_auroc(predict(model, test, device=torch.device("cpu"), batch_size=16, num_workers=0), y_te) > 0.9
    assert torch.count_nonzero(backbone[0].weight) == 0


def _small_tensor(image: object) -> torch.Tensor:
    """Any image input -> ``[3, 32, 32]`` in [0, 1] (an adapter's own preprocessing)."""
    from torchvision.transforms.functional import pil_to_tensor, resize

    from cxrvlp.data.images import read_image

    return resize(pil_to_tensor(read_image(image).convert("RGB")).float() / 255, [32, 32])


def test_full_finetune_adapter(tmp_path):
    """An external model trains through ``encode_image`` (its ``image.trunk`` is not ours) with its own training
    transform."""
    data = read_labelled_manifest(_write_images(tmp_path, {"train": 8, "val": 8, "test": 8}))

    class Adapter(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 8, stride=8)
            self.image = SimpleNamespace(trunk=torch.nn.Identity())  # like open_clip's: not our timm trunk
            self.train_transforms = 0

        def image_transform(self, *, train: bool = False) -> Callable[[Image.Image], torch.Tensor]:
            self.train_transforms += train
            return _small_tensor

        def encode_image(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.normalize(self.conv(x).mean((2, 3)), dim=-1)

    class AdapterPredictor:
        model, device, spec = Adapter(), torch.device("cpu"), "fake:adapter"

        def image_tensor(self, image: object) -> torch.Tensor:
            return _small_tensor(image)

    cfg = FinetuneConfig(mode="full", seeds=(0,), epochs=1, n_bootstrap=0)
    res = run_finetune(AdapterPredictor(), data, config=cfg)
    assert res.tasks["ft100"].info["features"] == "encode_image joint-space embedding"
    assert res.tasks["ft100"].info["runs"][0]["epochs_run"] == 1
    assert AdapterPredictor.model.train_transforms == 1  # the adapter's own training transform was used


def test_cli_finetune_then_compare(tmp_path, capsys):
    from cxrvlp.cli import main

    manifest = _write_images(tmp_path, {"train": 16, "val": 8, "test": 8})
    out = tmp_path / "tiny_lp.json"
    args = [
        "eval",
        "finetune",
        "--model",
        "preset:tiny",
        "--data",
        str(manifest),
        "--device",
        "cpu",
        "--num-workers",
        "1",
    ]
    args += ["--fraction", "0.5", "1.0", "--seeds", "0", "1", "--bootstrap", "50", "--out", str(out)]
    assert main(args) == 0
    assert set(EvalResult.load(out).tasks) == {"lp50", "lp100"}
    capsys.readouterr()
    assert main(["eval", "compare", str(out)]) == 0
    assert "lp50/macro_auroc" in capsys.readouterr().out


@pytest.mark.gpu
def test_full_finetune_on_cuda_bf16(tmp_path):
    from cxrvlp.inference import Predictor

    data = read_labelled_manifest(_write_images(tmp_path, {"train": 48, "val": 16, "test": 16}))
    predictor = Predictor.from_spec("preset:tiny", device="cuda")
    cfg = FinetuneConfig(mode="full", seeds=(0,), epochs=6, patience=6, lr=1e-3, n_bootstrap=50, num_workers=2)
    res = run_finetune(predictor, data, config=cfg)
    assert res.meta["device"].startswith("cuda")
    assert res.tasks["ft100"].metrics["macro_auroc"].value > 0.75


@pytest.mark.shared_data
@pytest.mark.slow
def test_lite_linear_probe_on_nih_above_chance(shared_data):
    """Untrained ``lite`` (ImageNet trunk): linear probe at 10% and 100% of the train patients beats chance on test.

    Both fractions reuse one embedding pass over the 690 images (the main cost).
    """
    from cxrvlp.inference import Predictor

    data = read_labelled_manifest(shared_data / "nih_cxr14_sample" / "manifest.csv")
    predictor = Predictor.from_spec("preset:lite", device="cpu")
    cfg = FinetuneConfig(fractions=(0.1, 1.0), seeds=(0, 1, 2), n_bootstrap=200)
    features = embed_for_probe(predictor, data, config=cfg)
    assert features.shape == (690, 1280)
    res = run_finetune(predictor, data, config=cfg, features=features)
    for name in ("lp10", "lp100"):
        task = res.tasks[name]
        assert task.info["n_test"] == 110
        assert task.metrics["macro_auroc"].value > 0.5, (name, task.metrics)
    assert res.tasks["lp100"].metrics["macro_auroc"].value > res.tasks["lp10"].metrics["macro_auroc"].value
