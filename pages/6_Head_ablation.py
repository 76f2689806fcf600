"""Head ablation: mask each attention head of the text tower and see which ones carry negation."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cxrvlp.analysis.corpus import negation_pairs
from cxrvlp.analysis.figures import head_heatmap
from cxrvlp.analysis.isolation import head_sweep, masked_text_embeddings
from cxrvlp.text import make_negated
from cxrvlp.ui import loaders, session
from cxrvlp.ui.probe import labels_of
from cxrvlp.ui.widgets import page_frame

predictor = page_frame(
    "Head ablation",
    ":material/psychology:",
    "The sweep masks one head at a time over Open-I report / negated-report pairs and measures the text distance "
    "1 − cos(t(r), t(r^n)) (corpus reports have no images). Blue heads are the ones whose masking blurs negation.",
)
c1, c2, c3 = st.columns(3)
pairs = c1.slider("Report / negated pairs", 8, 128, 32, step=8, key="heads_pairs")
seed = int(c2.number_input("Seed", 0, 10_000, 0, key="heads_seed"))
if c3.button("Run the sweep", type="primary", key="heads_run"):
    originals, negated = negation_pairs(loaders.sample_reports(pairs * 8, seed), pairs=pairs, seed=seed)
    bar = st.progress(0.0, text="Masking heads…")
    try:
        sweep = head_sweep(
            predictor.model,
            originals,
            negated,
            on_progress=lambda d, t: bar.progress(d / t, text=f"masked pass {d}/{t}"),
        )
    except NotImplementedError as e:
        st.error(str(e))
        st.stop()
    bar.progress(1.0, text=f"Swept {sweep.delta.numel()} heads over {len(originals)} pairs")
    st.session_state["heads_sweep"] = (predictor.spec, sweep)

stored = st.session_state.get("heads_sweep")
if stored is None or stored[0] != predictor.spec:
    st.info("Press **Run the sweep** (it re-encodes the pairs once per head).")
    st.stop()
sweep = stored[1]
st.plotly_chart(head_heatmap(sweep), key="heads_map")
top = pd.DataFrame(sweep.top_heads, columns=["layer", "head", f"Δ {sweep.metric}"])
st.subheader("Heads whose masking lowers the metric most")
st.dataframe(top, hide_index=True)

st.subheader("Re-probe the current report with the top heads masked")
report = session.current_report()
positives = labels_of(report).positives()
if not positives:
    st.info("The current report asserts no finding to negate; edit it on the Negation probe page.")
    st.stop()
finding = st.selectbox("Finding to negate", positives, key="heads_finding")
k = st.slider("Heads to mask (top k)", 1, len(sweep.top_heads), min(3, len(sweep.top_heads)), key="heads_k")
texts = [report, make_negated(report, finding, seed=0)]
reference = loaders.current_image_embedding(predictor.spec)
rows = []
for label, heads in (("no head masked", []), (f"top {k} masked", [(h[0], h[1]) for h in sweep.top_heads[:k]])):
    emb = masked_text_embeddings(predictor.model, texts, heads)  # (2, D), uncached, on a private copy
    row = {"condition": label, "text distance 1 − cos(r, r^n)": float(1 - emb[0] @ emb[1])}
    if reference is not None:
        row |= {"sim(image, r)": float(emb[0] @ reference), "sim(image, r^n)": float(emb[1] @ reference)}
    rows.append(row)
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
st.text("r:   " + texts[0])
st.text("r^n: " + texts[1])
if reference is None:
    st.caption("Pick an image on the Negation probe page to see image similarities too.")
