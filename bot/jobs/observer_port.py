"""The observer port: what the dispatcher reports about jobs and workers, for metrics, without knowing who listens."""

from __future__ import annotations

from typing import Protocol

from bot.core.models import Job


class JobObserver(Protocol):
    """Told of every job state change the dispatcher makes, of queue waits and run times, and of workers."""

    def job_changed(self, job: Job, old_state: str | None, new_state: str) -> None:
        """A job moved from old_state (None: it was just created) to new_state."""

    def waited(self, quality: str, seconds: float) -> None:
        """A job waited this long in the queue before it started."""

    def ran(self, quality: str, seconds: float) -> None:
        """A job took this long to paint."""

    def worker_ready(self, worker_id: int, pid: int, load_seconds: float) -> None:
        """A worker loaded its model and takes jobs."""

    def worker_lost(self, worker_id: int, reason: str) -> None:
        """A worker died or cannot load its model."""


class NullObserver:
    """Observes nothing: the dispatcher's default."""

    def job_changed(self, job: Job, old_state: str | None, new_state: str) -> None:
        """Ignore a state change."""

    def waited(self, quality: str, seconds: float) -> None:
        """Ignore a wait."""

    def ran(self, quality: str, seconds: float) -> None:
        """Ignore a run."""

    def worker_ready(self, worker_id: int, pid: int, load_seconds: float) -> None:
        """Ignore a ready worker."""

    def worker_lost(self, worker_id: int, reason: str) -> None:
        """Ignore a lost worker."""
