"""``cxrvlp probe --model hf:DIR`` and the app's sidebar model picker with a model spec (AppTest)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _external_models import save_tiny_clip, save_tiny_siglip
from PIL import Image

from cxrvlp import cli

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    image = root / "x.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 56), dtype=np.uint8)).save(image)
    return {"clip": save_tiny_clip(root / "clip"), "siglip": save_tiny_siglip(root / "siglip"), "image": image}


@pytest.mark.parametrize("name", ["clip", "siglip"])
def test_probe_cli(name: str, dirs, capsys) -> None:
    args = ["probe", "--model", f"hf:{dirs[name]}", "--image", str(dirs["image"])]
    reports = ["Small right pleural effusion.", "No pleural effusion."]
    assert cli.main([*args, "--report", reports[0], "--report", reports[1], "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["report"] for r in out["results"]] == reports
    assert sum(r["softmax"] for r in out["results"]) == pytest.approx(1.0)
    assert ("sigmoid" in out["results"][0]) == (name == "siglip")
    assert cli.main([*args, "--report", reports[0]]) == 0
    table = capsys.readouterr().out
    assert "cosine" in table and reports[0] in table


def test_probe_cli_errors_are_one_line(dirs, tmp_path: Path, capsys) -> None:
    image = str(dirs["image"])
    assert cli.main(["probe", "--model", "hf:nobody/missing-model", "--image", image, "--report", "x"]) == 2
    err = capsys.readouterr().err
    assert "nobody/missing-model" in err and "Traceback" not in err
    (tmp_path / "m.pt").write_bytes(b"not used")
    assert cli.main(["probe", "--model", f"openai_clip:{tmp_path / 'm.pt'}", "--image", "x", "--report", "x"]) == 2
    assert "--trust-checkpoint" in capsys.readouterr().err


def test_app_picker_takes_a_model_spec(dirs, monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest

    import cxrvlp.ui.state as state

    spec = f"hf:{dirs['clip']}"
    monkeypatch.setenv("CXRVLP_MODEL", spec)
    monkeypatch.setattr(state, "DEFAULT_SPEC", spec)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox[0].value == state.SPEC
    assert "CLIPVisionModel" in " ".join(c.value for c in at.sidebar.caption)
    at.switch_page("pages/1_Negation_probe.py").run()
    at.radio(key="probe_img_mode").set_value("Example folder").run()
    at.text_input(key="probe_img_dir").input(str(dirs["image"].parent)).run()
    assert not at.exception, at.exception
    assert at.dataframe[0].value["softmax"].sum() == pytest.approx(1.0, abs=1e-4)
    at.sidebar.text_input(key="model_spec_text").input(f"hf:{dirs['siglip']}").run()
    assert not at.exception, at.exception
    assert "SiglipVisionModel" in " ".join(c.value for c in at.sidebar.caption)
    at.sidebar.text_input(key="model_spec_text").input("hf:nobody/missing-model").run()
    assert "nobody/missing-model" in " ".join(e.value for e in at.sidebar.error)
