"""The connection the stores share: one transaction at a time on one aiosqlite connection, and query helpers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.core.models import DEFAULT_QUALITY, Quality

Clock = Callable[[], float]


class SqlStore:
    """Base of the stores: the shared connection, its lock, the clock and the helpers every store uses."""

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
            return await fetch_one(self._conn, sql, params)

    async def _fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        """Run a query and return all its rows."""
        async with self._lock:
            return await fetch_all(self._conn, sql, params)


async def fetch_one(conn: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
    """Run a query on conn and return its first row, if any."""
    async with conn.execute(sql, tuple(params)) as cursor:
        return await cursor.fetchone()


async def fetch_all(conn: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
    """Run a query on conn and return all its rows."""
    async with conn.execute(sql, tuple(params)) as cursor:
        return list(await cursor.fetchall())
