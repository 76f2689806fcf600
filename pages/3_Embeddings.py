"""Embeddings: t-SNE / UMAP of reports and their negated (r^n) and omitted (r^r) variants."""

from __future__ import annotations

import io

import pandas as pd
import streamlit as st

from cxrvlp.analysis import projection_frame, variant_records
from cxrvlp.analysis.corpus import csv_reports, sample_reports
from cxrvlp.analysis.figures import projection_scatter
from cxrvlp.ui import loaders, session
from cxrvlp.ui.widgets import page_frame

predictor = page_frame(
    "Embeddings",
    ":material/scatter_plot:",
    "Do negated reports land next to their originals (bag of words) or in their own region (the model reads "
    "negation)? Hover a point to read its text.",
)
left, right = st.columns([1, 3])
with left:
    source = st.radio("Reports", ["Open-I (bundled)", "Upload a CSV"], key="emb_source")
    upload = None
    if source == "Upload a CSV":
        upload = st.file_uploader("CSV with a 'report' or 'text' column", type=["csv"], key="emb_csv")
    n = st.slider("Sample size (reports)", 10, 1000, 200, step=10, key="emb_n")
    method = st.radio("Method", ["tsne", "umap"], horizontal=True, key="emb_method", format_func=str.upper)
    seed = st.number_input("Seed", 0, 10_000, 0, key="emb_seed")
    with_image = st.checkbox("Add the current image", key="emb_image", disabled=session.current_image()[0] is None)
    color = st.radio("Colour by", ["polarity", "finding", "kind"], horizontal=True, key="emb_color")
    run = st.button("Project", type="primary", key="emb_run")

if source == "Upload a CSV":
    if upload is None:
        st.info("Upload a CSV of reports (read in memory, never stored).")
        st.stop()
    try:
        df = pd.read_csv(io.BytesIO(upload.getvalue()))
    except Exception as e:  # a malformed file: say so, keep the page alive
        st.error(f"Could not read the CSV: {e}")
        st.stop()
    reports = csv_reports(df)
    if reports is None:
        st.error("The CSV needs a 'report' or 'text' column.")
        st.stop()
    reports = sample_reports(reports, n, int(seed))
else:
    reports = loaders.sample_reports(n, int(seed))
if len(reports) < 3:
    st.warning("Need at least 3 reports to project.")
    st.stop()

if run:
    records = variant_records(reports, seed=int(seed))
    bar = st.progress(0.0, text=f"Embedding {len(records)} texts…")
    images = [session.current_image()[0]] if with_image else []
    frame = projection_frame(
        predictor,
        records,
        method=method,
        seed=int(seed),
        cache=loaders.text_cache(),
        images=images,
        image_labels=["current image"] * len(images),
        on_progress=lambda done, total: bar.progress(done / total, text=f"Embedded {done}/{total} texts"),
    )
    bar.progress(1.0, text=f"Projected {len(frame)} points with {method.upper()}")
    st.session_state["emb_frame"] = (frame, method)

if "emb_frame" not in st.session_state:
    with right:
        st.info("Press **Project** to embed and project the reports with their variants.")
    st.stop()
frame, used = st.session_state["emb_frame"]
with right:
    st.plotly_chart(
        projection_scatter(frame, color=color, title=f"{used.upper()} of {len(frame)} texts"), key="emb_plot"
    )
    counts = frame.groupby(["kind", "polarity"]).size().rename("texts").reset_index()
    st.dataframe(counts, hide_index=True)
