"""Errors the engine raises on purpose; each message is fit to show a user."""

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
