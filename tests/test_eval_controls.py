"""Grounding controls (issue 16): shuffled images, an image without the finding, the text-only prior, the gaps and
image sensitivity, with fakes whose answers are known: a model that reads the image, a model that ignores it, a
constant model. Also the input check that points to ``cxrvlp compose`` (issue 18)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_eval_pipeline import (  # noqa: F401  (fake_engine_modules is a fixture)
    CLASSES,
    ENGINE,
    ConceptEmbedder,
    ConstantEmbedder,
    _parse,
    fake_engine_modules,
    fake_label,
    write_dataset,
)

from cxrvlp.eval import EvalResult, evaluate, read_manifest
from cxrvlp.eval.bootstrap import derangement, masked_mean_metrics, resample_weights
from cxrvlp.eval.runner import check_inputs


class TextPriorEmbedder:
    """Ignores the image: images differ (a common direction plus a random part of fixed length, in dimensions no
    text uses), texts lean on the common direction by how many findings they assert (a "there is something" prior)
    and carry their concepts in other dimensions. Every image gives every text the same similarity: the
    preference is the text side's alone."""

    def embed_images(self, images, *, batch_size=32, on_progress=None) -> torch.Tensor:
        g = torch.Generator().manual_seed(len(images))
        noise = torch.nn.functional.normalize(torch.randn(len(images), 4, generator=g), dim=1)
        rows = torch.cat([torch.zeros(len(images), len(CLASSES)), torch.ones(len(images), 1), 0.5 * noise], dim=1)
        return torch.nn.functional.normalize(rows, dim=1)

    def embed_texts(self, texts, *, batch_size=64, on_progress=None) -> torch.Tensor:
        rows = []
        for t in texts:
            lab = fake_label(t).labels
            concept = [{"positive": 1.0, "negative": -1.0}.get(lab.get(c, ""), 0.0) for c in CLASSES]
            rows.append(concept + [1.0 + sum(p == "positive" for p in lab.values())] + [0.0] * 4)
        return torch.nn.functional.normalize(torch.tensor(rows), dim=1)


@pytest.fixture
def items(tmp_path: Path):
    return read_manifest(write_dataset(tmp_path / "data", n=48))


def _m(res: EvalResult, task: str) -> dict:
    return res.tasks[task].metrics


def test_derangement_has_no_fixed_point_and_is_seeded():
    for n in (2, 3, 10, 257):
        p = derangement(n, seed=5)
        assert sorted(p.tolist()) == list(range(n)) and (p != np.arange(n)).all()
        assert (derangement(n, seed=5) == p).all()
    assert not (derangement(50, seed=0) == derangement(50, seed=1)).all()
    with pytest.raises(ValueError, match="at least 2"):
        derangement(1)


def test_masked_mean_metrics_leaves_out_nan_and_pairs_resamples():
    w = resample_weights(4, 200, seed=0)
    m = masked_mean_metrics({"a": np.array([1.0, 0.0, np.nan, 1.0]), "b": np.array([1.0, 1.0, 1.0, 1.0])}, w)
    assert m["a"].value == pytest.approx(2 / 3) and m["a"].n == 3 and m["b"].n == 4
    assert m["b"].low == m["b"].high == 1.0


def test_image_reading_model_has_a_large_gap_whose_ci_excludes_zero(items):
    res = evaluate(ConceptEmbedder(), items, tasks=["align", "zeroshot", "negprompt"], n_bootstrap=300, **ENGINE)
    a = _m(res, "align")
    assert a["task_a"].value == 1.0
    # r and r^n differ only in the chosen finding: another image wins iff it has that finding
    assert a["task_a_other_image_without_finding"].value == 0.0
    assert a["task_a_grounding_gap_without_finding"].value == 1.0
    assert 0.2 < a["task_a_shuffled"].value < 0.8
    gap = a["task_a_grounding_gap"]
    assert gap.value > 0.2 and gap.low > 0.0
    assert gap.value == pytest.approx(a["task_a"].value - a["task_a_shuffled"].value)
    for f, ms in res.tasks["align"].breakdown.items():
        assert ms["image_sensitivity"].value == 1.0 and ms["margin_auroc"].value == 1.0, f
    z = _m(res, "zeroshot")
    assert z["auroc"].value == 1.0 and z["image_sensitivity"].value == 1.0
    assert z["auroc_text_only"].value == 0.5  # one image embedding for all: every score ties
    assert z["auroc_grounding_gap"].low > 0.0
    b = res.tasks["zeroshot"].breakdown["Cardiomegaly"]
    assert b["p_positive_preferred_present"].value == 1.0 and b["p_positive_preferred_absent"].value == 0.0
    n = _m(res, "negprompt")
    assert n["pos_p@5"].value == 1.0 and n["pos_p@5_grounding_gap"].value > 0.2
    assert set(res.tasks["align"].info["controls"]) == {"shuffled", "other_image_without_finding", "text_only"}


