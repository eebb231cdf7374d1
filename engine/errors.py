"""Errors the engine raises on purpose: an English message for the command line and logs, and a stable `kind`
with the numbers behind it (images: ImageProblem; clips: ClipError), which an application words in its own
languages."""

from __future__ import annotations

import enum


class EngineError(Exception):
    """Base class of every error the engine raises deliberately."""


class ImageProblem(str, enum.Enum):
    """Why a picture cannot be used; the values are stable codes (they travel between processes)."""

    EMPTY = "empty"  # a file with no bytes
    MISSING = "missing"  # no file at the path, or it cannot be opened
    DAMAGED = "damaged"  # starts like a picture but cannot be decoded (truncated, corrupt)
    UNSUPPORTED = "unsupported"  # not one of the accepted formats
    NO_PIXELS = "no_pixels"  # width or height 0
    TOO_LONG = "too_long"  # a side over the limit: values width, height, limit_px
    TOO_BIG = "too_big"  # too many pixels: values megapixels (when known), limit_mp
    BAD_ASPECT = "bad_aspect"  # too narrow: values aspect, limit
    BAD_COLOURS = "bad_colours"  # a colour mode that cannot become RGB


class InvalidImageError(EngineError):
    """The bytes or image given cannot be used as a picture; `kind` says why, `values` hold the numbers."""

    def __init__(self, kind: ImageProblem, message: str, **values: float | int | str) -> None:
        super().__init__(message)
        self.kind = kind
        self.values = values
        self.role: str | None = None  # which input of a run it was: "content", "style" or "start" (see load_as)


class InvalidParamsError(EngineError, ValueError):
    """A style parameter is outside its allowed range; the message names the range."""


class WeightsUnavailableError(EngineError):
    """The backbone's pretrained weights cannot be found or downloaded."""


class Cancelled(EngineError):  # noqa: N818 - the public name the interface promises
    """A run was stopped by its caller's stop predicate."""

    def __init__(self, step: int) -> None:
        super().__init__(f"cancelled after {step} steps")
        self.step = step


class ClipError(EngineError):
    """A clip (GIF, video, video note, sticker) cannot be painted; `kind` says why, for the caller's own words.

    The message is English for logs; a bot words the reply from `kind` and the numbers in `details`.
    """

    kind = "clip"

    def __init__(self, message: str, **details: float | str) -> None:
        super().__init__(message)
        self.details = details


class ClipDamagedError(ClipError):
    """The file is truncated or corrupt: its container or frames cannot be read."""

    kind = "damaged"


class ClipUnsupportedError(ClipError):
    """The video codec (or the file type) has no decoder here; details: codec."""

    kind = "unsupported"


class ClipNoVideoError(ClipError):
    """The file has no video stream (audio only, or not a clip at all)."""

    kind = "no_video"


class ClipNoFramesError(ClipError):
    """The video stream decodes to zero frames."""

    kind = "no_frames"


class ClipTooLongError(ClipError):
    """Longer than the limit; details: seconds, limit_s."""

    kind = "too_long"


class ClipTooManyFramesError(ClipError):
    """More frames than the limit (a GIF of 10,000 frames); details: frames, limit."""

    kind = "too_many_frames"


class ClipTooLargeError(ClipError):
    """Frames larger than the limit (a decompression bomb); details: width, height, limit_pixels."""

    kind = "too_large"


class ClipNoAlphaError(ClipError):
    """A sticker was asked to keep a transparency the source does not have."""

    kind = "no_alpha"


class ClipStickerTooBigError(ClipError):
    """No bitrate tried brings the video sticker under Telegram's byte limit; details: bytes, limit_bytes."""

    kind = "sticker_too_big"
