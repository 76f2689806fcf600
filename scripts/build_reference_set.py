"""Build the app's bundled reference set: real NIH ChestX-ray14 test images, balanced over findings and No Finding.

    python scripts/build_reference_set.py [--data ../shared/data/nih_cxr14_sample] [--dest cxrvlp/assets/reference]

Selection (seeded, deterministic given the manifest):

1. Only rows of the ``test`` split (the patient split of ``nih_cxr14_sample/manifest.csv``: ``cxrvlp compose``
   keeps that column), frontal views (PA / AP), one image per patient.
2. ``--normal`` images labelled ``No Finding``, drawn with ``random.Random(seed)``.
3. The rest greedily: repeatedly take the NIH finding with the fewest chosen images so far (ties in
   ChestX-ray14 order) that still has unused images, and draw one of its images at random.
4. Each image: grayscale, shorter side resized to 224 px (Lanczos), centre-cropped to 224 x 224, JPEG quality 85.

Writes ``DEST/images/*.jpg`` and ``DEST/manifest.json`` (the selection rule, the per-finding counts, and per image
its NIH labels, view, patient id and the original's source). The NIH Clinical Center released ChestX-ray14 with no
restriction on use and asks for acknowledgement and a citation of Wang et al., CVPR 2017; both are in the manifest
and in ``DEST/README.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
from collections import Counter
from pathlib import Path

from PIL import Image, ImageOps

from cxrvlp.data.compose import NIH_FINDINGS

REPO = Path(__file__).resolve().parents[1]
NIH_ORDER = list(NIH_FINDINGS)  # the 14 NIH ChestX-ray14 findings, in the dataset's order
ACKNOWLEDGEMENT = (
    "Images from the NIH ChestX-ray14 dataset, provided by the NIH Clinical Center "
    "(https://nihcc.app.box.com/v/ChestXray-NIHCC). We acknowledge the NIH Clinical Center."
)
CITATION = (
    "Wang X, Peng Y, Lu L, Lu Z, Bagheri M, Summers RM. ChestX-ray8: Hospital-scale Chest X-ray Database and "
    "Benchmarks on Weakly-Supervised Classification and Localization of Common Thorax Diseases. IEEE CVPR 2017, "
    "pp. 3462-3471."
)
SIZE = 224


def labels_of(row: dict[str, str]) -> list[str]:
    return [x.strip() for x in row["labels"].split(";") if x.strip()]


def select(rows: list[dict[str, str]], *, n: int, normal: int, seed: int) -> list[dict[str, str]]:
    """The chosen rows, in choice order (see the module docstring)."""
    rng = random.Random(seed)
    pool = [r for r in rows if r["split"] == "test" and r["view"] in ("PA", "AP")]
    pool.sort(key=lambda r: r["image"])
    chosen: list[dict[str, str]] = []
    patients: set[str] = set()

    def take(candidates: list[dict[str, str]]) -> bool:
        candidates = [r for r in candidates if r["patient_id"] not in patients]
        if not candidates:
            return False
        row = rng.choice(candidates)
        chosen.append(row)
        patients.add(row["patient_id"])
        return True

    for _ in range(normal):
        if not take([r for r in pool if labels_of(r) == ["No Finding"]]):
            break
    counts = Counter({f: 0 for f in NIH_ORDER})
    exhausted: set[str] = set()
    while len(chosen) < n and len(exhausted) < len(NIH_ORDER):
        finding = min((f for f in NIH_ORDER if f not in exhausted), key=lambda f: (counts[f], NIH_ORDER.index(f)))
        if not take([r for r in pool if finding in labels_of(r)]):
            exhausted.add(finding)
            continue
        counts.update(labels_of(chosen[-1]))
    return chosen


def to_reference_jpeg(src: Path, dest: Path) -> None:
    with Image.open(src) as im:
        im = ImageOps.fit(im.convert("L"), (SIZE, SIZE), method=Image.Resampling.LANCZOS)
        im.save(dest, format="JPEG", quality=85, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "nih_cxr14_sample")
    ap.add_argument("--dest", type=Path, default=REPO / "cxrvlp" / "assets" / "reference")
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--normal", type=int, default=8, help="how many No Finding images")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with (args.data / "manifest.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    chosen = select(rows, n=args.n, normal=args.normal, seed=args.seed)
    images_dir = args.dest / "images"
    if images_dir.exists():
        shutil.rmtree(images_dir)
    images_dir.mkdir(parents=True)
    entries = []
    for row in chosen:
        name = Path(row["image"]).stem + ".jpg"
        to_reference_jpeg(args.data / row["image"], images_dir / name)
        entries.append(
            {
                "file": f"images/{name}",
                "labels": labels_of(row),
                "view": row["view"],
                "split": row["split"],
                "patient_id": row["patient_id"],
                "sex": row.get("sex", ""),
                "age": row.get("age", ""),
                "source": row["source"],
            }
        )
    counts = Counter(label for e in entries for label in e["labels"])
    manifest = {
        "name": "NIH ChestX-ray14 reference set",
        "description": "Real frontal chest X-rays the app scores every report version against, to tell what the "
        "model prefers for this image from what it prefers for any image (a text prior).",
        "acknowledgement": ACKNOWLEDGEMENT,
        "citation": CITATION,
        "license": rows[0]["license"] if rows else "",
        "selection": {
            "script": "scripts/build_reference_set.py",
            "seed": args.seed,
            "source_manifest": "nih_cxr14_sample/manifest.csv",
            "split": "test",
            "views": ["PA", "AP"],
            "one_per_patient": True,
            "rule": f"{args.normal} 'No Finding' images at random, then greedily the NIH finding with the fewest "
            "chosen images (ties in ChestX-ray14 order), one random test image that has it",
            "image": f"grayscale, shorter side to {SIZE} px (Lanczos), centre crop {SIZE}x{SIZE}, JPEG quality 85",
        },
        "counts": {k: counts[k] for k in ["No Finding", *NIH_ORDER]},
        "images": entries,
    }
    (args.dest / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    (args.dest / "README.md").write_text(
        "# Bundled reference set\n\n"
        f"{len(entries)} real frontal chest X-rays from the `test` split of NIH ChestX-ray14 (the project's sample "
        "`nih_cxr14_sample`), chosen by `scripts/build_reference_set.py` (rule and labels in `manifest.json`).\n\n"
        f"{ACKNOWLEDGEMENT}\n\nPlease cite: {CITATION}\n"
    )
    total = sum(p.stat().st_size for p in args.dest.rglob("*") if p.is_file())
    print(f"{len(entries)} images, {total / 1e6:.2f} MB -> {args.dest}")
    print(json.dumps(manifest["counts"]))


if __name__ == "__main__":
    main()
