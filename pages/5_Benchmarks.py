"""Benchmarks: run the evaluation suite on a manifest, or load saved results, and compare runs."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from cxrvlp.analysis.figures import breakdown_bar, metric_bar
from cxrvlp.eval import TASKS, EvalResult, evaluate, read_manifest
from cxrvlp.ui.benchmarks import breakdown_frame, comparison_frame, wide_table
from cxrvlp.ui.session import md_escape
from cxrvlp.ui.widgets import page_frame

predictor = page_frame(
    "Benchmarks",
    ":material/leaderboard:",
    "CXR-Align (Task A: sim(r) > sim(r^n); Task B: sim(r^r) > sim(r^n)), zero-shot, retrieval, adversarial, "
    "normal-case detection and negated-prompt retrieval with bootstrap 95% CIs.",
)
results: list[EvalResult] = st.session_state.setdefault("bench_results", [])
run_tab, load_tab = st.tabs(["Run the suite", "Load saved results"])
with run_tab:
    manifest = st.text_input(
        "Manifest CSV (image,text,labels,split)",
        key="bench_manifest",
        placeholder="shared/data/covid_chestxray/manifest.csv",
    )
    c1, c2, c3, c4 = st.columns(4)
    split = c1.text_input("Split (empty = all)", key="bench_split")
    limit = c2.number_input("Items (0 = all)", 0, 100_000, 200, key="bench_limit")
    boot = c3.number_input("Bootstrap resamples", 0, 5000, 200, step=100, key="bench_boot")
    save = c4.text_input("Save result JSON to (optional)", key="bench_save")
    tasks = st.multiselect("Tasks", TASKS, default=["align", "retrieval", "textdiag"], key="bench_tasks")
    if st.button("Run", type="primary", key="bench_run", disabled=not manifest.strip() or not tasks):
        try:
            items = read_manifest(manifest.strip(), split=split.strip() or None)
        except (OSError, ValueError) as e:
            st.error(md_escape(str(e)))
            st.stop()
        items = items[: int(limit)] if limit else items
        bar = st.progress(0.0, text="Preparing…")
        try:
            result = evaluate(
                predictor,
                items,
                tasks=tasks,
                n_bootstrap=int(boot),
                model_name=predictor.spec,
                dataset_name=f"{manifest.strip()} {split.strip()}".strip(),
                on_progress=lambda stage, d, t: bar.progress(d / max(t, 1), text=f"{stage}: {d}/{t}"),
            )
        except Exception as e:  # unreadable images, a task without data: a message, never a traceback
            st.error(f"The evaluation stopped: {md_escape(str(e))}")
            st.stop()
        bar.progress(1.0, text=f"Done in {result.timings.get('total', 0):.1f} s")
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
                    results.append(EvalResult.load(p))
                except Exception as e:  # not a result file
                    st.warning(f"{md_escape(p.name)}: not an evaluation result ({md_escape(type(e).__name__)})")

if not results:
    st.info("Run the suite or load saved results to compare them.")
    st.stop()
names = [f"{i + 1}: {r.model}" for i, r in enumerate(results)]
long = comparison_frame(results, names)
st.subheader("Comparison (proportions in %)")
st.dataframe(wide_table(long), width="stretch", key="bench_table")
metric = st.selectbox("Metric to chart", list(dict.fromkeys(long["task"] + "/" + long["metric"])), key="bench_metric")
one = long[(long["task"] + "/" + long["metric"]) == metric]
st.plotly_chart(metric_bar(one, title=metric), key="bench_chart")
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
