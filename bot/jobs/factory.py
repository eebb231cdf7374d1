"""Choosing the executor by setting: local worker processes (the default) or the Celery cluster."""

from __future__ import annotations

from bot.config import Settings
from bot.jobs.executor_port import Executor
from bot.jobs.gpus import count_gpus
from bot.jobs.instant import InstantPainter


def local_hardware(settings: Settings) -> tuple[Settings, int]:
    """The settings with the local worker count decided (one per GPU unless STYLEBOT_WORKERS says), and the GPUs.

    Probes the GPUs (nvidia-smi): blocking, so call it in a thread, and only where local workers start.
    """
    gpus = count_gpus()
    if settings.workers is None:
        settings = settings.model_copy(update={"workers": max(1, gpus)})
    return settings, gpus


def make_executor(settings: Settings, gpus: int = 0) -> Executor:
    """The executor STYLEBOT_EXECUTOR names; with celery the bot starts no worker of its own."""
    if settings.executor == "celery":
        from bot.jobs.cluster.executor import CeleryExecutor

        return CeleryExecutor(settings.broker_url, settings.visibility_timeout_s)
    from bot.jobs.pool import PoolConfig, WorkerPool

    return WorkerPool(
        PoolConfig(
            settings.workers or 1,
            settings.backbone,
            settings.weights,
            gpus,
            worker_env=settings.worker_env(),
            fast_model_dir=settings.fast_model,
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

    return LocalInstantLane(settings.instant_workers, settings.fast_model, env=settings.worker_env())
