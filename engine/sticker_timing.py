"""A video sticker's timing by Telegram's rules, apart from the painting code (callers that paint nothing use it).

Up to 3 s a clip stays as it is; up to 1.5 times that it is sped up; longer, it is cut to 3 s. The frame rate stays
at most 30 a second either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from engine import video_out
from engine.video_io import ClipInfo, ReadPlan, fraction_rate

# A video sticker longer than 3 s is sped up by at most this factor; beyond it, it is cut to 3 s.
STICKER_MAX_SPEEDUP = 1.5


@dataclass(frozen=True)
class ClipNote:
    """Something done to fit the output's rules, as a code for the caller's words: "shortened" or "sped_up"."""

    code: Literal["shortened", "sped_up"]
    # shortened: the source's seconds, cut to `to` seconds; sped_up: the speed factor, making it `to` seconds long.
    value: float
    to: float


def sticker_timing(info: ClipInfo, fps: float) -> tuple[ReadPlan, Fraction, tuple[ClipNote, ...]]:
    """What to read of `info` (at most `fps` frames a second), the sticker's frame rate, and what was changed."""
    width, height = video_out.sticker_size(info.width, info.height)
    fps = min(fps, video_out.STICKER_MAX_FPS)
    limit, duration = video_out.STICKER_MAX_SECONDS, info.duration_s
    if duration <= limit + 1e-3:
        return ReadPlan(width, height, fps, limit), fraction_rate(fps), ()
    if duration <= limit * STICKER_MAX_SPEEDUP:
        speed = duration / limit
        # Sped up, the frame rate rises with it: read fewer frames so the output stays at <= 30 fps.
        read_fps = min(fps, video_out.STICKER_MAX_FPS / speed)
        note = ClipNote("sped_up", round(speed, 3), limit)
        return ReadPlan(width, height, read_fps, math.inf), fraction_rate(read_fps * speed), (note,)
    note = ClipNote("shortened", round(duration, 2), limit)
    return ReadPlan(width, height, fps, limit), fraction_rate(fps), (note,)
