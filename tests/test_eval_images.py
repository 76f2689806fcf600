"""The eval path reads images with the one reader (``data/images.read_image``): 16-bit PNG and DICOM included."""

from __future__ import annotations

import csv

import numpy as np
from PIL import Image
from test_images import _dicom_bytes

from cxrvlp.data.images import read_image
from cxrvlp.eval.dataset import read_manifest


def _ramp16() -> np.ndarray:
    """A 16-bit ramp in the range a real CXR PNG uses (values far above 255, below 65535)."""
    return np.tile(np.linspace(1000, 4000, 48, dtype=np.uint16), (32, 1))


def _manifest(tmp_path) -> list:
    Image.fromarray(_ramp16()).save(tmp_path / "a16.png")
    assert Image.open(tmp_path / "a16.png").mode.startswith("I")  # really a 16-bit fixture
    (tmp_path / "b.dcm").write_bytes(_dicom_bytes(_ramp16()))
    with (tmp_path / "m.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "report", "split"])
        w.writerow(["a16.png", "No pleural effusion.", "test"])
        w.writerow(["b.dcm", "Small left pleural effusion.", "test"])
    return read_manifest(tmp_path / "m.csv")


def test_16bit_png_keeps_its_contrast_on_the_eval_path(tmp_path):
    png = _manifest(tmp_path)[0]
    img = np.asarray(png.load_image())
    assert img.shape == (32, 48, 3)
    assert (img == 255).mean() < 0.05, "16-bit PNG clipped to white"
    assert img[0, 0, 0] == 0 and img[0, -1, 0] == 255  # the full ramp, min-max scaled
    np.testing.assert_array_equal(img[..., 0], np.asarray(read_image(tmp_path / "a16.png")))


def test_dicom_reads_on_the_eval_path(tmp_path):
    dcm = _manifest(tmp_path)[1]
    img = np.asarray(dcm.load_image())
    assert img.shape == (32, 48, 3)
    assert img[0, 0, 0] == 0 and img[0, -1, 0] == 255
    np.testing.assert_array_equal(img[..., 0], img[..., 2])
