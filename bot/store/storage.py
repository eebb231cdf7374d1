"""All of the bot's SQL: users, group settings, pending sessions and the job queue."""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import re
import statistics
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from bot.core.models import (
    DEFAULT_GROUP_MAX_QUALITY,
    DEFAULT_QUALITY,
    Job,
    JobParams,
    Quality,
    QueueFullError,
    Session,
    StyleRef,
    UserSettings,
    parse_quality,
    parse_strength,
)
from bot.store.db import connect_short, open_database

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
SETTING_FIELDS = ("quality", "strength", "keep_colors", "default_style", "language")
# A language tag as Telegram sends it ('en', 'pt-br'); which ones the bot speaks is the Telegram layer's concern.
LANGUAGE_TAG = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*")


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
        parent_job_id=row["parent_job_id"],
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


def _validate_setting(field: str, value: object) -> object:
    """Return the value to store for one user setting, or raise ValueError naming what is allowed."""
    if field == "quality":
        return parse_quality(value)
    if field == "strength":
        return parse_strength(value)
    if field == "keep_colors":
        if not isinstance(value, bool):
            raise ValueError(f"keep_colors must be True or False; got {value!r}")
        return int(value)
    if value is None:
        return None
    if field == "language":
        if not (isinstance(value, str) and LANGUAGE_TAG.fullmatch(value)):
            raise ValueError(f"language must be a language tag like 'en' or 'pt-br', or None; got {value!r}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"default_style must be a style spec string or None; got {value!r}")
    # Blank means "no default", which is what a user clearing it wants.
    return value.strip() or None


@dataclass(frozen=True)
class UsageStats:
    """What /stats reports of one period: people, jobs, waits and runs, failures, and jobs per hour."""

    since: float
    until: float
    users: int
    jobs: dict[tuple[str, str], int]  # (state, quality) -> jobs created in the period
    waits: list[float]  # seconds from queued to started, of jobs that started
    runs: list[float]  # seconds of painting, of jobs that were painted
    failures: dict[str, int]  # error -> failed jobs
    hourly: list[tuple[float, int, float | None]]  # hour start, jobs created, median wait of those that started

    @property
    def total(self) -> int:
        """Jobs created in the period."""
        return sum(self.jobs.values())

    def by_state(self) -> dict[str, int]:
        """Jobs per state."""
        counts: dict[str, int] = {}
        for (state, _), n in self.jobs.items():
            counts[state] = counts.get(state, 0) + n
        return counts

    def by_quality(self) -> dict[str, int]:
        """Jobs per quality."""
        counts: dict[str, int] = {}
        for (_, quality), n in self.jobs.items():
            counts[quality] = counts.get(quality, 0) + n
        return counts


def quantile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0.5: the median) of the values, or None when there are none."""
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


class Storage:
    """Async access to the bot's database; one instance per connection, safe to share between tasks."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        clock: Clock = time.time,
        default_quality: Quality = DEFAULT_QUALITY,
        path: Path | None = None,
    ) -> None:
        self._conn = conn
        self._path = path
        self._clock = clock
        self._default_quality = default_quality  # for users who never chose one
        # One connection runs one transaction at a time: tasks sharing it must take turns,
        # or one task's statements would land inside another task's BEGIN ... COMMIT.
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, clock: Clock = time.time, default_quality: Quality = DEFAULT_QUALITY) -> Storage:
        """Open (and migrate) the database at path."""
        return cls(await open_database(path), clock, default_quality, path)

    async def close(self) -> None:
        """Close the underlying connection."""
        async with self._lock:
            await self._conn.close()

    # -- low-level helpers -------------------------------------------------

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Hold the lock and a write transaction (BEGIN IMMEDIATE), committing on success."""
        async with self._lock:
            # IMMEDIATE takes the write lock up front, so read-then-write sequences cannot
            # race another process; busy_timeout makes a contender wait instead of failing.
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def _write(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one autocommitted statement and return the number of rows it changed."""
        async with self._lock, self._conn.execute(sql, tuple(params)) as cursor:
            return cursor.rowcount

    async def _fetch_one(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        """Run a query and return its first row, if any."""
        async with self._lock:
            return await _fetch_one(self._conn, sql, params)

    async def _fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        """Run a query and return all its rows."""
        async with self._lock:
            return await _fetch_all(self._conn, sql, params)

    async def _fetch_jobs(self, where: str, params: Iterable[Any] = (), tail: str = "") -> list[Job]:
        """Return the jobs matching an SQL condition, with an optional ORDER BY/LIMIT tail."""
        rows = await self._fetch_all(f"SELECT * FROM jobs WHERE {where} {tail}", params)
        return [_job_from_row(row) for row in rows]

    # -- users and settings ------------------------------------------------

    async def get_settings(self, user_id: int) -> UserSettings:
        """Return a user's settings, or the defaults for a user never stored (nothing is inserted)."""
        row = await self._fetch_one(
            "SELECT quality, strength, keep_colors, default_style, language FROM users WHERE user_id = ?", (user_id,)
        )
        if row is None:
            return UserSettings(user_id=user_id, quality=self._default_quality)
        return UserSettings(
            user_id=user_id,
            quality=row["quality"] or self._default_quality,
            strength=row["strength"],
            keep_colors=bool(row["keep_colors"]),
            default_style=row["default_style"],
            language=row["language"],
        )

    async def update_settings(self, user_id: int, **changes: object) -> UserSettings:
        """Change some of a user's settings (creating the user if needed) and return them all."""
        unknown = set(changes) - set(SETTING_FIELDS)
        if unknown:
            raise TypeError(f"unknown settings {sorted(unknown)}; allowed: {', '.join(SETTING_FIELDS)}")
        values = {field: _validate_setting(field, value) for field, value in changes.items()}
        if values:
            # Column names come from SETTING_FIELDS only, never from the caller, so the f-string is safe.
            columns = ", ".join(values)
            marks = ", ".join("?" for _ in values)
            updates = ", ".join(f"{column} = excluded.{column}" for column in values)
            now = self._clock()
            await self._write(
                f"INSERT INTO users (user_id, created_at, updated_at, {columns}) VALUES (?, ?, ?, {marks}) "
                f"ON CONFLICT (user_id) DO UPDATE SET {updates}, updated_at = excluded.updated_at",
                (user_id, now, now, *values.values()),
            )
        return await self.get_settings(user_id)

    async def remember_user(self, user_id: int, first_name: str | None, language_code: str | None = None) -> None:
        """Store or refresh a user's first name and the language their Telegram app reports (kept if it sends none)."""
        now = self._clock()
        tag = language_code.lower() if language_code and LANGUAGE_TAG.fullmatch(language_code.lower()) else None
        await self._write(
            "INSERT INTO users (user_id, first_name, telegram_language, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET first_name = excluded.first_name, "
            "telegram_language = COALESCE(excluded.telegram_language, users.telegram_language), "
            "updated_at = excluded.updated_at",
            (user_id, first_name, tag, now, now),
        )

    async def language_of(self, user_id: int) -> str | None:
        """The language to write to a user in when they are not writing: their choice, else their app's, if known."""
        row = await self._fetch_one(
            "SELECT COALESCE(language, telegram_language) FROM users WHERE user_id = ?", (user_id,)
        )
        return row[0] if row is not None else None

    # -- groups -----------------------------------------------------------

    async def get_group_max_quality(self, chat_id: int) -> Quality:
        """Return the highest quality a group allows (hd unless an admin lowered it)."""
        row = await self._fetch_one("SELECT max_quality FROM group_settings WHERE chat_id = ?", (chat_id,))
        return DEFAULT_GROUP_MAX_QUALITY if row is None else parse_quality(row["max_quality"])

    async def set_group_max_quality(self, chat_id: int, quality: Quality) -> None:
        """Set the highest quality a group allows."""
        value = parse_quality(quality)
        await self._write(
            "INSERT INTO group_settings (chat_id, max_quality, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (chat_id) DO UPDATE SET max_quality = excluded.max_quality, "
            "updated_at = excluded.updated_at",
            (chat_id, value, self._clock()),
        )

    # -- sessions ---------------------------------------------------------

    async def save_session(
        self,
        chat_id: int,
        user_id: int,
        content_file_id: str,
        *,
        content_unique_id: str | None = None,
        content_message_id: int | None = None,
        media_group_id: str | None = None,
        ttl_s: float = 3600,
    ) -> Session:
        """Store the user's pending content photo in this chat, replacing any earlier one."""
        now = self._clock()
        session = Session(
            chat_id=chat_id,
            user_id=user_id,
            content_file_id=content_file_id,
            content_unique_id=content_unique_id,
            content_message_id=content_message_id,
            media_group_id=media_group_id,
            expires_at=now + ttl_s,
        )
        await self._write(
            "INSERT OR REPLACE INTO sessions (chat_id, user_id, content_file_id, content_unique_id, "
            "content_message_id, media_group_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                chat_id,
                user_id,
                content_file_id,
                content_unique_id,
                content_message_id,
                media_group_id,
                now,
                session.expires_at,
            ),
        )
        return session

    async def get_session(self, chat_id: int, user_id: int) -> Session | None:
        """Return the user's pending content photo in this chat, or None when absent or expired."""
        row = await self._fetch_one(
            "SELECT * FROM sessions WHERE chat_id = ? AND user_id = ? AND expires_at > ?",
            (chat_id, user_id, self._clock()),
        )
        if row is None:
            return None
        return Session(
            chat_id=row["chat_id"],
            user_id=row["user_id"],
            content_file_id=row["content_file_id"],
            content_unique_id=row["content_unique_id"],
            content_message_id=row["content_message_id"],
            media_group_id=row["media_group_id"],
            expires_at=row["expires_at"],
        )

    async def delete_session(self, chat_id: int, user_id: int) -> None:
        """Forget the user's pending content photo in this chat."""
        await self._write("DELETE FROM sessions WHERE chat_id = ? AND user_id = ?", (chat_id, user_id))

    # -- job queue --------------------------------------------------------

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
        parent_job_id: int | None = None,
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
            row = await _fetch_one(
                conn,
                "SELECT COUNT(*) FROM jobs WHERE user_id = ? AND status IN ('queued', 'running')",
                (user_id,),
            )
            if row is not None and row[0] >= per_user_limit:
                raise QueueFullError(is_global=False, limit=per_user_limit)
            row = await _fetch_one(conn, "SELECT COUNT(*) FROM jobs WHERE status = 'queued'")
            if row is not None and row[0] >= queue_limit:
                raise QueueFullError(is_global=True, limit=queue_limit)
            async with conn.execute(
                "INSERT INTO jobs (chat_id, user_id, user_name, status, content_file_id, styles, params, "
                "reply_to_message_id, parent_job_id, thread_id, created_at) "
                "VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
                (
                    chat_id,
                    user_id,
                    user_name,
                    content_file_id,
                    styles_json,
                    params_json,
                    reply_to_message_id,
                    parent_job_id,
                    thread_id,
                    self._clock(),
                ),
            ) as cursor:
                job_id = cursor.lastrowid
            job = await _job_by_id(conn, job_id)
        logger.debug("queued job %d for user %d in chat %d", job.id, user_id, chat_id)
        return job

    async def claim_next(self) -> Job | None:
        """Mark the next job by the fair round-robin rule as running and return it, or None if idle."""
        async with self._transaction() as conn:
            order = await _queue_order(conn)
            if not order:
                return None
            job_id = order[0]
            await conn.execute(
                "UPDATE jobs SET status = 'running', started_at = ?, attempts = attempts + 1, "
                "progress = 0, eta_s = NULL WHERE id = ?",
                (self._clock(), job_id),
            )
            return await _job_by_id(conn, job_id)

    async def claim(self, job_id: int) -> Job | None:
        """Mark one particular queued job as running (the instant painter's jobs); None if it is not queued."""
        async with self._transaction() as conn:
            async with conn.execute(
                "UPDATE jobs SET status = 'running', started_at = ?, attempts = attempts + 1, progress = 0, "
                "eta_s = NULL WHERE id = ? AND status = 'queued'",
                (self._clock(), job_id),
            ) as cursor:
                if cursor.rowcount == 0:
                    return None
            return await _job_by_id(conn, job_id)

    async def queued_jobs(self) -> list[Job]:
        """Every queued job, in the order they will be claimed (one read, for positions and ETAs)."""
        async with self._lock:
            order = await _queue_order(self._conn)
            rows = await _fetch_all(self._conn, "SELECT * FROM jobs WHERE status = 'queued'")
        jobs = {row["id"]: _job_from_row(row) for row in rows}
        return [jobs[job_id] for job_id in order if job_id in jobs]

    async def queue_order(self) -> list[int]:
        """Return the ids of all queued jobs in the order they will be claimed."""
        async with self._lock:
            return await _queue_order(self._conn)

    async def set_status_message(self, job_id: int, message_id: int) -> None:
        """Remember the chat message that shows the job's status."""
        await self._write("UPDATE jobs SET status_message_id = ? WHERE id = ?", (message_id, job_id))

    async def set_progress(self, job_id: int, progress: float, eta_s: float | None) -> None:
        """Record a running job's progress (clamped to 0..1) and estimated seconds left."""
        # Only while running: a late report must not touch a job already finished or requeued.
        await self._write(
            "UPDATE jobs SET progress = ?, eta_s = ? WHERE id = ? AND status = 'running'",
            (min(max(progress, 0.0), 1.0), eta_s, job_id),
        )

    async def mark_painted(self, job_id: int, result_dir: str, run_seconds: float, making_of_path: str | None) -> bool:
        """A worker painted the job: it waits in 'delivering' (slot freed); False if it was not running."""
        changed = await self._write(
            "UPDATE jobs SET status = 'delivering', result_dir = ?, run_seconds = ?, making_of_path = ?, "
            "progress = 1, eta_s = NULL, deliveries = 0, deliver_after = NULL "
            "WHERE id = ? AND status = 'running' AND cancel_requested = 0",
            (result_dir, run_seconds, making_of_path, job_id),
        )
        return changed > 0

    async def mark_delivered(self, job_id: int, result_file_id: str, result_message_id: int) -> bool:
        """Telegram has the result: the job is done; False if it was not being delivered."""
        changed = await self._write(
            "UPDATE jobs SET status = 'done', result_file_id = ?, result_message_id = ?, finished_at = ? "
            "WHERE id = ? AND status = 'delivering'",
            (result_file_id, result_message_id, self._clock(), job_id),
        )
        return changed > 0

    async def delivery_postponed(self, job_id: int, retry_at: float) -> int:
        """Count a failed delivery attempt and set when to try again; returns the attempts so far."""
        await self._write(
            "UPDATE jobs SET deliveries = deliveries + 1, deliver_after = ? WHERE id = ? AND status = 'delivering'",
            (retry_at, job_id),
        )
        row = await self._fetch_one("SELECT deliveries FROM jobs WHERE id = ?", (job_id,))
        return 0 if row is None else int(row[0])

    async def delivering_jobs(self) -> list[Job]:
        """Painted results waiting for delivery, the most overdue first."""
        return await self._fetch_jobs("status = 'delivering'", (), "ORDER BY COALESCE(deliver_after, 0), id")

    async def mark_undeliverable(self, job_id: int, reason: str) -> bool:
        """The chat cannot receive the job's messages: end it; False if it had already ended."""
        changed = await self._write(
            "UPDATE jobs SET status = 'undeliverable', error = ?, eta_s = NULL, finished_at = ? "
            "WHERE id = ? AND status IN ('queued', 'running', 'delivering')",
            (reason, self._clock(), job_id),
        )
        return changed > 0

    async def unfinished_jobs_in_chat(self, chat_id: int) -> list[Job]:
        """Jobs of a chat that are queued, running or being delivered."""
        return await self._fetch_jobs("chat_id = ? AND status IN ('queued', 'running', 'delivering')", (chat_id,))

    async def set_chat_unreachable(self, chat_id: int, reason: str) -> None:
        """Remember that a chat blocked or removed the bot: nothing is sent there until it writes again."""
        await self._write(
            "INSERT OR REPLACE INTO unreachable_chats (chat_id, reason, since) VALUES (?, ?, ?)",
            (chat_id, reason, self._clock()),
        )

    async def set_chat_reachable(self, chat_id: int) -> bool:
        """The chat wrote to the bot again; True if it had been marked unreachable."""
        return await self._write("DELETE FROM unreachable_chats WHERE chat_id = ?", (chat_id,)) > 0

    async def unreachable_chats(self) -> set[int]:
        """Chats marked unreachable."""
        return {row[0] for row in await self._fetch_all("SELECT chat_id FROM unreachable_chats")}

    async def mark_failed(self, job_id: int, error: str) -> bool:
        """Record that a job failed; return False if the job was not active."""
        changed = await self._write(
            "UPDATE jobs SET status = 'failed', error = ?, eta_s = NULL, finished_at = ? "
            "WHERE id = ? AND status IN ('queued', 'running')",
            (error, self._clock(), job_id),
        )
        return changed > 0

    async def mark_cancelled(self, job_id: int) -> bool:
        """Record that a job was cancelled; return False if the job was not active."""
        changed = await self._write(
            "UPDATE jobs SET status = 'cancelled', cancel_requested = 1, eta_s = NULL, finished_at = ? "
            "WHERE id = ? AND status IN ('queued', 'running')",
            (self._clock(), job_id),
        )
        return changed > 0

    async def requeue(self, job_id: int) -> Job | None:
        """Put a running job back in the queue for a retry (attempts kept); None if it was not running.

        A job whose cancel was requested is cancelled instead, since nobody wants it retried.
        """
        async with self._transaction() as conn:
            changed = await _requeue_running(conn, self._clock(), "id = ?", (job_id,))
            return await _job_by_id(conn, job_id) if changed else None

    async def request_cancel(self, job_id: int) -> Job | None:
        """Cancel a queued or running job now; returns the job as it was (None if already finished)."""
        async with self._transaction() as conn:
            row = await _fetch_one(conn, "SELECT status FROM jobs WHERE id = ?", (job_id,))
            if row is None or row["status"] not in ("queued", "running"):
                return None
            before = await _job_by_id(conn, job_id)
            # A running job is cancelled at once too (its user's slot is free); its worker is told to stop,
            # and whatever the worker still reports for it is dropped.
            await conn.execute(
                "UPDATE jobs SET status = 'cancelled', cancel_requested = 1, eta_s = NULL, finished_at = ? "
                "WHERE id = ?",
                (self._clock(), job_id),
            )
            return before

    async def recover_after_restart(self, still_running: Collection[int] = ()) -> list[Job]:
        """Return interrupted running jobs to the queue and list every queued job, oldest first.

        Jobs in `still_running` are painted elsewhere (a worker cluster) and survived the restart: they stay running.
        """
        keep = tuple(still_running)
        where = f"id NOT IN ({', '.join('?' * len(keep))})" if keep else "1"
        async with self._transaction() as conn:
            recovered = await _requeue_running(conn, self._clock(), where, keep)
            rows = await _fetch_all(conn, "SELECT * FROM jobs WHERE status = 'queued' ORDER BY created_at, id")
        if recovered:
            logger.info("requeued %d job(s) interrupted by a restart", recovered)
        return [_job_from_row(row) for row in rows]

    # -- job queries ------------------------------------------------------

    async def jobs_of_user(self, user_id: int) -> list[Job]:
        """Every job of a user, oldest first."""
        return await self._fetch_jobs("user_id = ?", (user_id,), "ORDER BY created_at, id")

    async def forget_user(self, user_id: int) -> dict[str, int]:
        """Delete a user's jobs, sessions and settings; returns how many of each went."""
        return await self._delete_counted(
            {
                "jobs": ("DELETE FROM jobs WHERE user_id = ?", (user_id,)),
                "sessions": ("DELETE FROM sessions WHERE user_id = ?", (user_id,)),
                "settings": ("DELETE FROM users WHERE user_id = ?", (user_id,)),
            }
        )

    async def prune(self, older_than_s: float) -> dict[str, int]:
        """Delete finished jobs, expired sessions and users idle for longer than `older_than_s`."""
        cutoff = self._clock() - older_than_s
        return await self._delete_counted(
            {
                "jobs": (
                    "DELETE FROM jobs WHERE status IN ('done', 'failed', 'cancelled', 'undeliverable') "
                    "AND COALESCE(finished_at, created_at) < ?",
                    (cutoff,),
                ),
                "sessions": ("DELETE FROM sessions WHERE expires_at <= ?", (self._clock(),)),
                "users": (
                    "DELETE FROM users WHERE COALESCE(updated_at, created_at, 0) < ? "
                    "AND user_id NOT IN (SELECT user_id FROM jobs)",
                    (cutoff,),
                ),
            }
        )

    async def _delete_counted(self, statements: Mapping[str, tuple[str, tuple[Any, ...]]]) -> dict[str, int]:
        """Run DELETE statements in one transaction; how many rows each removed, by name."""
        counts = {}
        async with self._transaction() as conn:
            for name, (sql, params) in statements.items():
                async with conn.execute(sql, params) as cursor:
                    counts[name] = cursor.rowcount
        return counts

    async def get_job(self, job_id: int) -> Job | None:
        """Return a job by id."""
        jobs = await self._fetch_jobs("id = ?", (job_id,))
        return jobs[0] if jobs else None

    async def active_jobs(self, user_id: int, chat_id: int | None = None) -> list[Job]:
        """Return the user's queued and running jobs (optionally in one chat), oldest first."""
        where, params = _user_filter(user_id, chat_id)
        return await self._fetch_jobs(f"{where} AND status IN ('queued', 'running')", params, "ORDER BY created_at, id")

    async def running_jobs(self) -> list[Job]:
        """Return every running job, earliest started first."""
        return await self._fetch_jobs("status = 'running'", (), "ORDER BY started_at, id")

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

    async def remember_preset_file(self, name: str, file_id: str) -> None:
        """Record the Telegram file id of a preset's thumbnail."""
        await self._write(
            "INSERT INTO preset_files (name, file_id, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET file_id = excluded.file_id, updated_at = excluded.updated_at",
            (name, file_id, self._clock()),
        )

    async def preset_files(self) -> dict[str, str]:
        """Thumbnail file ids by preset name."""
        rows = await self._fetch_all("SELECT name, file_id FROM preset_files")
        return {row["name"]: row["file_id"] for row in rows}

    async def job_by_result_message(self, chat_id: int, message_id: int) -> Job | None:
        """Return the job whose result was sent as this message in this chat."""
        jobs = await self._fetch_jobs(
            "chat_id = ? AND result_message_id = ?", (chat_id, message_id), "ORDER BY id DESC LIMIT 1"
        )
        return jobs[0] if jobs else None

    # -- operations ---------------------------------------------------------

    async def check_writable(self, timeout_s: float = 2.0) -> None:
        """Raise unless this connection answers and the database commits a heartbeat within timeout_s."""
        await asyncio.wait_for(self._fetch_one("SELECT 1"), timeout_s)  # a closed connection raises here
        if self._path is not None:
            # A second, short-lived connection: the shared one waits 30 s for a lock, too long for a probe,
            # and a probe cancelled inside BEGIN on it would leave its transaction open for everyone else.
            await asyncio.to_thread(_commit_heartbeat, self._path, timeout_s)

    async def active_counts(self) -> dict[str, int]:
        """Jobs now queued, running and delivering."""
        rows = await self._fetch_all(
            "SELECT status, COUNT(*) FROM jobs WHERE status IN ('queued', 'running', 'delivering') GROUP BY status"
        )
        counts = dict.fromkeys(("queued", "running", "delivering"), 0)
        counts.update({row[0]: int(row[1]) for row in rows})
        return counts

    async def usage(self, since: float) -> UsageStats:
        """Users, jobs, waits, run times, failures and jobs per hour of the jobs created since `since`."""
        now = self._clock()
        rows = await self._fetch_all(
            "SELECT user_id, status, json_extract(params, '$.quality') AS quality, error, created_at, started_at, "
            "run_seconds FROM jobs WHERE created_at >= ?",
            (since,),
        )
        jobs: dict[tuple[str, str], int] = {}
        failures: dict[str, int] = {}
        hours = max(1, int((now - since + 3599) // 3600))
        per_hour: list[list[float]] = [[] for _ in range(hours)]
        created = [0] * hours
        waits, runs = [], []
        for row in rows:
            key = (row["status"], row["quality"] or self._default_quality)
            jobs[key] = jobs.get(key, 0) + 1
            if row["status"] == "failed":
                failures[row["error"] or "unknown"] = failures.get(row["error"] or "unknown", 0) + 1
            hour = min(hours - 1, int((row["created_at"] - since) // 3600))
            created[hour] += 1
            if row["started_at"] is not None:
                waits.append(max(0.0, row["started_at"] - row["created_at"]))
                per_hour[hour].append(waits[-1])
            if row["run_seconds"] is not None:
                runs.append(float(row["run_seconds"]))
        hourly = [(since + 3600 * i, created[i], quantile(per_hour[i], 0.5)) for i in range(hours)]
        return UsageStats(since, now, len({row["user_id"] for row in rows}), jobs, waits, runs, failures, hourly)

    async def recent_runs(self, limit: int = 50) -> list[Job]:
        """Jobs painted lately (with their run time), oldest first: what the ETA model learns from."""
        jobs = await self._fetch_jobs(
            "run_seconds IS NOT NULL AND run_seconds > 0", (limit,), "ORDER BY finished_at DESC, id DESC LIMIT ?"
        )
        return jobs[::-1]


def _commit_heartbeat(path: Path, timeout_s: float) -> None:
    """Commit a real write (the heartbeat row): a lock alone needs no space, so it passed on a full disk."""
    conn = connect_short(path, timeout_s)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT OR REPLACE INTO heartbeat (id, beat) VALUES (1, ?)", (time.time(),))
        conn.execute("COMMIT")
    finally:
        conn.close()


# -- helpers that run on a connection the caller already holds -------------


async def _fetch_one(conn: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
    """Run a query on conn and return its first row, if any."""
    async with conn.execute(sql, tuple(params)) as cursor:
        return await cursor.fetchone()


async def _fetch_all(conn: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
    """Run a query on conn and return all its rows."""
    async with conn.execute(sql, tuple(params)) as cursor:
        return list(await cursor.fetchall())


async def _job_by_id(conn: aiosqlite.Connection, job_id: int | None) -> Job:
    """Return a job that must exist (e.g. one just written in the same transaction)."""
    row = await _fetch_one(conn, "SELECT * FROM jobs WHERE id = ?", (job_id,))
    if row is None:
        raise LookupError(f"job {job_id} vanished inside its own transaction")
    return _job_from_row(row)


async def _queue_order(conn: aiosqlite.Connection) -> list[int]:
    """Return queued job ids in claim order, read from conn."""
    queued = await _fetch_all(conn, "SELECT id, user_id FROM jobs WHERE status = 'queued' ORDER BY created_at, id")
    if not queued:
        return []
    starts = await _fetch_all(
        conn,
        "SELECT user_id, MAX(started_at) AS last_start FROM jobs WHERE started_at IS NOT NULL "
        "AND user_id IN (SELECT user_id FROM jobs WHERE status = 'queued') GROUP BY user_id",
    )
    last_start = {row["user_id"]: row["last_start"] for row in starts}
    return round_robin_order([(row["id"], row["user_id"]) for row in queued], last_start)


async def _requeue_running(conn: aiosqlite.Connection, now: float, where: str, params: Sequence[Any]) -> int:
    """Move matching running jobs back to queued (or to cancelled if asked); return how many moved."""
    # The interrupted run never served the user, so started_at is cleared and the
    # round-robin does not push them back behind users who really got a turn.
    async with conn.execute(
        f"UPDATE jobs SET status = 'cancelled', finished_at = ?, eta_s = NULL "
        f"WHERE status = 'running' AND cancel_requested = 1 AND {where}",
        (now, *params),
    ) as cursor:
        cancelled = cursor.rowcount
    async with conn.execute(
        f"UPDATE jobs SET status = 'queued', started_at = NULL, progress = 0, eta_s = NULL "
        f"WHERE status = 'running' AND {where}",
        tuple(params),
    ) as cursor:
        requeued = cursor.rowcount
    return cancelled + requeued


def _user_filter(user_id: int, chat_id: int | None) -> tuple[str, tuple[int, ...]]:
    """Return an SQL condition (and its parameters) selecting a user's jobs, optionally in one chat."""
    if chat_id is None:
        return "user_id = ?", (user_id,)
    return "user_id = ? AND chat_id = ?", (user_id, chat_id)
