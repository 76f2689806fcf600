"""The evaluation suite with the real text engine (and, where present, the real ``lite`` model and real images).

The model test also needs ``../shared/data``.
The covid_chestxray "reports" are case notes from papers and teaching sites, not radiology reports: numbers on them
are a smoke test of the pipeline, never results on real reports.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest
import torch

import cxrvlp.text as text_engine
from cxrvlp import inference
from cxrvlp.data import openi
from cxrvlp.eval import (
    EvalItem,
    build_cxr_align,
    build_prompt_sets,
    evaluate,
    load_cxr_align,
    read_manifest,
    save_cxr_align,
    text_diagnostics,
)
from cxrvlp.types import CHEXPERT_CLASSES  # noqa: E402


class HashEmbedder:
    """Deterministic bag-of-words embedder: the sum of one random vector per lower-cased word."""

    dim = 64

    def _word(self, w: str) -> torch.Tensor:
        seed = int.from_bytes(hashlib.sha256(w.encode()).digest()[:8], "little")
        return torch.randn(self.dim, generator=torch.Generator().manual_seed(seed))

    def embed_texts(self, texts, *, batch_size=64, on_progress=None) -> torch.Tensor:
        rows = [sum((self._word(w) for w in t.lower().split()), torch.zeros(self.dim)) + 1e-3 for t in texts]
        return torch.nn.functional.normalize(torch.stack(rows), dim=1)

    def embed_images(self, images, *, batch_size=32, on_progress=None) -> torch.Tensor:
        rows = [torch.tensor(im.convert("L").resize((8, 8)).getdata(), dtype=torch.float32) for im in images]
        return torch.nn.functional.normalize(torch.stack(rows)[:, : self.dim] + 1.0, dim=1)


@pytest.fixture(scope="module")
def openi_items() -> list[EvalItem]:
    reports = openi.load_openi_reports()
    assert len(reports) == 3955
    return [EvalItem(id=r.uid, image=None, report=r.text) for r in reports[:300]]


def test_build_align_on_real_openi_reports(openi_items, tmp_path: Path):
    cases = build_cxr_align(openi_items, seed=0)
    assert 20 <= len(cases) < len(openi_items)  # Open-I is mostly normal; abnormal ones give cases
    for c in list(cases.values())[:40]:
        assert c.chosen in text_engine.label_report(c.report).positives()
        assert text_engine.label_report(c.negation).labels.get(c.chosen) == "negative", (c.chosen, c.negation)
        assert c.chosen not in text_engine.label_report(c.omitted).positives(), (c.chosen, c.omitted)
    assert build_cxr_align(openi_items, seed=0) == cases
    save_cxr_align(cases, tmp_path / "align.json")
    assert load_cxr_align(tmp_path / "align.json") == cases


def test_prompt_sets_pass_the_guard_for_chexpert_and_nih_names():
    sets = build_prompt_sets(CHEXPERT_CLASSES)
    assert set(sets) == set(CHEXPERT_CLASSES)  # including "No Finding", without the "no No Finding" trap
    nih = ["Atelectasis", "Effusion", "Infiltration", "Mass", "Nodule", "Pleural Thickening", "Emphysema", "Hernia"]
    assert set(build_prompt_sets(nih)) == set(nih)


def test_text_diagnostics_on_openi_with_a_bag_of_words_model():
    res = text_diagnostics(HashEmbedder(), max_reports=300, n_bootstrap=200)
    m = res.metrics
    # measured (deterministic: hashed word vectors, the first 300 Open-I reports): 113 reports, cos(r, r^n) 0.871,
    # cos(r, r^r) 0.890, negated closer than omitted in 34.5%; a bag of words shares most words with both variants
    assert res.info["reports"] >= 100
    assert m["cos_negation"].value > 0.8 and m["cos_omitted"].value > 0.8
    assert m["cos_gap"].value == pytest.approx(m["cos_negation"].value - m["cos_omitted"].value, abs=1e-6)
    assert 0.2 < m["negation_closer"].value < 0.5


@pytest.mark.shared_data
def test_lite_on_real_images(shared_data: Path):
    covid = [it for it in read_manifest(shared_data / "covid_chestxray" / "manifest.csv") if it.report][:48]
    nih = read_manifest(shared_data / "nih_cxr14_sample" / "manifest.csv", split="test")[:48]
    openi = read_manifest(shared_data / "iu_openi" / "manifest.csv")
    model = inference.Predictor.from_preset("lite")
    with_reports = evaluate(model, covid + openi, tasks=["align", "retrieval", "textdiag"], n_bootstrap=200)
    labelled = evaluate(
        model, nih, tasks=["zeroshot", "adversarial", "negprompt"], label_source="dataset", n_bootstrap=200
    )
    align = with_reports.tasks["align"]
    assert align.info["cases"] >= 5
    for res in (with_reports, labelled):
        for task in res.tasks.values():
            for name, m in task.metrics.items():
                assert math.isfinite(m.value), (task.task, name)
                if m.percent:  # rates in [0, 1]; gaps between two rates (and image sensitivity) in [-1, 1]
                    signed = "gap" in name or "sensitivity" in name
                    assert -1.0 <= m.value <= 1.0 if signed else 0.0 <= m.value <= 1.0, (task.task, name)
    assert len(labelled.tasks["zeroshot"].breakdown) >= 3  # NIH names resolve to prompt templates
