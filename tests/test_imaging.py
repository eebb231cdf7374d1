"""engine.imaging against a corpus of real, odd and hostile images generated here with Pillow (no mocks)."""

from __future__ import annotations

import functools
import io
import os
import random
import struct
import warnings
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps, JpegImagePlugin

from engine.errors import InvalidImageError
from engine.imaging import (
    MAX_ASPECT,
    MAX_PIXELS,
    MAX_SIDE,
    ImageInput,
    encode_image,
    fit_longest_side,
    load_image,
    output_format_for_path,
)

RED = (220, 20, 30)
GREEN = (20, 200, 40)
BLUE = (30, 40, 210)
WHITE = (255, 255, 255)

Factory = Callable[[Path], ImageInput]


# ---------------------------------------------------------------- builders


def save(image: Image.Image, fmt: str, **options: object) -> bytes:
    """The image encoded by Pillow in the given format."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk with its length and CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.cache
def handmade_png(width: int, height: int, depth: int = 1, colour_type: int = 0, row: bytes | None = None) -> bytes:
    """A valid PNG built without Pillow: every row the same (zeros by default), compressed in a stream.

    Huge declared sizes cost almost nothing: no pixel buffer is ever allocated.
    """
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    line = b"\x00" + (row if row is not None else bytes((width * channels * depth + 7) // 8))
    compressor = zlib.compressobj(9)
    rows_per_block = max(1, (1 << 22) // len(line))
    block = line * min(rows_per_block, height)
    parts, left = [], height
    while left:
        take = min(left, rows_per_block)
        parts.append(compressor.compress(block if take == rows_per_block else line * take))
        left -= take
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", b"".join(parts))
        + png_chunk(b"IEND", b"")
    )


def sample(size: tuple[int, int] = (40, 30)) -> Image.Image:
    """An RGB picture with a red top-left quadrant, a blue bottom-right one and green elsewhere."""
    image = Image.new("RGB", size, GREEN)
    width, height = size
    image.paste(RED, (0, 0, width // 2, height // 2))
    image.paste(BLUE, (width // 2, height // 2, width, height))
    return image


def noise(size: tuple[int, int] = (64, 48)) -> Image.Image:
    """A noisy RGB picture, so compressed formats have real data to cut."""
    return Image.merge("RGB", [Image.effect_noise(size, 60 + 10 * i) for i in range(3)])


def frames(fmt: str, **options: object) -> bytes:
    """A three-frame animation: red, then green, then blue."""
    first, *rest = (Image.new("RGB", (24, 16), colour) for colour in (RED, GREEN, BLUE))
    return save(first, fmt, save_all=True, append_images=rest, duration=100, loop=0, **options)


def in_file(name: str, data: bytes) -> Factory:
    """A factory writing the bytes to a file in tmp_path and returning its path."""

    def make(tmp_path: Path) -> ImageInput:
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)

    return make


def const(value: ImageInput | Callable[[], ImageInput]) -> Factory:
    """A factory that ignores tmp_path (the value is built lazily when callable)."""
    return lambda _tmp: value() if callable(value) else value


def rgba_with_holes() -> Image.Image:
    """RGBA: (0,0) fully transparent red, (1,0) opaque red, (2,0) half-transparent black."""
    image = Image.new("RGBA", (3, 1))
    image.putdata([(*RED, 0), (*RED, 255), (0, 0, 0, 128)])
    return image


def deep_gray(values: list[int], mode: str = "I;16") -> Image.Image:
    """A one-row grayscale image of a deep mode with the given values."""
    dtype = {"I;16": "<u2", "I;16B": ">u2", "I": "<i4"}[mode]
    return Image.frombytes(mode, (len(values), 1), np.array(values, dtype=dtype).tobytes())


def float_gray(values: list[float]) -> Image.Image:
    """A one-row mode F image."""
    return Image.fromarray(np.array([values], dtype=np.float32))


def palette_with_transparency() -> bytes:
    """A P-mode PNG: index 0 (transparent) on the left, index 1 (red) on the right."""
    image = Image.new("P", (4, 2), 0)
    image.putpalette([0, 0, 0, *RED] + [0] * (256 - 2) * 3)
    image.paste(1, (2, 0, 4, 2))
    return save(image, "PNG", transparency=0)


def multi_page_tiff() -> bytes:
    """A TIFF with three pages, red first."""
    return frames("TIFF")


def at_last_frame() -> Image.Image:
    """An animated GIF opened and left positioned on its last frame."""
    image = Image.open(io.BytesIO(frames("GIF")))
    image.seek(2)
    return image


def jpeg_with_orientation(orientation: int) -> bytes:
    """A 40×20 JPEG with a red top-left block and the given EXIF Orientation."""
    image = Image.new("RGB", (40, 20), WHITE)
    image.paste(RED, (0, 0, 8, 6))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return save(image, "JPEG", quality=95, exif=exif.tobytes())


# ---------------------------------------------------------------- corpus

# Accepted: id -> (factory, size, [(xy, rgb)], tolerance).
GOOD: dict[str, tuple[Factory, tuple[int, int], list[tuple[tuple[int, int], tuple[int, int, int]]], int]] = {
    "L-png": (const(save(Image.new("L", (5, 4), 77), "PNG")), (5, 4), [((0, 0), (77, 77, 77))], 0),
    "LA-png-transparent": (
        const(save(Image.new("LA", (5, 4), (10, 0)), "PNG")),
        (5, 4),
        [((1, 1), WHITE)],
        0,
    ),
    "LA-png-opaque": (
        const(save(Image.new("LA", (5, 4), (10, 255)), "PNG")),
        (5, 4),
        [((1, 1), (10,) * 3)],
        0,
    ),
    "P-png": (const(save(sample().quantize(8), "PNG")), (40, 30), [((2, 2), RED), ((38, 28), BLUE)], 8),
    "P-png-transparency": (const(palette_with_transparency()), (4, 2), [((0, 0), WHITE), ((3, 1), RED)], 0),
    "1-png": (
        const(save(Image.new("1", (8, 8), 1), "PNG")),
        (8, 8),
        [((0, 0), WHITE)],
        0,
    ),
    "CMYK-jpeg": (
        const(save(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG")),
        (16, 16),
        [((8, 8), (255, 0, 0))],
        6,
    ),
    "CMYK-tiff": (
        const(save(Image.new("CMYK", (6, 6), (255, 0, 255, 0)), "TIFF")),
        (6, 6),
        [((3, 3), (0, 255, 0))],
        0,
    ),
    "I16-png": (
        const(save(deep_gray([0, 32768, 65535]), "PNG")),
        (3, 1),
        [((0, 0), (0, 0, 0)), ((1, 0), (128, 128, 128)), ((2, 0), WHITE)],
        0,
    ),
    "I16-tiff": (const(save(deep_gray([0, 32768, 65535]), "TIFF")), (3, 1), [((1, 0), (128,) * 3)], 0),
    "I16B-tiff": (
        const(save(deep_gray([0, 32768, 65535], "I;16B"), "TIFF")),
        (3, 1),
        [((1, 0), (128,) * 3)],
        0,
    ),
    "I16B-pil": (
        const(deep_gray([0, 32768, 65535], "I;16B")),
        (3, 1),
        [((1, 0), (128,) * 3), ((2, 0), WHITE)],
        0,
    ),
    "I32-tiff-16bit-range": (
        const(save(deep_gray([0, 32768, 65535], "I"), "TIFF")),
        (3, 1),
        [((1, 0), (128,) * 3), ((2, 0), WHITE)],
        0,
    ),
    "I32-tiff-8bit-range": (
        const(save(deep_gray([0, 100, 255], "I"), "TIFF")),
        (3, 1),
        [((1, 0), (100,) * 3)],
        0,
    ),
    "I32-tiff-wide-range": (
        const(save(deep_gray([-1000, 0, 2_000_000], "I"), "TIFF")),
        (3, 1),
        [((0, 0), (0, 0, 0)), ((2, 0), WHITE)],
        0,
    ),
    "F-tiff-unit-range": (
        const(save(float_gray([0.0, 0.5, 1.0]), "TIFF")),
        (3, 1),
        [((0, 0), (0, 0, 0)), ((1, 0), (128,) * 3), ((2, 0), WHITE)],
        0,
    ),
    "F-tiff-nan-and-wide": (
        const(save(float_gray([float("nan"), -3.5, 1e6]), "TIFF")),
        (3, 1),
        [((1, 0), (0, 0, 0)), ((2, 0), WHITE)],
        0,
    ),
    "RGBA-png": (
        const(save(rgba_with_holes(), "PNG")),
        (3, 1),
        [((0, 0), WHITE), ((1, 0), RED), ((2, 0), (127, 127, 127))],
        1,
    ),
    "RGBa-pil": (
        const(lambda: rgba_with_holes().convert("RGBa")),
        (3, 1),
        [((0, 0), WHITE), ((1, 0), RED), ((2, 0), (127, 127, 127))],
        1,
    ),
    "La-pil": (const(lambda: Image.new("LA", (2, 2), (40, 0)).convert("La")), (2, 2), [((0, 0), WHITE)], 0),
    "PA-pil": (const(lambda: Image.new("PA", (2, 2), (0, 0))), (2, 2), [((0, 0), WHITE)], 0),
    "YCbCr-pil": (const(lambda: Image.new("RGB", (4, 4), RED).convert("YCbCr")), (4, 4), [((0, 0), RED)], 3),
    "HSV-pil": (const(lambda: Image.new("RGB", (4, 4), BLUE).convert("HSV")), (4, 4), [((0, 0), BLUE)], 3),
    "L-png-tRNS": (
        const(save(Image.new("L", (3, 3), 50), "PNG", transparency=50)),
        (3, 3),
        [((0, 0), WHITE)],
        0,
    ),
    "RGB-png-tRNS": (
        const(save(Image.new("RGB", (3, 3), RED), "PNG", transparency=RED)),
        (3, 3),
        [((0, 0), WHITE)],
        0,
    ),
    "RGB16-png": (
        const(handmade_png(4, 2, 16, 2, bytes([0x80, 0x00, 0xFF, 0xFF, 0x00, 0x00] * 4))),
        (4, 2),
        [((0, 0), (128, 255, 0))],
        1,
    ),
    "RGBA16-png": (
        const(handmade_png(4, 2, 16, 6, bytes([0x80, 0, 0xFF, 0xFF, 0, 0, 0, 0] * 4))),
        (4, 2),
        [((0, 0), WHITE)],
        0,
    ),
    "LA16-png": (
        const(handmade_png(4, 2, 16, 4, bytes([0x80, 0, 0xFF, 0xFF] * 4))),
        (4, 2),
        [((0, 0), (128,) * 3)],
        1,
    ),
    "gif-animated": (const(frames("GIF")), (24, 16), [((5, 5), RED)], 0),
    "gif-at-last-frame-pil": (const(at_last_frame), (24, 16), [((5, 5), RED)], 0),
    "webp-animated": (const(frames("WEBP", lossless=True)), (24, 16), [((5, 5), RED)], 0),
    "apng-animated": (const(frames("PNG")), (24, 16), [((5, 5), RED)], 0),
    "tiff-multipage": (const(multi_page_tiff()), (24, 16), [((5, 5), RED)], 0),
    "mpo": (const(frames("MPO", quality=95)), (24, 16), [((5, 5), RED)], 8),
    "webp-alpha": (
        const(save(Image.new("RGBA", (8, 8), (*BLUE, 0)), "WEBP", lossless=True)),
        (8, 8),
        [((4, 4), WHITE)],
        0,
    ),
    "jpeg-garbage-exif": (
        const(save(Image.new("RGB", (8, 8), RED), "JPEG", exif=b"Exif\x00\x00not-a-tiff-header")),
        (8, 8),
        [((4, 4), RED)],
        8,
    ),
    "jpeg-orientation-1": (const(jpeg_with_orientation(1)), (40, 20), [((2, 2), RED)], 12),
    "aspect-exactly-20": (const(lambda: handmade_png(2000, 100)), (2000, 100), [((0, 0), (0, 0, 0))], 0),
    "aspect-exactly-20-tall": (const(lambda: handmade_png(100, 2000)), (100, 2000), [((0, 0), (0, 0, 0))], 0),
    "side-exactly-20000": (
        const(lambda: handmade_png(MAX_SIDE, 1000)),
        (MAX_SIDE, 1000),
        [((5, 5), (0, 0, 0))],
        0,
    ),
}

# Refused: id -> (factory, text the message must contain).
BAD: dict[str, tuple[Factory, str]] = {
    "bomb-30000x30000": (const(lambda: handmade_png(30_000, 30_000)), "megapixels"),
    "bomb-warning-10000x10000": (const(lambda: handmade_png(10_000, 10_000)), "megapixels"),
    "over-50MP-8000x7000": (const(lambda: handmade_png(8000, 7000)), "8000×7000 px"),
    "side-20001x100": (const(lambda: handmade_png(20_001, 100)), "at most 20000 px"),
    "side-20001x2000": (
        const(lambda: handmade_png(20_001, 2000)),
        "20001×2000 px; the longest side may be at most 20000",
    ),
    "side-100x20001": (const(lambda: handmade_png(100, 20_001)), "at most 20000 px"),
    "aspect-21-wide": (const(lambda: handmade_png(2100, 100)), "2100×100 px"),
    "aspect-21-tall": (const(lambda: handmade_png(100, 2100)), "at most 20:1"),
    "zero-width-png": (const(lambda: handmade_png(0, 10)), "damaged"),
    "truncated-jpeg": (const(lambda: (data := save(noise(), "JPEG"))[: len(data) // 2]), "damaged"),
    "truncated-png": (const(lambda: (data := save(noise(), "PNG"))[: len(data) // 2]), "damaged"),
    "truncated-gif": (const(lambda: (data := save(noise(), "GIF"))[: len(data) // 2]), "damaged"),
    "truncated-webp": (const(lambda: (data := save(noise(), "WEBP"))[: len(data) // 2]), "damaged"),
    "truncated-bmp": (const(lambda: (data := save(noise(), "BMP"))[: len(data) // 2]), "damaged"),
    "truncated-tiff-deflate": (
        const(lambda: (data := save(noise(), "TIFF", compression="tiff_deflate"))[: len(data) // 2]),
        "damaged",
    ),
    "jpeg-header-only": (const(lambda: save(noise(), "JPEG")[:200]), "damaged"),
    "png-signature-only": (const(b"\x89PNG\r\n\x1a\n"), "damaged"),
    "png-bad-crc": (
        const(lambda: handmade_png(4, 4)[:29] + b"\x00\x00\x00\x00" + handmade_png(4, 4)[33:]),
        "damaged",
    ),
    "random-bytes": (const(random.Random(7).randbytes(4096)), "not a supported picture"),
    "empty-bytes": (const(b""), "empty"),
    "empty-file": (in_file("empty.jpg", b""), "empty"),
    "pdf": (
        const(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"),
        "JPEG, PNG, WebP, BMP, GIF or TIFF",
    ),
    "text-file": (in_file("notes.txt", b"just some words, not a picture\n"), "not a supported picture"),
    "html-named-jpg": (in_file("page.jpg", b"<!doctype html><title>x</title>"), "not a supported picture"),
    "wav-riff": (const(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(32)), "not a supported picture"),
    "missing-path": (lambda tmp: tmp / "no-such-picture.png", "There is no file"),
    "directory-path": (lambda tmp: tmp, "not a file"),
    "ico": (const(save(sample((32, 32)), "ICO")), "JPEG, PNG, WebP, BMP, GIF or TIFF"),
    "ppm": (const(save(sample(), "PPM")), "JPEG, PNG, WebP, BMP, GIF or TIFF"),
    "tga": (const(save(sample(), "TGA")), "not a supported picture"),
    "ico-as-pil-image": (
        const(lambda: Image.open(io.BytesIO(save(sample((16, 16)), "ICO")))),
        "not a supported",
    ),
}


def check_user_facing(message: str) -> None:
    """The refusal reads as a sentence for a person, not a Python or Pillow diagnostic."""
    for jargon in ("Traceback", "PIL", "Pillow", "Errno", "Error", "Exception", "struct", "0x"):
        assert jargon not in message, f"{jargon!r} in {message!r}"
    assert message[:1].isupper()
    assert message.endswith(".")


# ---------------------------------------------------------------- load_image: formats and inputs


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        pytest.param("JPEG", {"quality": 95}, id="jpeg"),
        pytest.param("PNG", {}, id="png"),
        pytest.param("WEBP", {"lossless": True}, id="webp"),
        pytest.param("WEBP", {"quality": 90}, id="webp-lossy"),
        pytest.param("BMP", {}, id="bmp"),
        pytest.param("GIF", {}, id="gif"),
        pytest.param("TIFF", {}, id="tiff"),
        pytest.param("TIFF", {"compression": "tiff_lzw"}, id="tiff-lzw"),
    ],
)
def test_every_accepted_format_loads_as_rgb(fmt: str, options: dict[str, object]) -> None:
    loaded = load_image(save(sample(), fmt, **options))
    assert loaded.mode == "RGB"
    assert loaded.size == (40, 30)
    for xy, colour in (((3, 3), RED), ((36, 26), BLUE), ((36, 3), GREEN)):
        got = loaded.getpixel(xy)
        assert isinstance(got, tuple)
        assert max(abs(a - b) for a, b in zip(got, colour, strict=True)) <= 12, (xy, got)


@pytest.mark.parametrize(
    "kind",
    ["bytes", "bytearray", "memoryview", "str-path", "pathlib-path", "pil-image", "pil-image-lazy"],
)
def test_every_input_kind(kind: str, tmp_path: Path) -> None:
    data = save(sample(), "PNG")
    path = tmp_path / "sample.png"
    path.write_bytes(data)
    makers: dict[str, Callable[[], ImageInput]] = {
        "bytes": lambda: data,
        "bytearray": lambda: bytearray(data),
        "memoryview": lambda: memoryview(data),
        "str-path": lambda: str(path),
        "pathlib-path": lambda: path,
        "pil-image": sample,
        "pil-image-lazy": lambda: Image.open(io.BytesIO(data)),
    }
    loaded = load_image(makers[kind]())
    assert loaded.mode == "RGB"
    assert loaded.size == (40, 30)
    assert np.array_equal(np.asarray(loaded), np.asarray(sample()))


def test_exif_orientation_6_rotates_the_pixels() -> None:
    loaded = load_image(jpeg_with_orientation(6))
    assert loaded.size == (20, 40)
    # Orientation 6 means "rotate 90° clockwise to display": the red top-left block moves to the top right.
    top_right, top_left = loaded.getpixel((17, 2)), loaded.getpixel((2, 2))
    assert isinstance(top_right, tuple)
    assert isinstance(top_left, tuple)
    assert top_right[0] > 180 and top_right[1] < 80, top_right
    assert min(top_left) > 230, top_left


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        pytest.param("PNG", {}, id="png"),
        pytest.param("WEBP", {"lossless": True}, id="webp"),
        pytest.param("TIFF", {}, id="tiff"),  # Pillow's TIFF plugin rotates by itself; it must not happen twice
        pytest.param("TIFF", {"compression": "tiff_deflate"}, id="tiff-libtiff"),
    ],
)
def test_exif_orientation_6_in_other_formats(fmt: str, options: dict[str, object]) -> None:
    image = Image.new("RGB", (40, 20), WHITE)
    image.paste(RED, (0, 0, 8, 6))
    exif = Image.Exif()
    exif[0x0112] = 6
    loaded = load_image(save(image, fmt, exif=exif, **options))
    assert loaded.size == (20, 40)
    assert loaded.getpixel((17, 2)) == RED
    assert loaded.getpixel((2, 2)) == WHITE


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillows_exif_transpose(orientation: int) -> None:
    image = sample((40, 20))
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = save(image, "PNG", exif=exif)
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    loaded = load_image(data)
    assert loaded.size == ((40, 20) if orientation < 5 else (20, 40))
    assert np.array_equal(np.asarray(loaded), np.asarray(expected.convert("RGB")))


def test_size_limits_apply_to_the_stored_size_before_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    with pytest.raises(InvalidImageError, match="2100×100 px"):
        load_image(save(Image.new("1", (2100, 100)), "PNG", exif=exif))


@pytest.mark.parametrize("case", list(GOOD), ids=list(GOOD))
def test_odd_images_load_as_rgb(case: str, tmp_path: Path) -> None:
    factory, size, pixels, tolerance = GOOD[case]
    loaded = load_image(factory(tmp_path))
    assert loaded.mode == "RGB"
    assert loaded.size == size
    for xy, colour in pixels:
        got = loaded.getpixel(xy)
        assert isinstance(got, tuple)
        assert max(abs(a - b) for a, b in zip(got, colour, strict=True)) <= tolerance, (xy, got, colour)


def test_sixteen_bit_gray_is_scaled_not_clipped() -> None:
    ramp = np.arange(0, 65536, 257, dtype="<u2").reshape(16, 16)  # exactly 0, 1, ..., 255 once scaled
    loaded = load_image(save(Image.frombytes("I;16", (16, 16), ramp.tobytes()), "PNG"))
    assert np.array_equal(np.asarray(loaded)[..., 0], np.arange(256).reshape(16, 16))
    assert np.array_equal(np.asarray(loaded)[..., 0], np.asarray(loaded)[..., 2])


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_images_are_refused_with_a_user_facing_message(case: str, tmp_path: Path) -> None:
    factory, expected = BAD[case]
    with pytest.raises(InvalidImageError) as caught:
        load_image(factory(tmp_path))
    message = str(caught.value)
    assert expected in message, message
    check_user_facing(message)


def test_limits_are_the_documented_ones() -> None:
    assert (MAX_PIXELS, MAX_SIDE, MAX_ASPECT) == (50_000_000, 20_000, 20.0)


def test_wrong_python_type_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        load_image(12345)  # type: ignore[arg-type]


# ---------------------------------------------------------------- load_image: properties


@pytest.mark.parametrize("case", [*GOOD, *BAD], ids=[*GOOD, *BAD])
def test_corpus_yields_rgb_or_invalid_image_error_only(case: str, tmp_path: Path) -> None:
    factory = GOOD[case][0] if case in GOOD else BAD[case][0]
    try:
        loaded = load_image(factory(tmp_path))
    except InvalidImageError as exc:
        check_user_facing(str(exc))
    else:
        assert loaded.mode == "RGB"
        assert min(loaded.size) >= 1


FUZZ_SEEDS = {
    "jpeg": save(noise(), "JPEG"),
    "png": save(noise(), "PNG"),
    "webp": save(noise(), "WEBP"),
    "bmp": save(noise(), "BMP"),
    "gif": frames("GIF"),
    "tiff": save(noise(), "TIFF", compression="tiff_lzw"),
}


@pytest.mark.parametrize("fmt", list(FUZZ_SEEDS))
def test_mutated_files_yield_rgb_or_invalid_image_error_only(fmt: str) -> None:
    rng = random.Random(f"stylebot-{fmt}")
    original = FUZZ_SEEDS[fmt]
    for _ in range(60):
        data = bytearray(original)
        if rng.random() < 0.3:
            del data[rng.randrange(1, len(data)) :]
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            loaded = load_image(bytes(data))
        except InvalidImageError as exc:
            check_user_facing(str(exc))
        else:
            assert loaded.mode == "RGB"


def test_global_pillow_and_warning_state_is_left_alone(tmp_path: Path) -> None:
    pixels, truncated = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    filters = list(warnings.filters)
    for factory, _ in BAD.values():
        with pytest.raises(InvalidImageError):
            load_image(factory(tmp_path))
    load_image(frames("GIF"))
    assert pixels == Image.MAX_IMAGE_PIXELS
    assert ImageFile.LOAD_TRUNCATED_IMAGES is truncated is False
    assert warnings.filters == filters


def test_result_is_a_new_detached_image(tmp_path: Path) -> None:
    original = rgba_with_holes()
    loaded = load_image(original)
    assert loaded is not original
    assert original.mode == "RGBA"
    assert type(loaded) is Image.Image  # a plain in-memory image, not an ImageFile bound to a stream
    assert loaded.info == {}
    path = tmp_path / "sample.jpg"
    path.write_bytes(save(sample(), "JPEG"))
    same_rgb = sample()
    assert load_image(same_rgb) is not same_rgb
    from_file = load_image(path)
    path.unlink()
    assert from_file.getpixel((3, 3)) is not None


def test_concurrent_loads_leave_the_warning_filters_alone() -> None:
    filters = list(warnings.filters)
    jobs = [frames("GIF"), save(noise(), "JPEG"), handmade_png(10_000, 10_000), b"junk"] * 8

    def attempt(data: bytes) -> str:
        try:
            return load_image(data).mode
        except InvalidImageError:
            return "refused"

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, jobs))
    assert results == ["RGB", "RGB", "refused", "refused"] * 8
    assert warnings.filters == filters


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to count open files")
def test_file_handles_are_closed(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.gif", tmp_path / "bad.png"
    good.write_bytes(frames("GIF"))
    bad.write_bytes(save(noise(), "PNG")[:300])
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        load_image(good)
        with pytest.raises(InvalidImageError):
            load_image(bad)
    assert len(os.listdir("/proc/self/fd")) <= before


# ---------------------------------------------------------------- fit_longest_side


@pytest.mark.parametrize(
    ("size", "side", "expected"),
    [
        pytest.param((1000, 10), 512, (512, 5), id="wide-down"),
        pytest.param((10, 1000), 64, (1, 64), id="tall-down"),
        pytest.param((20_000, 1), 100, (100, 1), id="extreme-thin-wide"),
        pytest.param((1, 20_000), 7, (1, 7), id="extreme-thin-tall"),
        pytest.param((300, 200), 600, (600, 400), id="upscale"),
        pytest.param((256, 256), 256, (256, 256), id="same-size"),
        pytest.param((3, 2), 1, (1, 1), id="one-pixel"),
    ],
)
def test_fit_longest_side(size: tuple[int, int], side: int, expected: tuple[int, int]) -> None:
    image = Image.new("1", size, 1).convert("RGB") if max(size) > 1000 else noise(size)
    fitted = fit_longest_side(image, side)
    assert fitted.size == expected
    assert max(fitted.size) == side
    assert min(fitted.size) >= 1
    assert fitted is not image
    assert fitted.mode == "RGB"


def test_fit_longest_side_rejects_a_non_positive_side() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        fit_longest_side(noise(), 0)


# ---------------------------------------------------------------- encode_image and output_format_for_path


@pytest.mark.parametrize("fmt", ["jpeg", "jpg", "JPEG", "Jpg"])
def test_encode_jpeg_roundtrip(fmt: str) -> None:
    image = sample((64, 40))
    data = encode_image(image, fmt)
    decoded = Image.open(io.BytesIO(data))
    assert decoded.format == "JPEG"
    assert decoded.size == (64, 40)
    assert decoded.mode == "RGB"
    assert JpegImagePlugin.get_sampling(decoded) == 0  # 4:4:4, no chroma subsampling
    difference = np.abs(np.asarray(decoded, dtype=int) - np.asarray(image, dtype=int))
    assert difference.mean() < 2


def test_encode_jpeg_quality_changes_the_size() -> None:
    image = noise((96, 96))
    assert len(encode_image(image, "jpeg", quality=30)) < len(encode_image(image, "jpeg"))


def test_encode_jpeg_flattens_alpha_onto_white() -> None:
    decoded = Image.open(io.BytesIO(encode_image(Image.new("RGBA", (16, 16), (0, 0, 0, 0)))))
    assert decoded.mode == "RGB"
    pixel = decoded.getpixel((8, 8))
    assert isinstance(pixel, tuple)
    assert min(pixel) > 250


@pytest.mark.parametrize("fmt", ["png", "PNG", "Png"])
def test_encode_png_is_lossless(fmt: str) -> None:
    image = noise((33, 17))
    decoded = Image.open(io.BytesIO(encode_image(image, fmt)))
    assert decoded.format == "PNG"
    assert decoded.size == (33, 17)
    assert np.array_equal(np.asarray(decoded.convert("RGB")), np.asarray(image))


@pytest.mark.parametrize("fmt", ["gif", "webp", "", "jpeg2000", "png "])
def test_encode_unknown_format_raises_value_error(fmt: str) -> None:
    with pytest.raises(ValueError, match="jpeg"):
        encode_image(noise(), fmt)


@pytest.mark.parametrize("quality", [0, 101, -5])
def test_encode_jpeg_quality_out_of_range(quality: int) -> None:
    with pytest.raises(ValueError, match="quality"):
        encode_image(noise(), "jpeg", quality=quality)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("out.png", "png"),
        ("OUT.PNG", "png"),
        ("a/b/c.jpg", "jpeg"),
        ("photo.JPEG", "jpeg"),
        ("photo.Jpg", "jpeg"),
        (Path("dir.png/picture.jpeg"), "jpeg"),
    ],
)
def test_output_format_for_path(path: str | Path, expected: str) -> None:
    assert output_format_for_path(path) == expected


@pytest.mark.parametrize("path", ["out.gif", "out.webp", "out", "png", "out.png.txt", ".png"])
def test_output_format_for_unknown_suffix_raises_value_error(path: str) -> None:
    with pytest.raises(ValueError, match=r"\.jpg, \.jpeg or \.png") as caught:
        output_format_for_path(path)
    assert not isinstance(caught.value, InvalidImageError)


def test_probe_image_checks_without_full_decoding() -> None:
    from engine.imaging import probe_image

    def encoded(size: tuple[int, int], fmt: str) -> bytes:
        out = io.BytesIO()
        Image.new("RGB", size, (10, 120, 200)).save(out, fmt)
        return out.getvalue()

    assert probe_image(encoded((300, 200), "PNG")) == (300, 200)
    assert probe_image(encoded((300, 200), "JPEG")) == (300, 200)
    png = encoded((640, 480), "PNG")
    with pytest.raises(InvalidImageError, match="damaged"):
        probe_image(png[: len(png) // 2])
    with pytest.raises(InvalidImageError, match="megapixels"):
        probe_image(encoded((3000, 3000), "PNG"), max_pixels=4_000_000)
    with pytest.raises(InvalidImageError):
        probe_image(b"%PDF-1.4 not a picture")
