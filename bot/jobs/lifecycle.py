"""Where jobs change state: every move goes through `Lifecycle.move`, which writes it, counts it and tells the user.

The moves themselves (which state each event leads to, from which states) are the table in
bot/core/job_states.py; the store applies them in SQL (bot/store/jobs.py). Telegram's answers never decide a
move: the notifier is told in the background, after the state is written.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from bot.core.job_states import FINAL_STATES, JobEvent
from bot.core.models import Job
from bot.jobs.layout import JobFiles
from bot.jobs.notifier_port import Notifier, Status
from bot.jobs.observer_port import JobObserver
from bot.store.storage import Moved, Storage

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_ATTEMPTS = 2  # a job whose worker crashed is retried once
# Waits between tries of a database write that failed (a full disk, a lock held too long); then every 30 s.
WRITE_RETRIES_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
# SQLite's result codes that pass once an operator acts: BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN.
PASSING_ERRORS = (5, 6, 8, 10, 13, 14)


class Lifecycle:
    """The one place that moves jobs: the store, then the metrics, then the user's status, then the files."""

    def __init__(self, storage: Storage, notifier: Notifier, observer: JobObserver, jobs_dir: Path) -> None:
        self._storage, self._notifier, self._observer, self._jobs_dir = storage, notifier, observer, jobs_dir
        self.dispatch_due = asyncio.Event()  # a slot may be free or a job waits: the dispatcher looks
        self.delivery_due = asyncio.Event()  # a result waits for delivery

    async def created(self, job: Job, status: Status) -> None:
        """A job was just queued (the store inserted it): count it and show its first status."""
        self._observer.job_changed(job, None, job.status)
        self._notifier.show(job, status)
        self.dispatch_due.set()

    async def move(self, job_id: int, event: JobEvent, status: Status | None = None, **fields: Any) -> Job | None:
        """Apply one move; None when the table refuses it (the job moved on meanwhile), else the job after it."""
        return await self._after(await self._storage.move(job_id, event, **fields), status)

    async def claim_next(self, clip_slots: int | None = None) -> Job | None:
        """Claim the next job of the fair queue for a worker slot; None when none waits (see JobStore.claim_next)."""
        return await self._after(await self._storage.claim_next(clip_slots), None)

    async def _after(self, moved: Moved | None, status: Status | None) -> Job | None:
        """Everything a move entails beyond the store: metrics, the user's status, waking loops, files."""
        if moved is None:
            return None
        before, job, event = moved.before, moved.after, moved.event
        if before.status != job.status:
            self._observer.job_changed(job, before.status, job.status)
        self._count(event, job)
        if status is not None:
            self._notifier.show(job, status)
        if (before.status == "running" and job.status != "running") or job.status == "queued":
            self.dispatch_due.set()  # a worker slot was freed, or a job waits (progress reports wake nothing)
        if job.status == "delivering":
            self.delivery_due.set()
        if job.status in FINAL_STATES:
            await self._clean_up(job)
        return job

    async def fail(self, job: Job, status: Status) -> Job | None:
        """Fail a job and say why."""
        error = str(status.problem or status.detail or status.reason or "failed")
        return await self.move(job.id, "fail", status, error=error)

    async def retry_or_fail(self, job: Job) -> Job | None:
        """Our side failed the job: once more from the queue if it has attempts left, else fail it."""
        if job.attempts < MAX_ATTEMPTS:
            retried = await self.move(job.id, "retry", Status("retrying"))
            if retried is not None:
                return retried
        return await self.fail(job, Status("failed", reason="internal"))

    def _count(self, event: JobEvent, job: Job) -> None:
        """The metrics beyond the state counts: waits on first claims, run times of paintings."""
        if event == "claim" and job.attempts == 1 and job.started_at is not None:
            # A retry's wait would count the first run too.
            self._observer.waited(job.params.quality, max(0.0, job.started_at - job.created_at))
        elif event == "painted":
            self._observer.ran(job.params.quality, job.run_seconds or 0.0)

    async def _clean_up(self, job: Job) -> None:
        """A finished job's scratch files go (a delivered one keeps its making-of until the purge), off the loop."""
        files = JobFiles(Path(job.result_dir)) if job.result_dir else JobFiles.of(self._jobs_dir, job.id)
        await asyncio.to_thread(files.drop_results if job.status == "done" else files.remove)


async def with_write_retries(what: str, write: Callable[[], Awaitable[T]]) -> T:
    """Run a database write until it lands: a full disk or a long lock must not drop a job's state change."""
    attempt = 0
    while True:
        try:
            return await write()
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) not in (None, *PASSING_ERRORS):
                raise  # a bug (bad SQL, a missing table): trying again cannot help
            wait = WRITE_RETRIES_S[min(attempt, len(WRITE_RETRIES_S) - 1)]
            attempt += 1
            log.error("%s: database write failed (%s); try %d in %.1f s", what, exc, attempt + 1, wait)
            await asyncio.sleep(wait)
