"""The negation probe's table (:mod:`cxrvlp.analysis.probe`): versions, flags, scoring."""

from __future__ import annotations

import pytest
import torch

from cxrvlp.analysis.probe import Version, flags, versions

REPORT = "Small right pleural effusion. No pneumothorax."


def test_versions_hold_original_variants_then_distinct_edits():
    rows = versions(REPORT, ["Edited.", "Edited.", REPORT])
    assert rows[0] == Version("original", "original", "", REPORT)
    assert [r.name for r in rows[1:3]] == ["r^n Pleural Effusion", "r^r Pleural Effusion"]
    assert [r.text for r in rows if r.kind == "edit"] == ["Edited."]


def test_flags_mark_a_denial_that_outscores_the_original():
    rows = versions(REPORT, ["No pleural effusion. Small pneumothorax."])
    n = len(rows)
    assert flags(rows, [0.5] + [0.1] * (n - 1)) == [""] * n  # the original wins everywhere
    high = flags(rows, [0.1] + [0.5] * (n - 1))
    by_name = dict(zip([r.name for r in rows], high, strict=True))
    assert "denies Pleural Effusion" in by_name["r^n Pleural Effusion"]
    assert "denies Pleural Effusion" in by_name["edit 1"]
    assert by_name["r^r Pleural Effusion"] == ""  # omission does not deny
    task_b = flags(rows, [0.9, 0.5, 0.1] + [0.0] * (n - 3))
    assert task_b[1] == "r^n over r^r"


def test_score_versions_softmax_and_cache():
    from cxrvlp.analysis.probe import score_versions
    from cxrvlp.analysis.projection import EmbeddingCache
    from cxrvlp.inference import Predictor

    predictor = Predictor.from_spec("preset:tiny")
    cache = EmbeddingCache()
    rows = versions(REPORT, [])
    ref = torch.nn.functional.normalize(torch.randn(predictor.model.config.embed_dim), dim=0)
    frame = score_versions(predictor, rows, ref, cache=cache)
    assert frame["softmax"].sum() == pytest.approx(1.0, abs=1e-5)
    assert frame["cosine"].between(-1, 1).all()
    misses = cache.misses
    score_versions(predictor, versions(REPORT, ["One new edit."]), ref, cache=cache)
    assert cache.misses == misses + 1  # an edit embeds one text
