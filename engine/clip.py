"""The clip method: GIFs, videos, video notes and stickers painted by the instant network, without flicker.

Every frame is painted with ONE style vector for the whole clip (the photo path's blend, strength and
keep-colours, computed on the first frame: ``FastStylizer.mixed_vector``). Temporal consistency (after Ruder et
al. 2016): the previous *output* frame is warped onto the current one by optical flow computed on the *source*
frames (OpenCV DIS, preset "fast" on a flow grid at least 256 px wide), and blended in where the
forward-backward check says the pixel is visible in both frames; occluded pixels, motion boundaries and the frames
after a scene cut take the fresh painting.

Deviations from Ruder et al.:
- No optimisation per frame. Their temporal loss, sum c * (x - warped)^2, with a fidelity term (x - painted)^2
  has the per-pixel minimiser x = (1 - a c) painted + a c warped, a = w / (1 + w): that closed form is what
  ``TemporalBlender`` computes (a = 0.9). ``ClipOptions.refine_steps`` puts a few steps of their optimisation
  back on top of it (engine/clip_refine.py).
- The visibility c is a soft confidence in 0..1 rather than their hard 0/1 test (``engine.flow.SOFTNESS``).
- The previous output is warped bicubically: bilinear resampling, repeated frame after frame, blurs the strokes
  (bikes.mp4 at 256 px kept 61 % of the per-frame painting's Laplacian energy with bilinear warps, 73 % with
  bicubic ones, the blend otherwise the same; docs/benchmarks.md).

API for the bot (blocking; call from a worker process or thread, never on an event loop):

- ``probe_clip(path, limits) -> ClipInfo`` (engine.video_io): header facts; refuses bombs with ClipError kinds.
- ``paint_clip(source, styles, params, out_path, kind=..., limits=..., options=..., on_progress=...,
  should_stop=...) -> ClipResult``: decode -> paint -> blend -> encode, streaming, one frame in memory at a time.
  ``kind`` is "animation" (MP4 H.264, no audio), "video" (MP4 H.264 + the source's sound as AAC), "video_note"
  (the same, square, side < 640, <= 60 s), "video_sticker" (WEBM VP9 with alpha, 512 px, <= 3 s, <= 30 fps,
  <= 256 KB) or "sticker" (static WEBP with alpha, 512 px, from the first frame). The first painted frame comes
  at once through ``on_progress`` (``Progress.preview`` of step 1) and in ``ClipResult.first_frame``; every
  frame reports ``Progress(step=frame, total=estimated frames, eta_s=...)``. ``should_stop()`` is asked before
  every frame: True raises Cancelled and leaves no output file. ``ClipResult.notes`` says, as codes, when a
  sticker was shortened or sped up to fit Telegram's rules.
- ``plan_output(info, kind, max_side, fps_cap) -> OutputPlan`` and ``estimated_frames(info, plan)``: the
  output's size and frame rate and about how many frames it will take, before any decoding (a job's cost).
- ``ClipPainter(stylizer, styles, params, options).paint(frames) -> Iterator[Frame]``: the streaming core
  (frames in, painted frames out) for callers that decode and encode themselves.
- ``ClipOptions(refine_steps=N)`` (N > 0) refines every blended frame with N steps of the Gatys loss plus a temporal
  term (engine/clip_refine.py, TensorFlow, imported only then), on ``paint_clip(..., gatys=Stylizer)``'s VGG;
  ``should_stop()`` is then also asked before every loss evaluation.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np
from PIL import Image

from engine import flow, video_out
from engine.errors import Cancelled, ClipNoAlphaError, ClipStickerTooBigError, ClipTooLongError, InvalidParamsError
from engine.fast import FastStylizer, fast_stylizer
from engine.imaging import ImageInput, load_image
from engine.params import StyleParams
from engine.progress import Losses, Progress
from engine.sticker_timing import ClipNote, sticker_timing
from engine.video_io import ClipInfo, ClipLimits, Frame, ReadPlan, fraction_rate, probe_clip, read_frames

if TYPE_CHECKING:
    from engine.transfer import Stylizer

log = logging.getLogger(__name__)

Kind = Literal["animation", "video", "video_note", "sticker", "video_sticker"]
KINDS: tuple[Kind, ...] = ("animation", "video", "video_note", "sticker", "video_sticker")
# Telegram refuses video notes of 640 px and more, and longer than a minute.
VIDEO_NOTE_MAX_SIDE = 638
VIDEO_NOTE_MAX_SECONDS = 60.0
# Weight of the warped previous output where it is visible (a = w / (1 + w) above: w = 9). At 0.8 the fresh
# painting's share kept the strokes boiling on fast pans (bikes.mp4: 4.2x the source's warping error at 384 px).
DEFAULT_TEMPORAL = 0.9
DEFAULT_FPS_CAP = 30.0
MAX_REFINE_STEPS = 100
# Weight of the refinement's temporal term against the photo path's loss (engine/clip_refine.py, docs/benchmarks.md).
DEFAULT_REFINE_TEMPORAL = 1e3
_NO_LOSSES = Losses(0.0, 0.0, 0.0, 0.0)

ProgressCallback = Callable[[Progress], None]
StopPredicate = Callable[[], bool]


@dataclass(frozen=True)
class ClipOptions:
    """The clip method's own knobs (the style ones come from StyleParams)."""

    # 0 paints every frame on its own (flickers); up to 1 keeps more of the warped previous frame.
    temporal: float = DEFAULT_TEMPORAL
    fps_cap: float = DEFAULT_FPS_CAP
    flow_preset: flow.Preset = "fast"
    # Only for stickers: refuse a source without transparency instead of making an opaque sticker.
    require_alpha: bool = False
    # Steps of Gatys refinement per frame (0: off, the instant network and the blend alone; needs TensorFlow).
    refine_steps: int = 0
    refine_temporal: float = DEFAULT_REFINE_TEMPORAL

    def __post_init__(self) -> None:
        """Check the ranges."""
        steps = self.refine_steps
        if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps <= MAX_REFINE_STEPS:
            raise InvalidParamsError(f"refine_steps must be an integer from 0 to {MAX_REFINE_STEPS}, got {steps!r}")
        if not (math.isfinite(self.refine_temporal) and self.refine_temporal >= 0):
            raise InvalidParamsError(f"refine_temporal must be a number from 0 up, got {self.refine_temporal}")
        if not 0.0 <= self.temporal < 1.0:
            raise InvalidParamsError(f"temporal must be in 0..1 (1 excluded), got {self.temporal}")
        if not 1.0 <= self.fps_cap <= 120.0:
            raise InvalidParamsError(f"fps_cap must be in 1..120, got {self.fps_cap}")


