"""Manifest reading, CXR-Align build / save / load, results I/O, ``evaluate`` and the CLI, with a fake text engine
and hand-built embedders (a "concept" model that is perfect by construction, and a constant model)."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import itertools
import json
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cxrvlp.eval import (
    EvalItem,
    EvalResult,
    Metric,
    TaskResult,
    build_cxr_align,
    compare_table,
    evaluate,
    load_cxr_align,
    read_manifest,
    save_cxr_align,
)

# ----------------------------------------------------------------------------------------------- fake text engine

KEYWORDS = {"Pleural Effusion": "effusion", "Cardiomegaly": "cardiomegaly", "Pneumothorax": "pneumothorax"}
CLASSES = list(KEYWORDS)


class FakeLabeled:
    def __init__(self, labels: dict[str, str]) -> None:
        self.labels = labels

    def positives(self) -> list[str]:
        return [c for c, p in self.labels.items() if p == "positive" and c != "No Finding"]


def sentences(text: str) -> list[str]:
    return [s.strip() + "." for s in text.split(".") if s.strip()]


def fake_label(text: str) -> FakeLabeled:
    labels = {}
    for s in sentences(text):
        for cls, kw in KEYWORDS.items():
            if kw in s.lower():
                labels[cls] = "negative" if re.search(r"\bno\b", s.lower()) else "positive"
    return FakeLabeled(labels)


def fake_omit(report: str, finding: str) -> str:
    return " ".join(s for s in sentences(report) if KEYWORDS[finding] not in s.lower())


def fake_negate(report: str, finding: str, *, seed: int = 0) -> str:
    return (fake_omit(report, finding) + f" No {KEYWORDS[finding]}.").strip()


def fake_positive_prompts(finding: str) -> list[str]:
    return [KEYWORDS[finding], f"{KEYWORDS[finding]} is present"]


def fake_negative_prompts(finding: str) -> list[str]:
    return [f"no {KEYWORDS[finding]}", f"no evidence of {KEYWORDS[finding]}"]


ENGINE = {
    "label_fn": fake_label,
    "negate_fn": fake_negate,
    "omit_fn": fake_omit,
    "clean_fn": str.strip,
    "positive_fn": fake_positive_prompts,
    "negative_fn": fake_negative_prompts,
}
BUILD = {k: ENGINE[k] for k in ("label_fn", "negate_fn", "omit_fn", "clean_fn")}


# ----------------------------------------------------------------------------------------------- fake models


class ConceptEmbedder:
    """Perfect by construction: one dimension per finding (+1 present / -1 absent) plus a bias dimension.

    Images encode finding ``k`` as pixel ``(k, 0)`` (255 present, 0 absent; grayscale, as ``read_image`` reads every
    image); texts are embedded from the fake labeler.
    Counts what it embeds, to check that ``evaluate`` embeds everything once.
    """

    def __init__(self) -> None:
        self.images_seen = 0
        self.texts_seen: list[str] = []

    def embed_images(self, images, *, batch_size=32, on_progress=None) -> torch.Tensor:
        self.images_seen += len(images)
        rows = [[1.0 if im.convert("L").getpixel((k, 0)) > 127 else -1.0 for k in range(3)] + [0.5] for im in images]
        return torch.nn.functional.normalize(torch.tensor(rows), dim=1)

    def embed_texts(self, texts, *, batch_size=64, on_progress=None) -> torch.Tensor:
        self.texts_seen += list(texts)
        rows = []
        for t in texts:
            lab = fake_label(t).labels
            rows.append([{"positive": 1.0, "negative": -1.0}.get(lab.get(c, ""), 0.0) for c in CLASSES] + [0.5])
        if on_progress:
            on_progress(len(texts), len(texts))
        return torch.nn.functional.normalize(torch.tensor(rows), dim=1)


class ConstantEmbedder:
    def embed_images(self, images, *, batch_size=32, on_progress=None) -> torch.Tensor:
        return torch.full((len(images), 4), 0.5)

    def embed_texts(self, texts, *, batch_size=64, on_progress=None) -> torch.Tensor:
        return torch.full((len(texts), 4), 0.5)


def report_for(present: tuple[bool, ...]) -> str:
    return " ".join(
        (kw.capitalize() if p else f"No {kw}") + "." for kw, p in zip(KEYWORDS.values(), present, strict=True)
    )


def write_dataset(root: Path, n: int = 24, *, distinct: bool = False) -> Path:
    """Images whose first pixels are their findings (pixel ``(0, 1)`` their index: the noise key of
    :class:`NoisyConceptEmbedder`), explicit reports, a manifest; 1 in 8 items is normal. ``distinct``: every report
    distinct, and 1 item in 4 normal besides the all-absent combination."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    combos = list(itertools.product([False, True], repeat=3))
    with (root / "manifest.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "text", "labels", "split"])
        for i in range(n):
            present = combos[(0 if i % 4 == 1 else (i * 5) % 8) if distinct else i % 8]
            pixels = np.zeros((8, 8), dtype=np.uint8)
            pixels[0, :3] = [255 if p else 0 for p in present]
            pixels[1, 0] = i
            Image.fromarray(pixels).save(root / "images" / f"im{i:03d}.png")
            labels = ";".join(c.replace(" ", "_") for c, p in zip(CLASSES, present, strict=True) if p) or "normal"
            report = report_for(present) + (f" Study {i}." if distinct else "")
            w.writerow([f"images/im{i:03d}.png", report, labels, "test" if i % 4 else "train"])
    return root / "manifest.csv"


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "data")


