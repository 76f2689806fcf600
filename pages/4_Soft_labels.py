"""Soft labels: the similarity S and target y matrices of each stream of the dynamic soft-label loss."""

from __future__ import annotations

import streamlit as st
import torch

from cxrvlp.analysis.corpus import negation_pairs
from cxrvlp.analysis.figures import matrix_heatmap
from cxrvlp.data.images import ImageReadError
from cxrvlp.ui import loaders
from cxrvlp.ui.widgets import IMAGE_SUFFIXES, page_frame, upload_limit_mb

predictor = page_frame(
    "Soft labels",
    ":material/grid_on:",
    "Rows and columns are the batch's reports, then their negated hard negatives. y = (S − τ)/(1 − τ) where S > τ, "
    "row-normalised (Ko & Park Eq. 3-5, 8-9). Hover a cell to read both reports.",
)
left, right = st.columns([1, 2])
with left:
    source = st.radio("Batch", ["Random from Open-I", "Pasted"], horizontal=True, key="sl_source")
    if source == "Pasted":  # the pasted reports set B (at most 16): the slider shows it and cannot contradict it
        n_pasted = sum(1 for line in st.session_state.get("sl_pasted", "").splitlines() if line.strip())
        batch = st.slider("Batch size B (one per pasted report)", 1, 16, min(max(n_pasted, 1), 16), disabled=True)
    else:
        batch = st.slider("Batch size B", 2, 16, 6, key="sl_batch")
    seed = int(st.number_input("Seed", 0, 10_000, 0, key="sl_seed"))
    hardneg = st.checkbox("Add the negated hard negatives (2B rows)", value=True, key="sl_hardneg")
with right:
    pasted = ""
    if source == "Pasted":
        pasted = st.text_area("One report per line", height=150, key="sl_pasted")
    t1, t2, t3 = st.columns(3)
    tau_t = t1.slider("τ_t (text)", 0.0, 0.99, 0.9, 0.01, key="sl_tau_t")
    tau_c = t2.slider("τ_c (clinical)", 0.0, 0.99, 0.9, 0.01, key="sl_tau_c")
    has_graph = bool(predictor.describe().get("graph_encoder"))
    tau_g = t3.slider(
        "τ_g (graph)",
        0.0,
        0.99,
        0.9,
        0.01,
        key="sl_tau_g",
        disabled=not has_graph,
        help=None if has_graph else "This model has no graph encoder: the graph stream is not computed.",
    )

if source == "Pasted":
    pool = [line.strip() for line in pasted.splitlines() if line.strip()]
    if not pool:
        st.info("Paste at least one report, one per line.")
        st.stop()
else:
    pool = loaders.sample_reports(batch * 8, seed)
try:
    reports, negated = negation_pairs(pool, pairs=batch, seed=seed)
except ValueError as e:
    if hardneg:
        st.warning(f"{e}: showing the reports without hard negatives.")
    reports, negated, hardneg = pool[:batch], [], False
if len(reports) < len(pool[:batch]) and source == "Pasted":
    st.caption(f"{len(pool) - len(reports)} pasted report(s) without a positive finding to negate were left out.")

uploads = st.file_uploader(
    f"Optional: {len(reports)} images, in report order, to compute the loss values (up to {upload_limit_mb()} MB each)",
    accept_multiple_files=True,
    type=[s[1:] for s in IMAGE_SUFFIXES],
    key="sl_images",
)
features, image_key = None, ""
if uploads and len(uploads) != len(reports):
    st.warning(f"{len(uploads)} images for {len(reports)} reports: the loss needs exactly one image per report.")
elif uploads:
    blobs = [u.getvalue() for u in uploads]
    image_key = loaders.blobs_digest(blobs)
    try:
        features = torch.from_numpy(loaders.image_embeddings(predictor.spec, image_key, blobs))
    except ImageReadError as e:
        st.error(f"An image could not be read: {e}")

m = loaders.soft_labels(
    predictor.spec, tuple(reports), tuple(negated) if hardneg else None, (tau_t, tau_c, tau_g), image_key, features
)
first_hardneg = len(reports) if hardneg and len(m.reports) > len(reports) else None
if first_hardneg is not None:
    st.caption(
        f"Rows and columns 0–{first_hardneg - 1} are the reports, {first_hardneg}–{len(m.reports) - 1} their negated "
        "hard negatives (after the white lines)."
    )
for name, why in m.skipped.items():
    st.caption(f"{name} stream skipped: {why}.")
if m.total_loss is None:
    st.info("Loss values need one image per report (upload them above); the matrices below are text-side only.")
else:
    st.metric(
        "Total soft-label loss (all streams)",
        f"{m.total_loss:.4f}",
        help="Sum over the streams of the cross-entropy between the image-report softmax and the soft targets y "
        "(lower: the model's similarities already follow the targets).",
    )
for s in m.streams:
    st.subheader(f"{s.name} stream (τ = {s.tau:.2f})" + (f" · loss {s.loss:.4f}" if s.loss is not None else ""))
    a, b = st.columns(2)
    a.plotly_chart(
        matrix_heatmap(s.similarity, m.reports, title=f"S_{s.name[0]}", zmin=-1, zmax=1, boundary=first_hardneg),
        key=f"sl_S_{s.name}",
    )
    b.plotly_chart(
        matrix_heatmap(s.targets, m.reports, title=f"y_{s.name[0]}", zmin=0, zmax=1, boundary=first_hardneg),
        key=f"sl_y_{s.name}",
    )
    shared = int(((s.targets > 0).sum(axis=1) > 1).sum())
    st.caption(f"{shared} of {len(m.reports)} rows share their label with another report at this threshold.")
with st.expander("Reports (row / column index)"):
    st.dataframe({"report": list(m.reports)}, width="stretch")
