"""Usage statistics for /stats and the metrics: jobs by state and quality, waits, run times, failures."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.job_states import UNFINISHED_STATES
from bot.store.jobs import UNFINISHED
from bot.store.sql import SqlStore


@dataclass(frozen=True)
class UsageStats:
    """What /stats reports of one period: people, jobs, waits and runs, failures, and jobs per hour."""

    since: float
    until: float
    users: int
    jobs: dict[tuple[str, str], int]  # (state, quality) -> jobs created in the period
    waits: list[float]  # seconds from queued to started, of jobs that started
    runs: list[float]  # seconds of painting, of jobs that were painted
    failures: dict[str, int]  # error -> failed jobs
    hourly: list[tuple[float, int, float | None]]  # hour start, jobs created, median wait of those that started

    @property
    def total(self) -> int:
        """Jobs created in the period."""
        return sum(self.jobs.values())

    def by_state(self) -> dict[str, int]:
        """Jobs per state."""
        counts: dict[str, int] = {}
        for (state, _), n in self.jobs.items():
            counts[state] = counts.get(state, 0) + n
        return counts

    def by_quality(self) -> dict[str, int]:
        """Jobs per quality."""
        counts: dict[str, int] = {}
        for (_, quality), n in self.jobs.items():
            counts[quality] = counts.get(quality, 0) + n
        return counts


def quantile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0.5: the median) of the values, or None when there are none."""
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


class UsageStore(SqlStore):
    """Reads over all jobs for reports: nothing here changes a job."""

    async def active_counts(self) -> dict[str, int]:
        """Jobs now queued, running and delivering."""
        rows = await self._fetch_all(f"SELECT status, COUNT(*) FROM jobs WHERE status IN {UNFINISHED} GROUP BY status")
        counts: dict[str, int] = dict.fromkeys(UNFINISHED_STATES, 0)
        counts.update({row[0]: int(row[1]) for row in rows})
        return counts

    async def usage(self, since: float) -> UsageStats:
        """Users, jobs, waits, run times, failures and jobs per hour of the jobs created since `since`."""
        now = self._clock()
        rows = await self._fetch_all(
            "SELECT user_id, status, json_extract(params, '$.quality') AS quality, error, created_at, started_at, "
            "run_seconds FROM jobs WHERE created_at >= ?",
            (since,),
        )
        jobs: dict[tuple[str, str], int] = {}
        failures: dict[str, int] = {}
        hours = max(1, int((now - since + 3599) // 3600))
        per_hour: list[list[float]] = [[] for _ in range(hours)]
        created = [0] * hours
        waits, runs = [], []
        for row in rows:
            key = (row["status"], row["quality"] or self._default_quality)
            jobs[key] = jobs.get(key, 0) + 1
            if row["status"] == "failed":
                failures[row["error"] or "unknown"] = failures.get(row["error"] or "unknown", 0) + 1
            hour = min(hours - 1, int((row["created_at"] - since) // 3600))
            created[hour] += 1
            if row["started_at"] is not None:
                waits.append(max(0.0, row["started_at"] - row["created_at"]))
                per_hour[hour].append(waits[-1])
            if row["run_seconds"] is not None:
                runs.append(float(row["run_seconds"]))
        hourly = [(since + 3600 * i, created[i], quantile(per_hour[i], 0.5)) for i in range(hours)]
        return UsageStats(since, now, len({row["user_id"] for row in rows}), jobs, waits, runs, failures, hourly)