# ----------------------------------------------------------------------------------------------- manifest


def test_read_manifest_paths_labels_split(manifest: Path):
    items = read_manifest(manifest)
    assert len(items) == 24
    it = items[7]  # all three findings
    assert it.id == "images/im007.png"
    assert Path(it.image_path).is_file() and it.load_image().size == (8, 8)
    assert it.labels == ("Pleural Effusion", "Cardiomegaly", "Pneumothorax")  # "Pleural_Effusion" normalised
    assert items[0].labels == ("No Finding",)  # "normal" alias
    assert len(read_manifest(manifest, split="test")) == 18
    with pytest.raises(ValueError, match="splits present"):
        read_manifest(manifest, split="val")
    with pytest.raises(FileNotFoundError):
        read_manifest(manifest.parent / "missing.csv")


def test_read_manifest_survives_bad_bytes_and_empty_text(tmp_path: Path):
    p = tmp_path / "m.csv"
    p.write_bytes(b"image,text,labels\na.jpg,a \x93wet market\x94,COVID-19\nb.jpg,,\n")
    a, b = read_manifest(p)
    assert "wet market" in a.report and b.report is None and b.labels == ()


# ----------------------------------------------------------------------------------------------- CXR-Align


def test_build_align_skips_normal_and_is_seeded_per_case(manifest: Path):
    items = read_manifest(manifest)
    cases = build_cxr_align(items, seed=0, **BUILD)
    assert len(cases) == 21  # 3 normal items excluded
    c = cases["images/im007.png"]
    assert c.chosen in CLASSES and KEYWORDS[c.chosen] not in c.omitted.lower()
    assert c.negation.endswith(f"No {KEYWORDS[c.chosen]}.")
    assert build_cxr_align(items[::-1], seed=0, **BUILD)["images/im007.png"] == c  # order-independent
    chosen = {s: [x.chosen for x in build_cxr_align(items, seed=s, **BUILD).values()] for s in range(4)}
    assert len({tuple(v) for v in chosen.values()}) > 1  # the seed changes the choices


