"""Decode untrusted image bytes into a grayscale array, or say precisely why not.

Posts carry whatever users upload: empty files, cut-off downloads, HTML error pages saved
as ``.jpg``, decompression bombs, 16-bit scans, palette GIFs with transparency. Every one
must end as either a correct (H, W) uint8 image or a status code; nothing raises.
"""

from __future__ import annotations

import dataclasses
import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# 40 megapixels covers every phone camera; beyond it a "photo" is far more likely a
# decompression bomb, and the face detector works on a downscaled copy anyway.
DEFAULT_MAX_PIXELS = 40_000_000

STATUS_OK = "ok"
STATUS_NO_IMAGE = "no_image"
STATUS_EMPTY_FILE = "empty_file"
STATUS_TRUNCATED = "truncated"
STATUS_CORRUPT = "corrupt"
STATUS_NOT_AN_IMAGE = "not_an_image"
STATUS_TOO_LARGE = "too_large"
STATUS_UNSUPPORTED_MODE = "unsupported_mode"

_IMAGE_SIGNATURES = (
    b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
)
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_DIRECT_MODES = {"L", "1", "RGB", "CMYK", "YCbCr", "HSV", "RGBX"}
_WIDE_INTEGER_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}


@dataclasses.dataclass(frozen=True)
class DecodedImage:
    """``gray`` is an (H, W) uint8 array when ``status == "ok"``, else ``None``.

    ``scale`` is decoded pixels per pixel of the file (below 1 when a JPEG was decoded at a
    reduced size); divide coordinates in ``gray`` by it to get the file's pixels.
    """

    gray: np.ndarray | None
    status: str
    scale: float = 1.0


def decode_image(
    data: bytes | None, *, max_pixels: int = DEFAULT_MAX_PIXELS, min_short_side: int | None = None
) -> DecodedImage:
    """Decode one encoded image to grayscale (first frame of animations, EXIF rotation applied).

    Args:
        data: the file's bytes; ``None`` when the post has no image.
        max_pixels: refuse images with more pixels than this (``too_large``) before decoding.
        min_short_side: when set, a JPEG is decoded at the smallest of 1/1, 1/2, 1/4, 1/8 of its
            size whose short side stays at least this (libjpeg's DCT scaling, Pillow's
            ``draft``), luminance only: several times faster than a full decode for photos
            far larger than the faces in them need. Other formats decode at full size.

    Returns:
        A :class:`DecodedImage`; status is one of ``ok``, ``no_image``, ``empty_file``,
        ``truncated``, ``corrupt``, ``not_an_image``, ``too_large``, ``unsupported_mode``.
    """
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be >= 1, got {max_pixels}")
    if min_short_side is not None and min_short_side < 1:
        raise ValueError(f"min_short_side must be >= 1, got {min_short_side}")
    if data is None:
        return DecodedImage(None, STATUS_NO_IMAGE)
    if len(data) == 0:
        return DecodedImage(None, STATUS_EMPTY_FILE)
    try:
        with warnings.catch_warnings():
            # PIL only warns between MAX_IMAGE_PIXELS and twice that; make it an error here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(bytes(data))) as image:
                width, height = image.size
                if width * height > max_pixels or width <= 0 or height <= 0:
                    return DecodedImage(None, STATUS_TOO_LARGE)
                image.seek(0)  # animated GIF/WebP/APNG: the first frame stands for the post
                if min_short_side is not None and image.format == "JPEG":
                    reduction = max(1.0, min(width, height) / min_short_side)
                    image.draft("L", (int(np.ceil(width / reduction)), int(np.ceil(height / reduction))))
                image.load()
                scale = image.size[0] / width
                gray = _to_gray(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return DecodedImage(None, STATUS_TOO_LARGE)
    except UnidentifiedImageError:
        # A known image signature that PIL still cannot identify is a damaged image file,
        # not some other kind of file (an HTML error page, a video).
        known = any(bytes(data[: len(magic)]) == magic for magic in _IMAGE_SIGNATURES)
        return DecodedImage(None, STATUS_CORRUPT if known else STATUS_NOT_AN_IMAGE)
    except _UnsupportedMode:
        return DecodedImage(None, STATUS_UNSUPPORTED_MODE)
    except (OSError, EOFError) as error:
        message = str(error).lower()
        if "truncated" in message or isinstance(error, EOFError) or "unexpected end" in message:
            return DecodedImage(None, STATUS_TRUNCATED)
        return DecodedImage(None, STATUS_CORRUPT)
    except MemoryError:
        return DecodedImage(None, STATUS_TOO_LARGE)
    except Exception:  # noqa: BLE001 — PIL plugins raise SyntaxError, ValueError, struct.error...
        return DecodedImage(None, STATUS_CORRUPT)
    if gray.size == 0:
        return DecodedImage(None, STATUS_CORRUPT)
    return DecodedImage(gray, STATUS_OK, scale)


class _UnsupportedMode(Exception):
    """The pixel format decodes but has no meaningful grayscale rendering here."""


def _to_gray(image: Image.Image) -> np.ndarray:
    """(H, W) uint8 luminance of a loaded PIL image, whatever its mode."""
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 — a broken EXIF block must not lose an otherwise good photo
        pass
    mode = image.mode
    if mode == "P":
        # Palette images with a transparent index behave like alpha images.
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in _ALPHA_MODES:
        # Transparent areas become white, as a viewer on a light page shows them.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("L"), dtype=np.uint8).copy()
    if mode in _WIDE_INTEGER_MODES:
        values = np.asarray(image).astype(np.float64)
        # 16-bit data spans 0..65535; map that range to 0..255 rather than clipping to white.
        scaled = values / 257.0 if values.max(initial=0) > 255 or mode.startswith("I;16") else values
        return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    if mode == "F":
        values = np.asarray(image, dtype=np.float64)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            raise _UnsupportedMode(mode)
        # Float images are either [0, 1] intensities or 0..255 ones.
        scale = 255.0 if finite.max() <= 1.0 else 1.0
        return np.clip(np.nan_to_num(values * scale), 0, 255).astype(np.uint8)
    if mode == "LAB":
        return np.asarray(image.getchannel("L"), dtype=np.uint8).copy()
    if mode in _DIRECT_MODES:
        # PIL has no direct CMYK/HSV -> L conversion; going through RGB is what a viewer shows.
        if mode not in {"L", "1", "RGB"}:
            image = image.convert("RGB")
        return np.asarray(image.convert("L"), dtype=np.uint8).copy()
    raise _UnsupportedMode(mode)
