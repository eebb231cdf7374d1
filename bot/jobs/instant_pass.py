"""The instant picture: the feed-forward network's result shown at once, or the whole job for "instant" quality."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from bot.core import logcontext
from bot.core.models import Job
from bot.core.recipes import instant_params, style_params
from bot.jobs.inputs import JobInputs, blend
from bot.jobs.instant import InstantPainter
from bot.jobs.layout import JobFiles
from bot.jobs.lifecycle import Lifecycle
from bot.jobs.notifier_port import Notifier, Status
from bot.jobs.supervise import TaskSet
from bot.store.storage import Storage

log = logging.getLogger(__name__)


class InstantPasses:
    """Runs one instant pass per new job, beside the queue: a Gatys job's warm start waits for its picture."""

    def __init__(
        self,
        painter: InstantPainter,
        lifecycle: Lifecycle,
        storage: Storage,
        notifier: Notifier,
        inputs: JobInputs,
        jobs_dir: Path,
        tasks: TaskSet,
        max_side: int | None,
        *,
        degraded: Callable[[], bool],
    ) -> None:
        self._painter, self._lifecycle, self._storage, self._notifier = painter, lifecycle, storage, notifier
        self._inputs, self._jobs_dir, self._tasks, self._max_side = inputs, jobs_dir, tasks, max_side
        self._degraded = degraded  # only this lane can paint: a job it cannot paint fails rather than wait
        self._passes: dict[int, asyncio.Task[None]] = {}

    @property
    def available(self) -> bool:
        """Whether the instant network can paint here (installed and loadable, as far as is known)."""
        return self._painter.unavailable is None

    def start(self, job: Job) -> None:
        """Begin the job's instant pass in the background (a clip's first frame comes from its worker instead)."""
        if job.params.is_clip:
            return
        task = self._tasks.spawn(self._pass(job), name=f"instant-{job.id}")
        self._passes[job.id] = task
        task.add_done_callback(lambda _: self._passes.pop(job.id, None))

    async def wait(self, job_id: int) -> None:
        """Wait for the job's instant pass, if one runs (a second or so: the warm start needs its picture)."""
        task = self._passes.get(job_id)
        if task is not None:
            await asyncio.wait({task})

    async def _pass(self, job: Job) -> None:
        """The whole job for "instant" quality, else the first picture the user sees."""
        logcontext.bind(job.id, job.chat_id, job.user_id)
        try:
            content, styles = await self._inputs.fetch(job)
        except Exception:  # the launch reports unusable photos
            return
        files = JobFiles.of(self._jobs_dir, job.id)
        if job.params.quality == "instant":
            await self._instant_job(job, content, styles, files)
            return
        params = instant_params(job.params, blend(job), max_side=self._max_side)
        if await self._painter.paint(content, styles, params, files.instant):
            current = await self._storage.get_job(job.id)
            if current is not None and current.status in ("queued", "running"):
                self._notifier.show_picture(current, files.instant)

    async def _instant_job(self, job: Job, content: Path, styles: list[Path], files: JobFiles) -> None:
        """An "instant" job is painted by the instant lane at once; a Gatys worker takes it if this fails."""
        if await self._lifecycle.move(job.id, "claim") is None:
            return  # cancelled, or a worker took it first
        params = style_params(job.params, blend(job), max_side=self._max_side)
        started = time.monotonic()
        if await self._painter.paint(content, styles, params, files.photo):
            seconds = time.monotonic() - started
            painted = await self._lifecycle.move(
                job.id, "painted", result_dir=str(files.root), run_seconds=seconds, making_of_path=None
            )
            if painted is None:
                await asyncio.to_thread(files.remove)
        elif self._degraded():
            await self._lifecycle.fail(job, Status("failed", reason="internal"))
        else:
            await self._lifecycle.move(job.id, "requeue")
