"""What /stats shows operators: the last day and week of jobs, and the workers as they are now."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.ops.health import Probes
from bot.store.storage import UsageStats

DAY_S = 24 * 3600
WEEK_S = 7 * DAY_S


@dataclass(frozen=True)
class WorkersNow:
    """The workers at this moment."""

    configured: int
    up: dict[int, int]  # worker id -> pid, model loaded
    down: dict[int, str]  # worker id -> why
    idle: int
    unavailable: bool  # no worker can load the model at all

    @property
    def busy(self) -> int:
        """Workers painting a job."""
        return max(0, len(self.up) - self.idle)


@dataclass(frozen=True)
class UsageReport:
    """The two periods and the workers."""

    day: UsageStats
    week: UsageStats
    workers: WorkersNow


async def usage_report(probes: Probes, now: float | None = None) -> UsageReport:
    """Read both periods from the database and look at the workers."""
    now = time.time() if now is None else now
    workers = WorkersNow(
        probes.workers,
        dict(probes.board.ready),
        dict(probes.board.lost),
        probes.executor.idle_workers(),
        probes.dispatcher.unavailable,
    )
    return UsageReport(await probes.storage.usage(now - DAY_S), await probes.storage.usage(now - WEEK_S), workers)
