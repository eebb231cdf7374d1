"""A worker's heartbeat: a Redis key with a TTL saying what it does; it vanishes when the process dies."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import Any

import redis

from bot.jobs.cluster.keys import FATAL_TTL_S, worker_key

log = logging.getLogger(__name__)
TTL_BEATS = 3  # the key outlives three missed beats


class Heartbeat:
    """Refreshes `stylebot:worker:<name>` (or the given key) from a thread, so a long job does not stop it."""

    def __init__(self, client: redis.Redis, name: str, interval_s: float, key: str | None = None) -> None:
        self._client, self.name, self._interval = client, name, interval_s
        self._key = key or worker_key(name)  # the instant lane beats under a key of its own
        self._state: dict[str, Any] = {"state": "loading", "host": socket.gethostname(), "pid": os.getpid()}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._failing = False

    def start(self) -> None:
        """Beat now and then every interval."""
        self.beat()
        self._thread.start()

    def set(self, **state: Any) -> None:
        """Change what the worker reports and say it at once (the bot counts idle workers from this)."""
        with self._lock:
            self._state.update(state)
        self.beat()

    def fatal(self, message: str) -> None:
        """Stop beating and leave a key that says why this worker cannot paint (it expires later)."""
        self._stop.set()
        with self._lock:
            self._state.update(state="fatal", message=message, job=None, task=None)
            value = json.dumps(self._state)
        try:
            self._client.set(self._key, value, ex=FATAL_TTL_S)
        except redis.RedisError:
            log.exception("cannot report to the broker that this worker cannot paint")

    def stop(self) -> None:
        """Stop beating and remove the key (a clean exit is not a lost worker)."""
        self._stop.set()
        try:
            self._client.delete(self._key)
        except redis.RedisError:
            return

    def beat(self) -> None:
        """Write the key once; a broker outage is logged once and retried on the next beat."""
        with self._lock:
            value = json.dumps({**self._state, "at": time.time()})
        try:
            self._client.set(self._key, value, ex=max(1, round(self._interval * TTL_BEATS)))
        except redis.RedisError as exc:
            if not self._failing:
                log.warning("heartbeat: cannot reach the broker (%s); retrying", exc)
            self._failing = True
            return
        if self._failing:
            log.info("heartbeat: the broker is back")
        self._failing = False

    def _run(self) -> None:
        """The beating thread."""
        while not self._stop.wait(self._interval):
            self.beat()
