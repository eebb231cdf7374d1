"""Reading clips: probe a file from its header, refuse bombs, and decode it frame by frame.

API (all blocking: call it from a worker, never on an event loop):

- ``probe_clip(path, limits) -> ClipInfo``: the container, codec, displayed size, frame rate, duration, a
  frame-count estimate, audio, alpha and display rotation, read from the header (plus, for MP4/MOV/MKV within
  the limits, the first frame: where FFmpeg hands over the rotation); raises a ClipError subclass
  (engine/errors.py) for a damaged file, no video stream, an unsupported codec, or a clip over ``limits`` (too
  long, too many frames, too many pixels a frame). TGS stickers (gzipped Lottie) are read with rlottie-python (LGPL).
- ``read_frames(path, info, plan, limits) -> Iterator[Frame]``: RGB uint8 frames (plus the alpha plane when the
  source has one) at the planned size, frame-rate cap and length, turned (and mirrored) as the file's display
  matrix says (a phone's portrait video stored landscape comes out portrait). One frame lives at a time: memory does not
  grow with the clip. VP9/VP8 WEBM with alpha is decoded with libvpx, because FFmpeg's own VP9 decoder drops it.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import (
    ClipDamagedError,
    ClipNoFramesError,
    ClipNoVideoError,
    ClipTooLargeError,
    ClipTooLongError,
    ClipTooManyFramesError,
    ClipUnsupportedError,
)

log = logging.getLogger(__name__)

TGS_SUFFIX = ".tgs"
# A TGS sticker is at most 64 KB gzipped; its JSON is small. More than this unpacked is a gzip bomb.
TGS_MAX_JSON_BYTES = 16 * 1024 * 1024
# Lottie stickers are drawn at 512 px in Telegram: render them there.
TGS_RENDER_SIDE = 512
# WEBM streams that say they carry alpha, and the libvpx decoders that keep it.
ALPHA_DECODERS = {"vp9": "libvpx-vp9", "vp8": "libvpx"}
# Slack on the header's length: decoded timestamps may run a little past the declared duration.
LENGTH_SLACK_S = 0.5
# Containers that carry a display matrix (phones' MP4/MOV; Matroska's projection roll). GIFs and the rest never do.
ROTATED_CONTAINERS = {"mov", "matroska"}


@dataclass(frozen=True)
class ClipLimits:
    """What a clip may be before it is refused from its header (the bot's operator settings fill these)."""

    max_seconds: float = 60.0
    max_frames: int = 3600
    # A 4K frame; a 10,000 x 10,000 GIF is refused before one pixel is decoded.
    max_pixels: int = 3840 * 2160


@dataclass(frozen=True)
class ClipInfo:
    """What the header says about a clip."""

    path: str
    container: str
    codec: str
    width: int
    height: int
    fps: float
    duration_s: float
    frames: int
    has_audio: bool
    has_alpha: bool
    audio_codec: str | None = None
    # Degrees the stored frames are turned counter-clockwise for display (0, 90, 180 or 270, FFmpeg's convention),
    # then mirrored left-right if `mirrored`; width and height above are the displayed ones, and read_frames
    # turns every frame upright.
    rotation: int = 0
    mirrored: bool = False

    @property
    def is_tgs(self) -> bool:
        """A Lottie sticker, rendered by rlottie rather than decoded by FFmpeg."""
        return self.container == "tgs"


@dataclass(frozen=True)
class ReadPlan:
    """How to read a clip: output size, optional centre square crop, frame-rate cap and length cut."""

    width: int
    height: int
    fps: float
    max_seconds: float
    square: bool = False


@dataclass(frozen=True)
class Frame:
    """One decoded frame: RGB (H x W x 3 uint8), the alpha plane (H x W uint8) or None, its time in seconds."""

    index: int
    time_s: float
    rgb: np.ndarray
    alpha: np.ndarray | None


def probe_clip(path: str | os.PathLike[str], limits: ClipLimits | None = None) -> ClipInfo:
    """The clip's header facts; raises a ClipError subclass when it cannot or must not be painted."""
    limits = limits or ClipLimits()
    path = str(path)
    info = _probe_tgs(path) if Path(path).suffix.lower() == TGS_SUFFIX else _probe_av(path, limits)
    check_limits(info, limits)
    log.debug("probed %s: %s", path, info)
    return info


def check_limits(info: ClipInfo, limits: ClipLimits) -> None:
    """Refuse a clip whose header is over the limits (a bomb is refused before any frame is decoded)."""
    if info.width * info.height > limits.max_pixels:
        raise ClipTooLargeError(
            f"frames of {info.width}x{info.height} px are over the limit of {limits.max_pixels} pixels",
            width=info.width,
            height=info.height,
            limit_pixels=limits.max_pixels,
        )
    if info.frames > limits.max_frames:
        raise ClipTooManyFramesError(
            f"{info.frames} frames are over the limit of {limits.max_frames}",
            frames=info.frames,
            limit=limits.max_frames,
        )
    if info.duration_s > limits.max_seconds:
        raise ClipTooLongError(
            f"{info.duration_s:.1f} s is over the limit of {limits.max_seconds:g} s",
            seconds=round(info.duration_s, 1),
            limit_s=limits.max_seconds,
        )


def _open(path: str) -> Any:
    """The PyAV container, or a ClipDamagedError."""
    import av

    try:
        return av.open(path, metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise ClipDamagedError(f"cannot open {path}: {exc}") from None


def _probe_av(path: str, limits: ClipLimits) -> ClipInfo:
    """Header facts of anything FFmpeg opens (MP4, WEBM, GIF, ...), at the size it is displayed."""
    with _open(path) as container:
        if not container.streams.video:
            raise ClipNoVideoError(f"{path} has no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx is None or not stream.codec_context.name:
            raise ClipUnsupportedError(f"{path}: no decoder for its video codec", codec="unknown")
        width, height = int(stream.width or ctx.width), int(stream.height or ctx.height)
        if width <= 0 or height <= 0:
            raise ClipDamagedError(f"{path}: the video stream declares no frame size")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 25.0
        duration = _duration_s(container, stream)
        frames = int(stream.frames) if stream.frames else math.ceil(duration * fps)
        audio = container.streams.audio[0] if container.streams.audio else None
        codec = ctx.name
        info = ClipInfo(
            path=path,
            container=container.format.name.split(",")[0],
            codec=codec,
            width=width,
            height=height,
            fps=fps,
            duration_s=duration,
            frames=frames,
            has_audio=audio is not None,
            has_alpha=_has_alpha(stream),
            audio_codec=audio.codec_context.name if audio is not None and audio.codec_context else None,
        )
        if info.container not in ROTATED_CONTAINERS:
            return info
        # Refused before a frame is decoded: a turn changes none of the pixels, frames or length checked.
        check_limits(info, limits)
        return _upright(info, *_display_orientation(container, stream))


def _display_orientation(container: Any, stream: Any) -> tuple[int, bool]:
    """How the first video frame is shown: a turn (0, 90, 180 or 270 degrees counter-clockwise) and a mirror.

    PyAV 18 shows no stream side data: FFmpeg puts the container's display matrix on every decoded frame, so one
    frame is decoded (~8 ms at 720p). A clip whose first frame will not decode says (0, False) here; read_frames
    reports the damage.
    """
    import av
    from av.sidedata.sidedata import Type

    try:
        frame = next(container.decode(stream), None)
    except av.error.FFmpegError:
        return 0, False
    side = frame.side_data.get(Type.DISPLAYMATRIX) if frame is not None else None
    return _orientation(struct.unpack("=9i", bytes(side))) if side is not None else (0, False)


def _orientation(matrix: tuple[int, ...]) -> tuple[int, bool]:
    """An FFmpeg display matrix (display.h: x' = a x + c y, y' = b x + d y) as a quarter turn counter-clockwise
    (rounded; FFmpeg's av_display_rotation_get sign) and whether the turned frame is then mirrored left-right."""
    a, b, c, d = matrix[0], matrix[1], matrix[3], matrix[4]
    mirrored = a * d - b * c < 0
    if mirrored:  # take the mirror (x' -> -x') off: what is left is a turn
        a, c = -a, -c
    turn = round(-math.degrees(math.atan2(b, a)) / 90) % 4 * 90
    return turn, mirrored


def _upright(info: ClipInfo, rotation: int, mirrored: bool) -> ClipInfo:
    """The clip as it is displayed: a quarter turn swaps the sides."""
    if rotation in (90, 270):
        return replace(info, width=info.height, height=info.width, rotation=rotation, mirrored=mirrored)
    return replace(info, rotation=rotation, mirrored=mirrored)


def _duration_s(container: Any, stream: Any) -> float:
    """The stream's duration, else the container's, in seconds (0 when neither says)."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return 0.0


def _has_alpha(stream: Any) -> bool:
    """WEBM says so in a tag (alpha_mode); GIFs and others in their pixel format."""
    if str(stream.metadata.get("alpha_mode", stream.metadata.get("ALPHA_MODE", ""))) == "1":
        return True
    pix_fmt = stream.codec_context.pix_fmt or ""
    # FFmpeg decodes every GIF to bgra; whether it has transparent pixels shows only in the frames.
    return pix_fmt.startswith(("yuva", "rgba", "bgra", "argb", "abgr", "ya"))


def _tgs_json(path: str) -> tuple[str, dict[str, Any]]:
    """The Lottie JSON text and its parsed header; a gzip bomb or broken file is a ClipDamagedError."""
    try:
        with gzip.open(path, "rb") as packed:
            raw = packed.read(TGS_MAX_JSON_BYTES + 1)
    except (OSError, EOFError) as exc:
        raise ClipDamagedError(f"cannot unpack the TGS sticker {path}: {exc}") from None
    if len(raw) > TGS_MAX_JSON_BYTES:
        raise ClipTooLargeError(
            f"the TGS sticker {path} unpacks to over {TGS_MAX_JSON_BYTES} bytes",
            width=0,
            height=0,
            limit_pixels=0,
        )
    try:
        text = raw.decode("utf-8")
        doc = json.loads(text)
        header = {key: doc[key] for key in ("w", "h", "fr", "ip", "op")}
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise ClipDamagedError(f"the TGS sticker {path} is not Lottie JSON: {exc}") from None
    return text, header


def _probe_tgs(path: str) -> ClipInfo:
    """Header facts of a Lottie sticker: its canvas, frame rate and in/out frames."""
    _, header = _tgs_json(path)
    try:
        width, height, fps = int(header["w"]), int(header["h"]), float(header["fr"])
        frames = int(header["op"]) - int(header["ip"])
    except (TypeError, ValueError) as exc:
        raise ClipDamagedError(f"the TGS sticker {path} has a bad header: {exc}") from None
    if width <= 0 or height <= 0 or fps <= 0:
        raise ClipDamagedError(f"the TGS sticker {path} declares {width}x{height} px at {fps} fps")
    if frames <= 0:
        raise ClipNoFramesError(f"the TGS sticker {path} has no frames")
    scale = TGS_RENDER_SIDE / max(width, height)
    return ClipInfo(
        path=path,
        container="tgs",
        codec="lottie",
        width=max(1, round(width * scale)),
        height=max(1, round(height * scale)),
        fps=fps,
        duration_s=frames / fps,
        frames=frames,
        has_audio=False,
        has_alpha=True,
    )


def read_frames(path: str | os.PathLike[str], info: ClipInfo, plan: ReadPlan, limits: ClipLimits) -> Iterator[Frame]:
    """Decode the clip as planned, one frame at a time; raises ClipError subclasses for what the header hid."""
    frames = _tgs_frames(str(path), info, plan) if info.is_tgs else _av_frames(str(path), info, plan, limits)
    count = 0
    for frame in frames:
        count += 1
        yield frame
    if count == 0:
        raise ClipNoFramesError(f"{path} has no frames")


class _RateCap:
    """Drops frames so that at most `fps` a second pass, spaced by their own timestamps."""

    def __init__(self, fps: float) -> None:
        self.step = 1.0 / fps
        self.next_t = -math.inf

    def keep(self, t: float) -> bool:
        """Whether the frame at time `t` is kept."""
        # A quarter-frame tolerance: a 30 fps source under a 30 fps cap keeps every frame despite rounding.
        if t < self.next_t - self.step * 0.25:
            return False
        # Slots advance by the step (no drift); after a gap in the timestamps they restart from this frame.
        self.next_t = self.next_t + self.step if t <= self.next_t + self.step else t + self.step
        return True


def _av_frames(path: str, info: ClipInfo, plan: ReadPlan, limits: ClipLimits) -> Iterator[Frame]:
    """Frames through PyAV; alpha WEBM through libvpx."""
    import av

    cap = _RateCap(plan.fps)
    index = decoded = 0
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for i, vframe in enumerate(_decode(container, stream, info)):
                decoded += 1
                t = float(vframe.time) if vframe.time is not None else i / info.fps
                _check_decoded(path, decoded, t, limits)
                if t >= plan.max_seconds - 1e-6:
                    break
                if not cap.keep(t):
                    continue
                rgb, alpha = _to_arrays(vframe, plan, info.has_alpha, info.rotation, info.mirrored)
                yield Frame(index, t, rgb, alpha)
                index += 1
        except av.error.FFmpegError as exc:
            raise ClipDamagedError(f"cannot decode {path} after {decoded} frames: {exc}") from None


def _decode(container: Any, stream: Any, info: ClipInfo) -> Iterator[Any]:
    """The video frames; WEBM with alpha goes through the libvpx decoder, which reads the alpha side data."""
    import av

    decoder_name = ALPHA_DECODERS.get(info.codec) if info.has_alpha else None
    if decoder_name is None:
        yield from container.decode(stream)
        return
    decoder: Any = av.CodecContext.create(decoder_name, "r")
    for packet in container.demux(stream):
        for frame in decoder.decode(packet):  # the last packet is the flush (size 0) one
            if frame.pts is not None and packet.time_base is not None:
                frame.time_base = packet.time_base
            yield frame


def _check_decoded(path: str, decoded: int, t: float, limits: ClipLimits) -> None:
    """Refuse a clip whose frames run past the limits its header hid (a lying GIF or MP4 header)."""
    if decoded > limits.max_frames:
        raise ClipTooManyFramesError(
            f"{path} has more than {limits.max_frames} frames", frames=decoded, limit=limits.max_frames
        )
    if t > limits.max_seconds + LENGTH_SLACK_S:
        raise ClipTooLongError(
            f"{path} runs past {limits.max_seconds:g} s", seconds=round(t, 1), limit_s=limits.max_seconds
        )


def _to_arrays(
    vframe: Any, plan: ReadPlan, alpha: bool, rotation: int = 0, mirrored: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """RGB (and alpha) arrays at the planned size, scaled by swscale, turned upright, centre-cropped if asked."""
    turned = rotation in (90, 270)
    src_w, src_h = (vframe.height, vframe.width) if turned else (vframe.width, vframe.height)
    if src_w * src_h <= 0:
        raise ClipDamagedError("a frame has no pixels")
    width, height = _scaled_size(src_w, src_h, plan)
    fmt = "rgba" if alpha else "rgb24"
    stored_w, stored_h = (height, width) if turned else (width, height)
    array = vframe.reformat(width=stored_w, height=stored_h, format=fmt, interpolation="AREA").to_ndarray()
    # np.rot90 turns counter-clockwise for a positive k, as FFmpeg's display rotation does.
    array = np.rot90(array, rotation // 90)
    array = _centre_crop(array[:, ::-1] if mirrored else array, plan.width, plan.height)
    if alpha:
        return np.ascontiguousarray(array[..., :3]), np.ascontiguousarray(array[..., 3])
    return np.ascontiguousarray(array), None


def _scaled_size(src_w: int, src_h: int, plan: ReadPlan) -> tuple[int, int]:
    """The size to scale to before the crop: the plan's size, or for a square the short side at the plan's side."""
    if not plan.square:
        return plan.width, plan.height
    scale = plan.width / min(src_w, src_h)
    return max(plan.width, round(src_w * scale)), max(plan.height, round(src_h * scale))


def _centre_crop(array: np.ndarray, width: int, height: int) -> np.ndarray:
    """The middle width x height of an H x W x C array."""
    top, left = (array.shape[0] - height) // 2, (array.shape[1] - width) // 2
    return array[top : top + height, left : left + width]


def _tgs_frames(path: str, info: ClipInfo, plan: ReadPlan) -> Iterator[Frame]:
    """A Lottie sticker rendered frame by frame with rlottie at the planned size."""
    from rlottie_python import LottieAnimation

    text, _ = _tgs_json(path)
    try:
        animation = LottieAnimation.from_data(text)
    except Exception as exc:  # rlottie refuses what it cannot parse, with its own error types
        raise ClipDamagedError(f"rlottie cannot read {path}: {exc}") from None
    # rlottie counts the out-point frame too; the header's op - ip is the sticker's length.
    total = min(int(animation.lottie_animation_get_totalframe()), info.frames)
    fps = float(animation.lottie_animation_get_framerate()) or info.fps
    cap, index = _RateCap(plan.fps), 0
    width, height = _scaled_size(info.width, info.height, plan)
    for number in range(total):
        t = number / fps
        if t >= plan.max_seconds - 1e-6:
            break
        if not cap.keep(t):
            continue
        image = animation.render_pillow_frame(frame_num=number, width=width, height=height)
        rgb, alpha = unpremultiply(np.asarray(image))
        yield Frame(index, t, _centre_crop(rgb, plan.width, plan.height), _centre_crop(alpha, plan.width, plan.height))
        index += 1


def unpremultiply(rgba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Straight RGB and alpha from premultiplied RGBA (rlottie draws premultiplied pixels)."""
    alpha = rgba[..., 3]
    a = np.maximum(alpha.astype(np.float32), 1.0)[..., np.newaxis]
    rgb = np.clip(np.rint(rgba[..., :3].astype(np.float32) * 255.0 / a), 0, 255).astype(np.uint8)
    return rgb, np.ascontiguousarray(alpha)


def fraction_rate(fps: float) -> Fraction:
    """A frame rate as the small fraction encoders want (29.97 -> 30000/1001)."""
    return Fraction(fps).limit_denominator(1001)
