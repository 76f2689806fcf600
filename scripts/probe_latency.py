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


def panel_cost(versions: int = 6, repeats: int = 20) -> float:
    """Median ms of the reference panel's own work per rerun (verdicts, long table, strip figure and its JSON) on
    random embeddings of the demo's size, outside Streamlit."""
    import torch

    from cxrvlp.analysis.figures import reference_strip
    from cxrvlp.analysis.reference import ReferenceSet, compare, reference_scores

    g = torch.Generator().manual_seed(0)
    ref, dim = ReferenceSet.load(), 512
    texts = torch.nn.functional.normalize(torch.randn(versions, dim, generator=g), dim=1)
    image = torch.nn.functional.normalize(torch.randn(dim, generator=g), dim=0)
    refs = torch.nn.functional.normalize(torch.randn(len(ref), dim, generator=g), dim=1)
    names = ["original"] + [f"r^n Pleural Effusion {i}" for i in range(versions - 1)]
    findings = [""] + ["Pleural Effusion"] * (versions - 1)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        compare(names, findings, texts, image, refs, reference=ref)
        reference_strip(reference_scores(names, findings, texts, image, refs, reference=ref)).to_json()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


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
    print(f"reference panel's own work per rerun: median {panel_cost():.0f} ms")


if __name__ == "__main__":
    main()
