"""Image input and output that turn any real-world picture into 8-bit RGB, or refuse it politely."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TypeAlias

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.errors import ImageProblem, InvalidImageError

log = logging.getLogger(__name__)

ImageInput: TypeAlias = Image.Image | bytes | bytearray | memoryview | str | os.PathLike[str]

MAX_PIXELS = 50_000_000
MAX_SIDE = 20_000
MAX_ASPECT = 20.0

# Pillow plugin names handed to Image.open, so no other decoder ever looks at untrusted bytes.
_OPEN_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")
# What Image.format may read after opening: the JPEG opener returns "MPO" for multi-picture JPEGs.
_ACCEPTED_FORMATS = frozenset({*_OPEN_FORMATS, "MPO"})
# Leading bytes of the accepted formats (WebP is checked apart; TIFF comes in both byte orders).
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
_ACCEPTED_TEXT = "JPEG, PNG, WebP, BMP, GIF or TIFF"

_UNSUPPORTED = f"This file is not a supported picture. Please send a {_ACCEPTED_TEXT} image."
_DAMAGED = "This picture is damaged or incomplete and cannot be read."
_TOO_BIG = f"This picture is far too large; at most {MAX_PIXELS // 1_000_000} megapixels are allowed."
_BAD_COLOURS = "This picture uses a colour format that cannot be converted to RGB."

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA"})
_PREMULTIPLIED_MODES = frozenset({"RGBa", "La"})
_ORIENTATION_TAG = 0x0112
_WARNINGS_LOCK = threading.RLock()
_PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I;16"})


def load_image(source: ImageInput) -> Image.Image:
    """Decode any supported input into an 8-bit RGB image, or raise InvalidImageError."""
    if isinstance(source, Image.Image):
        return _decode(source)
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if not data:
            raise InvalidImageError(ImageProblem.EMPTY, "The file is empty.")
        return _open_and_decode(io.BytesIO(data))
    if isinstance(source, str | os.PathLike):
        return _open_and_decode(_checked_path(source))
    raise TypeError(f"load_image expects an image, bytes or a path, not {type(source).__name__}")


def fit_longest_side(image: Image.Image, side: int) -> Image.Image:
    """Resize (LANCZOS) so the longest side equals `side`, keeping aspect; each side at least 1 px."""
    if side < 1:
        raise ValueError(f"side must be at least 1 px, got {side}")
    width, height = image.size
    if width < 1 or height < 1:
        raise ValueError(f"cannot resize an empty {width}×{height} image")
    if width >= height:
        size = (side, max(1, round(height * side / width)))
    else:
        size = (max(1, round(width * side / height)), side)
    if size == image.size:
        return image.copy()
    return image.resize(size, Image.Resampling.LANCZOS)


def encode_image(image: Image.Image, fmt: str = "jpeg", quality: int = 95) -> bytes:
    """Encode as JPEG (quality 95 default, RGB, no subsampling surprises) or PNG bytes; fmt is 'jpeg'|'jpg'|'png' case-insensitive, else ValueError."""  # noqa: E501
    kind = fmt.lower()
    buffer = io.BytesIO()
    if kind in ("jpeg", "jpg"):
        if not 1 <= quality <= 100:
            raise ValueError(f"JPEG quality must be between 1 and 100, got {quality}")
        rgb = image if image.mode == "RGB" else _to_rgb(image)
        # subsampling=0 keeps full-resolution colour (4:4:4), so thin coloured strokes stay crisp.
        rgb.save(buffer, "JPEG", quality=quality, subsampling=0, optimize=True)
    elif kind == "png":
        out = image if image.mode in _PNG_MODES else _to_rgb(image)
        out.save(buffer, "PNG")
    else:
        raise ValueError(f"unknown image format {fmt!r}; use 'jpeg', 'jpg' or 'png'")
    return buffer.getvalue()


def output_format_for_path(path: str | os.PathLike[str]) -> str:
    """'png' for .png, 'jpeg' for .jpg/.jpeg (case-insensitive); raise InvalidImageError-free ValueError naming the allowed suffixes otherwise."""  # noqa: E501
    suffix = Path(os.fspath(path)).suffix.lower()
    if suffix == ".png":
        return "png"
    if suffix in (".jpg", ".jpeg"):
        return "jpeg"
    shown = repr(suffix) if suffix else "no suffix"
    raise ValueError(f"output file must end in .jpg, .jpeg or .png (got {shown})")


def load_as(role: str, source: ImageInput) -> Image.Image:
    """load_image for one input of a run; a refusal says which (`role`: "content", "style" or "start")."""
    try:
        return load_image(source)
    except InvalidImageError as exc:
        exc.role = role
        raise


def _checked_path(source: str | os.PathLike[str]) -> Path:
    """The path as a Path, after refusing one that is missing, not a file or empty."""
    path = Path(os.fspath(source))
    try:
        if not path.exists():
            raise InvalidImageError(ImageProblem.MISSING, f"There is no file at {path}.")
        if not path.is_file():
            raise InvalidImageError(ImageProblem.MISSING, f"The path {path} is not a file.")
        if path.stat().st_size == 0:
            raise InvalidImageError(ImageProblem.EMPTY, "The file is empty.")
    except OSError as exc:  # permission problems, names too long, ...
        log.info("cannot inspect image path %s: %r", path, exc)
        raise InvalidImageError(ImageProblem.MISSING, f"The file {path} cannot be opened.") from None
    return path


def _open_and_decode(fp: Path | IO[bytes]) -> Image.Image:
    """Open bytes or a file with the accepted decoders only, then decode it."""
    with _pillow_warnings():
        try:
            image = Image.open(fp, formats=_OPEN_FORMATS)
        except UnidentifiedImageError as exc:
            log.info("unidentified image: %s", exc)
            # A file that starts like an accepted format but no decoder took is broken, not foreign.
            damaged = _looks_accepted(_read_head(fp))
            raise _unreadable(damaged) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            log.info("decompression bomb refused at open: %s", exc)
            raise _bomb(exc) from None
        except Exception as exc:  # Pillow raises nearly any type on hostile headers
            log.info("image header unreadable: %r", exc)
            raise InvalidImageError(ImageProblem.DAMAGED, _DAMAGED) from None
        with image:
            return _decode(image)


@contextlib.contextmanager
def _pillow_warnings() -> Iterator[None]:
    """Within: decompression-bomb warnings raise; Pillow's other warnings (corrupt EXIF, ...) are logged."""
    # catch_warnings swaps process-wide state, so threads decoding at once must take turns.
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        finally:
            for warning in caught:
                log.debug("Pillow warning while reading an image: %s", warning.message)


