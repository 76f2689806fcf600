"""Shared widgets: the page frame, the image input (upload or example folder) and the report editor with chips.

Every widget that holds the probe's state writes through :mod:`cxrvlp.ui.session`, so the image and the report
follow the user from page to page. Uploaded bytes are decoded in memory and never written to disk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import streamlit as st
from PIL import Image

from cxrvlp.analysis.probe import labels_of
from cxrvlp.data.images import ImageReadError, read_image
from cxrvlp.inference import Predictor
from cxrvlp.ui import session
from cxrvlp.ui.frame import NOTICE, frame
from cxrvlp.ui.state import model_picker

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".dicom")
MAX_FILE_BYTES = 200 * 1024 * 1024  # example files larger than this are not read (uploads are capped in config)
MAX_LISTED = 500  # example files listed per folder


COSINE_HELP = (
    "Cosine similarity of the two embeddings, between −1 and +1. A CLIP-style model keeps its cosines in a narrow "
    "band, so read it against the other rows (the same image, other versions of the report), not on its own."
)
SOFTMAX_HELP = (
    "The share this version gets when the model's softmax (with its learned temperature) is taken over all rows "
    "of the table: the rows sum to 1, so it depends on which versions are listed."
)


def page_frame(title: str, icon: str, intro: str) -> Predictor:
    """Page config (the bundled :data:`cxrvlp.ui.frame.PAGE_ICON` as favicon), title with ``icon`` (a Material
    icon such as ``":material/rule:"``, drawn from the font Streamlit ships), intro and the sidebar model picker;
    stops the page when no model could be loaded. Uncaught page errors show as one message (:mod:`cxrvlp.ui.guard`)."""
    frame(f"{title} · cxrvlp", f"{icon} {title}", f"{intro} **{NOTICE}**")
    predictor = model_picker()
    if predictor is None:
        st.info("Pick a model in the sidebar to continue.")
        st.stop()
    return predictor


def _load_image(source: bytes | Path, name: str, source_id: str) -> None:
    try:
        image = read_image(source)
    except ImageReadError as e:
        st.error(f"{session.md_escape(name)}: {e}")
        return
    session.set_image(image, name, source_id)


def _example_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    return files[:MAX_LISTED]


def _example_picker(key: str) -> None:
    dir_key = f"{key}_dir"
    if dir_key not in st.session_state:
        st.session_state[dir_key] = st.session_state.get(session.EXAMPLE_DIR_KEY, "")
    folder_text = st.text_input("Folder of example images", key=dir_key, placeholder="/data/cxr_examples")
    st.session_state[session.EXAMPLE_DIR_KEY] = folder_text
    if not folder_text.strip():
        st.caption("Type a folder holding PNG, JPEG or DICOM files.")
        return
    folder = Path(folder_text.strip()).expanduser()
    if not folder.is_dir():
        st.warning(f"{session.md_escape(str(folder))} is not a folder.")
        return
    try:
        files = _example_files(folder)
    except OSError as e:
        st.warning(f"Cannot list {session.md_escape(str(folder))}: {e.strerror}")
        return
    if not files:
        st.warning("No PNG, JPEG or DICOM files in that folder.")
        return
    current = st.session_state.get(session.IMAGE_SOURCE_KEY)
    paths = [str(p) for p in files]
    index = paths.index(current) if current in paths else 0
    chosen = st.selectbox("Example image", paths, index=index, format_func=lambda p: Path(p).name, key=f"{key}_ex")
    if chosen != current:
        path = Path(chosen)
        if path.stat().st_size > MAX_FILE_BYTES:
            st.error(f"{session.md_escape(path.name)} is larger than {MAX_FILE_BYTES // 2**20} MB.")
            return
        _load_image(path, path.name, chosen)


def upload_limit_mb() -> int:
    """The server's upload cap (``server.maxUploadSize`` in ``.streamlit/config.toml``), in MB."""
    return int(st.get_option("server.maxUploadSize"))