def test_align_json_round_trip_and_official_shape(manifest: Path, tmp_path: Path):
    cases = build_cxr_align(read_manifest(manifest), **BUILD)
    out = tmp_path / "out" / "align.json"
    out.parent.mkdir()
    save_cxr_align(cases, out)
    raw = json.loads(out.read_text())
    entry = raw["images/im007.png"]
    assert set(entry) == {"chosen", "report", "negation", "omitted", "image"}
    assert not Path(entry["image"]).is_absolute()
    assert load_cxr_align(out) == cases

    official = tmp_path / "official"
    official.mkdir()
    Image.new("RGB", (4, 4)).save(official / "abc123.jpg")
    data = {
        "abc123": {"chosen": "Edema", "report": "r", "negation": "n", "omitted": "o"},
        "zzz": raw["images/im001.png"],
    }
    data["zzz"] = {k: v for k, v in data["zzz"].items() if k != "image"}
    (official / "cxr_align.json").write_text(json.dumps(data))
    loaded = load_cxr_align(official / "cxr_align.json")
    assert loaded["abc123"].image == str((official / "abc123.jpg").resolve())
    assert loaded["zzz"].image is None
    (official / "bad.json").write_text(json.dumps({"x": {"chosen": "A", "report": "r"}}))
    with pytest.raises(ValueError, match="lacks negation, omitted"):
        load_cxr_align(official / "bad.json")


# ----------------------------------------------------------------------------------------------- results


def _result(model: str, value: float) -> EvalResult:
    m = Metric(value, value - 0.1, value + 0.1, 10)
    return EvalResult(
        model=model,
        dataset="d",
        tasks={
            "align": TaskResult(
                "align",
                {"task_a": m, "margin_a": Metric(0.01, float("nan"), float("nan"), 10, False)},
                breakdown={"Edema": {"task_a": m}},
                info={"cases": 10},
            )
        },
        timings={"total": 1.0},
    )


def test_results_json_round_trip_markdown_and_compare(tmp_path: Path):
    r = _result("a", 0.75)
    r.save(tmp_path / "a.json")
    back = EvalResult.load(tmp_path / "a.json")
    assert back.tasks["align"].metrics["task_a"] == r.tasks["align"].metrics["task_a"]
    assert np.isnan(back.tasks["align"].metrics["margin_a"].low)
    md = r.to_markdown()
    assert "| align | task_a | 75.0 [65.0, 85.0] | 10 |" in md and "0.010" in md and "Edema" in md
    other = EvalResult(
        model="b", dataset="d", tasks={"zeroshot": TaskResult("zeroshot", {"auroc": Metric(0.6, 0.5, 0.7, 5)})}
    )
    table = compare_table([r, other])
    lines = table.strip().splitlines()
    assert lines[0] == "| model | align/task_a | align/margin_a | zeroshot/auroc |"
    assert lines[2] == "| a | 75.0 | 0.010 | - |" and lines[3] == "| b | - | - | 60.0 |"


# ----------------------------------------------------------------------------------------------- evaluate


def test_evaluate_perfect_model_and_embeds_once(manifest: Path):
    items = read_manifest(manifest)
    model = ConceptEmbedder()
    stages = set()
    res = evaluate(model, items, n_bootstrap=100, on_progress=lambda s, d, t: stages.add(s), **ENGINE)
    assert model.images_seen == len(items)
    assert len(model.texts_seen) == len(set(model.texts_seen))
    assert stages == {"images", "texts"}
    m = {t: {k: v.value for k, v in r.metrics.items()} for t, r in res.tasks.items()}
    assert m["align"]["task_a"] == 1.0 and m["align"]["task_b"] == 1.0 and m["align"]["three_way"] == 1.0
    assert m["zeroshot"]["auroc"] == 1.0 and m["zeroshot"]["accuracy"] == 1.0
    assert m["adversarial"]["both"] == 1.0
    assert m["retrieval"]["top1"] == 1.0 and m["retrieval"]["f1"] == 1.0
    assert res.tasks["retrieval"].info["gallery"] == 8  # template duplicates collapse
    assert m["ncd"]["accuracy"] == 1.0 and res.tasks["ncd"].info == {"normal": 3, "abnormal": 7}
    assert m["negprompt"]["pos_p@5"] == 1.0 and m["negprompt"]["neg_p@5"] == 1.0
    assert m["textdiag"]["negation_closer"] == 0.0
    assert res.tasks["zeroshot"].info["findings"] == sorted(CLASSES)  # "No Finding" has no fake prompts
    assert {"prepare", "embed_images", "embed_texts", "metrics:align", "total"} <= set(res.timings)


