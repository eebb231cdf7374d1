"""Instant pictures on the cluster: a task on the instant queue, the picture's JPEG back through a Redis list.

The bot sends the photo already at the picture's size (built in a thread), publishes on Celery's client thread
and waits with BLPOP on the asyncio client: the event loop never blocks. Workers serve the instant queue from a
process of their own (bot.jobs.cluster.instant_lane), ahead of any Gatys job.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis

from bot.jobs.cluster.celery_app import make_app
from bot.jobs.cluster.keys import INSTANT_DONE, INSTANT_LANE_PREFIX, INSTANT_QUEUE, INSTANT_TASK, instant_reply_key
from bot.jobs.cluster.payload import encode_instant
from bot.jobs.instant_worker import write_atomically
from engine.params import StyleParams

log = logging.getLogger(__name__)
PAINT_TIMEOUT_S = 30.0  # an instant picture later than this is not worth waiting for: the Gatys pass goes on
LANES_FRESH_S = 2.0  # how long a reading of the lanes' heartbeats is trusted
SEND_TIMEOUT_S = 5.0


class ClusterInstantLane:
    """Implements the instant-painter port with the cluster's instant queue."""

    def __init__(self, broker_url: str, paint_timeout_s: float = PAINT_TIMEOUT_S) -> None:
        self.unavailable: str | None = None
        self._url, self._timeout = broker_url, paint_timeout_s
        self._app = make_app(broker_url, 3600, send_timeout_s=SEND_TIMEOUT_S)
        self._celery = ThreadPoolExecutor(1, thread_name_prefix="celery-instant")  # kombu is not thread-safe
        self._redis: aioredis.Redis | None = None
        self._lanes_at = -1e9
        self._lanes_up = False

    def start(self) -> None:
        """Nothing to start: lanes announce themselves with heartbeats, read when a picture is asked for."""

    async def paint(self, content: Path, styles: list[Path], params: StyleParams, out: Path) -> bool:
        """Have an instant lane paint the picture and write it to `out`; False when none could (logged)."""
        try:  # a stalled broker must not hold the job's start for longer than a late picture would
            return await asyncio.wait_for(self._paint(content, styles, params, out), self._timeout + SEND_TIMEOUT_S)
        except TimeoutError:
            log.warning("instant picture not made: the broker did not answer in time")
            return False

    async def _paint(self, content: Path, styles: list[Path], params: StyleParams, out: Path) -> bool:
        """The steps of `paint`: lanes up, payload built (in a thread), task published, the reply awaited."""
        try:
            if not await self._lanes_ready():
                return False
            payload = await asyncio.to_thread(encode_instant, content, styles, dataclasses.asdict(params))
            task_id = str(uuid.uuid4())
            await self._in_celery_thread(self._publish, task_id, payload)
            reply = await self._client().blpop([instant_reply_key(task_id)], timeout=self._timeout)
        except (redis.RedisError, OSError) as exc:
            log.warning("instant picture not made: the broker is unreachable (%s)", exc)
            return False
        except Exception as exc:  # an unreadable photo, a kombu error: the Gatys pass still runs
            log.warning("instant picture not made: %s: %s", type(exc).__name__, exc)
            return False
        if reply is None:
            log.warning("instant picture not made: no lane answered within %.0f s", self._timeout)
            return False
        kind, _, body = reply[1].partition(b"\n")
        if kind != INSTANT_DONE:
            log.warning("instant picture not made: %s", body.decode(errors="replace"))
            return False
        await asyncio.to_thread(write_atomically, out, body)
        return True

    async def close(self) -> None:
        """Close the clients."""
        if self._redis is not None:
            await self._redis.aclose()
        await self._in_celery_thread(self._app.close)
        self._celery.shutdown(wait=False)

    async def _lanes_ready(self) -> bool:
        """Whether some instant lane is up (read at most every LANES_FRESH_S); sets `unavailable` when none can be."""
        if time.monotonic() - self._lanes_at < LANES_FRESH_S:
            return self._lanes_up
        client = self._client()
        keys = [key async for key in client.scan_iter(match=INSTANT_LANE_PREFIX + "*", count=200)]
        states = [json.loads(raw) for raw in (await client.mget(keys) if keys else []) if raw is not None]
        fatal = [s.get("message", "") for s in states if s.get("state") == "fatal"]
        self._lanes_up = any(s.get("state") == "ready" for s in states)
        self._lanes_at = time.monotonic()
        # Only when every lane says it cannot run (no model on the workers) is the network unavailable; no lane
        # at all may just mean the workers are starting.
        self.unavailable = fatal[0] if fatal and not self._lanes_up else None
        return self._lanes_up

    def _publish(self, task_id: str, payload: dict[str, Any]) -> None:
        """Publish an instant task (blocking: on the Celery thread); it expires when the bot stops waiting."""
        self._app.send_task(
            INSTANT_TASK, args=[payload], task_id=task_id, queue=INSTANT_QUEUE, retry=False, expires=self._timeout
        )

    async def _in_celery_thread(self, call: Any, *args: Any) -> Any:
        """Run a blocking Celery call on this lane's Celery thread."""
        return await asyncio.get_running_loop().run_in_executor(self._celery, functools.partial(call, *args))

    def _client(self) -> Any:  # redis-py types each command as "Awaitable or value"
        """The asyncio Redis client; its read timeout outlasts the longest BLPOP."""
        if self._redis is None:
            self._redis = aioredis.Redis.from_url(
                self._url, socket_connect_timeout=3, socket_timeout=self._timeout + 10
            )
        return self._redis
