"""The jobs table and the fair queue: enqueueing, the one function that moves a job between states, and queries."""

from __future__ import annotations

import heapq
import json
import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from bot.core.job_states import ACTIVE_STATES, UNFINISHED_STATES, JobEvent, target
from bot.core.models import Job, JobParams, QueueFullError, StyleRef
from bot.store.sql import SqlStore, fetch_all, fetch_one

log = logging.getLogger(__name__)

# What each move sets besides the state, and the values its caller must give (":now" is the store's clock).
EFFECTS: dict[JobEvent, tuple[str, tuple[str, ...]]] = {
    "claim": ("started_at = :now, attempts = attempts + 1, progress = 0, eta_s = NULL", ()),
    "progress": ("progress = MIN(MAX(:progress, 0.0), 1.0), eta_s = :eta_s", ("progress", "eta_s")),
    "painted": (
        "result_dir = :result_dir, run_seconds = :run_seconds, making_of_path = :making_of_path, progress = 1, "
        "eta_s = NULL, deliveries = 0, deliver_after = NULL",
        ("result_dir", "run_seconds", "making_of_path"),
    ),
    # The interrupted run never served the user, so started_at is cleared and the round-robin does not push
    # them back behind users who really got a turn.
    "retry": ("started_at = NULL, progress = 0, eta_s = NULL", ()),
    # Nobody's fault (a restart): the attempt it cut short is given back, so a later crash may still retry.
    "requeue": ("started_at = NULL, progress = 0, eta_s = NULL, attempts = MAX(attempts - 1, 0)", ()),
    "postpone": ("deliveries = deliveries + 1, deliver_after = :deliver_after", ("deliver_after",)),
    "delivered": (
        "result_file_id = :result_file_id, result_message_id = :result_message_id, finished_at = :now",
        ("result_file_id", "result_message_id"),
    ),
    "fail": ("error = :error, eta_s = NULL, finished_at = :now", ("error",)),
    "cancel": ("cancel_requested = 1, eta_s = NULL, finished_at = :now", ()),
    "undeliverable": ("error = :error, eta_s = NULL, finished_at = :now", ("error",)),
}


@dataclass(frozen=True)
class Moved:
    """A move the store made: the job just before and just after it."""

    event: JobEvent
    before: Job
    after: Job


def round_robin_order(queued: Sequence[tuple[int, int]], last_start: Mapping[int, float]) -> list[int]:
    """Return queued job ids in the order the fair scheduler would claim them.

    queued holds (job_id, user_id) pairs oldest first; last_start maps a user to the
    latest started_at of any of their jobs (users never served are absent).
    """
    pending: dict[int, deque[int]] = {}
    for job_id, user_id in queued:
        pending.setdefault(user_id, deque()).append(job_id)
    rank = {job_id: index for index, (job_id, _) in enumerate(queued)}
    # Key: never-served users first, then the oldest last start, then the oldest queued job.
    heap: list[tuple[bool, float, int, int]] = [
        (user_id in last_start, last_start.get(user_id, 0.0), rank[jobs[0]], user_id)
        for user_id, jobs in pending.items()
    ]
    heapq.heapify(heap)
    order: list[int] = []
    served = 0
    while heap:
        _, _, _, user_id = heapq.heappop(heap)
        jobs = pending[user_id]
        order.append(jobs.popleft())
        if jobs:
            # A simulated claim starts "now", later than every real start and every earlier simulated one.
            served += 1
            heapq.heappush(heap, (True, float("inf"), served, user_id))
    return order


def _in(states: Sequence[str]) -> str:
    """An SQL list of state names (they come from job_states, never from a caller)."""
    return "(" + ", ".join(f"'{state}'" for state in states) + ")"


