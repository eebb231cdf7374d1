"""Clip jobs' limits and requests from the operator's settings (GIFs, videos, video notes, stickers)."""

from __future__ import annotations

from bot.config import Settings
from bot.jobs.protocol import ClipRequest
from engine.video_io import ClipLimits

# Sticker sources longer than 3 s are cut or sped up by the engine; these many seconds of source are read at most.
STICKER_SOURCE_SECONDS = 10.0


def clip_limits(settings: Settings, media: str) -> ClipLimits:
    """What a clip coming back as `media` may be before it is refused from its header."""
    if media == "video_note":
        seconds = float(settings.video_note_seconds)
    elif media in ("sticker", "video_sticker"):
        seconds = max(STICKER_SOURCE_SECONDS, float(settings.clip_seconds))
    else:
        seconds = float(settings.clip_seconds)
    return ClipLimits(max_seconds=seconds, max_frames=settings.clip_frames)


def clip_request(settings: Settings, media: str) -> ClipRequest:
    """The worker's instructions for a clip job."""
    limits = clip_limits(settings, media)
    return ClipRequest(media, limits.max_seconds, limits.max_frames, float(settings.clip_fps))