@dataclass(frozen=True)
class ClipResult:
    """A painted clip written to `path`."""

    path: Path
    kind: Kind
    frames: int
    fps: float
    duration_s: float
    seconds: float
    size: tuple[int, int]
    first_frame: Image.Image
    has_audio: bool
    has_alpha: bool
    bytes: int
    cuts: int
    notes: tuple[ClipNote, ...] = ()


@dataclass(frozen=True)
class OutputPlan:
    """How a source becomes an output kind: what to read, the output frame rate and what was changed."""

    read: ReadPlan
    out_fps: Fraction
    notes: tuple[ClipNote, ...] = field(default_factory=tuple)


def even(value: float) -> int:
    """The nearest even integer, at least 2 (H.264 yuv420p needs even sides)."""
    return max(2, 2 * round(value / 2))


def plan_output(info: ClipInfo, kind: Kind, max_side: int, fps_cap: float = DEFAULT_FPS_CAP) -> OutputPlan:
    """Size, crop, frame rate and length of `kind` made from `info` (painting at most `max_side` px)."""
    if kind not in KINDS:
        raise InvalidParamsError(f"unknown clip kind {kind!r}; use one of {', '.join(KINDS)}")
    fps = min(info.fps, fps_cap)
    longest = max(info.width, info.height)
    if kind in ("sticker", "video_sticker"):
        width, height = video_out.sticker_size(info.width, info.height)
    elif kind == "video_note":
        side = even(min(max_side, info.width, info.height, VIDEO_NOTE_MAX_SIDE) - 1)
        width = height = side
    else:
        scale = min(1.0, max_side / longest)  # never enlarge a clip: it only costs time
        width, height = even(info.width * scale), even(info.height * scale)
    if kind == "video_note" and info.duration_s > VIDEO_NOTE_MAX_SECONDS:
        raise ClipTooLongError(
            f"a video note may last {VIDEO_NOTE_MAX_SECONDS:g} s, this one {info.duration_s:.1f} s",
            seconds=round(info.duration_s, 1),
            limit_s=VIDEO_NOTE_MAX_SECONDS,
        )
    if kind == "sticker":
        return OutputPlan(ReadPlan(width, height, fps, math.inf), fraction_rate(fps))
    if kind != "video_sticker":
        return OutputPlan(ReadPlan(width, height, fps, math.inf, square=kind == "video_note"), fraction_rate(fps))
    return OutputPlan(*sticker_timing(info, fps))


