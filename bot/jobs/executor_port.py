"""The executor port: where paintings run. The local worker pool and the Celery cluster both implement it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from bot.jobs.protocol import Event, RunJob

EventHandler = Callable[[Event], None]


class Executor(Protocol):
    """Runs RunJob requests and reports Ready/JobProgress/JobDone/JobFailed/JobCancelled/WorkerFatal/WorkerCrashed.

    Events are delivered by calling the `on_event` given to `start`, on the event loop. A JobDone's files are on
    this machine's disk in the request's out_dir when the event arrives, whatever machine painted it.
    """

    fatal: str | None  # why no worker can paint at all, or None

    def start(self, on_event: EventHandler) -> None:
        """Start (or connect to) the workers, reporting to `on_event`; called on the running event loop."""

    def idle_workers(self) -> int:
        """How many more jobs could start right now."""

    async def submit(self, request: RunJob) -> bool:
        """Start a job on an idle worker; False if none is idle. Its slow parts (files, the broker) run off the loop."""

    def holds(self, job_id: int) -> bool:
        """Whether a worker has the job (painting it, or about to): the reconciler leaves such jobs alone."""

    def cancel(self, job_id: int) -> bool:
        """Ask the worker running (or holding) `job_id` to stop; False if none has it."""

    async def reattach(self, running: frozenset[int]) -> frozenset[int]:
        """Of the jobs the database has as running from before a restart, those still being painted elsewhere.

        Called before `start`; these jobs are not requeued, their outcome arrives as events later.
        """

    def check_accepting(self) -> None:
        """Raise a UserFacingError when new jobs cannot be taken right now (e.g. the broker is down)."""

    async def stop(self) -> None:
        """Stop (or disconnect from) the workers; jobs in flight stay recoverable."""
