"""The eval path reads images with the one reader (``data/images.read_image``): 16-bit PNG and DICOM included."""

from __future__ import annotations

import csv
import io

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from cxrvlp.data.images import read_image
from cxrvlp.eval.dataset import read_manifest


def _ramp16() -> np.ndarray:
    """A 16-bit ramp in the range a real CXR PNG uses (values far above 255, below 65535)."""
    return np.tile(np.linspace(1000, 4000, 48, dtype=np.uint16), (32, 1))


def _dicom(arr: np.ndarray) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\x00" * 128)
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = arr.astype(np.uint16).tobytes()
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def _manifest(tmp_path) -> list:
    Image.fromarray(_ramp16()).save(tmp_path / "a16.png")
    assert Image.open(tmp_path / "a16.png").mode.startswith("I")  # really a 16-bit fixture
    (tmp_path / "b.dcm").write_bytes(_dicom(_ramp16()))
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