def _read_head(fp: Path | IO[bytes]) -> bytes:
    """The first bytes of a file or stream, or b"" when they cannot be read."""
    try:
        if isinstance(fp, Path):
            with fp.open("rb") as file:
                return file.read(16)
        fp.seek(0)
        return fp.read(16)
    except OSError:
        return b""


def _looks_accepted(head: bytes) -> bool:
    """Whether the first bytes announce one of the accepted formats."""
    return head.startswith(_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _unreadable(damaged: bool) -> InvalidImageError:
    """The refusal of bytes no decoder took: damaged when they start like an accepted format, else foreign."""
    if damaged:
        return InvalidImageError(ImageProblem.DAMAGED, _DAMAGED)
    return InvalidImageError(ImageProblem.UNSUPPORTED, _UNSUPPORTED)


def _bomb(exc: Exception, limit: int = MAX_PIXELS) -> InvalidImageError:
    """The refusal for Pillow's decompression-bomb error or warning, quoting `limit` (pixels)."""
    match = re.search(r"\((\d+) pixels\)", str(exc))
    if match is None:
        return InvalidImageError(ImageProblem.TOO_BIG, _TOO_BIG, limit_mp=round(limit / 1e6))
    megapixels = round(int(match.group(1)) / 1e6, 1)
    return InvalidImageError(
        ImageProblem.TOO_BIG,
        f"This picture declares {megapixels:.1f} megapixels; at most {limit / 1e6:g} megapixels are allowed.",
        megapixels=megapixels,
        limit_mp=round(limit / 1e6),
    )


def _decode(image: Image.Image) -> Image.Image:
    """Check the header, load the first frame, apply EXIF orientation and convert to RGB."""
    if image.format is not None and image.format not in _ACCEPTED_FORMATS:
        raise InvalidImageError(ImageProblem.UNSUPPORTED, _UNSUPPORTED)
    _check_size(*image.size)
    with _pillow_warnings():
        try:
            if image.tell() != 0:  # animations and multi-page files: use the first frame
                image.seek(0)
            image.load()  # inside the guard, so truncated data fails here and not later
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            log.info("decompression bomb refused at load: %s", exc)
            raise _bomb(exc) from None
        except Exception as exc:  # OSError, SyntaxError, struct.error, EOFError, IndexError, ...
            log.info("image data unreadable: %r", exc)
            raise InvalidImageError(ImageProblem.DAMAGED, _DAMAGED) from None
    upright = _apply_orientation(image)
    try:
        rgb = _to_rgb(upright)
    except Exception as exc:
        log.info("cannot convert mode %s to RGB: %r", upright.mode, exc)
        raise InvalidImageError(ImageProblem.BAD_COLOURS, _BAD_COLOURS) from None
    if rgb is image:  # never hand back the caller's object or one tied to a file
        rgb = image.copy()
    rgb.info = {}  # no stale "transparency", EXIF or ICC entries that no longer describe the pixels
    return rgb


def _apply_orientation(image: Image.Image) -> Image.Image:
    """The image turned upright by its EXIF orientation; unchanged (not copied) when there is none."""
    try:
        if image.getexif().get(_ORIENTATION_TAG, 1) in range(2, 9):
            return ImageOps.exif_transpose(image)
    except Exception as exc:  # broken EXIF should not cost the user the picture
        log.warning("ignoring unreadable EXIF orientation: %r", exc)
    return image


def _check_size(width: int, height: int, max_pixels: int = MAX_PIXELS) -> None:
    """Refuse an empty image, a side over MAX_SIDE, more than `max_pixels` or an aspect beyond MAX_ASPECT."""
    shown = f"This image is {width}×{height} px"
    if width < 1 or height < 1:
        raise InvalidImageError(ImageProblem.NO_PIXELS, f"{shown}; it has no pixels.")
    if max(width, height) > MAX_SIDE:
        raise InvalidImageError(
            ImageProblem.TOO_LONG,
            f"{shown}; the longest side may be at most {MAX_SIDE} px.",
            width=width,
            height=height,
            limit_px=MAX_SIDE,
        )
    if width * height > max_pixels:
        megapixels = round(width * height / 1e6, 1)
        raise InvalidImageError(
            ImageProblem.TOO_BIG,
            f"{shown} ({megapixels:.1f} megapixels); at most {max_pixels / 1e6:g} megapixels are allowed.",
            megapixels=megapixels,
            limit_mp=round(max_pixels / 1e6),
        )
    aspect = max(width, height) / min(width, height)
    if aspect > MAX_ASPECT:
        raise InvalidImageError(
            ImageProblem.BAD_ASPECT,
            f"{shown} (aspect ratio {aspect:.1f}:1); the aspect ratio may be at most {MAX_ASPECT:g}:1.",
            aspect=round(aspect, 1),
            limit=MAX_ASPECT,
        )


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB; transparency is flattened onto white, deep values are rescaled."""
    mode = image.mode
    if mode.startswith("I") or mode == "F":
        return Image.fromarray(_gray_to_uint8(np.asarray(image))).convert("RGB")
    if mode in _PREMULTIPLIED_MODES:
        # Premultiplied colour over white is simply colour + (255 - alpha).
        pixels = np.asarray(image).astype(np.uint16)
        flat = np.minimum(pixels[..., :-1] + (255 - pixels[..., -1:]), 255).astype(np.uint8)
        if flat.shape[-1] == 1:
            flat = np.repeat(flat, 3, axis=-1)
        return Image.fromarray(flat)
    if mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _gray_to_uint8(values: np.ndarray) -> np.ndarray:
    """Deep grayscale as uint8: 16-bit scaled by 255/65535; 32-bit int and float by their apparent range."""
    if values.dtype.kind == "u" and values.dtype.itemsize == 2:
        return ((values.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if values.dtype.kind == "f":
        values = np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        low, high = float(values.min()), float(values.max())
        if low >= 0.0 and high <= 1.0:  # the usual 0..1 float convention
            return np.rint(values * np.float32(255.0)).astype(np.uint8)
    else:
        low, high = int(values.min()), int(values.max())
    if low >= 0 and high <= 255:  # already 8-bit values in a wider container (e.g. L converted to I)
        return np.rint(values).astype(np.uint8)
    if low >= 0 and high <= 65535:  # 16-bit data (older Pillow opened 16-bit PNGs as mode I)
        return np.rint(values * np.float32(255.0 / 65535.0)).astype(np.uint8)
    if high <= low:  # a flat image outside every known range: no contrast to keep
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (values.astype(np.float32) - np.float32(low)) * np.float32(255.0 / (high - low))
    return np.rint(scaled).astype(np.uint8)


def probe_image(data: bytes, max_pixels: int = MAX_PIXELS, draft_side: int = 1024) -> tuple[int, int]:
    """Check that bytes hold a picture load_image can paint, without holding its full pixels; returns its size.

    The header gets load_image's checks (format, size, aspect) plus `max_pixels`. A JPEG is then decoded at
    a reduced scale (DCT scaling down towards `draft_side`); other formats have their structure and
    checksums verified without decoding, so a flood of huge PNGs costs little memory. load_image still
    decodes the picture fully where it is painted.
    """
    with _pillow_warnings():
        try:
            image = Image.open(io.BytesIO(data), formats=_OPEN_FORMATS)
        except UnidentifiedImageError:
            raise _unreadable(_looks_accepted(bytes(data[:16]))) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _bomb(exc, min(max_pixels, MAX_PIXELS)) from None
        except Exception:
            raise InvalidImageError(ImageProblem.DAMAGED, _DAMAGED) from None
    width, height = image.size
    _check_size(width, height, min(max_pixels, MAX_PIXELS))  # too big quotes the caller's limit, not ours
    if image.format in ("JPEG", "MPO"):
        image.draft("RGB", (draft_side, draft_side))
        _decode(image)
        return width, height
    with _pillow_warnings():
        try:
            image.verify()
        except Exception as exc:
            log.info("image structure unreadable: %r", exc)
            raise InvalidImageError(ImageProblem.DAMAGED, _DAMAGED) from None
    return width, height
