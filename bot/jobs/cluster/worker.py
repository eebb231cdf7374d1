"""`stylebot worker`: a Celery worker process per GPU, each loading the model before it takes any task."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bot.config import ConfigError, WorkerSettings
from bot.jobs.cluster.celery_app import consume
from bot.jobs.cluster.instant_lane import LANE_MARK, serve_lane, start_lane, stop_lane
from bot.jobs.cluster.keys import QUEUE, TASK_NAME
from bot.jobs.cluster.task import NO_OBSERVER, WorkerObserver
from bot.jobs.gpus import visible_gpus

log = logging.getLogger("stylebot.worker")
CHILD_MARK = "STYLEBOT_WORKER_CHILD"  # set in the per-GPU processes, so they do not fan out again
USAGE = (
    "usage: stylebot worker\n"
    "Runs Celery workers for the bot's cluster (STYLEBOT_EXECUTOR=celery): one process per visible GPU,\n"
    "each `celery worker --pool solo -c 1` on the queue 'stylebot', plus one instant-lane process on the queue\n"
    "'stylebot.instant' (STYLEBOT_WORKER_INSTANT=off: none). Needs STYLEBOT_BROKER_URL and the model\n"
    "settings (STYLEBOT_WEIGHTS, STYLEBOT_BACKBONE); no Telegram token, database or shared disk.\n"
)
# Given the worker's configuration, what watches its tasks (bot.ops serves them as metrics; the jobs layer knows no
# metrics library).
ObserverFactory = Callable[[WorkerSettings], WorkerObserver]


def main(argv: list[str], observe: ObserverFactory | None = None) -> int:
    """Run the workers; exit 2 on a configuration error (like the bot)."""
    if argv and argv[0] in ("-h", "--help"):
        sys.stderr.write(USAGE)
        return 0
    if argv:
        sys.stderr.write(USAGE)
        sys.stderr.write(f"stylebot: error: unknown arguments: {' '.join(argv)}\n")
        return 2
    if os.environ.pop("TELEGRAM_BOT_TOKEN", None) is not None:
        # Workers never talk to Telegram; dropping it keeps it out of anything this process runs or logs.
        sys.stderr.write("stylebot worker: TELEGRAM_BOT_TOKEN is set but not used by workers; ignored\n")
    try:
        config = WorkerSettings.from_env()  # the environment over .env; the model has no token field
    except ConfigError as exc:
        sys.stderr.write(f"stylebot: error: {exc}\n")
        return 2
    if LANE_MARK in os.environ:
        return serve_lane(config)
    # This machine's instant lane: a process of its own, so a long Gatys job never holds up an instant picture.
    lane = start_lane(config) if CHILD_MARK not in os.environ else None
    try:
        gpus = visible_gpus()  # counted here, where the workers start
        if len(gpus) > 1 and CHILD_MARK not in os.environ:
            return _fan_out(gpus, config.metrics_port)
        return serve(config, observe)
    finally:
        stop_lane(lane)


def serve(config: WorkerSettings, observe: ObserverFactory | None = None) -> int:
    """One worker process: load the model, then consume tasks until stopped."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if config.debug else "3")
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    import redis

    from bot.jobs.cluster.heartbeat import Heartbeat
    from bot.jobs.cluster.task import WorkerContext

    name = f"{socket.gethostname()}-{os.getpid()}"
    client = redis.Redis.from_url(config.broker_url, socket_connect_timeout=3, socket_timeout=10)
    heartbeat = Heartbeat(client, name, config.heartbeat_s)
    heartbeat.start()
    observer = observe(config) if observe is not None else NO_OBSERVER
    started = time.monotonic()
    try:
        stylizer = _load_model(config)
    except Exception as exc:  # missing or broken weights: say why, and take no task
        log.exception("worker %s cannot load the model", name)
        heartbeat.fatal(f"worker {name}: {type(exc).__name__}: {exc}")
        return 3
    observer.model_loaded(time.monotonic() - started)
    context = WorkerContext(stylizer, client, heartbeat, observer)
    app = _app_with_task(config, context)
    heartbeat.set(state="idle", device=_device())
    log.info("worker %s ready on %s", name, _device())
    try:
        return consume(app, QUEUE, f"stylebot@{name}", config.log_level)
    finally:
        heartbeat.stop()


def _load_model(config: WorkerSettings) -> Any:
    """The Stylizer, with TensorFlow's GPU probing kept off stderr unless debugging."""
    from bot.jobs.quiet import quiet_native_stderr

    with quiet_native_stderr(not config.debug):
        from engine.transfer import Stylizer

        return Stylizer(config.backbone, config.weights, config.fast_model)


def _app_with_task(config: WorkerSettings, context: Any) -> Any:
    """The Celery app with the paint task bound to this process's model."""
    from celery.exceptions import Reject
    from redis import RedisError

    from bot.jobs.cluster.celery_app import make_app
    from bot.jobs.cluster.task import run_task

    app = make_app(config.broker_url, config.visibility_timeout_s)

    @app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)
    def paint(self: Any, payload: dict[str, Any]) -> None:
        """Paint one job (see bot.jobs.cluster.task.run_task)."""
        try:
            run_task(context, payload, self.request.id)
        except RedisError as exc:  # the broker is away: the job goes back to the queue instead of being lost
            raise Reject(exc, requeue=True) from exc

    return app


def _device() -> str:
    """Which device this worker paints on, in words."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    return f"GPU {gpus[0].name}" if gpus else "CPU"


def _fan_out(gpus: list[str], port: int | None) -> int:
    """One child worker per GPU; signals are passed on, and the exit status is the worst child's."""
    children = []
    for index, gpu in enumerate(gpus):
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpu, CHILD_MARK: "1"}
        if port is not None:  # each process serves its own metrics: the given port, the next one, ...
            env["STYLEBOT_METRICS_PORT"] = str(port + index)
        children.append(subprocess.Popen([sys.executable, "-m", "bot", "worker"], env=env))
    logging.basicConfig(level="INFO")
    log.info("started %d worker processes, one per GPU (%s)", len(children), ",".join(gpus))

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    return max(child.wait() for child in children)
