"""Streamlit-side helpers of the app (:mod:`cxrvlp.ui`): markdown escaping. The library code the pages call is
tested with its layer (``test_analysis_probe.py``, ``test_train_runs.py``, ``test_eval_tables.py``)."""

from __future__ import annotations


def test_md_escape_neutralises_markdown_and_html():
    from cxrvlp.ui.session import md_escape

    out = md_escape("[x](javascript:alert(1)) <script>*b*</script>")
    assert "<script>" not in out and "\\[x\\]" in out and "\\*b\\*" in out
