"""Choosing the executor by setting: local worker processes (the default) or the Celery cluster."""

from __future__ import annotations

from bot.config import Settings
from bot.jobs.executor import Executor
from bot.jobs.instant import InstantPainter


def make_executor(settings: Settings) -> Executor:
    """The executor STYLEBOT_EXECUTOR names; with celery the bot starts no worker of its own."""
    if settings.executor == "celery":
        from bot.jobs.cluster.executor import CeleryExecutor

        return CeleryExecutor(settings.broker_url, settings.visibility_timeout_s)
    from bot.jobs.pool import PoolConfig, WorkerPool

    return WorkerPool(
        PoolConfig(
            settings.workers, settings.backbone, settings.weights, settings.gpus, worker_env=settings.worker_env()
        )
    )


def make_instant_painter(settings: Settings) -> InstantPainter | None:
    """Where instant pictures are painted: the cluster's instant queue, or local lane processes; None when off."""
    if not settings.instant_preview:
        return None
    if settings.executor == "celery":
        from bot.jobs.cluster.instant import ClusterInstantLane

        return ClusterInstantLane(settings.broker_url)
    from bot.jobs.instant import LocalInstantLane

    return LocalInstantLane(settings.instant_workers, env=settings.worker_env())
