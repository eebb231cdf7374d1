"""Errors the core raises for people: each names a sentence the Telegram layer says, never the words."""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.core.messages import Msg


class UserFacingError(Exception):
    """Expected bad input or a state the user can act on; `key` names what to say, `values` fill it in."""

    def __init__(self, key: Msg, **values: object) -> None:
        super().__init__(key, values)
        self.key = key
        self.values = values


class UnavailableError(UserFacingError):
    """Painting cannot run at all (the workers cannot load the model)."""

    def __init__(self, admins_told: bool) -> None:
        super().__init__(Msg.UNAVAILABLE_TOLD if admins_told else Msg.UNAVAILABLE)


class FileTooLargeError(UserFacingError):
    """An upload is over the size limit (its size None: it ran past the limit while downloading, size unknown)."""

    def __init__(self, size_mb: float | None, limit_mb: float) -> None:
        if size_mb is None:
            super().__init__(Msg.FILE_OVER_LIMIT, limit=f"{limit_mb:.0f}")
        else:
            super().__init__(Msg.FILE_TOO_LARGE, size=f"{size_mb:.1f}", limit=f"{limit_mb:.0f}")


class DownloadUnavailableError(Exception):
    """Telegram could not hand over a file just now (network trouble); trying later can work."""


class BrokerUnavailableError(UserFacingError):
    """The painting cluster's broker cannot be reached just now; new jobs are refused until it is back."""

    def __init__(self) -> None:
        super().__init__(Msg.CLUSTER_BUSY)


class ProblemKind(str, enum.Enum):
    """Why a job's input cannot be used, besides the engine's ImageProblem codes (the values are stable codes)."""

    DOWNLOAD_FAILED = "download_failed"  # Telegram would not hand the file over, even after retries
    FILE_TOO_LARGE = "file_too_large"  # over the download limit: values size, limit (MB)
    STYLE_GONE = "style_gone"  # a painting removed since the job was queued: values name
    UNKNOWN = "unknown"  # anything else wrong with the input


Role = Literal["photo", "style"]


@dataclass(frozen=True)
class Problem:
    """What is wrong with an input, as data the Telegram layer words: a kind code, which input, the numbers."""

    kind: str  # an ImageProblem or ProblemKind value
    role: Role | None = None  # the user's photo, or the style: what to send again
    values: dict[str, float | int | str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON object (for the cluster's Redis streams)."""
        return {"kind": self.kind, "role": self.role, "values": dict(self.values)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Problem:
        """The problem a JSON object describes."""
        role = data.get("role")
        return cls(str(data["kind"]), role if role in ("photo", "style") else None, dict(data.get("values") or {}))

    def __str__(self) -> str:
        """For logs and the job's error column: the role and the kind."""
        return f"{self.role or 'input'}: {self.kind}"


class StyleMissingError(LookupError):
    """A style named by the user is not there (the preset library raises its subclass); `shown_name` as quoted."""

    shown_name: str


class UnusableInputError(UserFacingError):
    """A photo or style cannot be used; `problem` says why and which (the Telegram layer words it)."""

    def __init__(self, problem: Problem) -> None:
        key = {"photo": Msg.UNUSABLE_PHOTO, "style": Msg.UNUSABLE_STYLE}.get(problem.role or "", Msg.UNUSABLE_IMAGE)
        super().__init__(key, problem=problem)
        self.problem = problem


def problem_of(exc: BaseException, role: Role | None = None) -> Problem:
    """The Problem an exception about an input stands for; `role` when the caller knows which input it was."""
    from engine.errors import ClipError, InvalidImageError

    if isinstance(exc, ClipRefusedError):
        return exc.problem()
    if isinstance(exc, ClipError):
        return ClipRefusedError(exc.kind, **exc.details).problem()
    if isinstance(exc, UnusableInputError):
        return exc.problem if exc.problem.role or role is None else Problem(exc.problem.kind, role, exc.problem.values)
    if isinstance(exc, InvalidImageError):
        engine_role: Role | None = {"content": "photo", "style": "style"}.get(exc.role or "")  # type: ignore[assignment]
        return Problem(exc.kind.value, role or engine_role, dict(exc.values))
    if isinstance(exc, FileTooLargeError):
        return Problem(ProblemKind.FILE_TOO_LARGE.value, role, dict(exc.values))  # type: ignore[arg-type]
    if isinstance(exc, DownloadUnavailableError):
        return Problem(ProblemKind.DOWNLOAD_FAILED.value, role)
    if isinstance(exc, StyleMissingError):  # a painting removed since the job was queued
        return Problem(ProblemKind.STYLE_GONE.value, "style", {"name": exc.shown_name})
    return Problem(ProblemKind.UNKNOWN.value, role)


@contextlib.contextmanager
def unusable_as(role: Role) -> Iterator[None]:
    """Within: an unreadable, too large or vanished input becomes an UnusableInputError saying it was `role`."""
    from engine.errors import InvalidImageError

    try:
        yield
    except (InvalidImageError, FileTooLargeError, StyleMissingError) as exc:
        raise UnusableInputError(problem_of(exc, role)) from exc


# Why a clip cannot be painted (engine.errors.ClipError.kind) -> the sentence the Telegram layer says.
CLIP_MESSAGES: dict[str, Msg] = {
    "damaged": Msg.CLIP_DAMAGED,
    "unsupported": Msg.CLIP_UNSUPPORTED,
    "no_video": Msg.CLIP_NO_VIDEO,
    "no_frames": Msg.CLIP_NO_FRAMES,
    "too_long": Msg.CLIP_TOO_LONG,
    "too_many_frames": Msg.CLIP_TOO_MANY_FRAMES,
    "too_large": Msg.CLIP_TOO_LARGE,
    "no_alpha": Msg.CLIP_NO_ALPHA,
    "sticker_too_big": Msg.CLIP_STICKER_TOO_BIG,  # the encoder found no bitrate under Telegram's 256 KB
    "file_too_large": Msg.CLIP_FILE_TOO_LARGE,  # the bot's own refusal before downloading (or sending to a cluster)
}
CLIP_PROBLEM_PREFIX = "clip_"  # a Problem's kind for a clip the worker could not paint: "clip_too_long"


class ClipRefusedError(UserFacingError):
    """A clip cannot be painted (damaged, too long, a decompression bomb...); `kind` is the engine's ClipError.kind."""

    def __init__(self, kind: str, **values: object) -> None:
        super().__init__(CLIP_MESSAGES.get(kind, Msg.CLIP_DAMAGED), **values)
        self.kind = kind

    def problem(self) -> Problem:
        """The refusal as the Problem a worker's failure carries to the bot (through Redis too)."""
        values = {k: v if isinstance(v, int | float) else str(v) for k, v in self.values.items()}
        return Problem(f"{CLIP_PROBLEM_PREFIX}{self.kind}", "photo", values)

    @classmethod
    def from_problem(cls, problem: Problem | None) -> ClipRefusedError | None:
        """The refusal a worker's Problem stands for, or None when it is no clip's."""
        if problem is None or not problem.kind.startswith(CLIP_PROBLEM_PREFIX):
            return None
        return cls(problem.kind[len(CLIP_PROBLEM_PREFIX) :], **problem.values)
