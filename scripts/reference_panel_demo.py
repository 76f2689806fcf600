"""What a model says on the probe's reference panel for a few real X-rays (the numbers in docs/app.md).

    python scripts/reference_panel_demo.py [--model demo] [--data ../shared/data]

For each case: the probe's versions (the original, r^n / r^r per asserted finding, the edits given below), this
image's cosine, how many of the bundled reference X-rays prefer the original over each version, the verdict
("text prior" vs "this image") and the flags, exactly as the page computes them; then the time to embed the
reference set once and the time an edit costs.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch

from cxrvlp.analysis.probe import score_versions, versions
from cxrvlp.analysis.projection import EmbeddingCache
from cxrvlp.analysis.reference import ReferenceSet, compare, reference_embeddings
from cxrvlp.inference import Predictor

REPO = Path(__file__).resolve().parents[1]


def cases(data: Path) -> list[tuple[str, Path, str, list[str]]]:
    """(title, image, report, edits): two real Open-I films with their real reports, one NIH test film (not in the
    reference set) with a typed report of its labelled finding."""
    with (data / "iu_openi" / "manifest.csv").open(newline="") as f:
        openi = {r["image"]: r for r in csv.DictReader(f)}
    normal = openi["images/CXR3_IM-1384-1001.jpg"]
    removed = "Displaced rib fractures, pneumothorax, and pleural effusion identified. " + normal["text"].split(
        ". ", 1
    )[1].replace("No acute", "Acute")
    atel = openi["images/CXR7_IM-2263-1001.jpg"]
    ref_stems = {p.stem for p in ReferenceSet.load().paths}
    with (data / "nih_cxr14_sample" / "manifest.csv").open(newline="") as f:
        nih = [
            r
            for r in csv.DictReader(f)
            if r["split"] == "test" and r["labels"] == "Effusion" and Path(r["image"]).stem not in ref_stems
        ]
    nih.sort(key=lambda r: r["image"])
    return [
        ("Open-I CXR3 (normal, real report; edit: negations removed)", data / "iu_openi" / normal["image"],
         normal["text"], [removed]),
        ("Open-I CXR7 frontal (basilar atelectasis, real report)", data / "iu_openi" / atel["image"], atel["text"], []),
        (f"NIH {Path(nih[0]['image']).name} (Effusion; typed report)", data / "nih_cxr14_sample" / nih[0]["image"],
         "Small right pleural effusion. No pneumothorax.", []),
    ]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="demo")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = ap.parse_args()
    torch.set_num_threads(1)
    predictor = Predictor.from_spec(args.model)
    ref = ReferenceSet.load()
    t0 = time.perf_counter()
    ref_emb = reference_embeddings(predictor, ref)
    t_ref = time.perf_counter() - t0
    cache = EmbeddingCache()
    for title, path, report, edits in cases(args.data):
        image = predictor.embed_images([path])[0]
        rows = versions(report, edits)
        table = score_versions(predictor, rows, image, cache=cache, ref_embeddings=ref_emb)
        emb = cache.embed_texts(predictor, list(table["text"]))
        comps = compare(list(table["version"]), list(table["finding"]), emb, image, ref_emb, reference=ref)
        print(f"\n## {title}")
        for (_, row), c in zip(table.iterrows(), [None, *comps], strict=True):
            line = f"- {row['version']}: cos {row['cosine']:+.4f}"
            if c is not None:
                line += f"; reference prefer r: {row['reference']}; {c.evidence}; {c.sentence()}"
            if row["flag"]:
                line += f"; FLAG: {row['flag']}"
            print(line)
    t0 = time.perf_counter()
    score_versions(predictor, versions(report, ["A new edit, never seen."]), image, cache=cache, ref_embeddings=ref_emb)
    t_edit = time.perf_counter() - t0
    print(
        f"\nreference set: {len(ref)} images embedded once in {t_ref:.2f} s; an edit re-scored in {t_edit * 1e3:.0f} ms"
    )


if __name__ == "__main__":
    main()