@dataclass(frozen=True)
class Guide:
    """The previous output warped onto the current frame, and how far each pixel of it can be trusted."""

    warped: np.ndarray  # H x W x 3 float32, 0..255
    confidence: np.ndarray  # H x W float32 in 0..1: 1 where visible in the previous frame, less the less certain


class TemporalBlender:
    """Blends each fresh painting with the warped previous output where the source's flow says it is visible."""

    def __init__(self, temporal: float = DEFAULT_TEMPORAL, preset: flow.Preset = "fast") -> None:
        self.temporal = temporal
        self.preset = preset
        self.estimator: flow.FlowEstimator | None = None  # made for the first frame's size
        self._prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # grey, thumbnail, output (float32)
        self.cuts = 0
        # The last blend's guide (None on the first frame and after a cut): what a refiner holds the frame to.
        self.guide: Guide | None = None

    def replace_output(self, output: np.ndarray) -> None:
        """Make `output` (uint8 RGB, refined after the blend) the frame the next one is warped from."""
        assert self._prev is not None, "replace_output before any blend"
        grey, thumb, _ = self._prev
        self._prev = (grey, thumb, output.astype(np.float32))

    def blend(self, source: np.ndarray, painted: np.ndarray) -> np.ndarray:
        """The output frame (uint8 RGB) for `source` whose own painting is `painted`."""
        grey = flow.gray(source)
        thumb = flow.thumbnail(grey)
        out = painted.astype(np.float32)
        self.guide = None
        if self._prev is not None and self.temporal > 0:
            prev_grey, prev_thumb, prev_out = self._prev
            pair = None if flow.is_cut(prev_thumb, thumb) else self._estimator(grey).pair(prev_grey, grey)
            if pair is None or flow.is_cut(prev_thumb, thumb, pair):
                # A new scene: nothing of the previous output belongs here (blending would ghost it in).
                self.cuts += 1
            else:
                self.guide = Guide(flow.warp(prev_out, pair.backward, cubic=True), pair.confidence)
                weight = (self.temporal * self.guide.confidence)[..., np.newaxis]
                out += weight * (self.guide.warped - out)
        # Bicubic warps overshoot a little at sharp edges; clipped here, the overshoot cannot build up over frames.
        out = np.clip(out, 0, 255)
        self._prev = (grey, thumb, out)
        return np.rint(out).astype(np.uint8)

    def _estimator(self, grey: np.ndarray) -> flow.FlowEstimator:
        """The flow estimator for this clip's frame size."""
        if self.estimator is None:
            self.estimator = flow.FlowEstimator.for_frames(self.preset, grey.shape[1], grey.shape[0])
        return self.estimator


class Refiner(Protocol):
    """Improves a blended frame, holding it to the guide (engine.clip_refine.FrameRefiner)."""

    def refine(self, source: np.ndarray, start: np.ndarray, guide: Guide | None) -> np.ndarray:
        """The refined frame (uint8 RGB) of `source`, from `start`, the blended frame."""
        ...


