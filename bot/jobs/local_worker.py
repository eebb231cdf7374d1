"""The worker process: owns TensorFlow and the GPU, loads the model once, serves many jobs."""

from __future__ import annotations

import logging
import os
import time
from multiprocessing.connection import Connection
from typing import Any

from bot.jobs.painting import frame_steps, paint
from bot.jobs.protocol import CancelJob, Ready, RunJob, Shutdown, WorkerFatal
from bot.jobs.quiet import quiet_native_stderr

log = logging.getLogger(__name__)
WORKER_NICENESS = 10  # minutes of painting can wait a few ms; a user's answer and instant picture cannot
__all__ = ["frame_steps", "worker_main"]  # frame_steps moved to painting; kept importable from here


def worker_main(
    conn: Connection,
    worker_id: int,
    backbone: str,
    weights: str,
    env: dict[str, str],
    fast_model_dir: str | None = None,
) -> None:
    """Entry point of a worker process."""
    os.environ.update(env)  # before TensorFlow is imported: CUDA_VISIBLE_DEVICES, log levels
    os.nice(WORKER_NICENESS)  # on a shared CPU the bot's answers and the instant lane go first
    level = os.environ.get("STYLEBOT_LOG_LEVEL", "INFO")
    logging.basicConfig(level=level, format=f"%(asctime)s worker{worker_id} %(levelname)s %(message)s")
    parent = os.getppid()
    started = time.monotonic()
    try:
        # TensorFlow prints its GPU probing before it reads any setting; on a CPU server that is noise.
        with quiet_native_stderr(level != "DEBUG"):
            from engine.transfer import Stylizer

            stylizer = Stylizer(backbone, weights, fast_model_dir)
        log.info("worker %d ready on %s", worker_id, _device())
    except Exception as exc:  # the bot must learn why no worker can start (e.g. missing weights)
        log.exception("worker %d cannot load the model", worker_id)
        conn.send(WorkerFatal(worker_id, str(exc)))
        return
    conn.send(Ready(worker_id, os.getpid(), time.monotonic() - started))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the bot is gone
            return
        if isinstance(message, Shutdown):
            return
        if isinstance(message, RunJob):
            _serve(conn, stylizer, message, parent)


def _device() -> str:
    """Which device this worker paints on, in words."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    return f"GPU {gpus[0].name}" if gpus else "CPU (no GPU found)"


def _serve(conn: Connection, stylizer: Any, job: RunJob, parent: int) -> None:
    """Run one job and report its outcome; never raises."""

    def should_stop() -> bool:
        """Stop on a CancelJob for this job, or when the bot process has died."""
        if os.getppid() != parent:
            return True
        while conn.poll():
            message = conn.recv()
            if isinstance(message, CancelJob) and message.job_id == job.job_id:
                return True
        return False

    conn.send(paint(stylizer, job, conn.send, should_stop))
