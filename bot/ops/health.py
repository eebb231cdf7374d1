"""Liveness (the loop answers, the disk and the database take writes) and readiness (a worker can take jobs)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.errors import UserFacingError
from bot.core.messages import Msg
from bot.jobs.dispatcher import Dispatcher
from bot.jobs.executor_port import Executor
from bot.ops.metrics import ACTIVE_STATES, Metrics, WorkerBoard
from bot.ops.stuck import stuck_counts
from bot.store.files import probe_space
from bot.store.storage import Storage

log = logging.getLogger(__name__)
DB_PROBE_TIMEOUT_S = 2.0  # a probe must answer well within Docker's and Kubernetes' usual 5 s
# Less free space than this is a full disk: a few database pages and a small picture would not fit.
DISK_PROBE_BYTES = 256 * 1024
# Why new jobs are refused, by the refusal's sentence key (readiness speaks to operators, in English).
REFUSALS = {Msg.CLUSTER_BUSY: "the painting cluster's broker cannot be reached"}


@dataclass
class Probes:
    """What the health endpoints and the metrics look at; all of it lives on the bot's event loop."""

    storage: Storage
    dispatcher: Dispatcher
    executor: Executor
    board: WorkerBoard
    metrics: Metrics
    workers: int
    data_dir: Path | None = None  # where the database, the photos and the results are written

    async def live(self) -> tuple[bool, dict[str, Any]]:
        """The event loop answered (we are running on it), the data disk has room and the database commits."""
        body = {"status": "ok", "database": "writable", "disk": "writable"}
        try:
            await self.storage.check_writable(DB_PROBE_TIMEOUT_S)
        except Exception as exc:  # a timeout, a closed connection, a locked, full or read-only file
            body["database"] = _reason(exc)
        if self.data_dir is not None:
            try:
                await asyncio.wait_for(
                    asyncio.to_thread(probe_space, self.data_dir, DISK_PROBE_BYTES), DB_PROBE_TIMEOUT_S
                )
            except Exception as exc:  # ENOSPC, EROFS, EIO, or a disk so slow the probe timed out
                body["disk"] = _reason(exc)
        ok = body["database"] == body["disk"] == "writable"
        if not ok:
            body["status"] = "fail"
            log.warning("health check: the database says %s; the data disk says %s", body["database"], body["disk"])
        return ok, body

    def ready(self) -> tuple[bool, dict[str, Any]]:
        """At least one worker has loaded its model, and new jobs are taken (painting is not down, the broker up)."""
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
        try:
            self.dispatcher.check_accepting()
        except UserFacingError as exc:
            reason = REFUSALS.get(exc.key, exc.key.value)
            return False, {"status": "fail", "reason": f"new jobs are refused: {reason}", **body}
        return True, {"status": "ok", **body}

    async def refresh(self) -> None:
        """Bring the gauges up to date before a scrape (the counters move by themselves)."""
        counts = await self.storage.active_counts()
        for state in ACTIVE_STATES:
            self.metrics.active.labels(state=state).set(counts.get(state, 0))
        self.metrics.queue_depth.set(counts.get("queued", 0))
        jobs = [*await self.storage.running_jobs(), *await self.storage.delivering_jobs()]
        for state, stuck in stuck_counts(jobs, time.time()).items():
            self.metrics.stuck.labels(state=state).set(stuck)
        self.metrics.workers_configured.set(self.workers)
        self.metrics.workers_up.set(self.board.up)
        self.metrics.workers_busy.set(max(0, self.board.up - self.executor.idle_workers()))
        self.metrics.painting_unavailable.set(1 if self.dispatcher.unavailable else 0)
        self.metrics.painting_degraded.set(1 if self.dispatcher.degraded else 0)


def _reason(exc: BaseException) -> str:
    """An exception as one line for the probe's answer ('OSError: [Errno 28] No space left on device')."""
    if isinstance(exc, TimeoutError):
        return f"TimeoutError: no answer within {DB_PROBE_TIMEOUT_S:g} s"
    return f"{type(exc).__name__}: {exc}".rstrip(": ")
