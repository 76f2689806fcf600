"""Session-state keys shared by every page, and small accessors for the probe's image and report.

The current image and report live under fixed keys (not widget keys), so they survive page switches: a widget's
own state is dropped when its page is left, these entries are not.
"""

from __future__ import annotations

import hashlib
import re

import streamlit as st
from PIL import Image

IMAGE_KEY = "cxrvlp_image"  # PIL.Image, 8-bit grayscale, read by cxrvlp.data.images.read_image
IMAGE_NAME_KEY = "cxrvlp_image_name"  # file name the image came from (display only, never a path to write to)
IMAGE_DIGEST_KEY = "cxrvlp_image_digest"  # sha1 of the decoded pixels: cache key of the image embedding
IMAGE_SOURCE_KEY = "cxrvlp_image_source"  # upload file id or example path the current image was read from
REPORT_KEY = "cxrvlp_report"  # the report being probed
ORIGINAL_KEY = "cxrvlp_original"  # the report the history started from (row "original" of the probe table)
HISTORY_KEY = "cxrvlp_history"  # every distinct report version scored since ORIGINAL_KEY, oldest first
EXAMPLE_DIR_KEY = "cxrvlp_example_dir"  # the folder of example images the user typed

DEFAULT_REPORT = "FINDINGS: Small right pleural effusion. Mild cardiomegaly. No pneumothorax."

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>$])")


def md_escape(text: str) -> str:
    """Text safe inside ``st.markdown`` / ``st.error``: HTML escaped and every markdown character backslashed."""
    return _MD_SPECIAL.sub(r"\\\1", text.replace("&", "&amp;").replace("<", "&lt;"))


def image_digest(image: Image.Image) -> str:
    """sha1 of an image's mode, size and pixels."""
    h = hashlib.sha1(f"{image.mode}{image.size}".encode())
    h.update(image.tobytes())
    return h.hexdigest()


def set_image(image: Image.Image, name: str, source: str) -> None:
    """Make ``image`` the current image of every page."""
    st.session_state[IMAGE_KEY] = image
    st.session_state[IMAGE_NAME_KEY] = name
    st.session_state[IMAGE_DIGEST_KEY] = image_digest(image)
    st.session_state[IMAGE_SOURCE_KEY] = source


def current_image() -> tuple[Image.Image | None, str, str]:
    """``(image, name, digest)`` of the current image; ``(None, "", "")`` when there is none."""
    image = st.session_state.get(IMAGE_KEY)
    if image is None:
        return None, "", ""
    return image, st.session_state.get(IMAGE_NAME_KEY, ""), st.session_state.get(IMAGE_DIGEST_KEY, "")


def current_report() -> str:
    """The report being probed (the default example until the user types one)."""
    return st.session_state.get(REPORT_KEY, DEFAULT_REPORT)


def set_report(text: str) -> None:
    """Make ``text`` the current report and record it in the history (the first one becomes the original)."""
    st.session_state[REPORT_KEY] = text
    if not text.strip():
        return
    history: list[str] = st.session_state.setdefault(HISTORY_KEY, [])
    if ORIGINAL_KEY not in st.session_state:
        st.session_state[ORIGINAL_KEY] = text
    if text != st.session_state[ORIGINAL_KEY] and text not in history:
        history.append(text)


def reset_history(original: str) -> None:
    """Start a new history whose original is ``original``."""
    st.session_state[ORIGINAL_KEY] = original
    st.session_state[HISTORY_KEY] = []


def original_and_history() -> tuple[str, list[str]]:
    """The original report and the user's edits since (oldest first)."""
    return st.session_state.get(ORIGINAL_KEY, current_report()), list(st.session_state.get(HISTORY_KEY, []))