def test_text_only_model_has_a_gap_whose_ci_contains_zero(items):
    res = evaluate(TextPriorEmbedder(), items, tasks=["align", "zeroshot"], n_bootstrap=300, **ENGINE)
    a = _m(res, "align")
    assert a["task_a"].value > 0.8  # the prior alone gets Task A right ...
    assert a["task_a_text_only"].value == a["task_a"].value  # ... and as well against the mean image
    for key in ("task_a_grounding_gap", "task_a_grounding_gap_without_finding", "three_way_grounding_gap"):
        assert a[key].low <= 0.0 <= a[key].high, key
    z = _m(res, "zeroshot")
    assert z["image_sensitivity"].low <= 0.0 <= z["image_sensitivity"].high
    assert z["auroc_grounding_gap"].low <= 0.0 <= z["auroc_grounding_gap"].high


def test_constant_model_scores_chance_in_every_control(items):
    res = evaluate(ConstantEmbedder(), items, tasks=["align", "zeroshot"], n_bootstrap=100, **ENGINE)
    a = _m(res, "align")
    for c in ("", "_shuffled", "_other_image_without_finding", "_text_only"):
        assert a[f"task_a{c}"].value == 0.5 and a[f"three_way{c}"].value == pytest.approx(1 / 3), c
    assert a["task_a_grounding_gap"].value == 0.0 and a["task_a_grounding_gap_without_finding"].value == 0.0
    z = _m(res, "zeroshot")
    assert z["auroc"].value == z["auroc_shuffled"].value == z["auroc_text_only"].value == 0.5
    assert z["image_sensitivity"].value == 0.0


def test_controls_reuse_the_embeddings_and_can_be_turned_off(items):
    model = ConceptEmbedder()
    res = evaluate(model, items, tasks=["align", "zeroshot", "negprompt"], n_bootstrap=50, **ENGINE)
    assert model.images_seen == len(items)  # no second image pass
    assert len(model.texts_seen) == len(set(model.texts_seen))
    kw = {"tasks": ["align", "zeroshot", "negprompt"], "n_bootstrap": 50, **ENGINE}
    off = evaluate(ConceptEmbedder(), items, controls=False, **kw)
    words = ("shuffled", "text_only", "grounding", "without_finding", "image_sensitivity")
    for t in off.tasks.values():
        assert not [k for k in t.metrics if any(w in k for w in words)], t.task
        assert not [k for ms in t.breakdown.values() for k in ms if any(w in k for w in words)], t.task
    on = res.tasks["align"].metrics
    assert all(on[k] == v for k, v in off.tasks["align"].metrics.items())  # own numbers unchanged
    back = EvalResult.from_dict(res.to_dict())
    assert back.tasks["align"].metrics["task_a_grounding_gap"] == on["task_a_grounding_gap"]


def _label_only_manifest(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    with (root / "manifest.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "text", "labels", "split"])
        for i in range(4):
            Image.new("RGB", (8, 8)).save(root / "images" / f"{i}.png")
            w.writerow([f"images/{i}.png", "", "Effusion" if i % 2 else "No Finding", "test"])
    return root / "manifest.csv"


def test_label_only_manifest_fails_at_once_pointing_to_compose(tmp_path: Path):
    items = read_manifest(_label_only_manifest(tmp_path))
    model = ConceptEmbedder()
    with pytest.raises(ValueError, match="cxrvlp compose"):
        evaluate(model, items, tasks=["align", "retrieval", "textdiag"], **ENGINE)
    assert model.images_seen == 0 and model.texts_seen == []  # nothing embedded first
    with pytest.raises(ValueError, match="align: needs report text"):
        evaluate(model, items, tasks=["align", "zeroshot"], strict=True, **ENGINE)
    assert set(check_inputs(items, ["align", "zeroshot", "ncd"])) == {"align", "ncd"}
    assert check_inputs(items, ["zeroshot"], label_source="report") == {
        "zeroshot": "needs report text (--label-source report) and no item has any"
    }


@pytest.mark.usefixtures("fake_engine_modules")
def test_cli_controls_flag_compare_table_and_input_check(tmp_path: Path, monkeypatch, capsys):
    from cxrvlp.cli import CLIError
    from cxrvlp.commands import eval as eval_cmd

    loaded = []
    monkeypatch.setattr(eval_cmd, "load_model", lambda spec: loaded.append(spec) or ConceptEmbedder())
    manifest = write_dataset(tmp_path / "d")
    base = ["eval", "--model", "fake", "--data", str(manifest), "--tasks", "align,zeroshot", "--bootstrap", "50"]
    args = _parse([*base, "--out", str(tmp_path / "a.json")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "Grounding controls" in out and "| fake | align | task_a | 100.0 |" in out
    args = _parse([*base, "--no-controls", "--out", str(tmp_path / "b.json")])
    assert args.func(args) == 0
    assert not [k for k in EvalResult.load(tmp_path / "b.json").tasks["align"].metrics if "shuffled" in k]
    capsys.readouterr()
    args = _parse(["eval", "compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    main, _, controls = out.partition("Grounding controls")
    assert "shuffled" not in main and "| fake |" in main
    assert "| a.json | align | task_a | 100.0 |" in controls and "b.json" not in controls
    assert "| a.json | zeroshot | image_sensitivity | 100.0 [100.0, 100.0] |" in controls

    label_only = _label_only_manifest(tmp_path / "nih")
    args = _parse(["eval", "--model", "fake", "--data", str(label_only), "--tasks", "align"])
    with pytest.raises(CLIError, match="cxrvlp compose"):
        args.func(args)
    assert loaded == ["fake", "fake"]  # failed before the model was loaded
