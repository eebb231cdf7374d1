"""Messages between the bot and its worker processes (pickled over a pipe)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.core.errors import Problem


@dataclass(frozen=True)
class ClipRequest:
    """What a clip job paints: the kind to send back and the operator's limits (engine.clip, engine.video_io)."""

    kind: str  # engine.clip.Kind: animation, video, video_note, sticker, video_sticker
    max_seconds: float
    max_frames: int
    fps_cap: float
    refine_steps: int = 0  # Gatys steps refining every frame on the worker's VGG (engine.clip_refine); 0: off


@dataclass(frozen=True)
class RunJob:
    """Bot -> worker: stylise these files and write the result into out_dir."""

    job_id: int
    content_path: str
    style_paths: tuple[str, ...]
    params: dict[str, Any]  # StyleParams fields
    out_dir: str
    hd: bool = False
    report_every: int = 5
    preview_side: int = 320  # live preview and making-of frames
    init_path: str | None = None  # the start picture when params["init"] == "image" (the instant result)
    clip: ClipRequest | None = None  # a clip job: content_path is the clip, painted frame by frame


@dataclass(frozen=True)
class CancelJob:
    """Bot -> worker: stop the running job."""

    job_id: int


@dataclass(frozen=True)
class Shutdown:
    """Bot -> worker: exit after the current message."""


@dataclass(frozen=True)
class Ready:
    """Worker -> bot: the model is loaded; jobs can be sent."""

    worker_id: int
    pid: int
    load_seconds: float = 0.0  # how long loading the model took


@dataclass(frozen=True)
class JobProgress:
    """Worker -> bot: how far a job is."""

    job_id: int
    fraction: float
    eta_s: float | None
    step: int
    total: int
    preview_path: str | None = None  # the current picture, for the live preview


@dataclass(frozen=True)
class JobDone:
    """Worker -> bot: the result files are written."""

    job_id: int
    photo_path: str
    document_path: str | None
    making_of_path: str | None = None
    seconds: float = 0.0
    size: tuple[int, int] = (0, 0)
    clip_path: str | None = None  # a clip job's result (photo_path is then its first painted frame)
    notes: tuple[str, ...] = ()  # what was changed to fit Telegram's rules: "shortened:4.2:3", "sped_up:1.3:3"


@dataclass(frozen=True)
class JobFailed:
    """Worker -> bot: the job could not be done; `user_error` means the input was at fault, `problem` says how."""

    job_id: int
    message: str  # for the logs, in English
    user_error: bool
    problem: Problem | None = None  # a user error as data (kind, photo or style, numbers); worded by the bot


@dataclass(frozen=True)
class JobCancelled:
    """Worker -> bot: the job stopped on request."""

    job_id: int


@dataclass(frozen=True)
class WorkerFatal:
    """Worker -> bot: the worker cannot serve at all (e.g. no model weights); it exits."""

    worker_id: int
    message: str


@dataclass(frozen=True)
class WorkerCrashed:
    """Pool -> service: a worker died; `job_id` is what it was running, if anything."""

    worker_id: int
    job_id: int | None
    exitcode: int | None


Event = Ready | JobProgress | JobDone | JobFailed | JobCancelled | WorkerFatal | WorkerCrashed


# How a job ended on a worker: the events a worker publishes once per job.
JobOutcome = JobDone | JobFailed | JobCancelled
