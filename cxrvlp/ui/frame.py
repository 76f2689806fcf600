"""The page frame without the heavy imports: page config, favicon, title, notice and the error guard.

Importing this module costs no torch import (only Streamlit and :mod:`cxrvlp.ui.guard`), so a page that draws its
frame first shows its title and text while the model code is still being imported and the model loaded.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from cxrvlp.ui import guard

NOTICE = "Research use only — not for diagnosis or any clinical decision."
# the favicon, served by the app itself: a ":material/...:" page icon makes the browser fetch it from
# fonts.gstatic.com on every page, and nothing may reach the network at run time
PAGE_ICON = str(Path(__file__).resolve().parents[1] / "assets" / "icon.png")


def frame(page_title: str, title: str, caption: str) -> None:
    """Install the guard, set the page config (bundled favicon, wide layout), draw the title and the caption."""
    guard.install()
    st.set_page_config(page_title=page_title, page_icon=PAGE_ICON, layout="wide")
    st.title(title)
    st.caption(caption)
