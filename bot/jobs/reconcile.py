"""The reconciler: jobs the database has as running that no worker holds are retried or failed, never left."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bot.jobs.executor_port import Executor
from bot.jobs.lifecycle import Lifecycle
from bot.store.storage import Storage

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 30.0  # a job must look orphaned in two sweeps this far apart before it is touched


class Reconciler:
    """Finds orphaned running jobs (an event lost, a worker gone without a word) and moves them on."""

    def __init__(
        self,
        lifecycle: Lifecycle,
        storage: Storage,
        executor: Executor,
        busy: Callable[[int], bool],
    ) -> None:
        self._lifecycle, self._storage, self._executor = lifecycle, storage, executor
        self._busy = busy  # the dispatcher is launching it, or an event of it waits to be handled
        self._suspects: set[int] = set()

    async def run(self) -> None:
        """Sweep now and then, for ever."""
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            await self.sweep()

    async def sweep(self) -> list[int]:
        """One look: jobs orphaned now and at the last look are retried (or failed); returns their ids."""
        orphans = {
            job.id
            for job in await self._storage.running_jobs()
            if not self._executor.holds(job.id) and not self._busy(job.id)
        }
        confirmed, self._suspects = orphans & self._suspects, orphans - self._suspects
        moved = []
        for job_id in sorted(confirmed):
            job = await self._storage.get_job(job_id)
            if job is None or job.status != "running" or self._executor.holds(job_id) or self._busy(job_id):
                continue
            log.error("job %d is running but no worker holds it: retrying it", job_id)
            await self._lifecycle.retry_or_fail(job)
            moved.append(job_id)
        return moved
