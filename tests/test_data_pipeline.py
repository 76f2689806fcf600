"""Preprocessing cache, dataset, collate (the batch contract) and the resumable sampler."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cxrvlp.config import LossConfig, ModelConfig
from cxrvlp.data import preprocess
from cxrvlp.data.collate import Collator
from cxrvlp.data.dataset import CXRDataset, streams_for
from cxrvlp.data.records import Record
from cxrvlp.data.sampler import ResumableSampler
from cxrvlp.data.transforms import image_transform
from cxrvlp.types import CHEXPERT_CLASSES, ReportGraph

REPORTS = [
    "FINDINGS: The heart is normal in size. The lungs are clear. IMPRESSION: No acute cardiopulmonary abnormality.",
    "FINDINGS: Left apical pneumothorax. IMPRESSION: Small left pneumothorax.",
    "FINDINGS: There is a small right pleural effusion. IMPRESSION: Small right pleural effusion.",
    "FINDINGS: Cardiomegaly. Right lower lobe consolidation. IMPRESSION: Cardiomegaly and pneumonia.",
]
PNX = CHEXPERT_CLASSES.index("Pneumothorax")


@pytest.fixture(scope="module")
def table():
    return preprocess.preprocess_reports(REPORTS * 2, seed=0, graphs=True)


def _pathologies(vec) -> list[str]:
    return [
        c for c, v in zip(CHEXPERT_CLASSES, vec, strict=True) if v == 1.0 and c not in ("No Finding", "Support Devices")
    ]


def test_table_has_one_row_per_distinct_report(table) -> None:
    assert list(table.columns) == list(preprocess.COLUMNS)
    assert sorted(table["raw"]) == sorted(REPORTS) and len(table) == 4
    assert all(len(v) == 14 for v in table["labels"])


def test_abnormal_reports_get_the_negated_report(table) -> None:
    row = table[table["raw"] == REPORTS[1]].iloc[0]
    assert "FINDINGS" not in row["report"] and "pneumothorax" in row["report"].lower()
    assert row["labels"][PNX] == 1.0 and row["hardneg_labels"][PNX] == 0.0  # r^n: the finding negated
    assert "pneumothorax" in row["hardneg_report"].lower()


def test_normal_reports_get_a_single_finding_report(table) -> None:
    row = table[table["raw"] == REPORTS[0]].iloc[0]
    assert _pathologies(row["labels"]) == []
    assert row["hardneg_report"] in set(table["report"])
    assert len(_pathologies(row["hardneg_labels"])) == 1


def test_graphs_are_stored_as_report_graph_json(table) -> None:
    graph = ReportGraph.from_dict(json.loads(table[table["raw"] == REPORTS[1]].iloc[0]["graph"]))
    assert any("pneumothorax" in n.text for n in graph.nodes)


def test_cache_is_reused_without_relabelling_and_keyed_by_inputs(tmp_path: Path, monkeypatch) -> None:
    first = preprocess.load_or_build(REPORTS, cache_dir=tmp_path, seed=0, graphs=False)
    assert len(list(tmp_path.glob("*.parquet"))) == 1

    def boom(*_a, **_k):
        raise AssertionError("re-labelled a cached report")

    monkeypatch.setattr("cxrvlp.text.labeler.label_report", boom)
    again = preprocess.load_or_build(list(reversed(REPORTS)), cache_dir=tmp_path, seed=0, graphs=False)
    for col in preprocess.COLUMNS:
        assert [list(v) if col.endswith("labels") else v for v in again[col]] == [
            list(v) if col.endswith("labels") else v for v in first[col]
        ]
    key = preprocess.cache_key(REPORTS, seed=0, graphs=False)
    assert key != preprocess.cache_key(REPORTS, seed=1, graphs=False)
    assert key != preprocess.cache_key(REPORTS[:3], seed=0, graphs=False)
    monkeypatch.setattr(preprocess, "PREPROCESS_VERSION", preprocess.PREPROCESS_VERSION + 1)
    assert key != preprocess.cache_key(REPORTS, seed=0, graphs=False)


def test_streams_follow_the_method() -> None:
    assert streams_for(ModelConfig(), LossConfig(name="infonce")) == frozenset()
    assert streams_for(ModelConfig(), LossConfig(name="conclip")) == {"hardneg", "distractor"}
    assert streams_for(ModelConfig(), LossConfig(name="conclip", conclip_distractors=False)) == {"hardneg"}
    assert streams_for(ModelConfig(), LossConfig()) == {"hardneg", "labels"}
    full = LossConfig(graph_stream=True, graph_pairs=True)
    with pytest.raises(ValueError, match="graph.enabled"):
        streams_for(ModelConfig(), full)


def _dataset(tmp_path: Path, table, streams, n: int = 8) -> CXRDataset:
    import numpy as np
    from PIL import Image

    records = []
    for i in range(n):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (70, 60), dtype=np.uint8)).save(path)
        records.append(Record(str(path), REPORTS[i % 4], "train"))
    from cxrvlp.models import preset_config

    transform = image_transform(preset_config("tiny"), train=True)
    return CXRDataset(records, table, transform=transform, streams=streams)


def test_batch_contract_with_every_stream(tmp_path: Path, table) -> None:
    from transformers import AutoTokenizer

    from cxrvlp.models.weights import minilm_dir

    ds = _dataset(tmp_path, table, frozenset({"hardneg", "labels", "graph"}))
    collate = Collator(AutoTokenizer.from_pretrained(str(minilm_dir())), max_length=32)
    batch = collate([ds[(i, 7)] for i in range(4)])
    assert batch["image"].shape == (4, 3, 64, 64)
    for key in ("text", "hardneg_text"):
        assert batch[key]["input_ids"].shape == batch[key]["attention_mask"].shape
        assert batch[key]["input_ids"].shape[0] == 4 and batch[key]["input_ids"].shape[1] <= 32
    assert batch["labels"].shape == batch["hardneg_labels"].shape == (4, 14)
    assert batch["graph"].num_graphs == batch["hardneg_graph"].num_graphs == 4
    assert batch["report"][1] == table[table["raw"] == REPORTS[1]].iloc[0]["report"]
    plain = Collator(collate.tokenizer, max_length=32)([_dataset(tmp_path, table, frozenset())[0]])
    assert set(plain) == {"image", "text", "report"}


def test_augmentation_is_a_function_of_the_sample_seed(tmp_path: Path, table) -> None:
    ds = _dataset(tmp_path, table, frozenset())
    torch.manual_seed(123)
    a = ds[(2, 99)]["image"]
    state = torch.get_rng_state()
    b = ds[(2, 99)]["image"]
    assert torch.equal(a, b) and torch.equal(state, torch.get_rng_state())  # global RNG untouched
    assert not torch.equal(a, ds[(2, 100)]["image"])


def test_sampler_resumes_mid_epoch_and_splits_ranks() -> None:
    data = list(range(23))
    full = list(ResumableSampler(data, seed=5))
    s = ResumableSampler(data, seed=5)
    s.set_epoch(0, start=8)
    assert list(s) == full[8:] and len(s) == len(full) - 8
    s.set_epoch(1)
    assert [i for i, _ in s] != [i for i, _ in full]
    ranks = [list(ResumableSampler(data, num_replicas=2, rank=r, seed=5)) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 11 and not {i for i, _ in ranks[0]} & {i for i, _ in ranks[1]}
