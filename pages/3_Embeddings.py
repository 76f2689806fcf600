"""Embeddings: t-SNE / UMAP of reports and their negated (r^n) and omitted (r^r) variants."""

from __future__ import annotations

import io

import pandas as pd
import streamlit as st

from cxrvlp.analysis import projection_frame, variant_records
from cxrvlp.analysis.corpus import csv_reports, sample_reports
from cxrvlp.analysis.figures import pair_histogram, projection_scatter
from cxrvlp.analysis.projection import PAIR_NAMES, pair_cosines
from cxrvlp.ui import loaders, session
from cxrvlp.ui.widgets import page_frame

predictor = page_frame(
    "Embeddings",
    ":material/scatter_plot:",
    "Do negated reports land next to their originals (bag of words) or in their own region (the model reads "
    "negation)? Hover a point to read its text.",
)
# Streamlit forgets a page's widget values when the user leaves it: keep them (and the projection) in plain
# session-state keys and restore them when the page opens again.
KEPT = "cxrvlp_emb_widgets"
WIDGETS = ("emb_source", "emb_n", "emb_method", "emb_seed", "emb_image", "emb_color", "emb_pairs")
DEFAULTS = {"emb_n": 200, "emb_seed": 0, "emb_pairs": True}  # set here, not as widget values (no double default)
for k, v in (DEFAULTS | st.session_state.get(KEPT, {})).items():
    if k not in st.session_state:
        st.session_state[k] = v


def keep_widgets() -> None:
    st.session_state[KEPT] = {k: st.session_state[k] for k in WIDGETS if k in st.session_state}


left, right = st.columns([1, 3])
with left:
    source = st.radio("Reports", ["Open-I (bundled)", "Upload a CSV"], key="emb_source")
    upload = None
    if source == "Upload a CSV":
        upload = st.file_uploader("CSV with a 'report' or 'text' column", type=["csv"], key="emb_csv")
    n = st.slider("Sample size (reports)", 10, 1000, step=10, key="emb_n")
    method = st.radio("Method", ["tsne", "umap"], horizontal=True, key="emb_method", format_func=str.upper)
    seed = st.number_input("Seed", 0, 10_000, key="emb_seed")
    with_image = st.checkbox("Add the current image", key="emb_image", disabled=session.current_image()[0] is None)
    color = st.radio("Colour by", ["polarity", "finding", "kind"], horizontal=True, key="emb_color")
    show_pairs = st.checkbox("Join each report to its r^n", key="emb_pairs")
    run = st.button("Project", type="primary", key="emb_run")
keep_widgets()

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

FRAME = "cxrvlp_emb_frame"  # (frame, pairs, method, caption) of the last projection, kept across pages
if run:
    records = variant_records(reports, seed=int(seed))
    bar = st.progress(0.0, text=f"Embedding {len(records)} texts…")
    images = [session.current_image()[0]] if with_image else []
    n_points = len(records) + len(images)

    def on_progress(done: int, total: int) -> None:
        bar.progress(0.5 * done / total, text=f"Embedded {done}/{total} texts")
        if done == total:
            bar.progress(0.5, text=f"Running {method.upper()} on {n_points} points (the slow part)…")

    frame = projection_frame(
        predictor,
        records,
        method=method,
        seed=int(seed),
        cache=loaders.text_cache(),
        images=images,
        image_labels=[f"image: {session.current_image()[1]}"] * len(images),
        on_progress=on_progress,
    )
    bar.progress(0.9, text="Cosines of each report with its r^n and with another report…")
    emb = loaders.text_cache().embed_texts(predictor, list(records["text"]))  # all cached above
    pairs = pair_cosines(records, emb, seed=int(seed))
    bar.progress(1.0, text=f"Projected {len(frame)} points with {method.upper()}")
    caption = f"{len(reports)} reports, seed {int(seed)}, model {predictor.spec}"
    st.session_state[FRAME] = (frame, pairs, method, caption)

if FRAME not in st.session_state:
    with right:
        st.info("Press **Project** to embed and project the reports with their variants.")
    st.stop()
frame, pairs, used, caption = st.session_state[FRAME]
with right:
    st.plotly_chart(
        projection_scatter(frame, color=color, title=f"{used.upper()} of {len(frame)} texts", pairs=show_pairs),
        key="emb_plot",
    )
    st.caption(
        f"Last projection: {caption}. Grey segments join each report to its negated version r^n: short segments "
        "mean the model barely moves a report when a finding is negated."
    )
    st.subheader("Does negation move a report? cos(r, r^n) next to cos(r, another report)")
    summary = pairs.groupby("pair", sort=False)["cosine"].describe()[["count", "mean", "50%", "min", "max"]]
    summary = summary.reindex([p for p in PAIR_NAMES.values() if p in summary.index]).rename(columns={"50%": "median"})
    st.plotly_chart(pair_histogram(pairs), key="emb_pairs_hist")
    st.dataframe(
        summary,
        key="emb_pairs_table",
        column_config={c: st.column_config.NumberColumn(format="%.4f") for c in ("mean", "median", "min", "max")},
    )
    st.caption(
        "Text–text cosines of this model. A model that reads negation puts r and its r^n about as far apart as two "
        "different reports (the red distribution overlaps the grey one); a bag-of-words model keeps r^n next to r "
        "(red near 1)."
    )
    counts = frame.groupby(["kind", "polarity"]).size().rename("texts").reset_index()
    st.dataframe(counts, hide_index=True, key="emb_counts")