def upload_help() -> str:
    """What happens to a file over the cap: the browser refuses it before it reaches the app."""
    return (
        f"Files up to {upload_limit_mb()} MB. A larger file is refused by the browser with a red mark next to "
        "its name: downscale it or convert it to PNG first."
    )


def image_input(*, key: str = "img") -> Image.Image | None:
    """Upload a chest X-ray or pick one from a folder; returns the current image (shared by all pages) or None."""
    modes = ["Upload", "Example folder"]
    default = 1 if st.session_state.get(session.EXAMPLE_DIR_KEY) else 0
    mode = st.radio("Image source", modes, index=default, horizontal=True, key=f"{key}_mode")
    if mode == "Upload":
        upload = st.file_uploader(
            f"Chest X-ray (PNG, JPEG, 16-bit PNG or DICOM; up to {upload_limit_mb()} MB)",
            type=[s[1:] for s in IMAGE_SUFFIXES],
            key=f"{key}_upload",
            help=upload_help(),
        )
        if upload is not None and upload.file_id != st.session_state.get(session.IMAGE_SOURCE_KEY):
            _load_image(upload.getvalue(), upload.name, upload.file_id)  # in memory only
    else:
        _example_picker(key)
    image, name, _ = session.current_image()
    if image is not None:
        st.image(image, width="stretch")
        st.text(f"{name} · {image.size[0]}×{image.size[1]} px")
    return image


def _apply(widget_key: str, edit: Callable[[str], str]) -> None:
    try:
        new = edit(st.session_state[widget_key])
    except ValueError as e:
        st.session_state[f"{widget_key}_error"] = str(e)
        return
    st.session_state[widget_key] = new
    session.set_report(new)


def report_editor(label: str = "Report", *, key: str = "report_editor", height: int = 140) -> str:
    """The shared report in a text area (edits are recorded in the probe history); returns the text."""
    if key not in st.session_state:
        st.session_state[key] = session.current_report()
    text = st.text_area(label, key=key, height=height, max_chars=20_000)
    session.set_report(text)
    error = st.session_state.pop(f"{key}_error", None)
    if error:
        st.error(error)
    return text


CHIPS_PER_ROW = 2


def finding_chips(text: str, *, key: str = "report_editor", seed: int = 0) -> None:
    """The labeler's findings of ``text`` as chips with buttons that negate or remove each one in the editor."""
    from cxrvlp.text import make_negated, make_omitted

    labels = labels_of(text).labels
    findings = [f for f in labels if f != "No Finding"]
    if not findings:
        st.caption("The labeler finds no CheXpert finding in this report.")
        return
    colours = {"positive": "red", "negative": "green", "uncertain": "orange"}
    # at most two chips a row: at 1024 px four chips (two buttons each) cut "negate" / "remove" to "n…" / "r…"
    columns = st.columns(min(len(findings), CHIPS_PER_ROW))
    for i, finding in enumerate(findings):
        polarity = labels[finding]
        with columns[i % len(columns)]:
            st.badge(f"{finding}: {polarity}", color=colours.get(polarity, "gray"))
            left, right = st.columns(2)
            left.button(
                "negate",
                key=f"{key}_neg_{finding}",
                disabled=polarity == "negative",
                help=f"Replace every statement about {finding} by a negative statement (make_negated)",
                on_click=_apply,
                args=(key, lambda t, f=finding: make_negated(t, f, seed=seed)),
            )
            right.button(
                "remove",
                key=f"{key}_rm_{finding}",
                help=f"Remove every statement about {finding} (make_omitted)",
                on_click=_apply,
                args=(key, lambda t, f=finding: make_omitted(t, f)),
            )


def truncation_warning(predictor: Predictor, truncated: Sequence[bool]) -> None:
    """A visible warning when a text is longer than the text encoder's limit.

    ``truncated``: one flag per text, from :meth:`cxrvlp.inference.Predictor.truncated` (or a table that holds it).
    """
    n = sum(map(bool, truncated))
    if n:
        st.warning(
            f"{n} text(s) are longer than the text encoder's {predictor.max_length} tokens: only the start is used."
        )
