"""Reading uploads: every image mode a user may send, corrupt files, bombs and DICOM without leaking tags."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cxrvlp.data.images import MAX_SIDE, ImageReadError, read_image


def _png(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def test_16bit_png_keeps_contrast():
    arr = np.linspace(1000, 5000, 64 * 64, dtype=np.uint16).reshape(64, 64)
    img = read_image(_png(Image.fromarray(arr)))
    out = np.asarray(img)
    assert img.mode == "L" and out.min() == 0 and out.max() == 255


@pytest.mark.parametrize("mode", ["RGBA", "P", "RGB", "LA", "1", "CMYK"])
def test_modes_become_grayscale(mode):
    src = Image.new("RGB", (40, 30), (120, 60, 200)).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    img = read_image(_png(src, fmt))
    assert img.mode == "L" and img.size == (40, 30)


def test_transparent_pixels_become_black():
    src = Image.new("RGBA", (4, 4), (255, 255, 255, 0))
    assert np.asarray(read_image(_png(src))).max() == 0


@pytest.mark.parametrize("data", [b"", b"this is a text file renamed .png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50])
def test_corrupt_inputs_raise_user_errors(data):
    with pytest.raises(ImageReadError):
        read_image(data)


def test_decompression_bomb_refused():
    # a 9000 x 9000 1-bit PNG is tiny on disk but 81 M pixels once decoded
    data = _png(Image.new("1", (9000, 9000)))
    assert len(data) < 200_000
    with pytest.raises(ImageReadError, match="too large"):
        read_image(data)


def test_large_images_are_downscaled():
    img = read_image(_png(Image.new("L", (MAX_SIDE * 2, 100))))
    assert max(img.size) == MAX_SIDE


def test_paths_and_pil_inputs(tmp_path):
    p = tmp_path / "x.png"
    Image.new("L", (10, 12), 7).save(p)
    assert read_image(p).size == (10, 12)
    assert read_image(Image.open(p)).size == (10, 12)
    with pytest.raises(ImageReadError, match="cannot read"):
        read_image(tmp_path / "missing.png")


def _dicom_bytes(arr: np.ndarray, photometric: str = "MONOCHROME2") -> bytes:
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\x00" * 128)
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "SECRET-123"
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = arr.astype(np.uint16).tobytes()
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def test_dicom_pixels_read_and_monochrome1_inverted():
    arr = np.tile(np.arange(0, 4000, 4000 / 32, dtype=np.float64), (16, 1))
    img2 = np.asarray(read_image(_dicom_bytes(arr)))
    img1 = np.asarray(read_image(_dicom_bytes(arr, "MONOCHROME1")))
    assert img2.shape == (16, 32) and img2[0, 0] == 0 and img2[0, -1] == 255
    assert img1[0, 0] == 255 and img1[0, -1] == 0


def test_dicom_tags_never_in_errors_or_output():
    data = _dicom_bytes(np.zeros((8, 8)))
    img = read_image(data)
    assert "Doe" not in repr(img.info) and "SECRET" not in repr(img.info)
    broken = data[: len(data) - 40]  # truncated pixel data
    with pytest.raises(ImageReadError) as e:
        read_image(broken)
    assert "Doe" not in str(e.value) and "SECRET" not in str(e.value)
