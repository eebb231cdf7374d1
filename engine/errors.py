"""Errors the engine raises on purpose: an English message for the command line and logs, and for images a
stable `kind` with the numbers behind it, which an application words in its own languages."""

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
