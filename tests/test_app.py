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


def test_navigation_names_the_home_page_home(app):
    app.run()
    assert not app.exception
    # AppTest has no public view of the navigation; its registry holds what st.navigation registered, in order
    names = [info["page_name"] for info in app._registered_pages.values()]
    assert names[0] == "Home" and "app" not in names
    assert names[1:] == ["Negation probe", "Token attribution", "Embeddings", "Soft labels", "Benchmarks",
                         "Head ablation", "Training"]  # fmt: skip


def test_model_metric_names_the_run_of_a_checkpoint(app, tmp_path):
    from cxrvlp.models import create_model

    best = tmp_path / "my_run" / "best"
    create_model("tiny").save_pretrained(best)
    app.run()
    app.sidebar.selectbox[0].set_value("checkpoint directory…").run()
    app.sidebar.text_input[0].input(str(best)).run()
    assert not app.exception
    assert app.metric[0].label == "Model" and app.metric[0].value == "my_run/best"


def test_display_name():
    from cxrvlp.inference import display_name

    assert display_name("cxrvlp:runs/my_run/best") == "my_run/best"
    assert display_name("/abs/runs/r1/last") == "r1/last"
    assert display_name("preset:lite") == "preset:lite" and display_name("demo") == "demo"
    assert display_name("hf:openai/clip-vit-base-patch32") == "hf:openai/clip-vit-base-patch32"
    assert display_name("openai_clip:/models/chexzero/best_64.pt") == "best_64.pt"
