"""A painted result made into a sticker for its owner's pack: photos as a 512 px WEBP, clips as a video sticker.

Blocking (decoding and encoding): call these in a thread, never on the event loop.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from engine import video_out
from engine.imaging import load_image
from engine.video_io import ClipInfo, ClipLimits, ReadPlan, fraction_rate, probe_clip, read_frames

# A painted clip is at most the operator's length; a sticker takes at most 3 s of it (or 4.5 s sped up).
CLIP_LIMITS = ClipLimits(max_seconds=3600.0, max_frames=200_000)
MAX_SPEEDUP = 1.5  # engine.clip.STICKER_MAX_SPEEDUP: played faster up to this, else cut


@dataclass(frozen=True)
class StickerNote:
    """What was changed to fit a sticker's rules: "shortened" (value: the clip's seconds) or "sped_up" (the factor)."""

    code: str
    value: float
    limit: float

    @classmethod
    def parse(cls, text: str) -> StickerNote | None:
        """A note as the worker writes it ("sped_up:1.3:3"), or None when it cannot be read."""
        code, _, rest = text.partition(":")
        value, _, limit = rest.partition(":")
        try:
            return cls(code, float(value), float(limit))
        except ValueError:
            return None


@dataclass(frozen=True)
class StickerFile:
    """A sticker to add: its bytes (or the file id of a sticker Telegram has), whether it is a video sticker."""

    data: bytes | str
    video: bool
    notes: tuple[StickerNote, ...] = ()


def photo_sticker(data: bytes) -> StickerFile:
    """A painted photo as a static sticker: WEBP, its longest side 512 px (opaque)."""
    image = load_image(data)
    return StickerFile(video_out.webp_sticker(np.asarray(image.convert("RGB"))), video=False)


def clip_sticker(data: bytes) -> StickerFile:
    """A painted clip (MP4) as a video sticker: WEBM VP9, 512 px, at most 3 s (sped up or cut only when longer)."""
    with tempfile.TemporaryDirectory(prefix="stylebot-sticker-") as tmp:
        source = Path(tmp) / "clip.mp4"
        source.write_bytes(data)
        info = probe_clip(source, CLIP_LIMITS)
        read, fps, notes = sticker_plan(info)
        master = Path(tmp) / "master.mkv"
        writer = video_out.MasterWriter(master, read.width, read.height, fps)
        opaque = np.full((read.height, read.width), 255, dtype=np.uint8)
        for frame in read_frames(source, info, read, CLIP_LIMITS):
            writer.write(frame.rgb, opaque)
        writer.close()
        out = Path(tmp) / "sticker.webm"
        video_out.encode_video_sticker(str(master), out, fps)
        return StickerFile(out.read_bytes(), video=True, notes=notes)


def sticker_plan(info: ClipInfo) -> tuple[ReadPlan, Fraction, tuple[StickerNote, ...]]:
    """A video sticker's size and timing, as engine.clip plans it: as is up to 3 s, sped up by at most 1.5x, else cut.

    Here rather than engine.clip.plan_output so that the bot process imports no painting code (onnxruntime).
    """
    width, height = video_out.sticker_size(info.width, info.height)
    fps = min(info.fps, video_out.STICKER_MAX_FPS)
    limit, duration = video_out.STICKER_MAX_SECONDS, info.duration_s
    if duration <= limit + 1e-3:
        return ReadPlan(width, height, fps, limit), fraction_rate(fps), ()
    if duration <= limit * MAX_SPEEDUP:
        speed = duration / limit
        read_fps = min(fps, video_out.STICKER_MAX_FPS / speed)  # sped up, the output stays at <= 30 fps
        note = StickerNote("sped_up", round(speed, 3), limit)
        return ReadPlan(width, height, read_fps, math.inf), fraction_rate(read_fps * speed), (note,)
    note = StickerNote("shortened", round(duration, 2), limit)
    return ReadPlan(width, height, fps, limit), fraction_rate(fps), (note,)
