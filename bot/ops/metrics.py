"""The bot's Prometheus metrics, in a registry of their own, and the observer that feeds them."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.core.models import Job

log = logging.getLogger(__name__)

# Seconds; waits run from instant to an hour in a long queue, runs from an instant picture to an HD painting.
WAIT_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)
RUN_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200)
LOAD_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300)
ACTIVE_STATES = ("queued", "running", "delivering")


@dataclass
class WorkerBoard:
    """Which workers have loaded their model (Ready) and not died since: what readiness and /stats report."""

    ready: dict[int, int] = field(default_factory=dict)  # worker id -> pid
    lost: dict[int, str] = field(default_factory=dict)  # worker id -> why it is down

    @property
    def up(self) -> int:
        """Workers that can take jobs (busy or idle)."""
        return len(self.ready)


class Metrics:
    """Every metric of the bot; a fresh registry per instance, so tests can run several bots in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_resident_memory_bytes, CPU, open fds
        PlatformCollector(registry=self.registry)
        r = self.registry
        self.jobs = Counter(
            "stylebot_jobs", "Jobs that entered a state, by state and quality", ["state", "quality"], registry=r
        )
        self.undeliverable = Counter(
            "stylebot_undeliverable_results", "Painted results that never reached their chat", registry=r
        )
        self.wait = Histogram(
            "stylebot_job_wait_seconds", "Time from queued to started", ["quality"], buckets=WAIT_BUCKETS, registry=r
        )
        self.run = Histogram(
            "stylebot_job_run_seconds", "Time a job took to paint", ["quality"], buckets=RUN_BUCKETS, registry=r
        )
        self.telegram = Counter(
            "stylebot_telegram_requests",
            "Bot API calls (getUpdates aside) by method and outcome: ok, or the error (400, 403, 429, timeout, ...)",
            ["method", "outcome"],
            registry=r,
        )
        self.active = Gauge("stylebot_jobs_active", "Jobs now queued, running or delivering", ["state"], registry=r)
        self.queue_depth = Gauge("stylebot_queue_depth", "Jobs waiting for a worker", registry=r)
        self.workers_configured = Gauge("stylebot_workers", "Worker processes configured", registry=r)
        self.workers_up = Gauge("stylebot_workers_up", "Workers with their model loaded", registry=r)
        self.workers_busy = Gauge("stylebot_workers_busy", "Workers painting a job", registry=r)
        self.model_load = Histogram(
            "stylebot_model_load_seconds", "Time a worker took to load its model", buckets=LOAD_BUCKETS, registry=r
        )
        self.stuck = Gauge(
            "stylebot_jobs_stuck",
            "Jobs running or delivering far longer than their quality tier allows (nobody works on them)",
            ["state"],
            registry=r,
        )
        self.painting_unavailable = Gauge(
            "stylebot_painting_unavailable", "1 when no worker can load the model at all", registry=r
        )
        self.painting_degraded = Gauge(
            "stylebot_painting_degraded",
            "1 when no worker can load the painting's model and only the instant network paints",
            registry=r,
        )

    def watch_local_workers(self, board: WorkerBoard) -> None:
        """Report the resident memory of the bot's own worker processes (the local pool; pids are this host's)."""
        self.registry.register(LocalWorkerMemory(board))

    def telegram_request(self, method: str, outcome: str) -> None:
        """Count one Bot API call."""
        self.telegram.labels(method=method, outcome=outcome).inc()

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)


class LocalWorkerMemory(Collector):
    """stylebot_worker_resident_memory_bytes{worker}: read from /proc at each scrape, for the workers now up."""

    PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def __init__(self, board: WorkerBoard) -> None:
        self._board = board

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One sample per live worker process; a process gone since its Ready is skipped, not an error."""
        family = GaugeMetricFamily(
            "stylebot_worker_resident_memory_bytes", "Resident memory of each local worker process", labels=["worker"]
        )
        for worker_id, pid in sorted(self._board.ready.items()):
            try:
                resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
            except (OSError, IndexError, ValueError):  # exited meanwhile, or not Linux
                continue
            family.add_metric([str(worker_id)], resident_pages * self.PAGE_BYTES)
        yield family


class PrometheusObserver:
    """The dispatcher's observer, writing to the metrics and keeping the worker board."""

    def __init__(self, metrics: Metrics, board: WorkerBoard) -> None:
        self._metrics, self._board = metrics, board

    def job_changed(self, job: Job, old_state: str | None, new_state: str) -> None:
        """Count the state entered."""
        self._metrics.jobs.labels(state=new_state, quality=job.params.quality).inc()
        if new_state == "undeliverable" and old_state == "delivering":
            self._metrics.undeliverable.inc()

    def waited(self, quality: str, seconds: float) -> None:
        """Observe a queue wait."""
        self._metrics.wait.labels(quality=quality).observe(seconds)

    def ran(self, quality: str, seconds: float) -> None:
        """Observe a run time."""
        self._metrics.run.labels(quality=quality).observe(seconds)

    def worker_ready(self, worker_id: int, pid: int, load_seconds: float) -> None:
        """A worker is up; its model load time is observed when it reported one."""
        self._board.ready[worker_id] = pid
        self._board.lost.pop(worker_id, None)
        if load_seconds > 0:
            self._metrics.model_load.observe(load_seconds)

    def worker_lost(self, worker_id: int, reason: str) -> None:
        """A worker is down until it reports Ready again (-1: the cluster as a whole, no one worker)."""
        self._board.ready.pop(worker_id, None)
        if worker_id >= 0:
            self._board.lost[worker_id] = reason