ACTIVE = _in(ACTIVE_STATES)
UNFINISHED = _in(UNFINISHED_STATES)
# A clip job (JobParams.media is stored only for clips).
IS_CLIP = "COALESCE(json_extract(params, '$.media'), 'photo') != 'photo'"
ACTIVE_COUNT = f"SELECT COUNT(*) FROM jobs WHERE user_id = ? AND status IN {ACTIVE}"


class JobStore(SqlStore):
    """The jobs table: the queue, the moves between states, and the reads of jobs."""

    async def enqueue(
        self,
        chat_id: int,
        user_id: int,
        user_name: str | None,
        content_file_id: str,
        styles: Sequence[StyleRef],
        params: JobParams,
        *,
        reply_to_message_id: int | None = None,
        thread_id: int | None = None,
        per_user_limit: int,
        queue_limit: int,
    ) -> Job:
        """Queue a job, or raise QueueFullError when the user's cap or the global queue is full."""
        if not styles:
            raise ValueError("a job needs at least one style")
        styles_json = json.dumps([style.to_json() for style in styles])
        params_json = json.dumps(params.to_dict())
        async with self._transaction() as conn:
            # Counting and inserting in one IMMEDIATE transaction keeps the caps exact under concurrency.
            row = await fetch_one(conn, ACTIVE_COUNT, (user_id,))
            if row is not None and row[0] >= per_user_limit:
                raise QueueFullError(is_global=False, limit=per_user_limit)
            row = await fetch_one(conn, "SELECT COUNT(*) FROM jobs WHERE status = 'queued'")
            if row is not None and row[0] >= queue_limit:
                raise QueueFullError(is_global=True, limit=queue_limit)
            async with conn.execute(
                "INSERT INTO jobs (chat_id, user_id, user_name, status, content_file_id, styles, params, "
                "reply_to_message_id, thread_id, created_at) VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
                (
                    chat_id,
                    user_id,
                    user_name,
                    content_file_id,
                    styles_json,
                    params_json,
                    reply_to_message_id,
                    thread_id,
                    self._clock(),
                ),
            ) as cursor:
                job_id = cursor.lastrowid
            job = await _job_by_id(conn, job_id)
        log.debug("queued job %d for user %d in chat %d", job.id, user_id, chat_id)
        return job

    async def active_count(self, user_id: int) -> int:
        """How many of the user's jobs hold a slot (queued or running)."""
        row = await self._fetch_one(ACTIVE_COUNT, (user_id,))
        return 0 if row is None else int(row[0])

    # -- moves ---------------------------------------------------------------

    async def move(self, job_id: int, event: JobEvent, **fields: Any) -> Moved | None:
        """Apply one move of the state machine; None when the job is absent or the table refuses the move."""
        async with self._transaction() as conn:
            return await self._apply(conn, job_id, event, fields)

    async def claim_next(self, clip_slots: int | None = None) -> Moved | None:
        """Claim the next job by the fair round-robin rule (queued -> running), or None if none waits.

        With `clip_slots`, clips are passed over while that many are running (photos are claimed meanwhile).
        """
        async with self._transaction() as conn:
            skip_clips = False
            if clip_slots is not None:
                row = await fetch_one(conn, f"SELECT COUNT(*) FROM jobs WHERE status = 'running' AND {IS_CLIP}")
                skip_clips = row is not None and row[0] >= clip_slots
            order = await _queue_order(conn, photos_only=skip_clips)
            return await self._apply(conn, order[0], "claim", {}) if order else None

    async def _apply(
        self, conn: aiosqlite.Connection, job_id: int, event: JobEvent, fields: Mapping[str, Any]
    ) -> Moved | None:
        """The one place a job's state is written: only the moves job_states.MOVES lists, with their effects."""
        sets, needed = EFFECTS[event]
        if set(fields) != set(needed):
            raise TypeError(f"move {event!r} takes {', '.join(needed) or 'no values'}; got {', '.join(fields)}")
        row = await fetch_one(conn, "SELECT * FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            return None
        before = _job_from_row(row)
        to = target(before.status, event)
        if to is None:
            log.debug("job %d: %s refused in state %s", job_id, event, before.status)
            return None
        values = {**fields, "to": to, "id": job_id, "from": before.status, "now": self._clock()}
        await conn.execute(f"UPDATE jobs SET status = :to, {sets} WHERE id = :id AND status = :from", values)
        return Moved(event, before, await _job_by_id(conn, job_id))

    # -- other writes --------------------------------------------------------

    async def make_instant(self, job_id: int) -> Job | None:
        """A queued job becomes an instant one (only the instant network can paint); None if it is not queued."""
        async with self._transaction() as conn:
            async with conn.execute(
                "UPDATE jobs SET params = json_set(params, '$.quality', 'instant') WHERE id = ? AND status = 'queued'",
                (job_id,),
            ) as cursor:
                if cursor.rowcount == 0:
                    return None
            return await _job_by_id(conn, job_id)

    async def set_status_message(self, job_id: int, message_id: int) -> None:
        """Remember the chat message that shows the job's status."""
        await self._write("UPDATE jobs SET status_message_id = ? WHERE id = ?", (message_id, job_id))

    # -- reads ---------------------------------------------------------------

    async def _fetch_jobs(self, where: str, params: Sequence[Any] = (), tail: str = "") -> list[Job]:
        """Return the jobs matching an SQL condition, with an optional ORDER BY/LIMIT tail."""
        rows = await self._fetch_all(f"SELECT * FROM jobs WHERE {where} {tail}", params)
        return [_job_from_row(row) for row in rows]

    async def get_job(self, job_id: int) -> Job | None:
        """Return a job by id."""
        jobs = await self._fetch_jobs("id = ?", (job_id,))
        return jobs[0] if jobs else None

    async def queued_jobs(self) -> list[Job]:
        """Every queued job, in the order they will be claimed (one read, for positions and ETAs)."""
        async with self._lock:
            order = await _queue_order(self._conn)
            rows = await fetch_all(self._conn, "SELECT * FROM jobs WHERE status = 'queued'")
        jobs = {row["id"]: _job_from_row(row) for row in rows}
        return [jobs[job_id] for job_id in order if job_id in jobs]

    async def queue_order(self) -> list[int]:
        """Return the ids of all queued jobs in the order they will be claimed."""
        async with self._lock:
            return await _queue_order(self._conn)

    async def running_jobs(self) -> list[Job]:
        """Return every running job, earliest started first."""
        return await self._fetch_jobs("status = 'running'", (), "ORDER BY started_at, id")

    async def delivering_jobs(self) -> list[Job]:
        """Painted results waiting for delivery, the most overdue first."""
        return await self._fetch_jobs("status = 'delivering'", (), "ORDER BY COALESCE(deliver_after, 0), id")

    async def unfinished_jobs_in_chat(self, chat_id: int) -> list[Job]:
        """Jobs of a chat that are queued, running or being delivered."""
        return await self._fetch_jobs(f"chat_id = ? AND status IN {UNFINISHED}", (chat_id,))

    async def active_jobs(self, user_id: int, chat_id: int | None = None) -> list[Job]:
        """Return the user's queued and running jobs (optionally in one chat), oldest first."""
        where, params = _user_filter(user_id, chat_id)
        return await self._fetch_jobs(f"{where} AND status IN {ACTIVE}", params, "ORDER BY created_at, id")

    async def jobs_of_user(self, user_id: int) -> list[Job]:
        """Every job of a user, oldest first."""
        return await self._fetch_jobs("user_id = ?", (user_id,), "ORDER BY created_at, id")

    async def last_job(self, user_id: int, chat_id: int | None = None) -> Job | None:
        """Return the user's newest job that was not cancelled (optionally in one chat)."""
        where, params = _user_filter(user_id, chat_id)
        jobs = await self._fetch_jobs(
            f"{where} AND status != 'cancelled'", params, "ORDER BY created_at DESC, id DESC LIMIT 1"
        )
        return jobs[0] if jobs else None

    async def recent_results(self, user_id: int, limit: int = 20) -> list[Job]:
        """Return the user's finished jobs that have a result, newest first."""
        return await self._fetch_jobs(
            "user_id = ? AND status = 'done' AND result_file_id IS NOT NULL",
            (user_id, limit),
            "ORDER BY finished_at DESC, id DESC LIMIT ?",
        )

    async def job_by_result_message(self, chat_id: int, message_id: int) -> Job | None:
        """Return the job whose result was sent as this message in this chat."""
        jobs = await self._fetch_jobs(
            "chat_id = ? AND result_message_id = ?", (chat_id, message_id), "ORDER BY id DESC LIMIT 1"
        )
        return jobs[0] if jobs else None

    async def recent_runs(self, limit: int = 50) -> list[Job]:
        """Jobs painted lately (with their run time), oldest first: what the ETA model learns from."""
        jobs = await self._fetch_jobs(
            "run_seconds IS NOT NULL AND run_seconds > 0", (limit,), "ORDER BY finished_at DESC, id DESC LIMIT ?"
        )
        return jobs[::-1]


def _job_from_row(row: aiosqlite.Row) -> Job:
    """Build a Job from a jobs row, decoding its JSON columns."""
    return Job(
        id=row["id"],
        chat_id=row["chat_id"],
        user_id=row["user_id"],
        user_name=row["user_name"],
        status=row["status"],
        content_file_id=row["content_file_id"],
        styles=tuple(StyleRef.from_json(item) for item in json.loads(row["styles"])),
        params=JobParams.from_dict(json.loads(row["params"])),
        reply_to_message_id=row["reply_to_message_id"],
        status_message_id=row["status_message_id"],
        attempts=row["attempts"],
        progress=row["progress"],
        eta_s=row["eta_s"],
        error=row["error"],
        result_file_id=row["result_file_id"],
        result_message_id=row["result_message_id"],
        making_of_path=row["making_of_path"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        cancel_requested=bool(row["cancel_requested"]),
        result_dir=row["result_dir"],
        run_seconds=row["run_seconds"],
        deliveries=row["deliveries"],
        deliver_after=row["deliver_after"],
        thread_id=row["thread_id"],
    )


async def _job_by_id(conn: aiosqlite.Connection, job_id: int | None) -> Job:
    """Return a job that must exist (e.g. one just written in the same transaction)."""
    row = await fetch_one(conn, "SELECT * FROM jobs WHERE id = ?", (job_id,))
    if row is None:
        raise LookupError(f"job {job_id} vanished inside its own transaction")
    return _job_from_row(row)


async def _queue_order(conn: aiosqlite.Connection, *, photos_only: bool = False) -> list[int]:
    """Return queued job ids in claim order, read from conn (only photo jobs when `photos_only`)."""
    where = f"status = 'queued' AND NOT {IS_CLIP}" if photos_only else "status = 'queued'"
    queued = await fetch_all(conn, f"SELECT id, user_id FROM jobs WHERE {where} ORDER BY created_at, id")
    if not queued:
        return []
    starts = await fetch_all(
        conn,
        "SELECT user_id, MAX(started_at) AS last_start FROM jobs WHERE started_at IS NOT NULL "
        "AND user_id IN (SELECT user_id FROM jobs WHERE status = 'queued') GROUP BY user_id",
    )
    last_start = {row["user_id"]: row["last_start"] for row in starts}
    return round_robin_order([(row["id"], row["user_id"]) for row in queued], last_start)


def _user_filter(user_id: int, chat_id: int | None) -> tuple[str, tuple[int, ...]]:
    """Return an SQL condition (and its parameters) selecting a user's jobs, optionally in one chat."""
    if chat_id is None:
        return "user_id = ?", (user_id,)
    return "user_id = ? AND chat_id = ?", (user_id, chat_id)
