"""Training: loss curves of the runs under a folder; start a small run in the background and stop it."""

from __future__ import annotations

import shlex
from pathlib import Path

import plotly.express as px
import streamlit as st

from cxrvlp.train import runs
from cxrvlp.ui.session import md_escape
from cxrvlp.ui.widgets import page_frame

page_frame(
    "Training",
    ":material/model_training:",
    "Every numeric term of a run's JSONL log against the step. A run started here is a background process: it "
    "survives page reloads and can be stopped from any session.",
)
root = Path(st.text_input("Runs folder", "runs", key="train_root").strip() or "runs")

with st.expander("Start a small run"):
    c1, c2 = st.columns(2)
    name = c1.text_input("Run name", "app_run", key="train_name")
    config = c2.text_input("Config file (YAML, optional)", key="train_config", placeholder="configs/clip.yaml")
    c3, c4 = st.columns(2)
    preset = c3.selectbox(
        "Model preset", ["tiny", "lite", ""], key="train_preset", format_func=lambda p: p or "(from the config)"
    )
    max_steps = c4.number_input("Max steps", 1, 1_000_000, 200, key="train_steps")
    data_root = st.text_input(
        "Dataset (data.root)",
        key="train_data_root",
        placeholder="../shared/data/nih_cxr14_sample/manifest.csv",
        help="A dataset folder or a manifest CSV; leave empty when the config file sets data.root.",
    )
    extra = st.text_input("More overrides (key=value …)", key="train_overrides", placeholder="train.lr=3e-4")
    if st.button("Start", type="primary", key="train_start"):
        run_dir = root / name.strip()
        if not name.strip() or Path(name.strip()).name != name.strip():
            st.error("The run name must be a plain folder name.")
        elif config.strip() and not Path(config.strip()).is_file():
            st.error(f"Config file not found: {md_escape(config.strip())}")
        else:
            try:
                overrides = [f"train.max_steps={int(max_steps)}"]
                overrides += [f"data.root={data_root.strip()}"] if data_root.strip() else []
                overrides += shlex.split(extra)
                runs.check_run(config=config.strip(), preset=preset, overrides=overrides)  # fail here, not later
                cmd = runs.train_command(run_dir, config=config.strip(), preset=preset, overrides=overrides)
                pid = runs.start_run(run_dir, cmd)
            except (RuntimeError, ValueError, OSError) as e:
                st.error(f"Not started: {md_escape(str(e))}")
            else:
                st.success(f"Started process {pid} in {md_escape(str(run_dir))}.")
                st.session_state["train_run"] = str(run_dir)
                st.session_state["train_new_run"] = str(run_dir)

found = runs.list_runs(root)
if not found:
    st.info(f"No runs under {md_escape(str(root))} yet (a run is a folder with a log.jsonl).")
    st.stop()
paths = [str(p) for p in found]
default = paths.index(st.session_state["train_run"]) if st.session_state.get("train_run") in paths else 0
if st.session_state.pop("train_new_run", None) in paths:  # a run just started: show it, not the one picked before
    st.session_state["train_pick"] = paths[default]
run_dir = Path(st.selectbox("Run", paths, index=default, format_func=lambda p: Path(p).name, key="train_pick"))


def monitor() -> None:
    state = runs.process_state(run_dir)
    c1, c2 = st.columns([3, 1])
    c1.markdown(f"**Process:** {state if state != 'none' else 'not started from the app'}")
    if state == "running" and c2.button("Stop", key="train_stop"):
        runs.stop_run(run_dir)
        st.rerun()
    frame = runs.run_metrics(run_dir)
    if frame.empty:
        st.caption("No metrics logged yet.")
    else:
        last, total = int(frame["step"].max()), runs.total_steps(run_dir)
        if total:
            st.progress(min(last / total, 1.0), text=f"step {last} / {total}")
        else:
            st.caption(f"last logged step {last}")
        terms = sorted(frame["term"].unique())
        losses = [t for t in terms if t.endswith("loss")] or terms
        chosen = st.multiselect("Terms", terms, default=losses, key="train_terms")
        shown = frame[frame["term"].isin(chosen)]
        fig = px.line(shown, x="step", y="value", color="term", line_dash="kind", markers=len(shown) < 60)
        st.plotly_chart(fig, key="train_curves")
    tail = runs.output_tail(run_dir)
    if tail:
        with st.expander("Process output (last lines)", expanded=state.startswith("failed")):
            st.code(tail, language=None)


# refresh every 3 s while the process runs; a static page otherwise
st.fragment(monitor, run_every=3.0 if runs.process_state(run_dir) == "running" else None)()
