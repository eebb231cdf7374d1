"""A cluster worker's own Prometheus metrics, served on its STYLEBOT_METRICS_PORT (the bot's are in metrics.py)."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.exposition import start_http_server

from bot.config import WorkerSettings
from bot.jobs.cluster.task import NO_OBSERVER, WorkerObserver
from bot.ops.metrics import RUN_BUCKETS

log = logging.getLogger(__name__)


class WorkerMetrics(WorkerObserver):
    """What one worker process did: model load time, tasks by method and outcome, run times, busy, memory."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        ProcessCollector(registry=r)  # process_resident_memory_bytes of this worker
        PlatformCollector(registry=r)
        self._load = Gauge("stylebot_worker_model_load_seconds", "Time this worker took to load its model", registry=r)
        self._jobs = Counter(
            "stylebot_worker_jobs", "Tasks this worker ended, by method and outcome", ["method", "outcome"], registry=r
        )
        self._run = Histogram(
            "stylebot_worker_job_run_seconds", "Time a task took here", ["method"], buckets=RUN_BUCKETS, registry=r
        )
        self._busy = Gauge("stylebot_worker_busy", "1 while this worker paints", registry=r)

    def model_loaded(self, seconds: float) -> None:
        """Record the model's load time."""
        self._load.set(seconds)

    def busy(self, painting: bool) -> None:
        """Painting now, or idle."""
        self._busy.set(1 if painting else 0)

    def finished(self, method: str, outcome: str, seconds: float) -> None:
        """Count a task and observe its run time."""
        self._jobs.labels(method=method, outcome=outcome).inc()
        self._run.labels(method=method).observe(seconds)


def serve_worker_metrics(config: WorkerSettings) -> WorkerObserver:
    """Serve this worker's metrics over HTTP when STYLEBOT_METRICS_PORT is set; else observe nothing."""
    if config.metrics_port is None:
        return NO_OBSERVER
    metrics = WorkerMetrics()
    # prometheus_client's own server thread: it answers every path (so also the image's /healthz check) with the
    # metrics, while the Celery worker owns the main thread.
    start_http_server(config.metrics_port, addr=config.metrics_host, registry=metrics.registry)
    log.info("worker metrics on http://%s:%d/metrics", config.metrics_host, config.metrics_port)
    return metrics
