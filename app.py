"""cxrvlp home page: does the model notice that a report was negated?"""

from __future__ import annotations

import html

import pandas as pd
import plotly.express as px
import streamlit as st

from cxrvlp.data.images import ImageReadError, read_image
from cxrvlp.ui.state import model_picker

st.set_page_config(page_title="cxrvlp — negation-aware CXR CLIP", page_icon="🩻", layout="wide")
st.title("cxrvlp: does the model notice a negation?")
st.caption(
    "Upload a chest X-ray, type its report and a variant (add or remove a negation), and compare how strongly the "
    "model ties each text to the image. **Research use only — not for diagnosis or any clinical decision.**"
)

predictor = model_picker()
if predictor is None:
    st.stop()

left, right = st.columns([1, 2])
with left:
    upload = st.file_uploader("Chest X-ray (PNG or JPEG)", type=["png", "jpg", "jpeg"])
    image = None
    if upload is not None:
        try:
            image = read_image(upload.getvalue())  # in memory; never written to disk
        except ImageReadError as e:
            st.error(f"{upload.name}: {e}")
        else:
            st.image(image, caption=html.escape(upload.name), use_container_width=True)
with right:
    report = st.text_area("Report", value="Small right pleural effusion. No pneumothorax.", height=110)
    variant = st.text_area(
        "Variant (e.g. with a negation added or removed)", value="No pleural effusion. No pneumothorax.", height=110
    )

texts = [t for t in (report, variant) if t.strip()]
if image is None:
    st.info("Upload an image to score the reports against it.")
    st.stop()
if not texts:
    st.warning("Type at least one report.")
    st.stop()

result = predictor.similarity(image, texts)
if any(result.truncated):
    st.warning(f"A report is longer than the text encoder's {predictor.max_length} tokens; only the start is used.")
table = pd.DataFrame(
    {
        "text": ["report", "variant"][: len(texts)],
        "report text": list(result.texts),
        "cosine similarity": list(result.cosine),
        "softmax over texts": list(result.probs),
    }
)
st.dataframe(
    table,
    hide_index=True,
    use_container_width=True,
    column_config={
        "cosine similarity": st.column_config.NumberColumn(format="%.4f"),
        "softmax over texts": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0),
    },
)
fig = px.bar(
    table,
    x="text",
    y="cosine similarity",
    hover_data={"report text": True},
    range_y=[-1, 1],
    title="Image-text cosine similarity",
)
st.plotly_chart(fig, use_container_width=True)
if len(texts) == 2:
    gap = result.cosine[0] - result.cosine[1]
    st.metric("similarity(report) − similarity(variant)", f"{gap:+.4f}")
