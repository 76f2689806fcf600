"""Reading chest X-rays safely from bytes or paths: PNG/JPEG (8/16-bit, RGBA, palette, CMYK) and DICOM.

Everything becomes an 8-bit grayscale ``PIL.Image`` (mode ``"L"``): the models see three identical channels.
Uploaded bytes are read in memory and never written to disk. DICOM files are read for their pixels only;
no tag (patient name, IDs, dates) is returned, displayed or logged.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from cxrvlp.types import UserError

MAX_PIXELS = 64_000_000  # refuse anything larger: a decompression bomb, or not a chest X-ray
MAX_SIDE = 2048  # downscale larger images right away (models use 224-512 px)
DICOM_MAGIC_OFFSET = 128


class ImageReadError(UserError):
    """The input is not an image we can read; the message is safe to show to a user."""


def _is_dicom(data: bytes) -> bool:
    return len(data) >= DICOM_MAGIC_OFFSET + 4 and data[DICOM_MAGIC_OFFSET : DICOM_MAGIC_OFFSET + 4] == b"DICM"


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    """Min-max scale any numeric 2-D array to uint8 (16-bit and float images keep their full contrast)."""
    arr = np.asarray(arr, dtype=np.float64)
    finite = np.isfinite(arr)
    if not finite.any():
        return np.zeros(arr.shape, dtype=np.uint8)
    lo, hi = float(arr[finite].min()), float(arr[finite].max())
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.uint8)
    out = (np.where(finite, arr, lo) - lo) / (hi - lo) * 255.0
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _read_dicom(data: bytes) -> Image.Image:
    try:
        import pydicom
    except ImportError as e:  # pragma: no cover - pydicom is a dependency
        raise ImageReadError("reading DICOM needs pydicom: pip install pydicom") from e
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
        arr = ds.pixel_array
    except Exception as e:
        raise ImageReadError(
            "this DICOM file's pixels could not be decoded (compressed transfer syntaxes need pylibjpeg or gdcm)"
        ) from e
    if arr.ndim == 3 and arr.shape[-1] not in (3, 4):  # multi-frame: first frame
        arr = arr[0]
    if arr.ndim == 3:
        arr = arr[..., :3].mean(-1)
    arr = arr.astype(np.float64) * float(getattr(ds, "RescaleSlope", 1) or 1) + float(
        getattr(ds, "RescaleIntercept", 0) or 0
    )
    img = _to_uint8(arr)
    if str(getattr(ds, "PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        img = 255 - img
    return Image.fromarray(img, mode="L")


def _pil_to_gray(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return Image.fromarray(_to_uint8(np.asarray(img)), mode="L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))  # X-rays are dark where transparent
        return Image.alpha_composite(background, rgba).convert("L")
    return img.convert("L")


def read_image(source: bytes | str | Path | Image.Image, *, max_side: int = MAX_SIDE) -> Image.Image:
    """Read ``source`` (raw bytes, a path, or a PIL image) into an 8-bit grayscale image.

    Images with a side over ``max_side`` are downscaled (aspect kept). Raises :class:`ImageReadError` with a
    user-facing message for corrupt or non-image data and for decompression bombs.
    """
    if isinstance(source, Image.Image):
        img = _pil_to_gray(source)
    else:
        if isinstance(source, str | Path):
            try:
                data = Path(source).read_bytes()
            except OSError as e:
                raise ImageReadError(f"cannot read {source}: {e.strerror}") from e
        else:
            data = bytes(source)
        if not data:
            raise ImageReadError("the file is empty")
        if _is_dicom(data):
            img = _read_dicom(data)
        else:
            old = Image.MAX_IMAGE_PIXELS
            try:
                Image.MAX_IMAGE_PIXELS = MAX_PIXELS
                with warnings.catch_warnings():
                    warnings.simplefilter("error", Image.DecompressionBombWarning)
                    raw = Image.open(io.BytesIO(data))
                    raw.draft("L", (max_side, max_side))  # JPEG: decode at reduced size when possible
                    raw.load()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
                raise ImageReadError(f"the image is too large (over {MAX_PIXELS:,} pixels)") from e
            except Exception as e:
                raise ImageReadError("the file is not a readable image (PNG, JPEG or DICOM expected)") from e
            finally:
                Image.MAX_IMAGE_PIXELS = old
            img = _pil_to_gray(raw)
    if max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return img
