"""Real-browser smoke test: `streamlit run app.py` + headless Chromium (Playwright) through every page.

Skipped when /usr/bin/chromium or playwright is missing (CI installs Debian's chromium). Screenshots go to
artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "artifacts" / "screenshots"
PAGES = {
    "Negation_probe": "Negation probe",
    "Token_attribution": "Token attribution",
    "Embeddings": "Embeddings",
    "Soft_labels": "Soft labels",
    "Benchmarks": "Benchmarks",
    "Head_ablation": "Head ablation",
    "Training": "Training",
}
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FIRST_RENDER_MS = 180_000  # the first page imports torch and loads the model: minutes on a busy 2-core machine
RENDER_MS = 60_000


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError("streamlit did not become healthy")


def _png() -> bytes:
    y, x = np.mgrid[0:256, 0:256]
    arr = (np.sin(x / 20.0) * np.cos(y / 30.0) * 30000 + 32768).astype(np.uint16)  # a 16-bit PNG
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _external(requests: list[str], base: str) -> list[str]:
    """Requests that left the app's own server (a favicon from fonts.gstatic.com, a CDN, ...)."""
    return [r for r in requests if not r.startswith((base, "data:", "blob:", "about:"))]


def _cut_buttons(page) -> list[str]:
    """Texts of visible buttons whose label does not fit (ellipsis: scrollWidth > clientWidth)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('[data-testid=stMain] button')]
            .filter(b => b.offsetParent !== null)
            .filter(b => [b, ...b.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1))
            .map(b => b.textContent)"""
    )


def test_every_page_in_headless_chromium(tmp_path):
    from playwright import sync_api  # the dev extra

    SHOTS.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = os.environ | {"CXRVLP_MODEL": "preset:tiny", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    log = (tmp_path / "streamlit.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
         "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_healthy(url, server)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                requests: list[str] = []
                page = browser.new_page(viewport={"width": 1400, "height": 1700})
                page.on("request", lambda r: requests.append(r.url))
                page.goto(url)
                page.get_by_text("does the model notice a negation").wait_for(timeout=FIRST_RENDER_MS)
                page.get_by_text("preset:tiny").first.wait_for(timeout=FIRST_RENDER_MS)
                page.locator("[data-testid=stSidebarNav]").get_by_text("Home", exact=True).wait_for(timeout=RENDER_MS)
                page.screenshot(path=str(SHOTS / "0_home.png"), full_page=True)

                page.goto(f"{url}/Negation_probe")
                page.get_by_text("Upload an image or pick one").wait_for(timeout=RENDER_MS)
                page.locator("input[type=file]").first.set_input_files(
                    files=[{"name": "cxr16.png", "mimeType": "image/png", "buffer": _png()}]
                )
                metric = page.locator("[data-testid=stMetric]", has_text="similarity(current report)")
                metric.wait_for(timeout=RENDER_MS)
                first_score = re.search(r"[+-]\d\.\d{4}", metric.inner_text())
                assert first_score
                # the reference panel: its heading, one verdict per version, the strip plot of the 48 reference films
                page.get_by_role("heading", name=re.compile("Reference panel")).wait_for(timeout=RENDER_MS)
                page.get_by_text(re.compile(r"of 48 reference images")).first.wait_for(timeout=RENDER_MS)
                page.locator("[data-testid=stPlotlyChart]").nth(1).wait_for(timeout=RENDER_MS)  # bar chart + strip
                page.wait_for_timeout(1500)  # let the chart draw
                page.screenshot(path=str(SHOTS / "1_Negation_probe.png"), full_page=True)
                page.get_by_role("heading", name=re.compile("Reference panel")).scroll_into_view_if_needed()
                page.wait_for_timeout(1000)
                page.screenshot(path=str(SHOTS / "1_Negation_probe_reference_panel.png"))

                # a second session at 1024 px runs the head sweep (it masks heads and patches forwards on its
                # copy of the model) while the first session keeps probing: the first must see the same numbers
                other = browser.new_page(viewport={"width": 1024, "height": 1400})
                other.on("request", lambda r: requests.append(r.url))
                other.goto(f"{url}/Head_ablation")
                other.get_by_role("button", name="Run the sweep").click(timeout=RENDER_MS)
                editor = page.locator("[data-testid=stTextArea] textarea").first
                original = editor.input_value()
                for _ in range(3):  # fast edits in the first session while the sweep runs, back to the start
                    editor.fill("Large left pneumothorax.")
                    editor.press("Control+Enter")
                    page.wait_for_timeout(300)
                    editor.fill(original)
                    editor.press("Control+Enter")
                page.locator("[data-testid=stStatusWidget]").wait_for(state="hidden", timeout=RENDER_MS)
                page.wait_for_timeout(1000)
                again = re.search(r"[+-]\d\.\d{4}", metric.inner_text())
                assert again and again.group() == first_score.group()
                assert page.locator("[data-testid=stException]").count() == 0
                other.get_by_text("Heads whose masking lowers the metric most").wait_for(timeout=FIRST_RENDER_MS)
                assert other.locator("[data-testid=stException]").count() == 0
                other.screenshot(path=str(SHOTS / "6_Head_ablation_1024.png"), full_page=True)
                other.goto(f"{url}/Negation_probe")
                other.get_by_text("Upload an image or pick one").wait_for(timeout=RENDER_MS)
                other.wait_for_timeout(1000)
                assert _cut_buttons(other) == []  # chip buttons ("negate", "remove") fit at 1024 px
                other.screenshot(path=str(SHOTS / "1_Negation_probe_1024.png"), full_page=True)
                other.close()

                for i, (path, title) in enumerate(list(PAGES.items())[1:], start=2):
                    # the sidebar link keeps the session, so the uploaded image follows to the next pages
                    page.locator("[data-testid=stSidebarNav]").get_by_text(title, exact=True).click()
                    page.get_by_role("heading", name=re.compile(title)).wait_for(timeout=RENDER_MS)
                    page.wait_for_timeout(1000)
                    page.locator("[data-testid=stStatusWidget]").wait_for(state="hidden", timeout=RENDER_MS)
                    page.wait_for_timeout(1500)  # plotly draws after the script ends
                    assert page.locator("[data-testid=stException]").count() == 0, path
                    assert "Traceback" not in page.inner_text("body"), path
                    page.screenshot(path=str(SHOTS / f"{i}_{path}.png"), full_page=True)
                assert _external(requests, url) == []  # nothing reached the network (favicon included)
            finally:
                browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
