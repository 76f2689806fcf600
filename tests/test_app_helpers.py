"""Pure helpers behind the app: the probe table and its flags, run management, benchmark tables, escaping."""

from __future__ import annotations

import json
import sys
import time

import pytest
import torch

from cxrvlp.ui import runs
from cxrvlp.ui.probe import Version, flags, versions

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
    from cxrvlp.analysis.projection import EmbeddingCache
    from cxrvlp.inference import Predictor
    from cxrvlp.ui.probe import score_versions

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


def test_metric_frame_reads_numeric_terms_and_skips_bad_lines(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "not_a_run").mkdir()
    (run / "log.jsonl").write_text('{"step": 1, "loss": 2.5, "kind": "train", "ok": true}\nnot json\n{"step"')
    records = runs.read_jsonl(run / "log.jsonl")
    frame = runs.metric_frame(records)
    assert list(frame["term"]) == ["loss"] and frame["value"][0] == 2.5
    assert runs.list_runs(tmp_path) == [run]


def test_total_steps_from_config(tmp_path):
    assert runs.total_steps(tmp_path) is None
    (tmp_path / "config.yaml").write_text("train:\n  max_steps: 50\n")
    assert runs.total_steps(tmp_path) == 50


def test_train_command():
    cmd = runs.train_command("runs/x", config="c.yaml", preset="tiny", overrides=["train.lr=1"])
    assert cmd[1:] == [
        "-m",
        "cxrvlp.cli",
        "train",
        "--config",
        "c.yaml",
        "--preset",
        "tiny",
        "--no-progress",
        "train.run_dir=runs/x",
        "train.lr=1",
    ]


def _wait(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not pred() and time.monotonic() < deadline:
        time.sleep(0.05)
    return pred()


def test_start_finish_and_fail(tmp_path):
    assert runs.process_state(tmp_path) == "none"
    runs.start_run(tmp_path / "ok", [sys.executable, "-c", "print('hello')"])
    assert _wait(lambda: runs.process_state(tmp_path / "ok") == "finished")
    assert "hello" in runs.output_tail(tmp_path / "ok")
    runs.start_run(tmp_path / "bad", [sys.executable, "-c", "raise SystemExit(3)"])
    assert _wait(lambda: runs.process_state(tmp_path / "bad") == "failed (exit 3)")


def test_start_survives_and_stop_kills_the_group(tmp_path):
    pid = runs.start_run(tmp_path, [sys.executable, "-c", "import time; time.sleep(60)"])
    info = json.loads((tmp_path / runs.PROCESS_FILE).read_text())
    assert info["pid"] == pid
    assert runs.process_state(tmp_path) == "running"
    with pytest.raises(RuntimeError, match="already going"):
        runs.start_run(tmp_path, [sys.executable, "-c", "pass"])
    assert runs.stop_run(tmp_path)
    assert _wait(lambda: runs.process_state(tmp_path) == "stopped")
    assert not runs.stop_run(tmp_path)


def test_md_escape_neutralises_markdown_and_html():
    from cxrvlp.ui.session import md_escape

    out = md_escape("[x](javascript:alert(1)) <script>*b*</script>")
    assert "<script>" not in out and "\\[x\\]" in out and "\\*b\\*" in out


def test_comparison_and_breakdown_frames():
    from cxrvlp.eval import EvalResult, Metric, TaskResult
    from cxrvlp.ui.benchmarks import breakdown_frame, comparison_frame, wide_table

    nan = float("nan")
    task = TaskResult("align", {"task_a": Metric(0.75, 0.7, 0.8, 10)}, {"Edema": {"task_a": Metric(0.5, nan, nan, 2)}})
    a = EvalResult("m1", "d", {"align": task})
    b = EvalResult("m2", "d", {"textdiag": TaskResult("textdiag", {"gap": Metric(0.1, nan, nan, 5, percent=False)})})
    long = comparison_frame([a, b])
    assert long.loc[0, "value"] == pytest.approx(75.0) and long.loc[1, "value"] == pytest.approx(0.1)
    wide = wide_table(long)
    assert list(wide.columns) == ["align/task_a", "textdiag/gap"] and wide.isna().sum().sum() == 2
    assert breakdown_frame(a, "align").to_dict("records") == [
        {"finding": "Edema", "metric": "task_a", "value": 50.0, "n": 2}
    ]


def test_run_labels_controls_frame_and_figure():
    from cxrvlp.eval import EvalResult, Metric, TaskResult
    from cxrvlp.ui.benchmarks import controls_figure, controls_frame, run_labels

    def run(gap: Metric, source: str) -> EvalResult:
        m = {
            "task_a": Metric(0.9, 0.85, 0.95, 40),
            "task_a_shuffled": Metric(0.9 - gap.value, 0.8, 0.95, 40),
            "task_a_text_only": Metric(0.88, 0.8, 0.95, 40),
            "task_a_grounding_gap": gap,
        }
        z = {"auroc": Metric(0.6, 0.55, 0.65, 40), "image_sensitivity": Metric(0.02, 0.0, 0.05, 40)}
        tasks = {"align": TaskResult("align", m), "zeroshot": TaskResult("zeroshot", z)}
        return EvalResult("<b>demo</b>", "../x/nih.csv split=test", tasks, meta={"source": source})

    prior, grounded = run(Metric(0.0, -0.05, 0.06, 40), "/r/a.json"), run(Metric(0.4, 0.3, 0.5, 40), "/r/b.json")
    labels = run_labels([prior, grounded, grounded])
    assert labels == [
        "<b>demo</b> · nih.csv split=test · a.json",
        "<b>demo</b> · nih.csv split=test · b.json",
        "<b>demo</b> · nih.csv split=test · b.json (2)",
    ]
    frame = controls_frame([prior, grounded], labels[:2])
    assert list(frame["metric"]) == ["task_a", "image_sensitivity", "task_a", "image_sensitivity"]
    assert frame.loc[0, "grounding_gap"] == pytest.approx(0.0) and frame.loc[2, "gap_low"] == pytest.approx(30.0)
    assert "prior" in frame.loc[0, "reading"] and "needs this image" in frame.loc[2, "reading"]
    assert "text prior" in frame.loc[1, "reading"]  # sensitivity CI [0, 5] contains 0
    fig = controls_figure(frame[frame["metric"] == "task_a"], title="<i>t</i>")
    assert [t.name for t in fig.data] == ["own image", "another image (shuffled)", "no image (text only)"]
    assert all("<b>" not in x for t in fig.data for x in t.x) and "<i>" not in fig.layout.title.text
    assert [a.text for a in fig.layout.annotations] == ["gap +0.0 [-5.0, 6.0]", "gap +40.0 [30.0, 50.0]"]
