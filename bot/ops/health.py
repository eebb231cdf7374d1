"""Liveness (the loop answers, the database takes writes) and readiness (a worker has its model loaded)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot.jobs.dispatcher import Dispatcher
from bot.jobs.executor import Executor
from bot.ops.metrics import ACTIVE_STATES, Metrics, WorkerBoard
from bot.store.storage import Storage

log = logging.getLogger(__name__)
DB_PROBE_TIMEOUT_S = 2.0  # a probe must answer well within Docker's and Kubernetes' usual 5 s


@dataclass
class Probes:
    """What the health endpoints and the metrics look at; all of it lives on the bot's event loop."""

    storage: Storage
    dispatcher: Dispatcher
    executor: Executor
    board: WorkerBoard
    metrics: Metrics
    workers: int

    async def live(self) -> tuple[bool, dict[str, Any]]:
        """The event loop answered (we are running on it) and the database can be written."""
        try:
            await self.storage.check_writable(DB_PROBE_TIMEOUT_S)
        except Exception as exc:  # a timeout, a closed connection, a locked or read-only file
            log.warning("health check: the database is not writable: %s", exc or type(exc).__name__)
            return False, {"status": "fail", "database": f"{type(exc).__name__}: {exc}".rstrip(": ")}
        return True, {"status": "ok", "database": "writable"}

    def ready(self) -> tuple[bool, dict[str, Any]]:
        """At least one worker has loaded its model, and painting is not down for good."""
        body: dict[str, Any] = {
            "workers": self.workers,
            "workers_up": self.board.up,
            "workers_idle": self.executor.idle_workers(),
        }
        if self.dispatcher.unavailable:
            return False, {"status": "fail", "reason": "no worker can load the model", **body}
        if self.dispatcher.degraded:  # ready: every job gets the instant network's picture
            return True, {"status": "ok", "degraded": "instant pictures only", **body}
        if self.board.up == 0:
            return False, {"status": "fail", "reason": "no worker has loaded its model yet", **body}
        return True, {"status": "ok", **body}

    async def refresh(self) -> None:
        """Bring the gauges up to date before a scrape (the counters move by themselves)."""
        counts = await self.storage.active_counts()
        for state in ACTIVE_STATES:
            self.metrics.active.labels(state=state).set(counts.get(state, 0))
        self.metrics.queue_depth.set(counts.get("queued", 0))
        self.metrics.workers_configured.set(self.workers)
        self.metrics.workers_up.set(self.board.up)
        self.metrics.workers_busy.set(max(0, self.board.up - self.executor.idle_workers()))
        self.metrics.painting_unavailable.set(1 if self.dispatcher.unavailable else 0)
        self.metrics.painting_degraded.set(1 if self.dispatcher.degraded else 0)