def test_evaluate_constant_model_is_chance(manifest: Path):
    res = evaluate(
        ConstantEmbedder(), read_manifest(manifest), tasks=["align", "zeroshot", "adversarial", "ncd"], **ENGINE
    )
    m = {t: {k: v.value for k, v in r.metrics.items()} for t, r in res.tasks.items()}
    assert m["align"]["task_a"] == 0.5 and m["align"]["task_b"] == 0.5
    assert m["align"]["three_way"] == pytest.approx(1 / 3)
    assert m["zeroshot"]["auroc"] == 0.5
    assert m["adversarial"]["both"] == 0.25
    assert m["ncd"]["accuracy"] == pytest.approx(1 / 8)


def test_evaluate_report_labels_and_loaded_align_cases(manifest: Path, tmp_path: Path):
    items = read_manifest(manifest)
    cases = build_cxr_align(items[:8], **BUILD)
    save_cxr_align(cases, tmp_path / "align.json")
    loaded = load_cxr_align(tmp_path / "align.json")
    res = evaluate(
        ConceptEmbedder(), items[8:], tasks=["align", "zeroshot"], align_cases=loaded, label_source="report", **ENGINE
    )
    assert res.tasks["align"].info["cases"] == 7  # images of items[:8] come from the JSON paths
    assert res.tasks["align"].metrics["task_a"].value == 1.0
    assert res.tasks["zeroshot"].info["label_source"] == "report"
    assert res.tasks["zeroshot"].metrics["auroc"].value == 1.0
    with pytest.raises(ValueError, match="valid tasks"):
        evaluate(ConceptEmbedder(), items, tasks=["nope"], **ENGINE)


def test_evaluate_text_only_items_skip_image_tasks():
    items = [EvalItem(id="a", image=None, report="Effusion. No cardiomegaly.")]
    model = ConceptEmbedder()
    res = evaluate(model, items, tasks=["textdiag"], **BUILD)
    assert model.images_seen == 0
    assert "textdiag" not in res.tasks  # textdiag in evaluate uses the align cases, which need images


def test_report_labels_of_a_label_free_manifest_do_not_depend_on_the_other_tasks(manifest: Path):
    """``label_source="auto"`` on items without labels takes the targets from the reports: ``zeroshot`` alone must
    score as it does next to ``retrieval`` (before the task registry, alone it found no targets and skipped every
    finding)."""
    items = [dataclasses.replace(it, labels=()) for it in read_manifest(manifest)]
    alone = evaluate(ConceptEmbedder(), items, tasks=["zeroshot"], n_bootstrap=20, **ENGINE)
    paired = evaluate(ConceptEmbedder(), items, tasks=["zeroshot", "retrieval"], n_bootstrap=20, **ENGINE)
    assert alone.meta["label_source"] == "report"
    assert set(alone.tasks["zeroshot"].info["findings"]) == set(CLASSES)
    as_json = [json.dumps(dataclasses.asdict(r.tasks["zeroshot"]), default=str) for r in (alone, paired)]
    assert as_json[0] == as_json[1]
    assert alone.tasks["zeroshot"].metrics["auroc"].value == 1.0


def test_a_task_the_data_cannot_feed_is_skipped_not_scored(tmp_path: Path):
    """Without ``strict``, a task the input check rejects is left out: no plan, no texts, no result, no timing."""
    root = tmp_path / "d"
    (root / "images").mkdir(parents=True)
    Image.new("L", (8, 8)).save(root / "images" / "a.png")
    Image.new("L", (8, 8), 255).save(root / "images" / "b.png")
    (root / "m.csv").write_text("image,text,labels\nimages/a.png,,normal\nimages/b.png,,Cardiomegaly\n")
    model = ConceptEmbedder()
    res = evaluate(model, read_manifest(root / "m.csv"), tasks=["zeroshot", "ncd"], n_bootstrap=0, **ENGINE)
    assert list(res.tasks) == ["zeroshot"] and "metrics:ncd" not in res.timings
    assert set(model.texts_seen) == {
        "cardiomegaly",
        "cardiomegaly is present",
        "no cardiomegaly",
        "no evidence of cardiomegaly",
    }


