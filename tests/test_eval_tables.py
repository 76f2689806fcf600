"""Result tables (:mod:`cxrvlp.eval.tables`) and the figure (:func:`cxrvlp.analysis.figures.controls_figure`)."""

from __future__ import annotations

import pytest

from cxrvlp.eval import EvalResult, Metric, TaskResult


def test_comparison_and_breakdown_frames():
    from cxrvlp.eval.tables import breakdown_frame, comparison_frame, wide_table

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
    from cxrvlp.analysis.figures import controls_figure
    from cxrvlp.eval.tables import controls_frame, run_labels

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
