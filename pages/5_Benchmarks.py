"""Benchmarks: run the evaluation suite on a manifest, or load saved results, and compare runs."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from cxrvlp.analysis.figures import breakdown_bar, controls_figure, metric_bar
from cxrvlp.eval import TASKS, EvalResult, check_inputs, evaluate, read_manifest
from cxrvlp.eval.results import is_control_metric
from cxrvlp.eval.runner import inputs_error
from cxrvlp.eval.tables import CONDITIONS, breakdown_frame, comparison_frame, controls_frame, run_labels, wide_table
from cxrvlp.ui.session import md_escape
from cxrvlp.ui.widgets import page_frame

predictor = page_frame(
    "Benchmarks",
    ":material/leaderboard:",
    "CXR-Align (Task A: sim(r) > sim(r^n); Task B: sim(r^r) > sim(r^n)), zero-shot, retrieval, adversarial, "
    "normal-case detection and negated-prompt retrieval with bootstrap 95% CIs, each beside its grounding controls "
    "(the same texts scored against another image, an image without the finding, and no image).",
)
results: list[EvalResult] = st.session_state.setdefault("bench_results", [])
run_tab, load_tab = st.tabs(["Run the suite", "Load saved results"])
with run_tab:
    manifest = st.text_input(
        "Manifest CSV (image,text,labels,split)",
        key="bench_manifest",
        placeholder="../shared/data/covid_chestxray/manifest.csv",
    )
    c1, c2, c3, c4 = st.columns(4)
    split = c1.text_input("Split (empty = all)", key="bench_split")
    limit = c2.number_input("Items (0 = all)", 0, 100_000, 200, key="bench_limit")
    boot = c3.number_input("Bootstrap resamples", 0, 5000, 200, step=100, key="bench_boot")
    save = c4.text_input("Save result JSON to (optional)", key="bench_save")
    tasks = st.multiselect("Tasks", TASKS, default=["align", "retrieval", "textdiag"], key="bench_tasks")
    controls = st.checkbox(
        "Grounding controls",
        value=True,
        key="bench_controls",
        help="Score the same cases against another image of the split, an image without the finding and the mean "
        "image (no image evidence). Cheap: they reuse the embeddings.",
    )
    if st.button("Run", type="primary", key="bench_run", disabled=not manifest.strip() or not tasks):
        try:
            items = read_manifest(manifest.strip(), split=split.strip() or None)
        except (OSError, ValueError) as e:
            st.error(md_escape(str(e)))
            st.stop()
        items = items[: int(limit)] if limit else items
        problems = check_inputs(items, tasks)
        if problems:  # before anything is embedded: a label-only manifest needs composed reports
            st.error(md_escape(inputs_error(problems)))
            st.stop()
        bar = st.progress(0.0, text="Preparing…")
        try:
            result = evaluate(
                predictor,
                items,
                tasks=tasks,
                n_bootstrap=int(boot),
                model_name=predictor.spec,
                dataset_name=f"{manifest.strip()} {split.strip()}".strip(),
                controls=controls,
                on_progress=lambda stage, d, t: bar.progress(d / max(t, 1), text=f"{stage}: {d}/{t}"),
            )
        except Exception as e:  # unreadable images, a task without data: a message, never a traceback
            st.error(f"The evaluation stopped: {md_escape(str(e))}")
            st.stop()
        bar.progress(1.0, text=f"Done in {result.timings.get('total', 0):.1f} s")
        if not result.tasks:
            st.error("No task produced a result on this data (see the log); nothing saved.")
            st.stop()
        result.meta["source"] = save.strip() or "this session"
        results.append(result)
        if save.strip():
            try:
                result.save(save.strip())
            except OSError as e:
                st.error(f"Could not save: {md_escape(str(e))}")
            else:
                st.success(f"Saved to {md_escape(save.strip())}")
with load_tab:
    where = st.text_input("Result JSON files or a folder of them (one per line)", key="bench_load_paths")
    if st.button("Load", key="bench_load", disabled=not where.strip()):
        for line in filter(None, map(str.strip, where.splitlines())):
            paths = sorted(Path(line).glob("*.json")) if Path(line).is_dir() else [Path(line)]
            for p in paths:
                try:
                    loaded = EvalResult.load(p)
                except Exception as e:  # not a result file
                    st.warning(f"{md_escape(p.name)}: not an evaluation result ({md_escape(type(e).__name__)})")
                    continue
                if not loaded.tasks:
                    st.warning(f"{md_escape(p.name)}: holds no task results, skipped")
                    continue
                loaded.meta["source"] = str(p)
                results.append(loaded)

if not results:
    st.info("Run the suite or load saved results to compare them.")
    st.stop()
names = run_labels(results)
long = comparison_frame(results, names)
long = long[~long["metric"].map(is_control_metric)]
st.subheader("Comparison (proportions in %)")
st.caption("One row per run: model · data · result file. The controls of each metric are in the next section.")
st.dataframe(wide_table(long), width="stretch", key="bench_table")
choices = list(dict.fromkeys(long["task"] + "/" + long["metric"]))
metric = st.selectbox("Metric to chart", choices, key="bench_metric")
if metric:
    one = long[(long["task"] + "/" + long["metric"]) == metric]
    st.plotly_chart(metric_bar(one, title=metric), key="bench_chart")

ctrl = controls_frame(results, names)
st.subheader("Grounding controls: does the score need the image?")
if ctrl.empty:
    st.caption(
        "No run here has grounding controls (re-run with *Grounding controls* on, or `cxrvlp eval` without "
        "`--no-controls`)."
    )
else:
    st.caption(
        "Each metric beside the same cases scored against **another image** of the split (shuffled), against an "
        "**image without the finding**, and against **no image** (the mean image: the text side's prior). "
        "**Gap** = own − control, per case, with a paired 95% CI: a gap whose CI contains 0 means a model that "
        "never looked at this image would score the same. **Image sensitivity** = P[positive preferred | finding "
        "present] − P[positive preferred | absent]. See docs/evaluation.md."
    )
    shown = ctrl.assign(
        gap=[
            f"{g:+.1f} [{lo:.1f}, {hi:.1f}]" if g == g else "-"
            for g, lo, hi in zip(ctrl["grounding_gap"], ctrl["gap_low"], ctrl["gap_high"], strict=True)
        ],
        gap_without_finding=[
            f"{g:+.1f} [{lo:.1f}, {hi:.1f}]" if g == g else "-"
            for g, lo, hi in zip(
                ctrl["grounding_gap_without_finding"], ctrl["gap_wf_low"], ctrl["gap_wf_high"], strict=True
            )
        ],
    )[["run", "task", "metric", *CONDITIONS, "gap", "gap_without_finding", "reading"]]
    st.dataframe(shown.rename(columns=CONDITIONS), width="stretch", hide_index=True, key="bench_controls_table")
    plotted = ctrl[ctrl["metric"] != "image_sensitivity"]
    if not plotted.empty:
        keys = list(dict.fromkeys(plotted["task"] + "/" + plotted["metric"]))
        pick_metric = st.selectbox("Metric and its controls", keys, key="bench_control_metric")
        sel = plotted[(plotted["task"] + "/" + plotted["metric"]) == pick_metric]
        st.plotly_chart(controls_figure(sel, title=f"{pick_metric}: own image vs controls"), key="bench_ctrl_chart")
st.subheader("Per-finding breakdown")
pick = st.selectbox("Run", range(len(results)), format_func=names.__getitem__, key="bench_pick")
with_breakdown = [t for t, r in results[pick].tasks.items() if r.breakdown]
if not with_breakdown:
    st.caption("This run has no per-finding breakdown.")
    st.stop()
task = st.selectbox("Task", with_breakdown, key="bench_task")
frame = breakdown_frame(results[pick], task)
st.plotly_chart(breakdown_bar(frame), key="bench_breakdown")
if st.button("Clear results", key="bench_clear"):
    results.clear()
    st.rerun()
