"""The bot's database: one connection shared by the jobs, people and usage stores, and what spans them."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from bot.core.models import DEFAULT_QUALITY, Quality
from bot.store.db import connect_short, open_database
from bot.store.jobs import JobStore, Moved, round_robin_order
from bot.store.people import SETTING_FIELDS, PeopleStore
from bot.store.sql import Clock
from bot.store.usage import UsageStats, UsageStore, quantile

__all__ = ["SETTING_FIELDS", "Moved", "Storage", "UsageStats", "quantile", "round_robin_order"]

log = logging.getLogger(__name__)


class Storage(JobStore, PeopleStore, UsageStore):
    """Async access to the bot's database; one instance per connection, safe to share between tasks."""

    @classmethod
    async def open(cls, path: Path, clock: Clock = time.time, default_quality: Quality = DEFAULT_QUALITY) -> Storage:
        """Open (and migrate) the database at path."""
        return cls(await open_database(path), clock, default_quality, path)

    async def close(self) -> None:
        """Close the underlying connection."""
        async with self._lock:
            await self._conn.close()

    async def running_after_restart(self, still_running: Collection[int] = ()) -> list[int]:
        """Jobs left running by the previous process that no worker paints any more (they go back to the queue).

        Jobs in `still_running` are painted elsewhere (a worker cluster) and survived the restart: they stay running.
        """
        keep = set(still_running)
        return [job.id for job in await self.running_jobs() if job.id not in keep]

    async def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> list[int]:
        """A group became a supergroup: its unfinished jobs, sessions and settings move to the new id.

        Message ids do not carry over to the new chat, so replies and status messages start afresh there.
        Returns the ids of the jobs moved.
        """
        async with self._transaction() as conn:
            async with conn.execute(
                "SELECT id FROM jobs WHERE chat_id = ? AND status IN ('queued', 'running', 'delivering')",
                (old_chat_id,),
            ) as cursor:
                moved = [row[0] for row in await cursor.fetchall()]
            await conn.execute(
                "UPDATE jobs SET chat_id = ?, reply_to_message_id = NULL, status_message_id = NULL "
                "WHERE chat_id = ? AND status IN ('queued', 'running', 'delivering')",
                (new_chat_id, old_chat_id),
            )
            # Finished jobs move too (for /status and replies to results), keeping their message ids as history.
            await conn.execute("UPDATE jobs SET chat_id = ? WHERE chat_id = ?", (new_chat_id, old_chat_id))
            for table in ("sessions", "group_settings"):
                sql = f"UPDATE OR REPLACE {table} SET chat_id = ? WHERE chat_id = ?"
                await conn.execute(sql, (new_chat_id, old_chat_id))
            await conn.execute("DELETE FROM unreachable_chats WHERE chat_id = ?", (old_chat_id,))
        if moved:
            log.info("chat %d became %d: %d unfinished job(s) moved", old_chat_id, new_chat_id, len(moved))
        return moved

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

    async def check_writable(self, timeout_s: float = 2.0) -> None:
        """Raise unless this connection answers and the database commits a heartbeat within timeout_s."""
        await asyncio.wait_for(self._fetch_one("SELECT 1"), timeout_s)  # a closed connection raises here
        if self._path is not None:
            # A second, short-lived connection: the shared one waits 30 s for a lock, too long for a probe,
            # and a probe cancelled inside BEGIN on it would leave its transaction open for everyone else.
            await asyncio.to_thread(_commit_heartbeat, self._path, timeout_s)


def _commit_heartbeat(path: Path, timeout_s: float) -> None:
    """Commit a real write (the heartbeat row): a lock alone needs no space, so it passed on a full disk."""
    conn = connect_short(path, timeout_s)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT OR REPLACE INTO heartbeat (id, beat) VALUES (1, ?)", (time.time(),))
        conn.execute("COMMIT")
    finally:
        conn.close()