def test_tasks_run_in_registry_order_and_share_their_plans():
    from cxrvlp.eval.plans import plan_align, plan_labels
    from cxrvlp.eval.runner import TASKS
    from cxrvlp.eval.tasks import TASK_REGISTRY

    assert TASKS == ("align", "zeroshot", "retrieval", "adversarial", "ncd", "negprompt", "textdiag")
    assert [t for t in TASKS if TASK_REGISTRY.get(t).plan is plan_align] == ["align", "textdiag"]
    assert [t for t in TASKS if TASK_REGISTRY.get(t).plan is plan_labels] == ["zeroshot", "adversarial", "negprompt"]
    assert [t for t in TASKS if not TASK_REGISTRY.get(t).images] == ["textdiag"]


# ----------------------------------------------------------------------------------------------- CLI


@pytest.fixture
def fake_engine_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Install the fake text engine as ``cxrvlp.text`` so the CLI's default callables resolve to it."""
    text = types.ModuleType("cxrvlp.text")
    prompts = types.ModuleType("cxrvlp.text.prompts")
    prompts.positive_prompts, prompts.negative_prompts = fake_positive_prompts, fake_negative_prompts
    text.label_report, text.make_negated, text.make_omitted = fake_label, fake_negate, fake_omit
    text.clean_report, text.prompts = str.strip, prompts
    monkeypatch.setitem(sys.modules, "cxrvlp.text", text)
    monkeypatch.setitem(sys.modules, "cxrvlp.text.prompts", prompts)


def _parse(argv: list[str]) -> argparse.Namespace:
    from cxrvlp.commands import eval as eval_cmd

    parser = argparse.ArgumentParser()
    eval_cmd.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_cli_eval_writes_results_and_compare_prints_table(manifest, tmp_path, monkeypatch, capsys, fake_engine_modules):
    from cxrvlp.commands import eval as eval_cmd

    monkeypatch.setattr(eval_cmd, "load_model", lambda spec: ConceptEmbedder())
    out = tmp_path / "r.json"
    args = _parse(
        [
            "eval",
            "--model",
            "fake",
            "--data",
            str(manifest),
            "--split",
            "test",
            "--tasks",
            "align,zeroshot",
            "--bootstrap",
            "50",
            "--out",
            str(out),
            "--limit",
            "12",
        ]
    )
    assert args.func(args) == 0
    res = EvalResult.load(out)
    assert res.model == "fake" and res.meta["images"] == 12
    assert res.tasks["align"].metrics["task_a"].value == 1.0
    assert "| align | task_a |" in capsys.readouterr().out
    args = _parse(["eval", "compare", str(out), str(out)])
    assert args.func(args) == 0
    assert capsys.readouterr().out.count("| fake |") == 2


def test_cli_build_align(manifest, tmp_path, capsys, fake_engine_modules):
    args = _parse(
        ["eval", "build-align", "--data", str(manifest), "--split", "test", "--out", str(tmp_path / "a.json")]
    )
    assert args.func(args) == 0
    assert len(load_cxr_align(tmp_path / "a.json")) == 18  # the 3 normal items (i % 8 == 0) are all in train


def test_cli_checkpoint_is_a_model_spec_and_missing_model_is_an_error(manifest, monkeypatch, fake_engine_modules):
    from cxrvlp.cli import CLIError
    from cxrvlp.commands import eval as eval_cmd

    specs = []
    monkeypatch.setattr(eval_cmd, "load_model", lambda spec: specs.append(spec) or ConceptEmbedder())
    args = _parse(["eval", "--checkpoint", "runs/x", "--data", str(manifest), "--tasks", "align", "--bootstrap", "0"])
    assert args.func(args) == 0 and specs == ["cxrvlp:runs/x"]
    args = _parse(["eval", "--data", str(manifest)])
    with pytest.raises(CLIError, match="--model"):
        args.func(args)


# ----------------------------------------------------------------------------------------------- golden results

GOLDEN = Path(__file__).parent / "data" / "eval_golden.json"


