"""Cached resources and the model picker shared by every page."""

from __future__ import annotations

import os

import streamlit as st

from cxrvlp.inference import Predictor, demo_available

MODEL_KEY = "cxrvlp_model_spec"  # session-state key of the chosen model spec, shared across pages
# the bundled trained demo model when it ships with the package, else the untrained offline preset
DEFAULT_SPEC = os.environ.get("CXRVLP_MODEL", "demo" if demo_available() else "preset:lite")
CHECKPOINT = "checkpoint directory…"
SPEC = "model spec…"


@st.cache_resource(show_spinner="Loading the model (first time only)…")
def load_predictor(spec: str) -> Predictor:
    """One Predictor per spec for the whole server process."""
    return Predictor.from_spec(spec)


def model_picker() -> Predictor | None:
    """Sidebar: pick a preset, a checkpoint directory or any model spec (``hf:``, ``open_clip:``, ...); returns the
    loaded predictor, or None after an error."""
    from cxrvlp.models import list_presets

    st.sidebar.header("Model")
    for key in ("model_ckpt_dir", "model_spec_text"):
        # Streamlit drops a widget's value when the next page does not draw the same widget before it (st.navigation
        # switches pages); writing it back as plain session state keeps it across pages (Streamlit's MPA recipe)
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
    current = st.session_state.get(MODEL_KEY, DEFAULT_SPEC)
    options = (["demo"] if demo_available() else []) + [f"preset:{n}" for n in list_presets() if n != "paper"]
    options += [CHECKPOINT, SPEC]
    if current in options:
        index = options.index(current)
    else:
        index = options.index(CHECKPOINT if current.startswith("cxrvlp:") else SPEC)
    choice = st.sidebar.selectbox(
        "Model",
        options,
        index=index,
        help="`demo`: lite trained on NIH images with composed reports (research use only; see its model card). "
        "Presets load offline untrained; a checkpoint is a directory written by `cxrvlp train` or `save_pretrained`; "
        "a model spec loads other people's CLIP-style models (docs/external_models.md).",
    )
    if choice == CHECKPOINT:
        # a keyed widget initialised once: with ``value=`` tied to the last spec tried, the widget's identity changed
        # after each attempt and the first corrected path typed after a bad one was thrown away
        if "model_ckpt_dir" not in st.session_state:
            last = current.removeprefix("cxrvlp:") if current.startswith("cxrvlp:") else ""
            st.session_state["model_ckpt_dir"] = last
        path = st.sidebar.text_input("Checkpoint directory", key="model_ckpt_dir", placeholder="runs/my_run/best")
        if not path.strip():
            st.sidebar.info("Enter a checkpoint directory.")
            return None
        spec = f"cxrvlp:{path.strip()}"
    elif choice == SPEC:
        if "model_spec_text" not in st.session_state:
            st.session_state["model_spec_text"] = "" if current in options or current.startswith("cxrvlp:") else current
        text = st.sidebar.text_input(
            "Model spec",
            key="model_spec_text",
            placeholder="hf:/models/my-siglip",
            help="preset:NAME, cxrvlp:DIR, hf:ID_OR_DIR (Hugging Face CLIP / SigLIP), open_clip:NAME, "
            "openai_clip:FILE.safetensors",
        )
        if not text.strip():
            st.sidebar.info("Enter a model spec, e.g. hf:/models/my-clip.")
            return None
        spec = text.strip()
    else:
        spec = choice
    st.session_state[MODEL_KEY] = spec
    try:
        predictor = load_predictor(spec)
    except Exception as e:  # show the reason, never a traceback
        st.sidebar.error(f"Could not load {spec}: {e}")
        return None
    info = predictor.describe()
    st.sidebar.caption(
        f"**{info['image_encoder']}** + **{info['text_encoder'].split('/')[-1]}** · D={info['embed_dim']} · "
        f"{info['parameters'] / 1e6:.1f} M parameters · {info['device']}"
    )
    return predictor
