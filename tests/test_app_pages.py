"""Every page of the Streamlit app renders with the tiny model, and its key interactions work (AppTest)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
REPORT = "FINDINGS: Small right pleural effusion. Mild cardiomegaly. No pneumothorax."


@pytest.fixture
def examples(tmp_path) -> Path:
    """A folder with a 16-bit PNG, an RGBA PNG and a text file renamed .png."""
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((96, 80)) * 60000).astype(np.uint16)).save(tmp_path / "a_16bit.png")
    Image.fromarray((rng.random((64, 64, 4)) * 255).astype(np.uint8), mode="RGBA").save(tmp_path / "b_rgba.png")
    (tmp_path / "c_corrupt.png").write_text("not an image")
    return tmp_path


def go(at, page: str):
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def pick_example(at, folder: Path, name: str):
    at.radio(key="probe_img_mode").set_value("Example folder").run()
    at.text_input(key="probe_img_dir").input(str(folder)).run()
    at.selectbox(key="probe_img_ex").set_value(str(folder / name)).run()
    assert not at.exception, at.exception
    return at


def messages(elements) -> str:
    return " | ".join(e.value for e in elements)


def test_home_links_every_page(app):
    assert "Research use only" in messages(app.caption)
    assert app.metric[1].value == "cpu"
    pages = sorted(p.name for p in (REPO / "pages").glob("*.py"))
    assert len(pages) == 7
    assert "Upload an image" in messages(app.info)


def test_probe_without_image_asks_for_one(app):
    go(app, "1_Negation_probe")
    assert "Upload an image" in messages(app.info)
    assert not app.button(key="report_editor_neg_Pleural Effusion").disabled
    assert app.button(key="report_editor_neg_Pneumothorax").disabled  # already negative


def test_probe_scores_an_example_image_and_negates(app, examples):
    go(app, "1_Negation_probe")
    pick_example(app, examples, "a_16bit.png")
    table = app.dataframe[0].value
    assert table["version"].iloc[0] == "original"
    assert {"negated", "omitted"} <= set(table["kind"])
    assert table["softmax"].sum() == pytest.approx(1.0, abs=1e-4)
    # press "negate" on the effusion chip: the editor changes and the edit joins the table
    app.button(key="report_editor_neg_Pleural Effusion").click().run()
    assert not app.exception
    edited = app.text_area(key="report_editor").value
    assert "effusion" in edited.lower() and edited != REPORT
    table = app.dataframe[0].value
    assert edited in list(table["text"])  # the same text as the r^n row, so not repeated as an edit
    # free edits are kept, in order
    app.text_area(key="report_editor").input("Large left pneumothorax.").run()
    app.text_area(key="report_editor").input("Large left pneumothorax. No effusion.").run()
    table = app.dataframe[0].value.set_index("version")
    assert table.loc["edit 2", "text"] == "Large left pneumothorax."
    assert table.loc["edit 3", "text"] == "Large left pneumothorax. No effusion."


def test_probe_rgba_and_corrupt_images(app, examples):
    go(app, "1_Negation_probe")
    pick_example(app, examples, "b_rgba.png")
    assert len(app.dataframe[0].value) >= 3
    app.selectbox(key="probe_img_ex").set_value(str(examples / "c_corrupt.png")).run()
    assert not app.exception
    assert "not a readable image" in messages(app.error)
    assert app.text[0].value.startswith("b_rgba.png")  # the previous image is kept


def test_probe_empty_long_and_html_reports(app, examples):
    go(app, "1_Negation_probe")
    pick_example(app, examples, "a_16bit.png")
    app.text_area(key="report_editor").input("   ").run()
    assert "Type a report" in messages(app.info)
    app.text_area(key="report_editor").input("Pleural effusion. " * 200).run()
    assert "longer than the text encoder" in messages(app.warning)
    app.text_area(key="report_editor").input("<script>alert(1)</script> Pleural effusion.").run()
    assert not app.exception
    assert "<script>alert(1)</script> Pleural effusion." in list(app.dataframe[0].value["text"])


def test_probe_text_only_mode(app):
    go(app, "1_Negation_probe")
    app.toggle(key="probe_text_only").set_value(True).run()
    assert not app.exception
    assert "Type a reference report" in messages(app.info)  # not pre-filled with the report itself
    app.text_area(key="probe_reference").input("No acute cardiopulmonary abnormality.").run()
    assert "text similarity" in app.metric[0].label
    assert len(app.dataframe[0].value) >= 3


def test_image_and_report_are_shared_across_pages(app, examples):
    go(app, "1_Negation_probe")
    pick_example(app, examples, "a_16bit.png")
    app.text_area(key="report_editor").input("Right pneumothorax. Pleural effusion.").run()
    go(app, "2_Token_attribution")
    assert app.text_area(key="attr_report").value == "Right pneumothorax. Pleural effusion."
    go(app, "1_Negation_probe")
    assert app.text_area(key="report_editor").value == "Right pneumothorax. Pleural effusion."
    assert app.text[0].value.startswith("a_16bit.png")


def test_token_attribution_page(app, examples):
    go(app, "1_Negation_probe")
    pick_example(app, examples, "a_16bit.png")
    go(app, "2_Token_attribution")
    assert any("convergence delta" in m.label for m in app.metric)
    # the same report against a reference X-ray, by default one without the negated finding
    assert any("against a reference X-ray" in h.value for h in app.subheader)
    metrics = {m.label: m.value for m in app.metric}
    assert "similarity (reference X-ray)" in metrics and "agreement of the two attributions" in metrics
    swap = app.selectbox(key="attr_swap")
    assert app.selectbox(key="attr_finding").value == "Cardiomegaly"
    assert "Cardiomegaly" not in swap.format_func(swap.value)  # a film without the finding
    swap.set_value(3).run()
    assert not app.exception
    assert app.selectbox(key="attr_swap").value == 3
    app.slider(key="attr_steps").set_value(8).run()
    assert not app.exception
    app.radio(key="attr_method").set_value("occlusion").run()
    assert not app.exception


def test_token_attribution_without_image_uses_a_reference_text(app):
    go(app, "2_Token_attribution")
    assert "reference text" in messages(app.info)
    assert len(app.metric) == 2


def test_embeddings_page_projects_with_tsne(app):
    go(app, "3_Embeddings")
    assert "Project" in messages(app.info)
    app.slider(key="emb_n").set_value(20).run()
    app.button(key="emb_run").click().run(timeout=180)
    assert not app.exception
    counts = app.dataframe[-1].value
    assert set(counts["kind"]) >= {"report", "negated"}
    app.radio(key="emb_color").set_value("finding").run()
    assert not app.exception
    assert any("cos(r, r^n)" in h.value for h in app.subheader)
    summary = app.dataframe[0].value
    assert {"r vs its r^n", "r vs another report"} <= set(summary.index)
    assert summary.loc["r vs another report", "count"] == 20  # one other report per report
    # leave the page and come back: the settings and the projection are still there
    go(app, "1_Negation_probe")
    go(app, "3_Embeddings")
    assert app.slider(key="emb_n").value == 20 and app.radio(key="emb_color").value == "finding"
    assert "Press **Project**" not in messages(app.info)
    assert app.dataframe[0].value.equals(summary)
    assert not app.warning


def test_soft_labels_page_and_threshold(app):
    go(app, "4_Soft_labels")
    assert "Loss values need one image per report" in messages(app.info)
    captions = messages(app.caption)
    assert "rows share their label" in captions
    app.slider(key="sl_tau_t").set_value(0.1).run()
    assert not app.exception
    app.radio(key="sl_source").set_value("Pasted").run()
    app.text_area(key="sl_pasted").input("Pleural effusion.\nNo acute disease.\n<b>Edema</b> present.").run()
    assert not app.exception


def test_benchmarks_page_runs_on_a_manifest(app, tmp_path):
    rng = np.random.default_rng(1)
    reports = ["Large right pleural effusion.", "Left pneumothorax.", "Cardiomegaly.", "Mild pulmonary edema."]
    lines = ["image,text,labels"]
    for i, r in enumerate(reports):
        Image.fromarray((rng.random((64, 64)) * 255).astype(np.uint8)).save(tmp_path / f"{i}.png")
        lines.append(f"{i}.png,{r},")
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    go(app, "5_Benchmarks")
    app.text_input(key="bench_manifest").input(str(tmp_path / "m.csv")).run()
    app.number_input(key="bench_boot").set_value(0).run()
    app.text_input(key="bench_save").input(str(tmp_path / "r.json")).run()
    app.multiselect(key="bench_tasks").set_value(["align", "retrieval"]).run()
    app.button(key="bench_run").click().run(timeout=180)
    assert not app.exception
    assert (tmp_path / "r.json").is_file()
    assert len(app.dataframe[0].value) == 1
    app.text_input(key="bench_load_paths").input(f"{tmp_path}\n{tmp_path / 'm.csv'}").run()
    app.button(key="bench_load").click().run()
    assert len(app.dataframe[0].value) == 2
    assert "not an evaluation result" in messages(app.warning)


def test_benchmarks_label_only_manifest_fails_at_once_pointing_to_compose(app, tmp_path):
    rng = np.random.default_rng(2)
    lines = ["image,text,labels,split"]
    for i in range(4):  # the NIH sample's shape: labels, no report text
        Image.fromarray((rng.random((64, 64)) * 255).astype(np.uint8)).save(tmp_path / f"{i}.png")
        lines.append(f"{i}.png,,{'Effusion' if i % 2 else 'No Finding'},test")
    (tmp_path / "nih.csv").write_text("\n".join(lines) + "\n")
    go(app, "5_Benchmarks")
    app.text_input(key="bench_manifest").input(str(tmp_path / "nih.csv")).run()
    app.text_input(key="bench_save").input(str(tmp_path / "r.json")).run()
    app.button(key="bench_run").click().run()
    assert not app.exception
    assert "cxrvlp compose" in messages(app.error)
    assert not app.success and not (tmp_path / "r.json").exists()


def test_benchmarks_placeholder_is_the_shared_data_path(app):
    go(app, "5_Benchmarks")
    placeholder = app.text_input(key="bench_manifest").placeholder
    assert placeholder.startswith("../shared/data/")  # the data sits beside the repository, not inside it
    if (REPO.parent / "shared" / "data").is_dir():
        assert (REPO / placeholder).is_file()


def test_benchmarks_two_files_of_one_model_are_two_labelled_rows_with_controls(app, tmp_path):
    from cxrvlp.eval import EvalResult, Metric, TaskResult

    for name, value in (("first.json", 0.9), ("second.json", 0.8)):
        m = {
            "task_a": Metric(value, value - 0.05, value + 0.05, 50),
            "task_a_shuffled": Metric(0.88, 0.8, 0.95, 50),
            "task_a_text_only": Metric(0.87, 0.8, 0.95, 50),
            "task_a_grounding_gap": Metric(value - 0.88, -0.05, 0.07, 50),
        }
        tasks = {"align": TaskResult("align", m, info={"cases": 50})}
        EvalResult(model="demo", dataset="../shared/x/nih_composed.csv split=test", tasks=tasks).save(tmp_path / name)
    go(app, "5_Benchmarks")
    app.text_input(key="bench_load_paths").input(f"{tmp_path / 'first.json'}\n{tmp_path / 'second.json'}").run()
    app.button(key="bench_load").click().run()
    assert not app.exception
    rows = list(app.dataframe[0].value.index)
    assert len(rows) == 2 and "first.json" in rows[0] and "second.json" in rows[1]
    assert all("nih_composed.csv split=test" in r for r in rows)
    ctrl = app.dataframe[1].value
    assert list(ctrl["metric"]) == ["task_a", "task_a"]
    assert "text prior" in " ".join(ctrl["reading"]) or "prior" in " ".join(ctrl["reading"])


def test_benchmarks_missing_manifest_is_a_message(app, tmp_path):
    go(app, "5_Benchmarks")
    app.text_input(key="bench_manifest").input(str(tmp_path / "missing.csv")).run()
    app.button(key="bench_run").click().run()
    assert not app.exception
    assert "manifest not found" in messages(app.error)


def test_head_ablation_page(app):
    go(app, "6_Head_ablation")
    assert "Red heads blur negation" in messages(app.markdown) + messages(app.caption)
    app.slider(key="heads_pairs").set_value(8).run()
    app.slider(key="heads_verify").set_value(2).run()
    app.button(key="heads_run").click().run(timeout=180)
    assert not app.exception
    frames = [d.value for d in app.dataframe]
    assert "condition" in frames[-1].columns and len(frames[-1]) == 2
    top = frames[0]  # tiny has 2 x 2 heads: the top-2 verified exactly, the rest estimates
    assert list(top["value is"]).count("exact") == 2 and list(top["value is"]).count("estimate") == 2
    assert "Cells marked *exact* (2)" in messages(app.caption)


def test_training_page_lists_runs_and_curves(app, tmp_path):
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "log.jsonl").write_text(
        '{"kind": "train", "step": 1, "loss": 2.0, "dsl_loss": 1.5, "lr": 0.001}\n'
        '{"kind": "train", "step": 2, "loss": 1.0, "dsl_loss": 0.7, "lr": 0.001}\n{"kind": "tra'
    )
    go(app, "7_Training")
    assert "No runs" in messages(app.info)
    app.text_input(key="train_root").input(str(tmp_path / "runs")).run()
    assert not app.exception
    assert app.multiselect(key="train_terms").value == ["dsl_loss", "loss"]
    app.text_input(key="train_name").input("../escape").run()
    app.button(key="train_start").click().run()
    assert "plain folder name" in messages(app.error)


def test_probe_shows_the_reference_panel(app, examples):
    go(app, "1_Negation_probe")
    pick_example(app, examples, "a_16bit.png")
    assert any("Reference panel" in h.value for h in app.subheader)
    assert "NIH ChestX-ray14" in messages(app.caption)
    panel = messages(app.markdown)
    assert "of 48 reference images" in panel and "r^n Pleural Effusion" in panel
    table = app.dataframe[0].value
    assert set(table["evidence"].iloc[1:]) <= {"text prior", "this image"}
    assert all(r.endswith("/48") for r in table["reference"].iloc[1:])
    ranks = app.dataframe[1].value.set_index("version")
    assert list(ranks.index) == list(table["version"])
    assert ranks["rank of this image (of 49)"].between(1, 49).all()


@pytest.fixture
def text_only_app(monkeypatch):
    """The app on a fake model that ignores the image: every X-ray embeds to the same vector."""
    import torch
    from streamlit.testing.v1 import AppTest

    import cxrvlp.ui.state as state
    from cxrvlp.inference import Predictor
    from cxrvlp.models import create_model

    class TextOnly(Predictor):
        @classmethod
        def from_spec(cls, spec, **kwargs):
            if spec != "fake:text-only":
                return Predictor.from_spec(spec, **kwargs)
            model = create_model("tiny")
            const = torch.nn.functional.normalize(torch.ones(model.config.embed_dim), dim=0)
            model.encode_image = lambda x: const.expand(len(x), -1).clone()
            return cls(model, device="cpu", spec=spec)

    monkeypatch.setattr(state, "Predictor", TextOnly)
    monkeypatch.setattr(state, "DEFAULT_SPEC", "fake:text-only")
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception
    return at


def test_a_text_only_model_is_called_a_text_prior(text_only_app, examples):
    at = go(text_only_app, "1_Negation_probe")
    pick_example(at, examples, "a_16bit.png")
    assert at.session_state["cxrvlp_model_spec"] == "fake:text-only"
    panel = messages(at.markdown)
    assert "for 48 of 48 reference images: a text prior, not image evidence" in panel
    assert "this image moves the preference" not in panel
    table = at.dataframe[0].value
    assert set(table["evidence"].iloc[1:]) == {"text prior"}
    # a wrong preference of this model is flagged as a prior, never as this image's
    flagged = table[table["flag"] != ""]
    assert all("text prior" in f for f in flagged["flag"])


def test_probing_a_bundled_reference_film_leaves_it_out(app):
    from cxrvlp.analysis.reference import REFERENCE_DIR

    go(app, "1_Negation_probe")
    first = sorted((REFERENCE_DIR / "images").iterdir())[0]
    pick_example(app, REFERENCE_DIR / "images", first.name)
    assert "of 47 reference images" in messages(app.markdown)
    assert all(r.endswith("/47") for r in app.dataframe[0].value["reference"].iloc[1:])
