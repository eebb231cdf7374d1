"""A painted result made into a sticker for its owner's pack: photos as a 512 px WEBP, clips as a video sticker.

Blocking (decoding and encoding): call these in a thread, never on the event loop.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine import video_out
from engine.imaging import load_image
from engine.sticker_timing import sticker_timing
from engine.video_io import ClipLimits, probe_clip, read_frames

# A painted clip is at most the operator's length; a sticker takes at most 3 s of it (or 4.5 s sped up).
CLIP_LIMITS = ClipLimits(max_seconds=3600.0, max_frames=200_000)


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
        read, fps, changes = sticker_timing(info, info.fps)
        notes = tuple(StickerNote(change.code, change.value, change.to) for change in changes)
        master = Path(tmp) / "master.mkv"
        writer = video_out.MasterWriter(master, read.width, read.height, fps)
        opaque = np.full((read.height, read.width), 255, dtype=np.uint8)
        for frame in read_frames(source, info, read, CLIP_LIMITS):
            writer.write(frame.rgb, opaque)
        writer.close()
        out = Path(tmp) / "sticker.webm"
        video_out.encode_video_sticker(str(master), out, fps)
        return StickerFile(out.read_bytes(), video=True, notes=notes)
