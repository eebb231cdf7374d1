"""Honest waits: each job's size in work units, and the workers' measured speed for each quality."""

from __future__ import annotations

from collections.abc import Sequence

from bot.config import Settings
from bot.core.models import Job
from bot.core.recipes import work_units

SMOOTHING = 0.3  # weight of the newest run in a tier's speed
CLIPS = "clip"  # clips' speed is learnt apart: a frame of the instant network is no Gatys step
# Until a clip run is measured: a 4 s GIF at 384 px (120 frames, 13 units) came back in 9 s on two CPU cores.
CLIP_SECONDS_PER_UNIT = 0.7


class EtaModel:
    """Seconds per work unit for each quality, learned from finished runs."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._seconds_per_unit: dict[str, float] = {}

    def units(self, job: Job) -> float:
        """The job's size."""
        settings = self._settings
        return work_units(
            job.params,
            max_side=settings.max_side,
            steps=settings.steps,
            clip_cap=settings.clip_max_side,
            clip_refine_steps=settings.clip_refine_steps,
        )

    def learn(self, job: Job, seconds: float) -> None:
        """A run of `job` took `seconds`."""
        rate = seconds / max(self.units(job), 1e-9)
        old = self._seconds_per_unit.get(_speed_key(job))
        self._seconds_per_unit[_speed_key(job)] = rate if old is None else old + SMOOTHING * (rate - old)

    def seconds(self, job: Job) -> float | None:
        """How long the job will run, or None before any run was measured (clips have a prior of their own)."""
        rate = self._seconds_per_unit.get(_speed_key(job))
        if rate is None and job.params.is_clip:  # a Gatys tier's speed would make it some 15 times too long
            rate = CLIP_SECONDS_PER_UNIT
        if rate is None and self._seconds_per_unit:  # another tier's speed, scaled by size, beats nothing
            rate = max(self._seconds_per_unit.values())
        return None if rate is None else rate * self.units(job)

    def wait(self, running: Sequence[Job], ahead: Sequence[Job], job: Job) -> float | None:
        """Seconds until `job` is done: what is left of the running jobs and the jobs ahead, shared by the workers."""
        own = self.seconds(job)
        if own is None:
            return None
        busy = 0.0
        for other in running:
            left = other.eta_s if other.eta_s is not None else (self.seconds(other) or 0.0) * (1 - other.progress)
            busy += left
        busy += sum(self.seconds(other) or 0.0 for other in ahead)
        return busy / max(1, self._settings.workers or 1) + own


def _speed_key(job: Job) -> str:
    """Which measured speed a job's ETA uses: its quality's, or the clips' own."""
    return CLIPS if job.params.is_clip else job.params.quality
