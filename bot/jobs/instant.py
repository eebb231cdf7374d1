"""The instant lane: the feed-forward network paints instant pictures in worker processes, never in the bot.

Locally, a few processes of their own (STYLEBOT_INSTANT_WORKERS), which a long Gatys job cannot hold up; on a
cluster, a Celery queue of its own (bot.jobs.cluster.instant). Both keep the same port: `paint` answers True
or False (never hangs, never raises), and `unavailable` says why the network cannot run at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Protocol

from bot.jobs.instant_worker import InstantReply, InstantRequest, instant_main
from engine.params import StyleParams

log = logging.getLogger(__name__)
LOAD_TIMEOUT_S = 180.0  # loading onnxruntime and the model on a busy machine
PAINT_TIMEOUT_S = 120.0  # a picture taking longer means a stuck process: it is killed and replaced
RESTART_DELAY_S = 1.0
MAX_LOAD_CRASHES = 3  # a process that dies while loading this often in a row means the lane cannot run


class InstantPainter(Protocol):
    """Where instant pictures are painted (a local lane of processes, or the cluster's instant queue)."""

    unavailable: str | None  # why the network cannot run at all, once known: callers skip it

    def start(self) -> None:
        """Start (or connect to) the lane, so the first picture does not wait for the model; on the running loop."""

    async def paint(self, content: Path, styles: list[Path], params: StyleParams, out: Path) -> bool:
        """Write the instant picture to `out` (a JPEG); False when it could not be made (logged)."""

    async def close(self) -> None:
        """Stop painting; requests waiting are answered False."""


@dataclass
class _Slot:
    """One lane process."""

    lane_id: int
    process: BaseProcess | None = None
    conn: Connection | None = None
    load_crashes: int = 0


@dataclass
class _Ask:
    """A request waiting for a lane process."""

    request: InstantRequest
    answer: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class LocalInstantLane:
    """A small pool of processes that load the instant network once and paint requests in turn."""

    def __init__(
        self,
        workers: int = 1,
        model_dir: str | None = None,
        env: dict[str, str] | None = None,
        paint_timeout_s: float = PAINT_TIMEOUT_S,
    ) -> None:
        self.unavailable: str | None = None
        self.ready = False  # a process has loaded the model (benchmarks wait for it)
        self._model_dir, self._env, self._paint_timeout = model_dir, dict(env or {}), paint_timeout_s
        self._ctx = multiprocessing.get_context("spawn")  # the bot's threads must not be forked
        self._slots = [_Slot(i) for i in range(max(1, workers))]
        self._queue: asyncio.Queue[_Ask] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the processes (they load the model in the background); called on the running loop."""
        if self._queue is not None:
            return
        self._queue = asyncio.Queue()
        self._tasks = [
            asyncio.create_task(self._run(slot), name=f"instant-lane-{slot.lane_id}") for slot in self._slots
        ]

    def pids(self) -> list[int]:
        """The lane processes' ids (for tests and the operator)."""
        return [slot.process.pid for slot in self._slots if slot.process is not None and slot.process.pid]

    async def paint(self, content: Path, styles: list[Path], params: StyleParams, out: Path) -> bool:
        """Queue the picture for the next free process and wait for its answer."""
        if self.unavailable is not None:
            return False
        self.start()
        assert self._queue is not None
        request = InstantRequest(str(content), tuple(str(s) for s in styles), dataclasses.asdict(params), str(out))
        ask = _Ask(request)
        await self._queue.put(ask)
        return await ask.answer

    async def close(self) -> None:
        """Stop the processes; waiting requests are answered False."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        while self._queue is not None and not self._queue.empty():
            _settle(self._queue.get_nowait(), False)
        await asyncio.gather(*(asyncio.to_thread(_end, slot) for slot in self._slots))

    async def _run(self, slot: _Slot) -> None:
        """One process's life: (re)start it, then hand it requests one at a time."""
        assert self._queue is not None
        try:
            while self.unavailable is None:
                if slot.conn is None and not await self._start_process(slot):
                    continue
                ask = await self._queue.get()
                if ask.answer.done():  # the caller gave up (its job was cancelled)
                    continue
                try:
                    _settle(ask, await self._ask(slot, ask.request))
                except Exception:  # never leave a caller waiting: answer, and start afresh
                    log.exception("instant lane %d failed a request", slot.lane_id)
                    _settle(ask, False)
                    await asyncio.to_thread(_end, slot)
        finally:
            if self.unavailable is not None:
                while not self._queue.empty():
                    _settle(self._queue.get_nowait(), False)

    async def _start_process(self, slot: _Slot) -> bool:
        """Spawn the slot's process and wait until its model is loaded; False if it did not come up."""
        await asyncio.to_thread(self._spawn, slot)
        reply = await self._receive(slot, LOAD_TIMEOUT_S)
        if reply is not None and reply.kind == "ready":
            slot.load_crashes = 0
            self.ready = True
            log.info("instant lane %d ready (pid %s)", slot.lane_id, slot.process.pid if slot.process else None)
            return True
        await asyncio.to_thread(_end, slot)
        if reply is not None and reply.kind == "unavailable":
            self._give_up(reply.message)
            return False
        slot.load_crashes += 1
        if slot.load_crashes >= MAX_LOAD_CRASHES:
            self._give_up(f"the instant lane process died {slot.load_crashes} times while loading the model")
            return False
        log.error("instant lane %d died while loading; restarting", slot.lane_id)
        await asyncio.sleep(RESTART_DELAY_S)
        return False

    def _give_up(self, reason: str) -> None:
        """The network cannot run here: every later request is answered False at once."""
        if self.unavailable is None:
            self.unavailable = reason
            log.warning("instant pictures are off: %s", reason)

    async def _ask(self, slot: _Slot, request: InstantRequest) -> bool:
        """Send one request and wait for its answer; a dead or stuck process is replaced and the answer is False."""
        conn = slot.conn
        if conn is None:
            return False
        try:
            await asyncio.to_thread(conn.send, request)
        except (OSError, ValueError) as exc:
            log.error("instant lane %d is gone (%s); restarting it", slot.lane_id, exc)
            await asyncio.to_thread(_end, slot)
            return False
        reply = await self._receive(slot, self._paint_timeout)
        if reply is None:
            log.error("instant lane %d crashed or hung painting a picture; restarting it", slot.lane_id)
            await asyncio.to_thread(_end, slot)
            return False
        if reply.kind != "done":
            log.warning("instant picture not made: %s", reply.message)
        return reply.kind == "done"

    async def _receive(self, slot: _Slot, timeout: float) -> InstantReply | None:
        """The process's next reply, or None when it died or did not answer within `timeout` (it is then killed)."""
        conn = slot.conn
        if conn is None:
            return None
        receiving = asyncio.ensure_future(asyncio.to_thread(_recv, conn))
        done, _ = await asyncio.wait({receiving}, timeout=timeout)
        if not done and slot.process is not None:
            slot.process.kill()  # the blocked receive then ends with EOF
        try:
            return await asyncio.shield(receiving)
        except asyncio.CancelledError:
            if slot.process is not None:
                slot.process.kill()
            raise

    def _spawn(self, slot: _Slot) -> None:
        """Start the slot's process (in a thread: starting one takes a fork and an exec)."""
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=instant_main,
            args=(child, slot.lane_id, self._model_dir, self._env),
            name=f"stylebot-instant-{slot.lane_id}",
            daemon=True,
        )
        process.start()
        child.close()
        slot.process, slot.conn = process, parent


def _recv(conn: Connection) -> InstantReply | None:
    """Block for the next reply; None once the pipe is closed (the process died)."""
    try:
        reply = conn.recv()
    except (EOFError, OSError):
        return None
    return reply if isinstance(reply, InstantReply) else None


def _end(slot: _Slot) -> None:
    """Stop a slot's process (blocking: run in a thread) and forget it."""
    conn, process = slot.conn, slot.process
    slot.conn, slot.process = None, None
    if conn is not None:
        with contextlib.suppress(OSError, ValueError):
            conn.send(None)  # a polite stop, for a process that is alive and idle
    if process is not None:
        process.join(2)
        if process.is_alive():
            process.kill()
            process.join(2)
    if conn is not None:  # closed last: a thread still receiving on it has seen the process end by now
        conn.close()


def _settle(ask: _Ask, ok: bool) -> None:
    """Answer a waiting request, unless its caller gave up."""
    if not ask.answer.done():
        ask.answer.set_result(ok)
