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


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
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
                page = browser.new_page(viewport={"width": 1400, "height": 1700})
                page.goto(url)
                page.get_by_text("does the model notice a negation").wait_for(timeout=30_000)
                page.get_by_text("preset:tiny").first.wait_for(timeout=30_000)
                page.locator("[data-testid=stSidebarNav]").get_by_text("Home", exact=True).wait_for(timeout=30_000)
                page.screenshot(path=str(SHOTS / "0_home.png"), full_page=True)

                page.goto(f"{url}/Negation_probe")
                page.get_by_text("Upload an image or pick one").wait_for(timeout=30_000)
                page.locator("input[type=file]").first.set_input_files(
                    files=[{"name": "cxr16.png", "mimeType": "image/png", "buffer": _png()}]
                )
                metric = page.locator("[data-testid=stMetric]", has_text="similarity(current report)")
                metric.wait_for(timeout=30_000)
                assert re.search(r"[+-]\d\.\d{4}", metric.inner_text())
                page.wait_for_timeout(1500)  # let the chart draw
                page.screenshot(path=str(SHOTS / "1_Negation_probe.png"), full_page=True)

                for i, (path, title) in enumerate(list(PAGES.items())[1:], start=2):
                    # the sidebar link keeps the session, so the uploaded image follows to the next pages
                    page.locator("[data-testid=stSidebarNav]").get_by_text(title, exact=True).click()
                    page.get_by_role("heading", name=re.compile(title)).wait_for(timeout=30_000)
                    page.wait_for_timeout(1000)
                    page.locator("[data-testid=stStatusWidget]").wait_for(state="hidden", timeout=30_000)
                    page.wait_for_timeout(1500)  # plotly draws after the script ends
                    assert page.locator("[data-testid=stException]").count() == 0, path
                    page.screenshot(path=str(SHOTS / f"{i}_{path}.png"), full_page=True)
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
