"""Plain data the bot passes around: settings, sessions, jobs and the errors storage raises; no SQL here."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bot.core.errors import UserFacingError
from bot.core.job_states import JobStatus
from bot.core.messages import Msg

Quality = Literal["instant", "preview", "standard", "hd"]
Strength = Literal["low", "medium", "high"]
StyleKind = Literal["preset", "file"]
# What a job paints and sends back: a photo, or a clip of the same kind Telegram delivered (animated TGS stickers
# come back as video stickers).
MediaKind = Literal["photo", "animation", "video", "video_note", "sticker", "video_sticker"]
MEDIA_KINDS: tuple[MediaKind, ...] = ("photo", "animation", "video", "video_note", "sticker", "video_sticker")

# Ordered from cheapest to most expensive, so an index comparison caps a quality.
QUALITIES: tuple[Quality, ...] = ("instant", "preview", "standard", "hd")
STRENGTHS: tuple[Strength, ...] = ("low", "medium", "high")
STYLE_KINDS: tuple[StyleKind, ...] = ("preset", "file")

DEFAULT_QUALITY: Quality = "standard"
DEFAULT_STRENGTH: Strength = "medium"
DEFAULT_GROUP_MAX_QUALITY: Quality = "hd"


def parse_quality(value: object) -> Quality:
    """Return value as a Quality, or raise ValueError naming the allowed values."""
    if value not in QUALITIES:
        raise ValueError(f"quality must be one of {', '.join(QUALITIES)}; got {value!r}")
    return value


def parse_media(value: object) -> MediaKind:
    """Return value as a MediaKind, or raise ValueError naming the allowed values."""
    if value not in MEDIA_KINDS:
        raise ValueError(f"media must be one of {', '.join(MEDIA_KINDS)}; got {value!r}")
    return value


def parse_strength(value: object) -> Strength:
    """Return value as a Strength, or raise ValueError naming the allowed values."""
    if value not in STRENGTHS:
        raise ValueError(f"strength must be one of {', '.join(STRENGTHS)}; got {value!r}")
    return value


@dataclass(frozen=True)
class UserSettings:
    """A user's preferences; defaults apply to users the bot has never stored."""

    user_id: int
    quality: Quality = DEFAULT_QUALITY
    strength: Strength = DEFAULT_STRENGTH
    keep_colors: bool = False
    default_style: str | None = None
    language: str | None = None  # chosen with /language; None follows the user's Telegram app


@dataclass(frozen=True)
class StyleRef:
    """One style of a job: a named preset or a Telegram file, with its blend weight."""

    kind: StyleKind
    name: str | None = None
    file_id: str | None = None
    weight: float = 1.0

    def __post_init__(self) -> None:
        """Reject refs the worker could not resolve, so bad data fails at enqueue time."""
        if self.kind not in STYLE_KINDS:
            raise ValueError(f"style kind must be one of {', '.join(STYLE_KINDS)}; got {self.kind!r}")
        if self.kind == "preset" and not self.name:
            raise ValueError("a preset style needs a name")
        if self.kind == "file" and not self.file_id:
            raise ValueError("a file style needs a file_id")
        if not (math.isfinite(self.weight) and self.weight > 0):
            raise ValueError(f"style weight must be a positive number; got {self.weight!r}")

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready dict form; unset optional fields are left out."""
        data: dict[str, Any] = {"kind": self.kind, "weight": self.weight}
        if self.name is not None:
            data["name"] = self.name
        if self.file_id is not None:
            data["file_id"] = self.file_id
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StyleRef:
        """Build a StyleRef from its dict form."""
        return cls(
            kind=data["kind"],
            name=data.get("name"),
            file_id=data.get("file_id"),
            weight=float(data.get("weight", 1.0)),
        )


@dataclass(frozen=True)
class JobParams:
    """The settings a job runs with, frozen at enqueue time."""

    quality: Quality
    strength: Strength
    keep_colors: bool
    seed: int
    media: MediaKind = "photo"  # a clip job paints content_file_id's clip and sends back this kind
    frames: int = 0  # a clip's frames as its header says (its cost); 0 for photos

    def __post_init__(self) -> None:
        """Validate the enumerated fields, since they may come from stored JSON."""
        parse_quality(self.quality)
        parse_strength(self.strength)
        parse_media(self.media)

    @property
    def is_clip(self) -> bool:
        """Whether the job paints a clip (a GIF, video, video note or sticker) rather than a photo."""
        return self.media != "photo"

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready dict form (a photo's stays as it always was)."""
        data: dict[str, Any] = {
            "quality": self.quality,
            "strength": self.strength,
            "keep_colors": self.keep_colors,
            "seed": self.seed,
        }
        if self.is_clip:
            data.update(media=self.media, frames=self.frames)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobParams:
        """Build JobParams from its dict form (keys older versions stored and no longer use are ignored)."""
        return cls(
            quality=parse_quality(data["quality"]),
            strength=parse_strength(data["strength"]),
            keep_colors=bool(data["keep_colors"]),
            seed=int(data["seed"]),
            media=parse_media(data.get("media", "photo")),
            frames=int(data.get("frames", 0)),
        )


@dataclass(frozen=True)
class Session:
    """A content photo waiting for its style, owned by one user in one chat."""

    chat_id: int
    user_id: int
    content_file_id: str
    content_message_id: int | None
    media_group_id: str | None
    expires_at: float
    media: MediaKind = "photo"  # a clip waiting for its style: the kind it comes back as
    frames: int = 0


@dataclass(frozen=True)
class Job:
    """One style-transfer request and everything known about its run."""

    id: int
    chat_id: int
    user_id: int
    user_name: str | None
    status: JobStatus
    content_file_id: str
    styles: tuple[StyleRef, ...]
    params: JobParams
    reply_to_message_id: int | None
    status_message_id: int | None
    attempts: int
    progress: float
    eta_s: float | None
    error: str | None
    result_file_id: str | None
    result_message_id: int | None
    making_of_path: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    cancel_requested: bool
    result_dir: str | None = None
    run_seconds: float | None = None
    deliveries: int = 0
    deliver_after: float | None = None
    thread_id: int | None = None  # the forum topic it was asked in: every message about it goes there


class QueueFullError(UserFacingError):
    """A job was refused because the user's cap or the global queue length is reached."""

    def __init__(self, is_global: bool, limit: int) -> None:
        super().__init__(Msg.BUSY if is_global else Msg.USER_CAP, limit=limit)
        self.is_global = is_global
        self.limit = limit
