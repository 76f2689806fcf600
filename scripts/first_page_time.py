"""How long until the first page is usable: `streamlit run app.py` from scratch, headless Chromium on the home page.

Prints, per run, the seconds from starting the server to (1) its health endpoint answering, (2) the home page's
title drawn, (3) the model's card (the "Device" metric) drawn, which is when the page is usable, plus the 1-minute
load average before the run. Needs Debian's chromium (/usr/bin/chromium) and playwright (the dev extra).

    python scripts/first_page_time.py [--runs 3] [--model demo] [--repo CHECKOUT]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_run(model: str, repo: Path = REPO) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = os.environ | {"CXRVLP_MODEL": model, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(repo)}
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
         "127.0.0.1", "--server.headless", "true"],
        cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
            if time.monotonic() - t0 > 300:
                raise TimeoutError("no health answer in 300 s")
        healthy = time.monotonic() - t0
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.get_by_text("does the model notice a negation").wait_for(timeout=300_000)
            title = time.monotonic() - t0
            page.locator("[data-testid=stMetric]", has_text="Device").wait_for(timeout=300_000)
            usable = time.monotonic() - t0
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    return {"load1": load, "healthy_s": healthy, "title_s": title, "usable_s": usable}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default="demo", help="model spec the home page loads (default: demo)")
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout to run (default: this one)")
    args = parser.parse_args()
    print(f"cores {os.cpu_count()}  model {args.model}")
    for i in range(args.runs):
        r = one_run(args.model, args.repo)
        print(
            f"run {i + 1}: load(1 min) {r['load1']:.2f}  healthy {r['healthy_s']:.2f} s  title {r['title_s']:.2f} s  "
            f"usable {r['usable_s']:.2f} s"
        )


if __name__ == "__main__":
    main()
