"""No page ever shows a traceback: an unexpected error becomes one clear message plus a log line with the traceback.

:func:`install` (called by :func:`cxrvlp.ui.widgets.page_frame` and the home page) sets the script run's
``on_script_error`` handler, which Streamlit calls for any exception a page (or a fragment of it) does not catch,
after it has logged the traceback itself. The handler logs one line of its own (with the traceback), shows
:func:`message` with ``st.error`` and tells Streamlit not to draw its exception box. ``.streamlit/config.toml``
also sets ``client.showErrorDetails = "none"``, so even an error raised before :func:`install` shows no traceback.
"""

from __future__ import annotations

import logging

import streamlit as st

from cxrvlp.ui.session import md_escape

log = logging.getLogger(__name__)
MAX_DETAIL = 300  # characters of the exception's message shown on the page


def message(ex: BaseException) -> str:
    """One paragraph for the page: what failed (type and first line of the message) and what to do next."""
    detail = str(ex).strip().splitlines()[0] if str(ex).strip() else ""
    if len(detail) > MAX_DETAIL:
        detail = detail[:MAX_DETAIL] + "…"
    what = f"{type(ex).__name__}: {detail}" if detail else type(ex).__name__
    return (
        f"Something went wrong on this page ({md_escape(what)}). That step did not finish; adjust the inputs or "
        "reload the page. The full traceback is in the server log."
    )


def handle(ex: Exception) -> bool:
    """Streamlit's ``on_script_error`` handler: log, show :func:`message`, suppress the traceback box."""
    log.error("page error: %s: %s", type(ex).__name__, ex, exc_info=ex)
    st.error(message(ex), icon=":material/error:")
    return True


def install() -> None:
    """Route this session's uncaught page errors to :func:`handle` (idempotent; no-op outside a script run)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is not None and getattr(ctx, "on_script_error", None) is not handle:
        ctx.on_script_error = handle
