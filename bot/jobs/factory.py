"""Choosing the executor by setting: local worker processes (the default) or the Celery cluster."""

from __future__ import annotations

from bot.config import Settings
from bot.jobs.executor import Executor


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
