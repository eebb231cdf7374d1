"""Painting one RunJob: the engine call, the result files and the making-of. Both kinds of worker use it."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.core.errors import problem_of
from bot.jobs.layout import JobFiles
from bot.jobs.protocol import JobCancelled, JobDone, JobFailed, JobOutcome, JobProgress, RunJob

log = logging.getLogger(__name__)
PHOTO_SIDE_LIMIT = 1280  # Telegram recompresses photos beyond this anyway; HD goes as a document
FRAME_MS, LAST_FRAME_MS = 150, 2000
FRAME_GROWTH = 1.3  # frame k shows step ~1.3**k: about 20 frames for 150 steps
# Besides every job.report_every steps, progress goes out after the first step and whenever this long has passed:
# a 22-minute HD job on a CPU would otherwise say "Starting" for its first minute (5% of its steps).
REPORT_INTERVAL_S = 2.0


def paint(
    stylizer: Any, job: RunJob, report: Callable[[JobProgress], None], should_stop: Callable[[], bool]
) -> JobOutcome:
    """Run one job, writing its files into job.out_dir; the outcome as an event, never an exception."""
    from engine.errors import Cancelled, EngineError
    from engine.params import StyleParams

    if job.clip is not None:
        return paint_clip_job(stylizer, job, report, should_stop)
    frames: list[str] = []
    files = JobFiles(Path(job.out_dir))
    files.root.mkdir(parents=True, exist_ok=True)
    last_report = -float("inf")  # monotonic time of the last report sent

    def on_progress(p: Any) -> None:
        """Forward progress now and then, and keep frames for the making-of animation."""
        nonlocal last_report
        now = time.monotonic()
        due = p.step % job.report_every == 0 or now - last_report >= REPORT_INTERVAL_S
        if due or p.step == p.total:
            last_report = now
            live = None
            if p.preview is not None:
                tmp = files.live.with_suffix(".tmp")
                p.preview.save(tmp, "JPEG", quality=85)
                os.replace(tmp, files.live)  # the bot may be uploading the previous one
                live = str(files.live)
            report(JobProgress(job.job_id, p.fraction, p.eta_s, p.step, p.total, live))
        if p.preview is not None and p.step in frame_steps(p.total):
            path = files.frame(p.step)
            p.preview.save(path, quality=80)
            frames.append(str(path))

    try:
        params = StyleParams(**job.params)
        result = stylizer.run(
            job.content_path,
            list(job.style_paths),
            params,
            on_progress,
            should_stop,
            report_every=1,  # every step reaches on_progress, which picks what to send and what to keep
            preview_side=job.preview_side,
            init_image=job.init_path,
        )
        return _write_result(job, result, frames)
    except Cancelled:
        return JobCancelled(job.job_id)
    except EngineError as exc:
        return JobFailed(job.job_id, str(exc), user_error=True, problem=problem_of(exc))
    except Exception as exc:  # a bug or resource problem: report it, keep serving
        log.exception("job %d failed", job.job_id)
        return JobFailed(job.job_id, f"{type(exc).__name__}: {exc}", user_error=False)


def _write_result(job: RunJob, result: Any, frames: list[str]) -> JobDone:
    """Save the photo (and for HD the full-size document) and describe them."""
    from engine.imaging import encode_image, fit_longest_side

    files = JobFiles(Path(job.out_dir))
    image = result.image
    photo = image if max(image.size) <= PHOTO_SIDE_LIMIT else fit_longest_side(image, PHOTO_SIDE_LIMIT)
    photo_path = files.photo
    photo_path.write_bytes(encode_image(photo, "jpeg"))
    document_path = None
    if job.hd:
        document_path = files.document
        document_path.write_bytes(encode_image(image, "png"))
    making_of = _making_of(job.content_path, frames, image, files.making_of)
    return JobDone(
        job.job_id,
        str(photo_path),
        str(document_path) if document_path else None,
        str(making_of) if making_of else None,
        result.stats.seconds,
        image.size,
    )


def paint_clip_job(
    stylizer: Any, job: RunJob, report: Callable[[JobProgress], None], should_stop: Callable[[], bool]
) -> JobOutcome:
    """A clip job: every frame by the instant network (engine.clip), the first painted frame shown at once.

    `stylizer` is the worker's Stylizer: its fast_model_dir names the instant network's folder (None: the package's),
    and with clip.refine_steps its VGG refines the frames (the one photo jobs use, not a second copy).
    """
    from engine.clip import ClipOptions, paint_clip
    from engine.errors import Cancelled, EngineError
    from engine.fast import fast_stylizer
    from engine.params import StyleParams
    from engine.video_io import ClipLimits

    assert job.clip is not None
    files = JobFiles(Path(job.out_dir))
    files.root.mkdir(parents=True, exist_ok=True)
    last_report = -float("inf")

    def on_progress(p: Any) -> None:
        """The first frame at once as the live picture, then frames done of the estimate, every second or so."""
        nonlocal last_report
        now = time.monotonic()
        if p.preview is None and now - last_report < REPORT_INTERVAL_S and p.step != p.total:
            return
        last_report = now
        live = None
        if p.preview is not None:
            _save_jpeg(p.preview, files.live)
            live = str(files.live)
        report(JobProgress(job.job_id, p.fraction, p.eta_s, p.step, p.total, live))

    try:
        clip = job.clip
        limits = ClipLimits(max_seconds=clip.max_seconds, max_frames=clip.max_frames)
        result = paint_clip(
            job.content_path,
            list(job.style_paths),
            StyleParams(**job.params),
            files.clip(clip.kind),
            kind=clip.kind,  # type: ignore[arg-type]  # checked by the engine
            limits=limits,
            options=ClipOptions(fps_cap=clip.fps_cap, refine_steps=clip.refine_steps),
            stylizer=fast_stylizer(getattr(stylizer, "fast_model_dir", None)),
            gatys=stylizer if clip.refine_steps else None,
            on_progress=on_progress,
            should_stop=should_stop,
        )
        _save_jpeg(result.first_frame, files.photo)
        notes = tuple(f"{n.code}:{n.value:g}:{n.to:g}" for n in result.notes)
        if notes:
            files.notes.write_text("\n".join(notes))
        return JobDone(job.job_id, str(files.photo), None, None, result.seconds, result.size, str(result.path), notes)
    except Cancelled:
        return JobCancelled(job.job_id)
    except EngineError as exc:  # the clip is at fault (a ClipError's kind and numbers, for the bot's words)
        return JobFailed(job.job_id, str(exc), user_error=True, problem=problem_of(exc, "photo"))
    except Exception as exc:  # a bug or resource problem: report it, keep serving
        log.exception("clip job %d failed", job.job_id)
        return JobFailed(job.job_id, f"{type(exc).__name__}: {exc}", user_error=False)


def _save_jpeg(image: Any, path: Path) -> None:
    """Write a picture atomically (the bot may be uploading the previous one)."""
    tmp = path.with_suffix(".tmp")
    image.convert("RGB").save(tmp, "JPEG", quality=85)
    os.replace(tmp, path)


def frame_steps(total: int) -> frozenset[int]:
    """Steps worth a making-of frame: dense at first, where the picture changes most, then sparser."""
    steps, k = {total}, 0.0
    while (step := round(FRAME_GROWTH**k)) < total:
        steps.add(step)
        k += 1
    return frozenset(steps)


def _making_of(content_path: str, frames: list[str], final: Any, path: Path) -> Path | None:
    """An animated GIF from the photo through the previews to the result; the frames are deleted afterwards."""
    from PIL import Image

    from engine.imaging import load_image

    if not frames:
        return None
    size = Image.open(frames[-1]).size
    images = [load_image(content_path).resize(size, Image.Resampling.LANCZOS)]
    images += [Image.open(f).convert("RGB").resize(size) for f in frames]
    images.append(final.convert("RGB").resize(size, Image.Resampling.LANCZOS))
    durations = [FRAME_MS] * (len(images) - 1) + [LAST_FRAME_MS]
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=True)
    for frame in frames:
        Path(frame).unlink(missing_ok=True)
    return path
