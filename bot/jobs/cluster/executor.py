"""The Celery executor: jobs go to cluster workers through Redis; progress and results come back the same way.

SQLite stays the source of truth. Redis holds, per job in flight, the id of its current task (`stylebot:inflight`);
a worker runs a task only while it is the job's current one, and the bot accepts an outcome only from it, so a
task delivered twice (a worker died, Redis restored it) paints or counts once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis

from bot.core.errors import BrokerUnavailableError, ClipRefusedError
from bot.jobs.cluster import events
from bot.jobs.cluster.celery_app import make_app
from bot.jobs.cluster.keys import (
    CANCEL_TTL_S,
    INFLIGHT,
    OUTCOME_CONSUMER,
    OUTCOME_GROUP,
    OUTCOMES,
    PROGRESS,
    QUEUE,
    TASK_NAME,
    WORKER_PREFIX,
    cancel_key,
    preview_key,
    result_key,
)
from bot.jobs.cluster.payload import encode_request
from bot.jobs.executor_port import EventHandler
from bot.jobs.layout import JobFiles
from bot.jobs.protocol import (
    Event,
    JobCancelled,
    JobDone,
    JobFailed,
    JobOutcome,
    JobProgress,
    Ready,
    RunJob,
    WorkerCrashed,
    WorkerFatal,
)
from bot.jobs.supervise import TaskSet, cancel_and_wait, supervised

log = logging.getLogger(__name__)
POLL_S = 0.5  # how often worker heartbeats are read
# The longest a broker call (publish, revoke) may take; they run in threads, never on the event loop.
SEND_TIMEOUT_S = 5.0
LOST_GRACE_S = 10.0  # after reconnecting, workers get this long to beat again before they count as lost
FORGET_AFTER_S = 60.0  # a delivered outcome's in-flight entry is kept this long (covers a crash right after it)
HEALTHY = ("loading", "idle", "busy")
CollectedOutcome = JobOutcome | WorkerCrashed


@dataclass(frozen=True)
class WorkerState:
    """What a worker's heartbeat says."""

    state: str
    job: int | None = None
    task: str | None = None
    message: str = ""
    pid: int = 0


@dataclass
class _Flight:
    """A job handed to the cluster."""

    task: str
    out_dir: str
    worker: str | None = None  # the worker seen painting it; None while it waits in the broker
    done_at: float | None = None  # when its outcome was handed on


