"""Errors the engine raises on purpose; each message is fit to show a user (clip errors: see ClipError)."""

from __future__ import annotations


class EngineError(Exception):
    """Base class of every error the engine raises deliberately."""


class InvalidImageError(EngineError):
    """The bytes or image given cannot be used as a picture (corrupt, unsupported, too large)."""


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
