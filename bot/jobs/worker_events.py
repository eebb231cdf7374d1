"""What the workers report, turned into moves: progress, a painting done, a failure, a cancel, a crash."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.jobs.eta import EtaModel
from bot.jobs.layout import JobFiles
from bot.jobs.lifecycle import Lifecycle, with_write_retries
from bot.jobs.notifier_port import Notifier, Status
from bot.jobs.observer_port import JobObserver
from bot.jobs.protocol import (
    Event,
    JobCancelled,
    JobDone,
    JobFailed,
    JobProgress,
    Ready,
    WorkerCrashed,
    WorkerFatal,
)
from bot.store.storage import Storage

log = logging.getLogger(__name__)


class WorkerEvents:
    """Handles the executor's events one at a time, in order; a write that fails is tried again, never dropped."""

    def __init__(
        self,
        lifecycle: Lifecycle,
        storage: Storage,
        notifier: Notifier,
        observer: JobObserver,
        eta: EtaModel,
        jobs_dir: Path,
        *,
        live_preview: bool,
        on_workers_down: Callable[[str], Awaitable[None]],
    ) -> None:
        self._lifecycle, self._storage, self._notifier, self._observer = lifecycle, storage, notifier, observer
        self._eta, self._jobs_dir, self._live_preview = eta, jobs_dir, live_preview
        self._on_workers_down = on_workers_down
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._pending: Counter[int] = Counter()  # events per job not handled yet (the reconciler leaves those be)

    def put(self, event: Event) -> None:
        """Called by the executor on the event loop."""
        job_id = getattr(event, "job_id", None)
        if job_id is not None:
            self._pending[job_id] += 1
        self._queue.put_nowait(event)

    def pending(self, job_id: int) -> bool:
        """Whether an event of this job waits to be handled (its state is about to change)."""
        return self._pending[job_id] > 0

    async def run(self) -> None:
        """The loop: every event is handled; one that cannot be written waits and is tried again."""
        while True:
            event = await self._queue.get()
            try:
                await with_write_retries(f"handling {type(event).__name__}", functools.partial(self._handle, event))
            except Exception:  # a bug, not a passing fault: logged with its traceback, the next event goes on
                log.exception("handling %s failed", type(event).__name__)
            finally:
                job_id = getattr(event, "job_id", None)
                if job_id is not None:
                    self._pending[job_id] -= 1
                    if self._pending[job_id] <= 0:
                        del self._pending[job_id]

    async def _handle(self, event: Event) -> None:
        """Act on one worker event."""
        if isinstance(event, JobDone | JobFailed | JobCancelled | WorkerCrashed):
            self._lifecycle.dispatch_due.set()  # a worker is free, whatever becomes of its job
        if isinstance(event, Ready):
            self._observer.worker_ready(event.worker_id, event.pid, event.load_seconds)
            self._lifecycle.dispatch_due.set()
        elif isinstance(event, WorkerFatal):
            self._observer.worker_lost(event.worker_id, "fatal")
            await self._on_workers_down(event.message)
        elif isinstance(event, JobProgress):
            await self._progress(event)
        elif isinstance(event, JobDone):
            await self._painted(event)
        elif isinstance(event, JobFailed):
            await self._failed(event)
        elif isinstance(event, JobCancelled):
            await self._cancelled(event.job_id)
        elif isinstance(event, WorkerCrashed):
            self._observer.worker_lost(event.worker_id, "crashed")
            await self._crashed(event)

    async def _progress(self, event: JobProgress) -> None:
        """Store progress and show it (the notifier throttles edits per chat); a lost report costs nothing."""
        status = Status("painting", percent=min(99, round(event.fraction * 100)), eta_s=event.eta_s)
        job = await self._lifecycle.move(event.job_id, "progress", status, progress=event.fraction, eta_s=event.eta_s)
        if job is not None and event.preview_path is not None and self._live_preview:
            self._notifier.show_picture(job, Path(event.preview_path))

    async def _painted(self, event: JobDone) -> None:
        """The worker painted a job: keep the result for delivery, or drop it if nobody wants it any more."""
        files = JobFiles.of(self._jobs_dir, event.job_id)
        job = await self._storage.get_job(event.job_id)
        if job is not None:
            self._eta.learn(job, event.seconds)
        painted = await self._lifecycle.move(
            event.job_id,
            "painted",
            result_dir=str(files.root),
            run_seconds=event.seconds,
            making_of_path=event.making_of_path,
        )
        if painted is None:  # cancelled or undeliverable meanwhile
            await asyncio.to_thread(files.remove)

    async def _failed(self, event: JobFailed) -> None:
        """A job failed in the engine: the user's input, or our problem (retried once)."""
        job = await self._storage.get_job(event.job_id)
        if job is None or job.status != "running":
            return
        if event.user_error:
            await self._lifecycle.fail(job, Status("failed", reason="input", problem=event.problem))
        else:
            await self._lifecycle.retry_or_fail(job)

    async def _cancelled(self, job_id: int) -> None:
        """A worker stopped a job on request (the job was marked cancelled when it was asked)."""
        await self._lifecycle.move(job_id, "cancel", Status("cancelled"))
        await asyncio.to_thread(JobFiles.of(self._jobs_dir, job_id).remove)

    async def _crashed(self, event: WorkerCrashed) -> None:
        """A worker died: retry its job once, then give up with a message."""
        if event.job_id is None:
            return
        job = await self._storage.get_job(event.job_id)
        if job is not None and job.status == "running":
            await self._lifecycle.retry_or_fail(job)
