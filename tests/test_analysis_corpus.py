"""Shared helpers behind the analysis commands and pages: report corpora, CLI progress bars, benchmark charts."""

from __future__ import annotations

import random

import pandas as pd

from cxrvlp.analysis.corpus import csv_reports, sample_reports


def test_sample_reports_is_seeded_and_keeps_a_small_corpus_whole():
    reports = [f"report {i}" for i in range(20)]
    assert sample_reports(reports, 5, 3) == random.Random(3).sample(reports, 5)
    assert sample_reports(reports, 20, 3) == reports and sample_reports(reports, 50, 3) == reports


def test_csv_reports_picks_report_then_text_and_drops_empty_rows():
    assert csv_reports(pd.DataFrame({"text": ["a", " ", None], "report": ["x", "y", ""]})) == ["x", "y"]
    assert csv_reports(pd.DataFrame({"text": ["a", " ", None]})) == ["a"]
    assert csv_reports(pd.DataFrame({"body": ["a"]})) is None


def test_stage_bars_one_bar_per_stage_closed_on_exit(capsys):
    from cxrvlp.commands.progress import StageBars

    with StageBars("embed ", unit="report") as bars:
        bars("images", 2, 4)
        bars("images", 4, 4)
        bars.stage("texts")(3, 3)
    assert {s: (b.n, b.total, b.desc, b.disable) for s, b in bars.bars.items()} == {
        "images": (4, 4, "embed images", True),  # tqdm disables a bar when it is closed
        "texts": (3, 3, "embed texts", True),
    }
    assert "embed images" in capsys.readouterr().err


def test_benchmark_charts_escape_names():
    from cxrvlp.analysis.figures import breakdown_bar, metric_bar

    one = pd.DataFrame({"run": ["1: <b>m</b>"], "value": [50.0], "low": [40.0], "high": [60.0]})
    fig = metric_bar(one, title="align/<i>a</i>")
    assert list(fig.data[0].x) == ["1: &lt;b&gt;m&lt;/b&gt;"] and fig.layout.title.text == "align/&lt;i&gt;a&lt;/i&gt;"
    frame = pd.DataFrame({"finding": ["A & B"], "metric": ["<x>"], "value": [1.0], "n": [3]})
    fig = breakdown_bar(frame)
    assert list(fig.data[0].x) == ["A &amp; B"] and fig.data[0].name == "&lt;x&gt;"
