"""Decoding untrusted bytes: every bad file gives a status code, every odd mode a correct image."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from models.image.decode import decode_image


def encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


@pytest.fixture()
def colour_image() -> Image.Image:
    pixels = np.random.default_rng(0).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` with a one-row payload (a bomb's shape)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def test_none_is_no_image_and_zero_bytes_is_empty_file() -> None:
    assert decode_image(None).status == "no_image"
    assert decode_image(b"").status == "empty_file"
    assert decode_image(None).gray is None


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "BMP", "WEBP", "TIFF"])
def test_good_files_decode_to_luminance(colour_image: Image.Image, image_format: str) -> None:
    decoded = decode_image(encode(colour_image, image_format))
    assert decoded.status == "ok"
    assert decoded.gray.shape == (64, 80) and decoded.gray.dtype == np.uint8
    expected = np.asarray(colour_image.convert("L"), dtype=np.float64)
    tolerance = 20 if image_format in {"JPEG", "WEBP"} else 1  # lossy formats move pixels a little
    assert np.abs(decoded.gray.astype(np.float64) - expected).mean() < tolerance


@pytest.mark.parametrize("image_format", ["PNG", "JPEG"])
def test_truncated_files_are_reported(colour_image: Image.Image, image_format: str) -> None:
    data = encode(colour_image, image_format)
    assert decode_image(data[: len(data) // 2]).status == "truncated"


def test_corrupt_payload_is_reported(colour_image: Image.Image) -> None:
    data = bytearray(encode(colour_image, "PNG"))
    data[60:80] = bytes(20)  # breaks the IDAT checksum and stream
    assert decode_image(bytes(data)).status == "corrupt"
    jpeg = encode(colour_image, "JPEG")
    assert decode_image(jpeg[:200] + bytes(len(jpeg) - 200)).status in {"corrupt", "truncated"}
    assert decode_image(b"\x89PNG\r\n\x1a\n" + b"garbage" * 3).status in {"corrupt", "truncated"}


@pytest.mark.parametrize(
    "data", [b"<html><body>404 not found</body></html>", b"GIF", b"%PDF-1.7\n" + bytes(100), bytes(range(256)) * 4]
)
def test_other_files_are_not_images(data: bytes) -> None:
    assert decode_image(data).status == "not_an_image"


def test_pixel_cap_refuses_large_images_before_decoding() -> None:
    big = encode(Image.new("L", (3000, 2000)), "PNG")
    assert decode_image(big, max_pixels=5_000_000).status == "too_large"
    assert decode_image(big, max_pixels=7_000_000).status == "ok"


def test_decompression_bomb_header_is_too_large_even_without_our_cap() -> None:
    bomb = png_header_only(100_000, 100_000)  # 10^10 pixels claimed in ~100 bytes
    assert decode_image(bomb).status == "too_large"
    # Past our cap, PIL's own bomb check must still be turned into a status, not an exception.
    assert decode_image(bomb, max_pixels=10**12).status == "too_large"


def test_cmyk_decodes_like_its_rgb(colour_image: Image.Image) -> None:
    decoded = decode_image(encode(colour_image.convert("CMYK"), "TIFF"))
    assert decoded.status == "ok"
    expected = np.asarray(colour_image.convert("CMYK").convert("RGB").convert("L"), dtype=np.int16)
    assert np.abs(decoded.gray.astype(np.int16) - expected).max() <= 1


def test_sixteen_bit_grayscale_is_scaled_not_clipped() -> None:
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    decoded = decode_image(encode(Image.fromarray(ramp), "PNG"))
    assert decoded.status == "ok"
    assert decoded.gray.min() == 0 and decoded.gray.max() == 255
    assert abs(int(decoded.gray[32, 0]) - round(ramp[32, 0] / 257)) <= 1


def test_palette_image_decodes(colour_image: Image.Image) -> None:
    palette = colour_image.convert("P")
    decoded = decode_image(encode(palette, "PNG"))
    assert decoded.status == "ok"
    assert np.array_equal(decoded.gray, np.asarray(palette.convert("RGB").convert("L")))


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_transparent_areas_become_white(mode: str) -> None:
    image = Image.new(mode, (20, 10), (0, 0) if mode == "LA" else (0, 0, 0, 0))
    opaque = Image.new(mode, (10, 10), (0, 255) if mode == "LA" else (0, 0, 0, 255))
    image.paste(opaque, (0, 0))
    decoded = decode_image(encode(image, "PNG"))
    assert decoded.status == "ok"
    assert decoded.gray[:, :10].max() == 0  # opaque black stays black
    assert decoded.gray[:, 10:].min() == 255  # fully transparent shows the white page


def test_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("L", (30, 20), value) for value in (10, 200, 90)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    decoded = decode_image(buffer.getvalue())
    assert decoded.status == "ok"
    assert decoded.gray.shape == (20, 30)
    assert abs(int(decoded.gray.mean()) - 10) <= 2


def test_exif_rotation_is_applied() -> None:
    image = Image.new("L", (40, 20), 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    decoded = decode_image(encode(image, "JPEG", exif=exif.tobytes()))
    assert decoded.status == "ok"
    assert decoded.gray.shape == (40, 20)


def test_reduced_size_jpeg_decoding_keeps_the_short_side_and_reports_the_scale() -> None:
    generator = np.random.default_rng(0)
    pixels = np.repeat(np.repeat(generator.integers(0, 256, (60, 80), dtype=np.uint8), 16, 0), 16, 1)  # 960x1280
    data = encode(Image.fromarray(pixels), "JPEG", quality=95)
    decoded = decode_image(data, min_short_side=300)
    assert decoded.status == "ok" and decoded.gray.shape == (480, 640) and decoded.scale == 0.5
    full = decode_image(data)
    assert full.gray.shape == (960, 1280) and full.scale == 1.0
    # the half-size decode is the same picture: block means agree closely
    assert np.abs(decoded.gray.astype(float)[::8, ::8] - full.gray.astype(float)[::16, ::16]).mean() < 6
    png = encode(Image.fromarray(pixels), "PNG")
    assert decode_image(png, min_short_side=300).gray.shape == (960, 1280)  # only JPEG has DCT scaling
    with pytest.raises(ValueError, match="min_short_side"):
        decode_image(data, min_short_side=0)
