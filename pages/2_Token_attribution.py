"""Token attribution: which words of the report (and of its negated version) drive the similarity."""

from __future__ import annotations

import streamlit as st

from cxrvlp.analysis.figures import attribution_bar, attribution_html, attribution_pair_html
from cxrvlp.analysis.probe import labels_of
from cxrvlp.text import make_negated
from cxrvlp.ui import loaders, session
from cxrvlp.ui.panels import reference_swap
from cxrvlp.ui.widgets import page_frame, report_editor, truncation_warning

predictor = page_frame(
    "Token attribution",
    ":material/format_color_text:",
    "Integrated gradients of the image-report cosine similarity, word by word (red raises it, blue lowers it), "
    "next to the same report with one finding negated.",
)
spec = predictor.spec
image, name, digest = session.current_image()
left, right = st.columns([2, 1])
with left:
    report = report_editor("Report", key="attr_report")
with right:
    if image is not None:
        st.image(image, width=220)
        st.text(name)
        reference_text = ""
    else:
        st.info("No image yet (pick one on the Negation probe page); explaining similarity to a reference text.")
        reference_text = st.text_area("Reference text", "No acute cardiopulmonary abnormality.", key="attr_ref")
    method = st.radio(
        "Method",
        ["ig", "occlusion"],
        horizontal=True,
        key="attr_method",
        format_func=lambda m: {"ig": "integrated gradients", "occlusion": "word occlusion"}[m],
    )
    steps = st.slider("Integration steps", 4, 128, 32, step=4, key="attr_steps", disabled=method != "ig")

if not report.strip():
    st.info("Type a report to explain.")
    st.stop()
if image is None and not reference_text.strip():
    st.info("Type a reference text.")
    st.stop()
if image is not None:
    reference, ref_key = loaders.current_image_embedding(spec), digest
else:
    reference, ref_key = reference_text, f"text:{reference_text}"

positives = labels_of(report).positives()
finding = st.selectbox("Finding to negate", positives, key="attr_finding") if positives else None
texts = [report] + ([make_negated(report, finding, seed=0)] if finding else [])
truncation_warning(predictor, predictor.truncated(texts))
with st.spinner("Attributing…"):
    results = [loaders.attribution(spec, t, ref_key, reference, steps, method) for t in texts]

if len(results) == 2:
    st.html(attribution_pair_html(results[0], results[1], titles=("report", f"negated: {finding}")))
else:
    st.caption("The labeler finds no positive finding to negate; showing the report alone.")
    st.html(attribution_html(results[0]))
cols = st.columns(len(results))
for col, title, r in zip(cols, ("report", "negated"), results, strict=False):
    with col:
        if method == "ig":
            col.metric(
                f"convergence delta ({title})",
                f"{r.delta:+.5f}",
                help="IG attributions sum to sim(report) − sim(baseline) up to this delta",
            )
            if r.delta_is_large:
                st.warning(f"The attribution of the {title} has not converged: raise the number of steps.")
        st.plotly_chart(attribution_bar(r, title=f"{title}: similarity {r.similarity:+.4f}"), key=f"attr_bar_{title}")

if image is None:
    st.stop()
reference_swap(spec, report, finding, results[0], steps, method)
