"""CON2 = CoN-CLIP: distractor images drawn from the images' own labels, and a loss that differs from CLIP^N's."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_train_loop import write_dataset

from cxrvlp.config import DataConfig, LossConfig
from cxrvlp.data.collate import Collator
from cxrvlp.data.dataset import CXRDataset, streams_for
from cxrvlp.data.distractors import DistractorPool, MissingLabelsError, image_label_set, report_sets
from cxrvlp.data.sources import prepare
from cxrvlp.losses import ablation_config, create_loss
from cxrvlp.models import create_model, preset_config
from cxrvlp.types import CHEXPERT_CLASSES


def _vector(*classes: str) -> list[float]:
    return [1.0 if c in classes else 0.0 for c in CHEXPERT_CLASSES]


def test_image_labels_map_nih_names_to_chexpert_classes() -> None:
    assert image_label_set("Effusion;Mass;Emphysema") == {"Pleural Effusion", "Lung Lesion", "Emphysema"}
    assert image_label_set("No Finding") == frozenset()
    assert image_label_set("Pleural Effusion;Support Devices") == {"Pleural Effusion"}
    # the COVID-19 collection's infections are pneumonias: a COVID film never "lacks" Pneumonia
    assert image_label_set("COVID-19;ARDS") == {"Pneumonia", "Lung Opacity"}
    assert image_label_set("Pneumocystis") == {"Pneumonia"}


def test_report_sets_name_the_negated_finding_and_what_the_hard_negative_still_says() -> None:
    denied, asserted = report_sets(_vector("Pleural Effusion", "Cardiomegaly"), _vector("Cardiomegaly"))
    assert (denied, asserted) == ({"Pleural Effusion"}, {"Cardiomegaly"})
    # a normal report's hard negative is a report with one finding: nothing denied, that finding asserted
    assert report_sets(_vector("No Finding"), _vector("Pneumothorax")) == (frozenset(), {"Pneumothorax"})


def test_pool_prefers_images_sharing_the_other_findings_and_never_the_negated_one() -> None:
    labels = [
        frozenset({"Pleural Effusion"}),
        frozenset({"Cardiomegaly", "Pleural Effusion"}),
        frozenset({"Cardiomegaly"}),
        frozenset({"Cardiomegaly"}),
        frozenset(),
        None,  # unlabelled: never a distractor
    ]
    pool = DistractorPool(labels)
    signature = (frozenset({"Pleural Effusion"}), frozenset({"Cardiomegaly"}))
    assert pool.candidates(signature) == [2, 3]
    assert pool.candidates(signature, exclude=2) == [3]
    draws = {pool.draw(signature, seed, exclude=0) for seed in range(20)}
    assert draws == {2, 3}
    assert pool.draw(signature, 5, exclude=0) == pool.draw(signature, 5, exclude=0)
    # the only image without the negated finding is the sample itself: next tier
    alone = DistractorPool([frozenset({"Edema"}), frozenset(), frozenset({"Edema", "Atelectasis"})])
    assert alone.candidates((frozenset({"Atelectasis"}), frozenset({"Edema"})), exclude=0) == [1]
    with pytest.raises(LookupError):
        DistractorPool([frozenset({"Edema"})]).draw((frozenset({"Edema"}), frozenset()), 0)
    with pytest.raises(MissingLabelsError):
        DistractorPool([None, None])


def test_pool_draws_only_from_the_samples_own_collection() -> None:
    labels = [frozenset({"Pneumonia"}), frozenset(), frozenset({"Pneumonia"}), frozenset(), frozenset()]
    datasets = ["covid", "nih", "covid", "covid", "nih"]
    pool = DistractorPool(labels, datasets=datasets)
    denied = (frozenset({"Pneumonia"}), frozenset())
    assert pool.candidates(denied, exclude=0, dataset="covid") == [3]
    assert pool.candidates(denied, exclude=1, dataset="nih") == [4]
    assert {pool.draw(denied, seed, exclude=0, dataset="covid") for seed in range(10)} == {3}
    # no admissible image in the sample's own collection: none at all (never one from another collection)
    lone = DistractorPool([frozenset({"Pneumonia"}), frozenset()], datasets=["covid", "nih"])
    assert lone.candidates(denied, exclude=0, dataset="covid") == []
    with pytest.raises(ValueError, match="dataset names"):
        DistractorPool([frozenset()], datasets=["a", "b"])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("con2")
    manifest = write_dataset(root / "ds", n=12, n_val=0)
    records, table = prepare(DataConfig(root=str(manifest), cache_dir=str(root / "cache"), num_workers=0))
    return records, table


@pytest.fixture(scope="module")
def model():
    return create_model(preset_config("tiny")).eval()


def test_dataset_gives_each_sample_a_distractor_consistent_with_its_hard_negative(data, model) -> None:
    records, table = data
    ds = CXRDataset(records, table, transform=model.image_transform(), streams=frozenset({"distractor"}))
    assert len(ds) > 0 and "hardneg" in ds.streams
    by_image = {r.image: r for r in records}
    rows = {raw: i for i, raw in enumerate(table["raw"])}
    checked = 0
    for i in range(len(ds)):
        sample = ds[(i, 1234)]
        assert sample["distractor_image"].shape == sample["image"].shape
        j = ds.distractor_of(i, 1234)
        assert ds.distractor_images[j] != ds.images[i]
        row = rows[by_image[ds.images[i]].report]
        denied, _ = report_sets(list(table["labels"][row]), list(table["hardneg_labels"][row]))
        assert not image_label_set(by_image[ds.distractor_images[j]].labels) & denied
        checked += bool(denied)
        assert ds.distractor_of(i, 1234) == j  # a pure function of the seed: replays on resume
    assert checked > 0  # abnormal reports with a negated finding were among them


def test_con2_without_image_labels_is_a_clear_error(tmp_path: Path, model) -> None:
    manifest = write_dataset(tmp_path / "ds", n=6, n_val=0, labels=False)
    records, table = prepare(DataConfig(root=str(manifest), cache_dir=str(tmp_path / "cache"), num_workers=0))
    streams = streams_for(model.config, LossConfig(name="conclip"))
    assert "distractor" in streams
    with pytest.raises(MissingLabelsError, match="conclip_distractors=false"):
        CXRDataset(records, table, transform=model.image_transform(), streams=streams)
    off = streams_for(model.config, LossConfig(name="conclip", conclip_distractors=False))
    assert "distractor" not in off and "hardneg" in off


def test_con2_loss_differs_from_clip_n_with_distractors_and_equals_it_without(data, model) -> None:
    records, table = data
    collate = Collator(model.tokenizer, max_length=model.text.max_length)
    ds = CXRDataset(records, table, transform=model.image_transform(), streams=frozenset({"distractor"}))
    batch = collate([ds[(i, 7)] for i in range(6)])
    assert batch["distractor_image"].shape == batch["image"].shape
    with torch.no_grad():
        out = model(batch)
    assert "distractor_image_features" in out
    con2 = create_loss(LossConfig(name="conclip", gather=False))
    clip_n = create_loss(ablation_config("CLIP^N", LossConfig(gather=False)))
    with_distractors = float(sum(con2(**out).values()))
    reference = float(sum(clip_n(**out).values()))
    assert "distractor_loss" in con2(**out)
    assert abs(with_distractors - reference) > 1e-3
    out.pop("distractor_image_features")
    torch.testing.assert_close(sum(con2(**out).values()), sum(clip_n(**out).values()))
