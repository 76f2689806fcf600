"""The reference panel's analysis: the bundled reference set, and text prior vs image evidence on fakes with known
answers."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch
from PIL import Image

from cxrvlp.analysis.reference import REFERENCE_DIR, ReferenceSet, compare, reference_scores

E1, E2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])  # "F present" and "F absent" directions
NAMES, FINDINGS = ["original", "r^n Pleural Effusion"], ["", "Pleural Effusion"]


def reference_of(n_with: int, n_without: int) -> ReferenceSet:
    labels = (("Effusion",),) * n_with + (("No Finding",),) * n_without
    return ReferenceSet(paths=tuple(REFERENCE_DIR / f"{i}.jpg" for i in range(len(labels))), labels=labels)


def test_bundled_reference_set_is_balanced_real_test_images_under_2_mb():
    ref = ReferenceSet.load()
    manifest = json.loads((REFERENCE_DIR / "manifest.json").read_text())
    assert 24 <= len(ref) <= 64
    assert all(p.is_file() for p in ref.paths)
    assert sum(p.stat().st_size for p in REFERENCE_DIR.rglob("*") if p.is_file()) < 2_000_000
    assert {e["split"] for e in manifest["images"]} == {"test"}
    assert {e["view"] for e in manifest["images"]} <= {"PA", "AP"}
    assert len({e["patient_id"] for e in manifest["images"]}) == len(ref)  # one image per patient
    counts = Counter(label for labels in ref.labels for label in labels)
    assert counts == Counter(manifest["counts"])
    assert counts["No Finding"] >= 4 and min(counts.values()) >= 4 and len(counts) == 15  # every finding present
    assert "NIH Clinical Center" in manifest["acknowledgement"] and "CVPR 2017" in manifest["citation"]
    with Image.open(ref.paths[0]) as im:
        assert im.size == (224, 224) and im.format == "JPEG" and im.mode == "L"


@pytest.mark.shared_data
def test_bundled_images_are_nih_test_rows(shared_data):
    import csv

    with (shared_data / "nih_cxr14_sample" / "manifest.csv").open(newline="") as f:
        split = {r["image"].split("/")[-1].rsplit(".", 1)[0]: r for r in csv.DictReader(f)}
    for path, labels in zip(*(lambda r: (r.paths, r.labels))(ReferenceSet.load()), strict=True):
        row = split[path.stem]
        assert row["split"] == "test" and tuple(row["labels"].split(";")) == labels


def test_reference_labels_map_to_chexpert_classes():
    ref = ReferenceSet(paths=(REFERENCE_DIR / "a", REFERENCE_DIR / "b"), labels=(("Effusion", "Mass"), ("Hernia",)))
    assert ref.has("Pleural Effusion") == [True, False]
    assert ref.has("Lung Lesion") == [True, False]
    assert ref.has("Fracture") is None  # no NIH label says whether a fracture is there


def test_a_text_only_model_is_a_text_prior():
    """Every image embeds to the same vector: the preference is the same for all 48 images."""
    texts = torch.stack([E1, torch.nn.functional.normalize(E1 + E2, dim=0)])  # r is closer to the one image vector
    image = E1
    refs = E1.expand(48, 2)
    (c,) = compare(NAMES, FINDINGS, texts, image, refs, reference=reference_of(6, 42))
    assert c.prefers_original and c.same == 48 and c.n == 48 and c.is_prior
    assert c.evidence == "text prior"
    assert c.sentence("r^n").startswith("prefers r over r^n for this image and for 48 of 48 reference images")
    assert "a text prior, not image evidence" in c.sentence()
    assert c.with_finding == (6, 6) and c.without_finding == (42, 42)  # with or without F: the same answer


def test_an_image_reading_model_moves_the_preference():
    """Images with the finding embed to E1, without it to E2; r = E1, r^n = E2."""
    texts = torch.stack([E1, E2])
    refs = torch.stack([E1] * 6 + [E2] * 42)
    (c,) = compare(NAMES, FINDINGS, texts, E1, refs, reference=reference_of(6, 42))
    assert c.prefers_original and c.same == 6 and not c.is_prior
    assert c.evidence == "this image"
    assert "this image moves the preference" in c.sentence()
    assert c.with_finding == (6, 6) and c.without_finding == (0, 42)
    assert "6 of 6 with Pleural Effusion and 0 of 42 without it" in c.sentence()
    # a normal image: prefers r^n, and 42 of 48 reference images agree (below 90%): still this image's answer
    (d,) = compare(NAMES, FINDINGS, texts, E2, refs, reference=reference_of(6, 42))
    assert not d.prefers_original and d.same == 42 and not d.is_prior
    assert d.sentence("r^n").startswith("prefers r^n over r for this image but only 42 of 48")
    assert compare(NAMES, FINDINGS, texts, E2, refs, prior_share=0.8)[0].is_prior  # 42/48 = 0.875 >= 0.8


def test_rank_and_long_table():
    texts = torch.stack([E1, E2])
    refs = torch.nn.functional.normalize(torch.tensor([[1.0, 0.1 * k] for k in range(10)]), dim=1)
    image = torch.nn.functional.normalize(torch.tensor([1.0, 0.45]), dim=0)
    (c,) = compare(NAMES, FINDINGS, texts, image, refs)
    assert c.rank == 6  # the margins of refs 0..4 (y <= 0.4) are larger than this image's
    assert c.with_finding is None  # no labels given
    long = reference_scores(NAMES, FINDINGS, texts, image, refs)
    assert len(long) == 2 * 11
    mine = long[long["source"] == "this image"].set_index("version")
    assert mine.loc["original", "rank"] == 6  # cos(., E1) falls as y grows: refs 0..4 are higher
    assert mine.loc["r^n Pleural Effusion", "rank"] == 6  # refs 5..9 lie closer to E2
    labelled = reference_scores(NAMES, FINDINGS, texts, image, refs, reference=reference_of(4, 6))
    assert set(labelled["group"]) == {
        "reference",
        "this image",
        "reference with Pleural Effusion",
        "reference without Pleural Effusion",
    }


def test_flags_say_prior_or_image_and_catch_an_added_finding():
    from cxrvlp.analysis.probe import Version, flags

    original = "No displaced rib fractures. No pneumothorax."
    rows = [
        Version("original", "original", "", original),
        Version("edit 1", "edit", "", "Displaced rib fractures and pneumothorax identified."),
    ]
    assert flags(rows, [0.40, 0.30]) == ["", ""]
    wrong = flags(rows, [0.40, 0.44])[1]
    assert "asserts" in wrong and "Pneumothorax" in wrong and "Fracture" in wrong
    prior = torch.tensor([[0.1, 0.2]] * 47 + [[0.3, 0.2]])  # 47 of 48 reference images share the wrong preference
    assert "[text prior: 47/48 reference images too]" in flags(rows, [0.40, 0.44], prior)[1]
    image = torch.tensor([[0.1, 0.2]] * 3 + [[0.3, 0.2]] * 45)
    assert "[this image: 3/48 reference images]" in flags(rows, [0.40, 0.44], image)[1]


def test_score_versions_with_reference_embeddings():
    from cxrvlp.analysis.probe import score_versions, versions
    from cxrvlp.analysis.projection import EmbeddingCache
    from cxrvlp.inference import Predictor

    predictor = Predictor.from_spec("preset:tiny")
    rows = versions("Small right pleural effusion. No pneumothorax.", [])
    d = predictor.model.config.embed_dim
    image = torch.nn.functional.normalize(torch.randn(d, generator=torch.Generator().manual_seed(0)), dim=0)
    frame = score_versions(predictor, rows, image, cache=EmbeddingCache(), ref_embeddings=image.expand(8, d))
    assert frame.loc[0, "reference"] == "" and frame.loc[0, "evidence"] == ""
    assert set(frame["evidence"].iloc[1:]) == {"text prior"}  # the reference images are this very image
    assert set(frame["reference"].iloc[1:]) <= {"0/8", "8/8"}


def test_a_probed_film_is_left_out_of_its_own_reference():
    from cxrvlp.analysis.reference import without

    ref = reference_of(2, 3)
    refs = torch.stack([E1, E2, E2, E1, E1])
    subset, emb = without(ref, refs, [0, 4])
    assert len(subset) == 3 and torch.equal(emb, refs[1:4])
    assert subset.labels == (("Effusion",), ("No Finding",), ("No Finding",)) and subset.paths == ref.paths[1:4]


def test_package_data_ships_every_reference_file():
    import fnmatch
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["cxrvlp.assets"]
    assets = REFERENCE_DIR.parent
    files = [p.relative_to(assets).as_posix() for p in REFERENCE_DIR.rglob("*") if p.is_file()]
    files = [f for f in files if "__pycache__" not in f]
    assert len(files) >= 50
    missing = [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in patterns)]
    assert not missing


def test_reference_strip_marks_this_image_and_merges_the_legend():
    from cxrvlp.analysis.figures import reference_strip

    texts = torch.stack([E1, E2, E2])
    names, findings = [*NAMES, "r^n Edema"], [*FINDINGS, "Edema"]
    refs = torch.stack([E1] * 2 + [E2] * 3)
    long = reference_scores(names, findings, texts, E1, refs, reference=reference_of(2, 3))
    fig = reference_strip(long)
    legend = [t.name for t in fig.data if t.showlegend is not False]
    assert legend == [
        "reference film (labels silent on the finding)",
        "reference film with the version's finding",
        "reference film without it",
        "this image",
    ]  # Pleural Effusion and Edema share one "with" and one "without" entry
    mine = fig.data[-1]
    assert mine.marker.symbol == "diamond" and list(mine.x) == names and list(mine.y) == [1.0, 0.0, 0.0]
    assert list(fig.layout.xaxis.categoryarray) == names
