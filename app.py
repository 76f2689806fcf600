"""cxrvlp app router: the shared page config, the navigation (first entry "Home") and the home page.

``st.navigation`` names every entry: with the legacy ``pages/`` discovery the home page would be labelled after
this file ("app"). Each page in ``pages/`` stays a standalone script. The home page draws its frame, intro and page
links before the model code is imported (seconds: torch) and the model loaded, so it is readable at once;
:mod:`cxrvlp.ui.frame` imports no torch.
"""

from __future__ import annotations

import streamlit as st

from cxrvlp.ui import guard
from cxrvlp.ui.frame import NOTICE, PAGE_ICON

PAGES = [
    (
        "pages/1_Negation_probe.py",
        "Negation probe",
        ":material/rule:",
        "score an X-ray against its report, negated and edited",
    ),
    (
        "pages/2_Token_attribution.py",
        "Token attribution",
        ":material/format_color_text:",
        "which words drive the similarity",
    ),
    (
        "pages/3_Embeddings.py",
        "Embeddings",
        ":material/scatter_plot:",
        "t-SNE / UMAP of reports and their negated variants",
    ),
    ("pages/4_Soft_labels.py", "Soft labels", ":material/grid_on:", "S and y matrices of the dynamic soft-label loss"),
    (
        "pages/5_Benchmarks.py",
        "Benchmarks",
        ":material/leaderboard:",
        "CXR-Align, zero-shot, retrieval … on a manifest",
    ),
    ("pages/6_Head_ablation.py", "Head ablation", ":material/psychology:", "which attention heads read negation"),
    ("pages/7_Training.py", "Training", ":material/model_training:", "loss curves of runs, start and stop a small run"),
]


def home() -> None:
    """The home page: what the tool is, a link to every page, then (after the heavy imports) the loaded model."""
    st.title("cxrvlp: does the model notice a negation?")
    st.caption(f"**{NOTICE}** Outputs are similarity scores of a research model, not findings.")
    st.markdown(
        "A toolkit for chest X-ray vision-language models trained to read negation (Ko & Park, CVPR 2025: dynamic "
        "soft labels, negation hard negatives, CXR-Align; Vu & Sheshappanavar: token attribution, t-SNE, head "
        "ablation). Upload an X-ray, edit its report — negate or remove a finding — and watch how strongly the model "
        "ties each version to the image."
    )

    st.subheader("Pages")
    grid = st.columns(2)
    for i, (path, label, icon, what) in enumerate(PAGES):
        with grid[i % 2]:
            st.page_link(path, label=f"{label} — {what}", icon=icon)

    st.subheader("Model")
    from cxrvlp.inference import display_name  # after the frame: these import torch
    from cxrvlp.ui import session
    from cxrvlp.ui.state import model_picker

    predictor = model_picker()
    if predictor is None:
        st.stop()
    info = predictor.describe()
    cols = st.columns(4)
    cols[0].metric("Model", display_name(info["spec"]), help="The model chosen in the sidebar.")
    cols[1].metric("Device", info["device"], help="Where the model runs (cuda: a GPU, cpu: the processor).")
    cols[2].metric("Parameters", f"{info['parameters'] / 1e6:.1f} M", help="Number of weights, in millions.")
    cols[3].metric(
        "Text limit",
        f"{info['max_text_tokens']} tokens",
        help="Longer reports are cut to their first tokens (word pieces) before they are scored.",
    )
    st.caption(
        f"Image encoder `{info['image_encoder']}` at {info['image_size']} px · text encoder `{info['text_encoder']}` · "
        f"joint space D={info['embed_dim']} · graph encoder {'on' if info['graph_encoder'] else 'off'}. "
        "The model chosen in the sidebar is used on every page."
    )

    st.subheader("Current probe")
    image, name, _ = session.current_image()
    if image is None:
        st.info("Upload an image on the Negation probe page (or pick one from an example folder) to start.")
    else:
        st.text(f"Image: {name} ({image.size[0]}×{image.size[1]} px)")
    st.text(f"Report: {session.current_report()[:300]}")


guard.install()
st.set_page_config(page_title="cxrvlp — negation-aware CXR CLIP", page_icon=PAGE_ICON, layout="wide")
navigation = st.navigation(
    [st.Page(home, title="Home", icon=":material/home:", default=True)]
    + [st.Page(path, title=label, icon=icon) for path, label, icon, _ in PAGES]
)
navigation.run()