class NoisyConceptEmbedder(ConceptEmbedder):
    """The concept model plus seeded noise, the same for an image (keyed by its index pixel) or a text wherever it
    comes in a batch: imperfect scores, so every metric, control and CI has a value worth pinning."""

    def embed_images(self, images, *, batch_size=32, on_progress=None) -> torch.Tensor:
        base = super().embed_images(images)
        noise = torch.stack([_noise(f"image {im.convert('L').getpixel((0, 1))}") for im in images])
        return torch.nn.functional.normalize(base + noise, dim=1)

    def embed_texts(self, texts, *, batch_size=64, on_progress=None) -> torch.Tensor:
        base = super().embed_texts(texts, on_progress=on_progress)
        noise = torch.stack([_noise(t) for t in texts])
        return torch.nn.functional.normalize(base + noise, dim=1)


def _noise(key: str) -> torch.Tensor:
    seed = int(hashlib.sha256(key.encode()).hexdigest()[:15], 16)
    return 0.9 * torch.randn(4, generator=torch.Generator().manual_seed(seed))


def golden_runs(root: Path) -> dict[str, dict]:
    """Three ``evaluate`` runs over every task and code path (labels from the dataset and from the reports, controls
    on and off, loaded align cases with images outside the items and without any, an NCD pool sampled down);
    results as JSON without the timings."""
    items = read_manifest(write_dataset(root, n=40, distinct=True))
    extra = write_dataset(root / "extra", n=6, distinct=True)
    cases = build_cxr_align(read_manifest(extra), seed=3, **BUILD)
    cases = {cid: dataclasses.replace(c, image=str(extra.parent / cid)) for cid, c in cases.items()}
    cases.update(build_cxr_align(items[:20], seed=1, **BUILD))
    first = next(iter(cases))
    cases["no-image"] = dataclasses.replace(cases[first], case_id="no-image", image=None)
    pool = ["Pneumothorax.", "Effusion. Cardiomegaly.", "No effusion.", "Cardiomegaly. Stable."]
    runs = {
        "dataset": evaluate(NoisyConceptEmbedder(), items, n_bootstrap=200, seed=0, report_pool=pool, **ENGINE),
        "report": evaluate(
            NoisyConceptEmbedder(), items, label_source="report", n_bootstrap=200, seed=5, n_abnormal=3, **ENGINE
        ),
        "align_file": evaluate(
            NoisyConceptEmbedder(),
            items[20:],
            tasks=["align", "textdiag", "zeroshot", "negprompt"],
            align_cases=cases,
            n_bootstrap=100,
            ks=(1, 3),
            controls=False,
            **ENGINE,
        ),
    }
    out = {}
    for name, res in runs.items():
        d = res.to_dict()
        assert set(d["timings"]) == {"prepare", "embed_images", "embed_texts", "total"} | {
            f"metrics:{t}" for t in d["tasks"]
        }
        del d["timings"]
        d["meta"].pop("version")
        out[name] = d
    return out


def _flat(x, path=""):
    if isinstance(x, dict):
        return {k: v for key, val in x.items() for k, v in _flat(val, f"{path}/{key}").items()} | {path: sorted(x)}
    if isinstance(x, list):
        return {k: v for i, val in enumerate(x) for k, v in _flat(val, f"{path}[{i}]").items()} | {path: len(x)}
    return {path: x}


def test_evaluate_results_equal_the_pinned_json(tmp_path: Path):
    """Every number ``evaluate`` wrote before its tasks became a registry (tests/data/eval_golden.json; since then
    only zero-shot's ``info`` gained ``counts`` / ``few``); a change that moves any metric, CI, control, info entry
    or task order fails here. Floats agree to 1e-6 relative: the bootstrap means are float32 matrix products
    (``bootstrap.weighted_means``), whose last bits follow the CPU's BLAS kernel (measured: CI bounds of retrieval
    differ by 6-7e-8 relative between two machines), while any real change moves a metric by far more."""
    got, want = _flat(golden_runs(tmp_path)), _flat(json.loads(GOLDEN.read_text()))
    assert list(got) == list(want)
    differ = [
        (k, got[k], want[k])
        for k in want
        if got[k] != want[k]
        and not (isinstance(want[k], float) and isinstance(got[k], float) and np.isclose(got[k], want[k], rtol=1e-6))
    ]
    assert differ == []
