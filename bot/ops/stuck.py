"""Jobs stuck in a state far longer than their tier allows: what shows a job nobody works on any more."""

from __future__ import annotations

from collections.abc import Iterable

from bot.core.models import Job
from bot.core.recipes import TIERS
from bot.jobs.delivery import DELIVERY_BACKOFF_S

# A run may take this many times its tier's expected time (a loaded machine, a second attempt) before it counts.
STUCK_FACTOR = 4.0
STUCK_GRACE_S = 120.0  # start-up of a worker, the instant pass, a queue of progress reports
# A painted result is retried for about 20 minutes, then ends undeliverable: past that, nobody is delivering it.
DELIVERY_LIMIT_S = sum(DELIVERY_BACKOFF_S) + 300.0
STUCK_STATES = ("running", "delivering")


def running_limit_s(job: Job) -> float:
    """How long the job may be running before it counts as stuck."""
    return STUCK_FACTOR * TIERS[job.params.quality].expected_s + STUCK_GRACE_S


def is_stuck(job: Job, now: float) -> bool:
    """Whether a running or delivering job has been so far longer than it should."""
    if job.status == "running" and job.started_at is not None:
        return now - job.started_at > running_limit_s(job)
    if job.status == "delivering" and job.started_at is not None:
        painted_at = job.started_at + (job.run_seconds or 0.0)  # the moment it entered 'delivering', nearly
        return now - painted_at > DELIVERY_LIMIT_S
    return False


def stuck_counts(jobs: Iterable[Job], now: float) -> dict[str, int]:
    """Stuck jobs per state (every state of STUCK_STATES present, 0 when none)."""
    counts = dict.fromkeys(STUCK_STATES, 0)
    for job in jobs:
        if job.status in counts and is_stuck(job, now):
            counts[job.status] += 1
    return counts
