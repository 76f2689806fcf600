"""Cached resources and the model picker shared by every page."""

from __future__ import annotations

import os

import streamlit as st

from cxrvlp.inference import Predictor, demo_available

MODEL_KEY = "cxrvlp_model_spec"  # session-state key of the chosen model spec, shared across pages
# the bundled trained demo model when it ships with the package, else the untrained offline preset
DEFAULT_SPEC = os.environ.get("CXRVLP_MODEL", "demo" if demo_available() else "preset:lite")


@st.cache_resource(show_spinner="Loading the model (first time only)…")
def load_predictor(spec: str) -> Predictor:
    """One Predictor per spec for the whole server process."""
    return Predictor.from_spec(spec)


def model_picker() -> Predictor | None:
    """Sidebar: pick a preset or a checkpoint directory; returns the loaded predictor, or None after an error."""
    from cxrvlp.models import list_presets

    st.sidebar.header("Model")
    current = st.session_state.get(MODEL_KEY, DEFAULT_SPEC)
    options = (["demo"] if demo_available() else []) + [f"preset:{n}" for n in list_presets() if n != "paper"]
    options.append("checkpoint directory…")
    index = options.index(current) if current in options else len(options) - 1
    choice = st.sidebar.selectbox(
        "Model",
        options,
        index=index,
        help="`demo`: lite trained on NIH images with composed reports (research use only; see its model card). "
        "Presets load offline untrained; a checkpoint is a directory written by `cxrvlp train` or `save_pretrained`.",
    )
    if choice == "checkpoint directory…":
        default_dir = current.removeprefix("cxrvlp:") if current.startswith("cxrvlp:") else ""
        path = st.sidebar.text_input("Checkpoint directory", value=default_dir, placeholder="runs/my_run/best")
        if not path.strip():
            st.sidebar.info("Enter a checkpoint directory.")
            return None
        spec = f"cxrvlp:{path.strip()}"
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
