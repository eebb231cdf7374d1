"""The Celery application both sides use: late acks, one task at a time per worker, JSON only."""

from __future__ import annotations

from celery import Celery

from bot.jobs.cluster.keys import QUEUE


def make_app(broker_url: str, visibility_timeout_s: int, send_timeout_s: float | None = None) -> Celery:
    """A Celery app on the Redis broker; no result backend (results travel through our own keys).

    `send_timeout_s` bounds each broker socket operation: the bot publishes and revokes from its event loop, which
    a stalled Redis must not freeze. Workers leave it unset, as they block on the queue by design.
    """
    app = Celery("stylebot", broker=broker_url, set_as_current=False)
    transport: dict[str, float] = {"socket_timeout": send_timeout_s} if send_timeout_s is not None else {}
    app.conf.update(
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],  # never pickle: the broker is a network service
        task_ignore_result=True,
        # A task is acknowledged when it ends, so a worker killed mid-job leaves it to be delivered again.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # a busy worker holds no queued task another worker could run
        broker_transport_options={
            # Must exceed the longest job, or Redis hands a running task to a second worker.
            "visibility_timeout": visibility_timeout_s,
            "socket_connect_timeout": 3,
            **transport,
        },
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # workers outlive a Redis restart
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    return app


def consume(app: Celery, queue: str, hostname: str, log_level: str) -> int:
    """Consume one queue in this process, one task at a time, until stopped; the worker's exit status."""
    try:
        app.worker_main(
            [
                "worker",
                "--pool=solo",
                "--concurrency=1",
                f"--queues={queue}",
                f"--hostname={hostname}",
                "--without-gossip",
                "--without-mingle",
                f"--loglevel={log_level}",
            ]
        )
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else 1
    return 0
