"""The app under real use: no traceback on any page, offline favicon, training page, soft labels, model picker."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted(p.stem for p in (REPO / "pages").glob("*.py"))


def go(at, page: str):
    at.switch_page(f"pages/{page}.py").run()
    return at


def messages(elements) -> str:
    return " | ".join(e.value for e in elements)


# --------------------------------------------------------------------------------------------- guard
def test_guard_turns_an_uncaught_error_into_one_message_and_a_log_line(caplog):
    from streamlit.testing.v1 import AppTest

    def script():
        import streamlit as st

        from cxrvlp.ui import guard

        guard.install()
        st.write("before")
        raise RuntimeError("The size of tensor a (70) must match the size of tensor b (15)\nsecond line")

    at = AppTest.from_function(script, default_timeout=60)
    with caplog.at_level(logging.ERROR, logger="cxrvlp.ui.guard"):
        at.run()
    assert not at.exception  # no traceback box
    assert len(at.error) == 1
    text = at.error[0].value
    assert "RuntimeError: The size of tensor a" in text and "must match" in text and "second line" not in text
    assert "server log" in text
    logged = [r for r in caplog.records if r.name == "cxrvlp.ui.guard"]
    assert len(logged) == 1 and logged[0].exc_info is not None  # the traceback goes to the log


@pytest.mark.parametrize("page", ["app", *PAGES])
def test_every_page_installs_the_guard(app, monkeypatch, page):
    """Any page: an unexpected error after the frame is drawn shows a message, not a traceback."""
    import cxrvlp.ui.state as state
    import cxrvlp.ui.widgets as widgets  # before the patch: widgets binds state.model_picker when imported

    calls = {"n": 0}
    real = state.model_picker

    def picker_then_fail():
        calls["n"] += 1
        real()
        raise ValueError("injected failure")

    monkeypatch.setattr(state, "model_picker", picker_then_fail)
    monkeypatch.setattr(widgets, "model_picker", picker_then_fail)
    if page == "app":
        app.run()
    else:
        go(app, page)
    assert calls["n"] >= 1
    assert not app.exception, page
    assert "ValueError: injected failure" in messages(app.error), page


def test_config_hides_tracebacks_and_bounds_the_file_watcher():
    cfg = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert cfg["client"]["showErrorDetails"] == "none"
    assert cfg["server"]["fileWatcherType"] == "none"


# --------------------------------------------------------------------------------------------- offline favicon
@pytest.mark.parametrize("page", ["app", *PAGES])
def test_page_icon_is_a_bundled_file_not_a_material_icon(app, monkeypatch, page):
    """A ':material/…:' page icon makes the browser fetch the favicon from fonts.gstatic.com."""
    import streamlit as st

    icons = []
    real = st.set_page_config

    def record(*args, **kwargs):
        icons.append(kwargs.get("page_icon"))
        return real(*args, **kwargs)

    monkeypatch.setattr(st, "set_page_config", record)
    app.run() if page == "app" else go(app, page)
    assert icons, page
    for icon in icons:
        assert isinstance(icon, str) and not icon.startswith(":") and Path(icon).is_file(), (page, icon)


# --------------------------------------------------------------------------------------------- model picker
def test_first_corrected_checkpoint_path_is_used(app, tmp_path, monkeypatch):
    import cxrvlp.ui.state as state

    tried = []

    def fake_load(spec):
        tried.append(spec)
        raise ValueError(f"{spec} is not a cxrvlp checkpoint")

    app.sidebar.selectbox[0].set_value("checkpoint directory…").run()
    monkeypatch.setattr(state, "load_predictor", fake_load)
    app.sidebar.text_input[0].input(str(tmp_path / "bad")).run()
    app.sidebar.text_input[0].input(str(tmp_path / "good")).run()
    assert not app.exception
    assert tried[-1] == f"cxrvlp:{tmp_path / 'good'}"
    assert app.sidebar.text_input[0].value == str(tmp_path / "good")


# --------------------------------------------------------------------------------------------- training page
def test_start_with_defaults_explains_the_missing_dataset(app, tmp_path, monkeypatch):
    import cxrvlp.train.runs as runs

    started = []
    monkeypatch.setattr(runs, "start_run", lambda *a, **k: started.append(a) or 4242)
    go(app, "7_Training")
    app.text_input(key="train_root").input(str(tmp_path / "runs")).run()
    app.button(key="train_start").click().run()
    assert not app.exception
    assert started == []
    assert not app.success
    assert "data.root is empty" in messages(app.error).replace("\\", "")


def test_starting_a_second_run_shows_the_second(app, tmp_path, monkeypatch):
    import json

    import cxrvlp.train.runs as runs

    def fake_start(run_dir, cmd, **kwargs):  # what start_run leaves behind, without a process
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        (Path(run_dir) / runs.PROCESS_FILE).write_text(json.dumps({"pid": 999_999_999, "command": cmd}))
        return 999_999_999

    monkeypatch.setattr(runs, "start_run", fake_start)
    monkeypatch.setattr(runs, "check_run", lambda **kwargs: None, raising=False)  # the dataset is not the point
    go(app, "7_Training")
    app.text_input(key="train_root").input(str(tmp_path / "runs")).run()
    app.text_input(key="train_name").input("first").run()
    app.button(key="train_start").click().run()
    assert Path(app.selectbox(key="train_pick").value).name == "first"
    app.text_input(key="train_name").input("second").run()
    app.button(key="train_start").click().run()
    assert not app.exception
    assert "Started process" in messages(app.success)
    assert Path(app.selectbox(key="train_pick").value).name == "second"


# --------------------------------------------------------------------------------------------- probe, uploads
def test_text_only_reference_is_not_the_report_itself(app):
    go(app, "1_Negation_probe")
    app.toggle(key="probe_text_only").set_value(True).run()
    assert not app.exception
    report = app.text_area(key="report_editor").value
    assert app.text_area(key="probe_reference").value != report
    assert "reference report" in messages(app.info)
    app.text_area(key="probe_reference").input(report).run()
    assert "the report itself" in messages(app.warning)


def test_upload_limit_is_said_in_words(app):
    limit = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    import cxrvlp.ui.widgets as widgets

    assert f"{limit} MB" in widgets.upload_help()
    go(app, "1_Negation_probe")
    assert not app.exception
    source = (REPO / "cxrvlp" / "ui" / "widgets.py").read_text()
    assert "up to {upload_limit_mb()} MB" in source and "help=upload_help()" in source


# --------------------------------------------------------------------------------------------- soft labels
def test_soft_labels_marks_hard_negatives_and_disables_tau_g(app):
    go(app, "4_Soft_labels")
    assert not app.exception
    assert app.slider(key="sl_tau_g").disabled  # preset:tiny has no graph encoder
    assert "their negated hard negatives" in messages(app.caption)


def test_soft_labels_batch_slider_matches_the_pasted_batch(app):
    go(app, "4_Soft_labels")
    app.radio(key="sl_source").set_value("Pasted").run()
    app.text_area(key="sl_pasted").input("Pleural effusion.\nCardiomegaly.\nLeft pneumothorax.").run()
    assert not app.exception
    sliders = [s for s in app.slider if s.label.startswith("Batch size")]
    assert len(sliders) == 1 and sliders[0].value == 3 and sliders[0].disabled


def test_heatmap_boundary_lines():
    import numpy as np

    from cxrvlp.analysis.figures import matrix_heatmap

    fig = matrix_heatmap(np.eye(4), ["a", "b", "c", "d"], title="S", boundary=2)
    xs = sorted(s.x0 for s in fig.layout.shapes)
    assert len(fig.layout.shapes) == 2 and xs == [-0.5, 1.5]
    assert len(matrix_heatmap(np.eye(4), list("abcd"), title="S").layout.shapes) == 0


# --------------------------------------------------------------------------------------------- clarity, speed
def _metric_calls(path: Path):
    import ast

    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "metric":
            yield node


def test_every_metric_has_a_tooltip():
    files = [REPO / "app.py", *sorted((REPO / "pages").glob("*.py"))]
    missing = [
        f"{f.name}:{call.lineno}"
        for f in files
        for call in _metric_calls(f)
        if not any(k.arg == "help" for k in call.keywords)
    ]
    assert missing == []


def test_frame_imports_no_torch_and_models_defer_torch_geometric():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import cxrvlp.ui.frame\n"
        "assert 'torch' not in sys.modules, 'frame imports torch'\n"
        "import cxrvlp.ui.widgets, cxrvlp.ui.loaders\n"
        "assert 'torch_geometric' not in sys.modules, 'torch_geometric imported eagerly'\n"
        "from cxrvlp.models.graph import GraphEncoder\n"
        "assert GraphEncoder.__name__ == 'GraphEncoder'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]


def test_home_draws_its_frame_and_links_before_importing_the_model_code():
    source = (REPO / "app.py").read_text().splitlines()
    keys = ("st.title(", "st.page_link")
    first = {key: next(i for i, line in enumerate(source) if line.strip().startswith(key)) for key in keys}
    heavy = [i for i, line in enumerate(source) if "import" in line and ("ui.state" in line or "ui.widgets" in line)]
    heavy += [
        i for i, line in enumerate(source) if "import" in line and ("import session" in line or "inference" in line)
    ]
    assert heavy and min(heavy) > max(first.values())