class ClipPainter:
    """Frames in, painted frames out: one style vector for the clip, blended over time (and refined, if asked)."""

    def __init__(
        self,
        stylizer: FastStylizer,
        styles: Sequence[Image.Image],
        params: StyleParams,
        options: ClipOptions | None = None,
        refiner: Refiner | None = None,
    ) -> None:
        if not styles:
            raise InvalidParamsError("at least one style image is needed")
        self.stylizer = stylizer
        self.styles = list(styles)
        self.blend_weights = params.blend_for(len(self.styles))
        self.params = params
        self.options = options or ClipOptions()
        self.blender = TemporalBlender(self.options.temporal, self.options.flow_preset)
        self.vector: np.ndarray | None = None
        self.refiner = refiner

    def paint_one(self, rgb: np.ndarray) -> np.ndarray:
        """One frame painted on its own with the clip's vector (computed from the first frame)."""
        image = Image.fromarray(rgb, "RGB")
        if self.vector is None:
            self.vector = self.stylizer.mixed_vector(image, self.styles, self.blend_weights, self.params)
        painted = self.stylizer.paint_photo(image, self.vector, keep_colors=self.params.keep_colors)
        return np.asarray(painted)

    def paint(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        """The painted frames, one at a time, alpha passed through."""
        for frame in frames:
            painted = self.blender.blend(frame.rgb, self.paint_one(frame.rgb))
            if self.refiner is not None:
                painted = self.refiner.refine(frame.rgb, painted, self.blender.guide)
                self.blender.replace_output(painted)  # the next frame is warped from (and held to) the refined one
            yield replace(frame, rgb=painted)


def paint_clip(
    source: str | os.PathLike[str],
    styles: ImageInput | Sequence[ImageInput],
    params: StyleParams | None,
    out_path: str | os.PathLike[str],
    *,
    kind: Kind,
    limits: ClipLimits | None = None,
    options: ClipOptions | None = None,
    stylizer: FastStylizer | None = None,
    on_progress: ProgressCallback | None = None,
    should_stop: StopPredicate | None = None,
    info: ClipInfo | None = None,
    gatys: Stylizer | None = None,
) -> ClipResult:
    """Paint the clip at `source` into `out_path` as `kind`; see the module docstring.

    `gatys` is the Stylizer whose VGG refines the frames when options.refine_steps > 0 (None: one for the
    environment's STYLEBOT_BACKBONE and STYLEBOT_WEIGHTS).
    """
    start = time.perf_counter()
    limits = limits or ClipLimits()
    options = options or ClipOptions()
    params = params or StyleParams(method="fast")
    info = info or probe_clip(source, limits)
    if options.require_alpha and kind in ("sticker", "video_sticker") and not info.has_alpha:
        raise ClipNoAlphaError(f"{source} has no transparency", codec=info.codec)
    plan = plan_output(info, kind, params.max_side, options.fps_cap)
    style_images = _style_images(styles)
    refiner = _refiner(gatys, style_images, params, options, should_stop) if options.refine_steps > 0 else None
    painter = ClipPainter(stylizer or fast_stylizer(), style_images, params, options, refiner)
    out_path = Path(out_path)
    total = estimated_frames(info, plan)
    frames = read_frames(source, info, plan.read, limits)
    if kind == "sticker":
        frames = _first(frames)
    run = _Run(start, total, on_progress, should_stop)
    painted = run.track(painter.paint(frames))
    temps: list[Path] = []
    try:
        has_audio = _encode(kind, painted, plan, info, out_path, temps)
    except BaseException:
        # Cancelled, or a clip whose frames broke a limit half-way: no half-written output is left behind.
        temps.append(out_path)
        raise
    finally:
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
    if run.first is None:  # read_frames raises first; kept for the type checker
        raise Cancelled(0)
    seconds = time.perf_counter() - start
    result = ClipResult(
        path=out_path,
        kind=kind,
        frames=run.count,
        fps=float(plan.out_fps),
        duration_s=run.count / float(plan.out_fps) if kind != "sticker" else 0.0,
        seconds=seconds,
        size=run.first.size,
        first_frame=run.first,
        has_audio=has_audio,
        has_alpha=kind in ("sticker", "video_sticker"),
        bytes=out_path.stat().st_size,
        cuts=painter.blender.cuts,
        notes=plan.notes,
    )
    log.info(
        "painted %s as %s: %d frames %dx%d in %.1f s (%.1f fps), %d bytes",
        source,
        kind,
        result.frames,
        *result.size,
        seconds,
        result.frames / max(seconds, 1e-9),
        result.bytes,
    )
    return result


def _refiner(
    gatys: Stylizer | None,
    styles: list[Image.Image],
    params: StyleParams,
    options: ClipOptions,
    should_stop: StopPredicate | None,
) -> Refiner:
    """The Gatys refiner of the frames (TensorFlow is imported here, and only here)."""
    from engine.clip_refine import FrameRefiner
    from engine.transfer import Stylizer

    if gatys is None:
        from engine.config import backbone_from_env, weights_from_env

        gatys = Stylizer(backbone_from_env(), weights_from_env())
    return FrameRefiner(gatys, styles, params, options.refine_steps, options.refine_temporal, should_stop)


def _style_images(styles: ImageInput | Sequence[ImageInput]) -> list[Image.Image]:
    """One style or several, decoded."""
    items: list[ImageInput] = list(styles) if isinstance(styles, list | tuple) else [styles]  # type: ignore[list-item]
    return [load_image(item) for item in items]


def estimated_frames(info: ClipInfo, plan: OutputPlan) -> int:
    """About how many frames the output will have: the progress total, and a job's cost for a fair queue."""
    seconds = min(info.duration_s, plan.read.max_seconds) if info.duration_s > 0 else info.frames / info.fps
    return max(1, min(info.frames, math.ceil(seconds * min(info.fps, plan.read.fps))))


def _first(frames: Iterator[Frame]) -> Iterator[Frame]:
    """Only the first frame (a static sticker), closing the decoder after it."""
    try:
        yield next(frames)
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()


class _Run:
    """Counts painted frames, reports progress (the first frame as the preview) and honours cancel."""

    def __init__(
        self, start: float, total: int, on_progress: ProgressCallback | None, should_stop: StopPredicate | None
    ) -> None:
        self.start, self.total = start, total
        self.on_progress, self.should_stop = on_progress, should_stop
        self.count = 0
        self.first: Image.Image | None = None

    def track(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        """Pass the frames on, reporting each."""
        while True:
            if self.should_stop is not None and self.should_stop():
                raise Cancelled(self.count)
            frame = next(frames, None)
            if frame is None:
                return
            self.count += 1
            preview = None
            if self.first is None:
                self.first = preview = Image.fromarray(frame.rgb, "RGB")
            if self.on_progress is not None:
                self.on_progress(self._progress(frame, preview))
            yield frame

    def _progress(self, frame: Frame, preview: Image.Image | None) -> Progress:
        """Progress after this frame, with an ETA from the frames so far."""
        elapsed = time.perf_counter() - self.start
        total = max(self.total, self.count)
        eta = elapsed / self.count * (total - self.count)
        size = (frame.rgb.shape[1], frame.rgb.shape[0])
        return Progress(self.count, total, _NO_LOSSES, elapsed, eta, size=size, preview=preview)


def _encode(
    kind: Kind, frames: Iterator[Frame], plan: OutputPlan, info: ClipInfo, out_path: Path, temps: list[Path]
) -> bool:
    """Write the painted frames as `kind`; returns whether the output has sound."""
    width, height = plan.read.width, plan.read.height
    if kind == "sticker":
        frame = next(frames)
        out_path.write_bytes(video_out.webp_sticker(frame.rgb, _alpha(frame)))
        return False
    if kind == "video_sticker":
        master = out_path.with_name(out_path.name + ".master.mkv")
        temps.append(master)
        writer = video_out.MasterWriter(master, width, height, plan.out_fps)
        for frame in frames:
            writer.write(frame.rgb, _alpha(frame))
        writer.close()
        fitted = video_out.encode_video_sticker(str(master), out_path, plan.out_fps)
        log.debug("video sticker %d bytes at %d bps after %d drafts", fitted.size, fitted.bit_rate, fitted.tries)
        if not fitted.fits:
            raise ClipStickerTooBigError(
                f"the video sticker stays {fitted.size} bytes, over {video_out.STICKER_MAX_BYTES}",
                bytes=fitted.size,
                limit_bytes=video_out.STICKER_MAX_BYTES,
            )
        return False
    with_sound = kind in ("video", "video_note") and info.has_audio
    video_path = out_path.with_name(out_path.name + ".video.mp4") if with_sound else out_path
    if with_sound:
        temps.append(video_path)
    h264 = video_out.H264Writer(video_path, width, height, plan.out_fps)
    for frame in frames:
        h264.write(frame.rgb)
    h264.close()
    return with_sound and video_out.mux_audio(video_path, info.path, out_path)


def _alpha(frame: Frame) -> np.ndarray:
    """The frame's alpha plane, or an opaque one."""
    if frame.alpha is not None:
        return frame.alpha
    return np.full(frame.rgb.shape[:2], 255, dtype=np.uint8)
