"""The bundled demo model: it loads offline, stays small, and reads negation better than chance on real images."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from cxrvlp.inference import DEMO_DIR, Predictor


def test_demo_loads_offline_and_is_small():
    files = {p.name for p in DEMO_DIR.iterdir()}
    assert {"config.json", "delta.safetensors", "MODEL_CARD.md", "banks.json"} <= files
    assert (DEMO_DIR / "delta.safetensors").stat().st_size < 30_000_000
    p = Predictor.from_pretrained()
    assert p.spec == "demo" and Predictor.from_spec("demo").describe()["embed_dim"] == p.describe()["embed_dim"]
    card = (DEMO_DIR / "MODEL_CARD.md").read_text()
    assert "not for diagnosis" in card.lower() and "composed" in card.lower()


@pytest.mark.shared_data
def test_demo_prefers_the_original_over_its_negation_on_nih_test_images(shared_data: Path):
    """The probe page's comparison on held-out NIH images with a finding, reports composed from the shipped banks."""
    import pandas as pd

    from cxrvlp.data.compose import SentenceBanks, compose_report, parse_labels
    from cxrvlp.text import label_report, make_negated

    banks = SentenceBanks.from_json(DEMO_DIR / "banks.json")
    df = pd.read_csv(shared_data / "nih_cxr14_sample" / "manifest.csv", dtype=str, keep_default_na=False)
    rows = df[(df["split"] == "test") & (df["labels"] != "No Finding")].head(40)
    predictor = Predictor.from_pretrained()
    wins = total = 0
    for row in rows.itertuples():
        report = compose_report(parse_labels(row.labels), banks, rng=random.Random(f"0:{row.image}"))
        positives = label_report(report).positives()
        if not positives:
            continue
        texts = [report] + [make_negated(report, f, seed=0) for f in positives]
        image = shared_data / "nih_cxr14_sample" / row.image
        sims = (predictor.embed_images([image]) @ predictor.embed_texts(texts).T)[0]
        wins += int((sims[0] > sims[1:]).sum())
        total += len(positives)
    assert total >= 40
    # measured 44/48 = 0.917 for the demo shipped now (issue 15 round 9: CLIP^N seed 2, chosen on val; deterministic:
    # seeded reports, eval mode); the floor allows two pairs to flip. A text prior passes this too: the grounding gap
    # is the check of image evidence
    assert wins / total >= 42 / 48, f"original beat its negation in {wins}/{total} pairs"
