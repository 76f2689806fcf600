"""The Streamlit home page renders with a real model and handles a report edit."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def app(monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CXRVLP_MODEL", "preset:tiny")
    import cxrvlp.ui.state as state

    monkeypatch.setattr(state, "DEFAULT_SPEC", "preset:tiny")
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=120)


def test_home_renders_and_asks_for_an_image(app):
    app.run()
    assert not app.exception
    assert "does the model notice" in app.title[0].value
    assert any("Upload an image" in i.value for i in app.info)
    assert app.sidebar.selectbox[0].value == "preset:tiny"
    assert any("Research use only" in c.value for c in app.caption)


def test_bad_checkpoint_dir_shows_an_error_not_a_traceback(app, tmp_path):
    app.run()
    app.sidebar.selectbox[0].set_value("checkpoint directory…").run()
    app.sidebar.text_input[0].input(str(tmp_path)).run()
    assert not app.exception
    assert any("not a cxrvlp checkpoint" in e.value for e in app.sidebar.error)
