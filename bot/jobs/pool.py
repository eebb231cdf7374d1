"""The worker pool: processes that run the engine, driven from the event loop without blocking it."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from bot.jobs.executor_port import EventHandler
from bot.jobs.local_worker import worker_main
from bot.jobs.protocol import (
    CancelJob,
    Event,
    JobCancelled,
    JobDone,
    JobFailed,
    Ready,
    RunJob,
    Shutdown,
    WorkerCrashed,
    WorkerFatal,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolConfig:
    """What the workers are started with."""

    workers: int
    backbone: str
    weights: str
    gpus: int = 0
    restart_delay_s: float = 1.0
    worker_env: dict[str, str] = field(default_factory=dict)  # set before the worker imports TensorFlow
    fast_model_dir: str | None = None  # the instant network's folder (None: the installed package's)


@dataclass
class _Slot:
    """One worker process and what it is doing."""

    worker_id: int
    process: BaseProcess | None = None
    conn: Connection | None = None
    ready: bool = False
    job_id: int | None = None
    stopping: bool = False
    fds: list[int] = field(default_factory=list)

    @property
    def idle(self) -> bool:
        """Ready for a job: model loaded, nothing running, not shutting down."""
        return self.ready and self.job_id is None and not self.stopping


class WorkerPool:
    """Starts workers, hands them jobs, and turns their messages and deaths into events."""

    def __init__(self, config: PoolConfig) -> None:
        self._config = config
        self.on_event: EventHandler = lambda event: None  # the dispatcher's, given to start()
        # spawn, not fork: TensorFlow and the bot's threads must not be forked.
        self._ctx = multiprocessing.get_context("spawn")
        self._slots = [_Slot(i) for i in range(config.workers)]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._reaping: set[asyncio.Future[None]] = set()
        self.fatal: str | None = None

    def start(self, on_event: EventHandler) -> None:
        """Start every worker process (they load the model in the background); events go to `on_event`."""
        self.on_event = on_event
        self._loop = asyncio.get_running_loop()
        for slot in self._slots:
            self._spawn(slot)

    def idle_workers(self) -> int:
        """Workers that are ready and have no job."""
        return sum(1 for slot in self._slots if slot.idle)

    async def submit(self, request: RunJob) -> bool:
        """Give a job to an idle worker (a short message on its pipe); False if none is idle."""
        for slot in self._slots:
            if slot.idle and slot.conn is not None:
                slot.job_id = request.job_id
                slot.conn.send(request)
                return True
        return False

    def holds(self, job_id: int) -> bool:
        """Whether a worker process is painting the job."""
        return any(slot.job_id == job_id for slot in self._slots)

    def cancel(self, job_id: int) -> bool:
        """Ask the worker running `job_id` to stop; False if no worker runs it."""
        for slot in self._slots:
            if slot.job_id == job_id and slot.conn is not None:
                slot.conn.send(CancelJob(job_id))
                return True
        return False

    async def reattach(self, running: frozenset[int]) -> frozenset[int]:
        """Local workers die with the bot: nothing survives a restart."""
        return frozenset()

    def check_accepting(self) -> None:
        """Local workers always take jobs (when they cannot load the model, `fatal` says so)."""

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop all workers: a polite Shutdown, then terminate what lingers."""
        self._closed = True
        for slot in self._slots:
            slot.stopping = True
            self._unwatch(slot)
            if slot.job_id is not None and slot.conn is not None:
                _send_quietly(slot.conn, CancelJob(slot.job_id))
            if slot.conn is not None:
                _send_quietly(slot.conn, Shutdown())
        for slot in self._slots:
            if slot.process is not None:
                if not slot.ready:  # still loading the model (seconds): it has no job, so no need to wait for it
                    slot.process.terminate()
                await asyncio.to_thread(slot.process.join, timeout)
                if slot.process.is_alive():
                    slot.process.terminate()
                    await asyncio.to_thread(slot.process.join, 5)
            if slot.conn is not None:
                slot.conn.close()

    def _spawn(self, slot: _Slot) -> None:
        """Start the process of a slot and watch its pipe and its exit."""
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        env = dict(self._config.worker_env)
        if self._config.gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(slot.worker_id % self._config.gpus)
        process = self._ctx.Process(
            target=worker_main,
            args=(
                child_conn,
                slot.worker_id,
                self._config.backbone,
                self._config.weights,
                env,
                self._config.fast_model_dir,
            ),
            name=f"stylebot-worker-{slot.worker_id}",
            daemon=True,
        )
        process.start()
        child_conn.close()
        slot.process, slot.conn, slot.ready, slot.job_id, slot.stopping = (
            process,
            parent_conn,
            False,
            None,
            False,
        )
        assert self._loop is not None
        slot.fds = [parent_conn.fileno(), process.sentinel]
        self._loop.add_reader(slot.fds[0], self._readable, slot)
        self._loop.add_reader(slot.fds[1], self._exited, slot)
        log.info("started worker %d (pid %s)", slot.worker_id, process.pid)

    def _unwatch(self, slot: _Slot) -> None:
        """Stop watching a slot's file descriptors."""
        if self._loop is not None:
            for fd in slot.fds:
                self._loop.remove_reader(fd)
        slot.fds = []

    def _readable(self, slot: _Slot) -> None:
        """Pass on every message waiting on a worker's pipe; a closed pipe means the worker is gone."""
        if not self._drain(slot):
            self._exited(slot)

    def _drain(self, slot: _Slot) -> bool:
        """Dispatch the messages waiting on the pipe; False once the pipe is closed."""
        try:
            while slot.conn is not None and slot.conn.poll():
                self._dispatch(slot, slot.conn.recv())
        except (EOFError, OSError):
            return False
        return True

    def _dispatch(self, slot: _Slot, event: Event) -> None:
        """Update the slot for an event, then hand the event to the service."""
        if isinstance(event, Ready):
            slot.ready = True
        elif isinstance(event, WorkerFatal):
            self.fatal = event.message
            slot.stopping = True
        elif isinstance(event, JobDone | JobFailed | JobCancelled) and event.job_id == slot.job_id:
            slot.job_id = None  # done, failed or cancelled: the worker is free again
        self.on_event(event)

    def _exited(self, slot: _Slot) -> None:
        """A worker process ended: report its job and start a fresh one unless stopping."""
        if not slot.fds or slot.process is None:
            return  # already handled (the pipe's EOF and the exit sentinel both lead here)
        self._drain(slot)  # messages a dying worker managed to send before it went
        self._unwatch(slot)
        process, job_id = slot.process, slot.job_id
        slot.ready, slot.job_id = False, None
        if slot.conn is not None:
            slot.conn.close()
            slot.conn = None
        reaping = asyncio.ensure_future(self._reap(slot, process, job_id))
        self._reaping.add(reaping)
        reaping.add_done_callback(self._reaping.discard)

    async def _reap(self, slot: _Slot, process: BaseProcess, job_id: int | None) -> None:
        """Collect a dead worker's exit status (in a thread: it may take a moment), report its job, start anew."""
        await asyncio.to_thread(_join_or_kill, process)
        if self._closed:
            return
        log.error("worker %d (pid %s) died with exit code %s", slot.worker_id, process.pid, process.exitcode)
        self.on_event(WorkerCrashed(slot.worker_id, job_id, process.exitcode))
        if self.fatal is None and self._loop is not None:
            self._loop.call_later(self._config.restart_delay_s, self._respawn, slot)

    def _respawn(self, slot: _Slot) -> None:
        """Start a replacement worker unless the pool is closing."""
        if not self._closed:
            self._spawn(slot)


def _join_or_kill(process: BaseProcess) -> None:
    """Wait briefly for a process whose pipe closed to end, and kill it if it does not."""
    process.join(1)
    if process.is_alive():
        process.kill()
        process.join(1)


def _send_quietly(conn: Connection, message: object) -> None:
    """Send, ignoring a pipe the worker already closed."""
    try:
        conn.send(message)
    except (OSError, ValueError):
        return
