"""Negation probe: does the model prefer the report over its negated / edited versions?"""

from __future__ import annotations

import plotly.express as px
import streamlit as st
import torch

from cxrvlp.analysis.figures import hover_text
from cxrvlp.analysis.probe import score_versions, versions
from cxrvlp.analysis.reference import PRIOR_SHARE, without
from cxrvlp.ui import loaders, session
from cxrvlp.ui.panels import reference_panel
from cxrvlp.ui.widgets import (
    COSINE_HELP,
    SOFTMAX_HELP,
    finding_chips,
    image_input,
    page_frame,
    report_editor,
    truncation_warning,
)

predictor = page_frame(
    "Negation probe",
    ":material/rule:",
    "Score an X-ray against its report, the report with each finding negated (r^n) or removed (r^r), and every "
    "edit you make.",
)
spec = predictor.spec
text_only = st.toggle("Text only (compare with a second report, no image)", key="probe_text_only")

left, right = st.columns([1, 2])
with left:
    if text_only:
        reference_text = st.text_area(
            "Reference report (stands in for the image)",
            key="probe_reference",
            height=140,
            placeholder="The report of the film you have in mind, e.g. No acute cardiopulmonary abnormality.",
        )
    else:
        image = image_input(key="probe_img")
with right:
    report = report_editor("Report (edit freely; every version is kept below)")
    finding_chips(report, seed=st.session_state.get("probe_seed", 0))
    original, edits = session.original_and_history()
    c1, c2 = st.columns([2, 3])  # [1, 3] cut "Set as original" at 1024 px
    c1.button("Set as original", on_click=session.reset_history, args=(report,), key="probe_reset")
    c2.number_input("Negation seed", min_value=0, value=0, step=1, key="probe_seed")

if not report.strip():
    st.info("Type a report to probe.")
    st.stop()
if text_only:
    if not reference_text.strip():
        st.info("Type a reference report.")
        st.stop()
    if reference_text.strip() == report.strip():
        st.warning("The reference is the report itself: every score would compare the report with itself (+1).")
    reference = loaders.text_embedding(spec, reference_text)
    st.metric(
        "text similarity(report, reference)",
        f"{float(loaders.text_embedding(spec, report) @ reference):+.4f}",
        help=COSINE_HELP,
    )
else:
    reference = loaders.current_image_embedding(spec)
    if reference is None:
        st.info("Upload an image or pick one from an example folder to score the reports against it.")
        st.stop()

rows = versions(original, edits, seed=int(st.session_state.get("probe_seed", 0)))
ref_set = loaders.reference_set()
ref_emb = None
if not text_only:  # a bundled film probed by the user is left out of its own reference
    own = [i for i, d in enumerate(loaders.reference_digests()) if d == session.current_image()[2]]
    ref_set, ref_emb = without(ref_set, torch.from_numpy(loaders.reference_embeddings(spec)), own)
table = score_versions(predictor, rows, reference, cache=loaders.text_cache(), ref_embeddings=ref_emb)
truncation_warning(predictor, list(table["truncated"]))
current = table.index[table["text"] == report]
m1, m2, m3 = st.columns(3)
m1.metric("similarity(current report)", f"{table.loc[current[0], 'cosine']:+.4f}", help=COSINE_HELP)
m2.metric("softmax(current report)", f"{table.loc[current[0], 'softmax']:.3f}", help=SOFTMAX_HELP)
m3.metric(
    "original − current",
    f"{table.loc[0, 'cosine'] - table.loc[current[0], 'cosine']:+.4f}",
    help="How much higher the original scores than the current report: > 0 means the model prefers the original.",
)
wrong = table[table["flag"] != ""]
if len(wrong):
    prior = int(wrong["flag"].str.contains("text prior").sum())
    st.error(
        f"The model prefers a wrong version in {len(wrong)} row(s): see the **flag** column."
        + (f" In {prior} of them the reference X-rays share the wrong preference: a text prior." if prior else "")
    )
else:
    st.success(
        "No wrong preference: the original outscores every version that denies one of its findings or asserts "
        "one it denies."
    )
st.dataframe(
    table.style.apply(lambda r: ["font-weight: bold" if r.name in current else "" for _ in r], axis=1),
    hide_index=True,
    width="stretch",
    column_order=[
        "version",
        "text",
        "cosine",
        "softmax",
        "flag",
        "evidence",
        "reference",
        "kind",
        "finding",
        "truncated",
    ],
    column_config={
        "cosine": st.column_config.NumberColumn(format="%.4f"),
        "evidence": st.column_config.TextColumn(
            help="Compared with the original: 'text prior' when at least "
            f"{PRIOR_SHARE:.0%} of the reference X-rays give the same preference as this image (the text decides, "
            "not the image); 'this image' otherwise"
        ),
        "reference": st.column_config.TextColumn(help="How many reference X-rays score the original above this row"),
        "softmax": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="%.3f"),
        "text": st.column_config.TextColumn(width="medium", help="Hover a cell to read the whole version"),
    },
    key="probe_table",
)
st.caption(
    '**r^n F**: the original with finding F negated ("no F"); **r^r F**: the original with every sentence '
    "about F removed; **edit N**: your edits, in order. A flagged row is a version the model scores above the "
    "original although it denies a finding the original asserts."
)
plot = table.assign(
    hover=[hover_text(t) for t in table["text"]],
    preference=["wrong preference" if f else "no flag" for f in table["flag"] != ""],
)
fig = px.bar(
    plot,
    x="version",
    y="cosine",
    color="preference",
    custom_data=["hover"],
    category_orders={"version": list(table["version"])},  # chart order = table order
    color_discrete_map={"no flag": "#1f6feb", "wrong preference": "#dc322f"},
    title="Cosine similarity per version",
)
fig.update_traces(hovertemplate="%{x}: %{y:+.4f}<br>%{customdata[0]}<extra></extra>")
st.plotly_chart(fig, key="probe_chart")

if text_only:
    st.caption("The reference panel compares images; it is off in text-only mode.")
    st.stop()
reference_panel(predictor, table, reference, ref_emb, ref_set)