class CeleryExecutor:
    """Submits RunJobs as Celery tasks, only as many as there are idle workers, and turns Redis into events."""

    def __init__(self, broker_url: str, visibility_timeout_s: int) -> None:
        self.on_event: EventHandler = lambda event: None  # the dispatcher's, given to start()
        self.fatal: str | None = None
        self._url = broker_url
        self._app = make_app(broker_url, visibility_timeout_s, send_timeout_s=SEND_TIMEOUT_S)
        self._tasks = TaskSet()  # telling the broker about cancels, in the background
        # Celery's calls (publish, revoke) block; they run on one thread of their own, as kombu's connections
        # are not meant to be shared between threads.
        self._celery = ThreadPoolExecutor(1, thread_name_prefix="celery-client")
        self._redis: aioredis.Redis | None = None
        self._flights: dict[int, _Flight] = {}
        self._workers: dict[str, WorkerState] = {}
        self._numbers: dict[str, int] = {}
        self._connected = False
        self._reconnected_at = 0.0
        self._replay: list[Event] = []
        self._loops: list[asyncio.Task[None]] = []
        self._running = False  # the loops' own stop signal: a cancel can be lost (see cancel_and_wait)

    # -- the executor port ----------------------------------------------------

    async def reattach(self, running: frozenset[int]) -> frozenset[int]:
        """Pick up the jobs the cluster still has from before a restart; forget the ones SQLite finished."""
        client = self._client()
        try:
            entries = await client.hgetall(INFLIGHT)
        except redis.RedisError as exc:
            log.warning("cannot reach the broker (%s): jobs that were running are queued again", exc)
            return frozenset()
        self._mark_connected()
        keep = set()
        for raw_job, raw in entries.items():
            job_id, entry = int(raw_job), json.loads(raw)
            if job_id not in running:
                await client.hdel(INFLIGHT, raw_job)
                continue
            flight = _Flight(entry["task"], entry["out_dir"])
            if entry.get("done"):  # handed on just before the restart, but the database had not recorded it
                flight.done_at = time.monotonic()
                self._replay.append(_replayable(job_id, events.from_json(entry["event"])))
            self._flights[job_id] = flight
            keep.add(job_id)
        if keep:
            log.info("re-attached to %d job(s) still on the cluster: %s", len(keep), sorted(keep))
        return frozenset(keep)

    def check_accepting(self) -> None:
        """New jobs are refused while the broker cannot be reached (nothing is lost: the queue is in SQLite)."""
        if not self._connected:
            raise BrokerUnavailableError()

    def start(self, on_event: EventHandler) -> None:
        """Start reading heartbeats, progress and outcomes for `on_event`; hand on outcomes replayed from a restart."""
        self.on_event = on_event
        for event in self._replay:
            self.on_event(event)
        self._replay = []
        self._running = True
        self._loops = [
            supervised("cluster-workers", self._watch_workers, lambda: self._running),
            supervised("cluster-progress", self._read_progress, lambda: self._running),
            supervised("cluster-outcomes", self._read_outcomes, lambda: self._running),
        ]

    def idle_workers(self) -> int:
        """Idle workers (from their heartbeats) less the tasks already waiting for one in the broker."""
        if not self._connected:
            return 0
        idle = sum(1 for w in self._workers.values() if w.state == "idle")
        waiting = sum(1 for f in self._flights.values() if f.worker is None and f.done_at is None)
        return max(0, idle - waiting)

    async def submit(self, request: RunJob) -> bool:
        """Send the job as a task (its photos inside); False when the broker cannot take it.

        The payload is built and the task published in threads; the loop only waits. A cancel that comes
        meanwhile finds the flight registered first, and the task then goes out only if it still is this one.
        """
        if not self._connected:
            return False
        flight = self._flights[request.job_id] = _Flight(str(uuid.uuid4()), request.out_dir)
        try:
            payload = await asyncio.to_thread(encode_request, request)
        except ClipRefusedError as exc:  # a clip too large to travel through Redis: the user's to shorten
            self._drop(request.job_id, flight)
            self._later(JobFailed(request.job_id, str(exc.key), user_error=True, problem=exc.problem()))
            return True
        except Exception as exc:  # the photo vanished or cannot be read: fail the job like a worker would
            log.exception("job %d: cannot prepare the task", request.job_id)
            self._drop(request.job_id, flight)
            self._later(JobFailed(request.job_id, f"{type(exc).__name__}: {exc}", user_error=False))
            return True
        entry = json.dumps({"task": flight.task, "out_dir": request.out_dir})
        try:
            # The entry first: a worker runs a task only if it is its job's current one.
            await self._client().hset(INFLIGHT, str(request.job_id), entry)
            if self._flights.get(request.job_id) is not flight:  # cancelled meanwhile: nothing to send
                await self._client().hdel(INFLIGHT, str(request.job_id))
                return True
            await self._in_celery_thread(self._publish, flight.task, payload)
        except Exception as exc:  # redis or kombu connection errors: the dispatcher requeues the job
            log.warning("job %d: the broker did not take the task (%s)", request.job_id, exc)
            self._connected = False
            self._drop(request.job_id, flight)
            with contextlib.suppress(redis.RedisError, OSError):
                await self._client().hdel(INFLIGHT, str(request.job_id))
            return False
        return True

    def holds(self, job_id: int) -> bool:
        """Whether the cluster has the job: in the broker, being painted, or its outcome just handed on."""
        return job_id in self._flights

    def _publish(self, task_id: str, payload: dict[str, Any]) -> None:
        """Publish a paint task (blocking, at most SEND_TIMEOUT_S per socket operation: run in a thread)."""
        self._app.send_task(TASK_NAME, args=[payload], task_id=task_id, queue=QUEUE, retry=False)

    def _drop(self, job_id: int, flight: _Flight) -> None:
        """Forget a flight here, if it is still the job's."""
        if self._flights.get(job_id) is flight:
            del self._flights[job_id]

    def cancel(self, job_id: int) -> bool:
        """Stop a job: revoke its task if still queued, and raise the flag a running one reads every step.

        The broker is told in the background (never on the loop); a job still queued is reported cancelled at once.
        """
        flight = self._flights.get(job_id)
        if flight is None or flight.done_at is not None:
            return False
        queued = flight.worker is None
        if queued:  # still queued: no worker will ever report it, so say it here
            del self._flights[job_id]
            self._later(JobCancelled(job_id))
        self._tasks.spawn(self._tell_cancel(job_id, flight.task, queued), name=f"cancel-{job_id}")
        return True

    async def _tell_cancel(self, job_id: int, task_id: str, queued: bool) -> None:
        """Raise the task's cancel flag and revoke it; a queued job's in-flight entry goes too."""
        try:
            await self._client().set(cancel_key(task_id), 1, ex=CANCEL_TTL_S)
            await self._in_celery_thread(self._app.control.revoke, task_id)
        except Exception as exc:  # the task's outcome will be dropped anyway: the job is cancelled in SQLite
            log.warning("job %d: could not tell the cluster to cancel (%s)", job_id, exc)
        if queued and job_id not in self._flights:
            with contextlib.suppress(redis.RedisError, OSError):
                await self._client().hdel(INFLIGHT, str(job_id))

    async def stop(self) -> None:
        """Stop listening; tasks in flight keep running and are re-attached on the next start."""
        self._running = False
        await cancel_and_wait(self._loops)
        self._loops = []
        await self._tasks.cancel_all()
        if self._redis is not None:
            await self._redis.aclose()
        await self._in_celery_thread(self._app.close)
        self._celery.shutdown(wait=False)

    # -- heartbeats ------------------------------------------------------------

    async def _watch_workers(self) -> None:
        """Read every worker's heartbeat: idle slots, fatal workers, and workers that died with a job."""
        while self._running:
            try:
                snapshot = await self._read_workers()
            except redis.RedisError as exc:
                if self._connected:
                    log.warning("lost the broker (%s); new jobs wait until it is back", exc)
                self._connected, self._workers = False, {}
                await asyncio.sleep(1.0)
                continue
            if not self._connected:
                log.info("connected to the broker")
                self._mark_connected()
            await self._update(snapshot)
            await asyncio.sleep(POLL_S)

    async def _read_workers(self) -> dict[str, WorkerState]:
        """Every heartbeat key, parsed."""
        client = self._client()
        keys = [key async for key in client.scan_iter(match=WORKER_PREFIX + "*", count=200)]
        values = await client.mget(keys) if keys else []
        snapshot = {}
        for key, raw in zip(keys, values, strict=True):
            if raw is None:
                continue
            data = json.loads(raw)
            name = key.decode()[len(WORKER_PREFIX) :]
            snapshot[name] = WorkerState(
                data.get("state", "idle"),
                data.get("job"),
                data.get("task"),
                data.get("message", ""),
                data.get("pid", 0),
            )
        return snapshot

    async def _update(self, snapshot: dict[str, WorkerState]) -> None:
        """Compare a heartbeat snapshot with the last one and act on the differences."""
        before, self._workers = self._workers, snapshot
        for name, worker in snapshot.items():
            was = before.get(name)
            if worker.state == "idle" and (was is None or was.state != "idle"):
                self.on_event(Ready(self._number(name), worker.pid))  # a free slot: the dispatcher looks again
            flight = self._flights.get(worker.job) if worker.job is not None else None
            if worker.state == "busy" and flight is not None and flight.task == worker.task:
                flight.worker = name
        self._check_fatal(snapshot)
        if time.monotonic() - self._reconnected_at >= LOST_GRACE_S:
            await self._find_lost(snapshot)
        await self._forget_delivered()

    def _check_fatal(self, snapshot: dict[str, WorkerState]) -> None:
        """Painting is unavailable when workers report they cannot load the model and none can."""
        reasons = [w.message for w in snapshot.values() if w.state == "fatal"]
        healthy = any(w.state in HEALTHY for w in snapshot.values())
        if reasons and not healthy and self.fatal is None:
            self.fatal = reasons[0]
            self.on_event(WorkerFatal(-1, reasons[0]))
        elif healthy and self.fatal is not None:
            log.info("a worker can paint again")
            self.fatal = None

    async def _find_lost(self, snapshot: dict[str, WorkerState]) -> None:
        """A worker whose heartbeat expired while painting a job died: the dispatcher retries the job."""
        for job_id, flight in list(self._flights.items()):
            if flight.done_at is not None or flight.worker is None or flight.worker in snapshot:
                continue
            log.error("worker %s stopped beating while painting job %d", flight.worker, job_id)
            await self._forget(job_id)  # a copy of its task Redis may deliver again is now stale, so skipped
            self.on_event(WorkerCrashed(self._number(flight.worker), job_id, None))

    async def _forget_delivered(self) -> None:
        """Drop in-flight entries whose outcome was handed on a while ago."""
        now = time.monotonic()
        for job_id, flight in list(self._flights.items()):
            if flight.done_at is not None and now - flight.done_at > FORGET_AFTER_S:
                await self._forget(job_id)

    async def _forget(self, job_id: int) -> None:
        """Forget a job here and in Redis."""
        self._flights.pop(job_id, None)
        await self._client().hdel(INFLIGHT, str(job_id))

    # -- progress --------------------------------------------------------------

    async def _read_progress(self) -> None:
        """Follow the progress stream (entries older than this bot are of no interest)."""
        last: str | bytes = "$"
        while self._running:
            try:
                replies = await self._client().xread({PROGRESS: last}, count=200, block=1000)
            except redis.RedisError:
                await asyncio.sleep(1.0)
                continue
            for _stream, entries in replies or []:
                for entry_id, fields in entries:
                    last = entry_id
                    await self._on_progress(_text(fields))

    async def _on_progress(self, fields: dict[str, str]) -> None:
        """A worker started or advanced a job; only the job's current task counts."""
        job_id = int(fields["job"])
        flight = self._flights.get(job_id)
        if flight is None or flight.task != fields["task"] or flight.done_at is not None:
            return
        worker = fields["worker"]
        if flight.worker is None:
            flight.worker = worker
            # Busy now, even if its heartbeat has not said so yet: the slot must not be counted twice.
            self._workers[worker] = replace(self._workers.get(worker, WorkerState("busy")), state="busy", job=job_id)
        if fields["kind"] == "progress":
            eta = float(fields["eta"]) if fields.get("eta") else None
            preview = await self._preview(job_id, flight) if fields.get("preview") else None
            self.on_event(
                JobProgress(job_id, float(fields["fraction"]), eta, int(fields["step"]), int(fields["total"]), preview)
            )

    async def _preview(self, job_id: int, flight: _Flight) -> str | None:
        """Write the task's latest live picture where a local worker would have (out_dir/live.jpg); its path."""
        try:
            data = await self._client().get(preview_key(flight.task))
        except redis.RedisError as exc:
            log.debug("job %d: live picture not read: %s", job_id, exc)
            return None
        if data is None or self._flights.get(job_id) is not flight or flight.done_at is not None:
            return None  # the job ended while it was read: its folder may be gone already, so write nothing
        # Written here, without an await after the check above: no outcome can come between the two.
        path = JobFiles(Path(flight.out_dir)).live
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)  # the notifier may be uploading the previous picture
        except OSError as exc:  # a full disk costs the picture, not the progress
            log.warning("job %d: live picture not written: %s", job_id, exc)
            return None
        return str(path)

    # -- outcomes ----------------------------------------------------------------

    async def _read_outcomes(self) -> None:
        """Read outcomes through a consumer group: what arrived while the bot was down, then each new one."""
        client = self._client()
        backlog = True  # entries read before a crash but not acknowledged come first
        while self._running:
            try:
                await self._ensure_group()
                replies = await client.xreadgroup(
                    OUTCOME_GROUP,
                    OUTCOME_CONSUMER,
                    {OUTCOMES: "0" if backlog else ">"},
                    count=20,
                    block=None if backlog else 1000,
                )
            except redis.RedisError:
                await asyncio.sleep(1.0)
                continue
            entries = replies[0][1] if replies else []
            if backlog and not entries:
                backlog = False
            for entry_id, fields in entries:
                await self._on_outcome(entry_id, _text(fields))

    async def _ensure_group(self) -> None:
        """Create the consumer group (from the stream's start) unless it exists."""
        try:
            await self._client().xgroup_create(OUTCOMES, OUTCOME_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _on_outcome(self, entry_id: bytes, fields: dict[str, str]) -> None:
        """Collect one outcome: files to disk, the event handed on, then the Redis copies deleted."""
        job_id, task = int(fields["job"]), fields["task"]
        flight = self._flights.get(job_id)
        if flight is not None and flight.task == task and flight.done_at is None:
            event = await self._collect(job_id, flight, fields)
            flight.done_at = time.monotonic()
            if not isinstance(event, WorkerCrashed):
                # Recorded before it is handed on: a bot restarted before SQLite saw it hands it on again.
                entry = {"task": task, "out_dir": flight.out_dir, "done": True, "event": events.to_json(event)}
                try:
                    await self._client().hset(INFLIGHT, str(job_id), json.dumps(entry))
                except BaseException:
                    # Not handed on: the entry stays unacknowledged and is read again, and must not then
                    # look handed on already, or the job would wait for an outcome that was thrown away.
                    flight.done_at = None
                    raise
            worker = self._workers.get(fields["worker"])
            if worker is not None and worker.job == job_id:
                self._workers[fields["worker"]] = replace(worker, state="idle", job=None, task=None)
            self.on_event(event)
        else:
            log.info("job %d: dropped an outcome of task %s (stale or already handed on)", job_id, task)
        pipe = self._client().pipeline(transaction=True)
        pipe.delete(result_key(task), preview_key(task))
        pipe.xack(OUTCOMES, OUTCOME_GROUP, entry_id)
        pipe.xdel(OUTCOMES, entry_id)
        await pipe.execute()

    async def _collect(self, job_id: int, flight: _Flight, fields: dict[str, str]) -> CollectedOutcome:
        """The event for an outcome; a painted job's files are written into its out_dir first."""
        kind = fields["kind"]
        if kind == "cancelled":
            return JobCancelled(job_id)
        if kind == "failed":
            return events.failure_from_fields(job_id, fields)
        data = await self._client().hgetall(result_key(flight.task))
        if b"photo" not in data:  # expired (the bot was away for a day): paint it again
            log.error("job %d: the result of task %s is gone from the broker", job_id, flight.task)
            return WorkerCrashed(self._number(fields["worker"]), job_id, None)
        files = JobFiles(Path(flight.out_dir))
        clip_name = fields.get("clip_name", "")
        notes = tuple(n for n in fields.get("notes", "").split(" ") if n)
        written = await asyncio.to_thread(_write_files, files, data, clip_name, notes)
        return JobDone(
            job_id,
            str(files.photo),
            str(files.document) if "document" in written else None,
            str(files.making_of) if "making_of" in written else None,
            float(fields.get("seconds", 0.0)),
            (int(fields.get("width", 0)), int(fields.get("height", 0))),
            str(files.root / clip_name) if "clip" in written else None,
            notes,
        )

    # -- helpers -----------------------------------------------------------------

    def _client(self) -> Any:  # redis-py types each command as "Awaitable or value", whichever client it is
        """The asyncio Redis client (created on first use, on the running loop)."""
        if self._redis is None:
            self._redis = aioredis.Redis.from_url(self._url, socket_connect_timeout=3, socket_timeout=10)
        return self._redis

    async def _in_celery_thread(self, call: Callable[..., Any], *args: Any) -> Any:
        """Run a blocking Celery call on the Celery client's thread and wait for it."""
        return await asyncio.get_running_loop().run_in_executor(self._celery, functools.partial(call, *args))

    def _mark_connected(self) -> None:
        """The broker answers again."""
        self._connected = True
        self._reconnected_at = time.monotonic()

    def _number(self, name: str) -> int:
        """A small number for a worker's name (events carry worker ids as numbers)."""
        return self._numbers.setdefault(name, len(self._numbers))

    def _later(self, event: Event) -> None:
        """Hand on an event after the current call returns (submit and cancel are called mid-step)."""
        asyncio.get_running_loop().call_soon(self.on_event, event)


def _write_files(
    files: JobFiles, data: dict[bytes, bytes], clip_name: str = "", notes: tuple[str, ...] = ()
) -> set[str]:
    """Write a result's files into a job folder; returns which were there (a clip only under a name it may have)."""
    files.root.mkdir(parents=True, exist_ok=True)
    targets = {"photo": files.photo, "document": files.document, "making_of": files.making_of}
    clip = files.root / clip_name
    if clip_name and clip in files.clips:
        targets["clip"] = clip
    if notes:
        files.notes.write_text("\n".join(notes))
    written = set()
    for name, path in targets.items():
        if name.encode() in data:
            path.write_bytes(data[name.encode()])
            written.add(name)
    return written


def _replayable(job_id: int, event: Any) -> Event:
    """An outcome recorded before a restart, if its files are still on disk; otherwise the job is run again."""
    if isinstance(event, JobDone) and not Path(event.photo_path).is_file():
        return WorkerCrashed(-1, job_id, None)
    return event


def _text(fields: dict[bytes, bytes]) -> dict[str, str]:
    """Stream fields as text."""
    return {k.decode(): v.decode() for k, v in fields.items()}
