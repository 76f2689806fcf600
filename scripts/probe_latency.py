"""Probe page latency with the reference panel (AppTest, the shipped demo, a real Open-I film): first load, picking
the image (embeds the reference set once per model), report edits. Numbers in docs/app.md.

    PYTHONPATH=$PWD python scripts/probe_latency.py [--model demo] [--data ../shared/data] [--edits 6]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="demo")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--edits", type=int, default=6)
    args = ap.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["CXRVLP_MODEL"] = args.model
    from streamlit.testing.v1 import AppTest

    folder = str(args.data / "iu_openi" / "images")
    t = time.perf_counter()
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=300)
    at.run()
    print(f"first load incl. model: {time.perf_counter() - t:.2f} s")
    at.switch_page("pages/1_Negation_probe.py").run()
    at.radio(key="probe_img_mode").set_value("Example folder").run()
    at.text_input(key="probe_img_dir").input(folder).run()
    t = time.perf_counter()
    at.selectbox(key="probe_img_ex").set_value(f"{folder}/CXR7_IM-2263-1001.jpg").run()
    print(f"pick image (the reference set is embedded once per model): {time.perf_counter() - t:.2f} s")
    times = []
    for i in range(args.edits):
        t = time.perf_counter()
        at.text_area(key="report_editor").input(f"FINDINGS: Small right pleural effusion. No pneumothorax. Edit {i}.")
        at.run()
        times.append(time.perf_counter() - t)
    assert not at.exception, at.exception
    ms = [round(x * 1000) for x in times]
    print(f"edit ms: {ms}, median {statistics.median(ms):.0f}")


if __name__ == "__main__":
    main()
