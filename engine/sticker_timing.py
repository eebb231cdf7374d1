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
    # Whole frames that fit in 3 s: at 29.97 fps that is 89 (2.97 s), as 90 would last 3.003 s and be refused.
    fitting = math.floor(limit * fps + 1e-6) / fps
    if duration <= limit + 1.0 / fps:
        # Over by less than a frame (a 29.97 fps clip of 90 frames): its last frame is dropped, nothing said.
        return ReadPlan(width, height, fps, fitting), fraction_rate(fps), ()
    if duration <= limit * STICKER_MAX_SPEEDUP:
        # One output frame of headroom: the frame count rounds up, and the sticker must not run past 3 s.
        speed = duration / (limit - 1.0 / video_out.STICKER_MAX_FPS)
        # Sped up, the frame rate rises with it: read fewer frames so the output stays at <= 30 fps.
        read_fps = min(fps, video_out.STICKER_MAX_FPS / speed)
        note = ClipNote("sped_up", round(speed, 3), limit)
        return ReadPlan(width, height, read_fps, math.inf), fraction_rate(read_fps * speed), (note,)
    note = ClipNote("shortened", round(duration, 2), limit)
    return ReadPlan(width, height, fps, fitting), fraction_rate(fps), (note,)
