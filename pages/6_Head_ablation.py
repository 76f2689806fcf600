"""Head ablation: estimate every attention head's part in negation, verify the top ones exactly."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cxrvlp.analysis.corpus import negation_pairs
from cxrvlp.analysis.figures import head_heatmap
from cxrvlp.analysis.isolation import head_sweep, masked_text_embeddings, refine_sweep
from cxrvlp.analysis.probe import labels_of
from cxrvlp.text import make_negated
from cxrvlp.ui import loaders, session
from cxrvlp.ui.widgets import page_frame

predictor = page_frame(
    "Head ablation",
    ":material/psychology:",
    "Which attention heads of the text tower carry negation? Masking a head that carries it brings a report and its "
    "negation closer: the text distance 1 − cos(t(r), t(r^n)) over Open-I report / negated-report pairs drops "
    "(corpus reports have no images). **Red heads blur negation when masked** (the top heads are the reddest); blue "
    "heads sharpen it. First every head is *estimated* at once (attribution patching: one forward and one backward "
    "pass, a first-order estimate), then the top K heads are masked for real and their exact effects replace the "
    "estimates.",
)
c1, c2, c3, c4 = st.columns(4)
pairs = c1.slider("Report / negated pairs", 8, 128, 32, step=8, key="heads_pairs")
seed = int(c2.number_input("Seed", 0, 10_000, 0, key="heads_seed"))
verify = c3.slider("Heads verified exactly (top K)", 0, 24, 10, key="heads_verify")
if c4.button("Run the sweep", type="primary", key="heads_run"):
    originals, negated = negation_pairs(loaders.sample_reports(pairs * 8, seed), pairs=pairs, seed=seed)
    bar = st.progress(0.0, text="Estimating every head (attribution patching)…")
    chart = st.empty()
    model = predictor.model
    try:
        sweep = head_sweep(
            model,
            originals,
            negated,
            method="patching",
            top_k=max(verify, 5),
            on_progress=lambda d, t: bar.progress(0.1 * d / t, text=f"estimate: chunk {d}/{t}"),
        )
        chart.plotly_chart(head_heatmap(sweep), key="heads_map_estimate")
        if verify:
            sweep = refine_sweep(
                sweep,
                model,
                originals,
                negated,
                k=verify,
                on_progress=lambda d, t: bar.progress(0.1 + 0.9 * d / t, text=f"exact: masked pass {d}/{t}"),
            )
    except NotImplementedError as e:
        st.error(str(e))
        st.stop()
    chart.empty()
    exact = int((~sweep.is_estimate()).sum())
    bar.progress(1.0, text=f"{sweep.delta.numel()} heads estimated, {exact} verified exactly, {len(originals)} pairs")
    st.session_state["heads_sweep"] = (predictor.spec, sweep)

stored = st.session_state.get("heads_sweep")
if stored is None or stored[0] != predictor.spec:
    st.info("Press **Run the sweep**: a few seconds for the estimate, about a second per verified head after.")
    st.stop()
sweep = stored[1]
estimated = sweep.is_estimate()
n_exact = int((~estimated).sum())
st.plotly_chart(head_heatmap(sweep), key="heads_map")
st.caption(
    f"Cells marked *exact* ({n_exact}) were masked and re-encoded; the other {int(estimated.sum())} are first-order "
    "estimates (masked − unmasked head output) · ∂metric/∂head output, good for ranking, not exact values."
)
top = pd.DataFrame(
    [(layer, head, d, "estimate" if estimated[layer, head] else "exact") for layer, head, d in sweep.top_heads],
    columns=["layer", "head", f"Δ {sweep.metric}", "value is"],
)
st.subheader("Heads whose masking lowers the metric most (red)")
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
