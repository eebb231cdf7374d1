"""Opening the bot's SQLite database and bringing its schema up to date."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import aiosqlite

logger = logging.getLogger(__name__)

# Long enough to ride out another process's long write (a backup, a migration) instead of failing.
BUSY_TIMEOUT_MS = 30_000
# FULL: every COMMIT waits until the write-ahead log is on disk, so a committed job survives a power cut or a
# kernel crash. With NORMAL the log is synced only at checkpoints, and a forced file-system error took the
# database back to its last checkpoint: queued, running and painted jobs vanished (issue 17). It costs one
# fsync per commit; bench/load.py measured it (docs/benchmarks.md). Every connection the bot opens uses it.
SYNCHRONOUS = "FULL"

# Append only: each entry moves the schema from version N (its index) to N + 1.
# Never edit a migration that has shipped; add a new one instead.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE users (
        user_id INTEGER PRIMARY KEY,
        first_name TEXT,
        quality TEXT NOT NULL DEFAULT 'standard' CHECK (quality IN ('preview', 'standard', 'hd')),
        strength TEXT NOT NULL DEFAULT 'medium' CHECK (strength IN ('low', 'medium', 'high')),
        keep_colors INTEGER NOT NULL DEFAULT 0 CHECK (keep_colors IN (0, 1)),
        default_style TEXT,
        created_at REAL,
        updated_at REAL
    );

    CREATE TABLE group_settings (
        chat_id INTEGER PRIMARY KEY,
        max_quality TEXT NOT NULL DEFAULT 'hd' CHECK (max_quality IN ('preview', 'standard', 'hd')),
        updated_at REAL
    );

    CREATE TABLE sessions (
        chat_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        content_file_id TEXT NOT NULL,
        content_unique_id TEXT,
        content_message_id INTEGER,
        media_group_id TEXT,
        created_at REAL,
        expires_at REAL NOT NULL,
        PRIMARY KEY (chat_id, user_id)
    );

    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        chat_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        user_name TEXT,
        status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
        content_file_id TEXT NOT NULL,
        styles TEXT NOT NULL,  -- JSON list of StyleRef dicts
        params TEXT NOT NULL,  -- JSON object of JobParams
        reply_to_message_id INTEGER,
        status_message_id INTEGER,
        parent_job_id INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        progress REAL NOT NULL DEFAULT 0,
        eta_s REAL,
        error TEXT,
        result_file_id TEXT,
        result_message_id INTEGER,
        making_of_path TEXT,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1))
    );

    CREATE INDEX jobs_status_created ON jobs (status, created_at);
    CREATE INDEX jobs_user_created ON jobs (user_id, created_at);
    CREATE INDEX jobs_chat_result_message ON jobs (chat_id, result_message_id);
    """,
    # 2: Telegram file ids of preset thumbnails, so inline mode can offer presets as cached photos.
    """
    CREATE TABLE preset_files (
        name TEXT PRIMARY KEY,
        file_id TEXT NOT NULL,
        updated_at REAL
    );
    """,
    # 3: a painted result waits in 'delivering' until Telegram took it (or the chat is unreachable:
    # 'undeliverable'), so delivery survives restarts and never reruns a job; the 'instant' quality;
    # chats that blocked or removed the bot. SQLite cannot change a CHECK, so the tables are rebuilt.
    """
    CREATE TABLE jobs_v3 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        chat_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        user_name TEXT,
        status TEXT NOT NULL CHECK (status IN (
            'queued', 'running', 'delivering', 'done', 'failed', 'cancelled', 'undeliverable'
        )),
        content_file_id TEXT NOT NULL,
        styles TEXT NOT NULL,
        params TEXT NOT NULL,
        reply_to_message_id INTEGER,
        status_message_id INTEGER,
        parent_job_id INTEGER REFERENCES jobs_v3(id) ON DELETE SET NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        progress REAL NOT NULL DEFAULT 0,
        eta_s REAL,
        error TEXT,
        result_file_id TEXT,
        result_message_id INTEGER,
        making_of_path TEXT,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
        result_dir TEXT,  -- where the painted files wait for delivery
        run_seconds REAL,
        deliveries INTEGER NOT NULL DEFAULT 0,  -- delivery attempts that failed for a passing reason
        deliver_after REAL  -- no delivery attempt before this time (backoff)
    );
    INSERT INTO jobs_v3 (
        id, chat_id, user_id, user_name, status, content_file_id, styles, params, reply_to_message_id,
        status_message_id, parent_job_id, attempts, progress, eta_s, error, result_file_id, result_message_id,
        making_of_path, created_at, started_at, finished_at, cancel_requested
    ) SELECT
        id, chat_id, user_id, user_name, status, content_file_id, styles, params, reply_to_message_id,
        status_message_id, parent_job_id, attempts, progress, eta_s, error, result_file_id, result_message_id,
        making_of_path, created_at, started_at, finished_at, cancel_requested
    FROM jobs;
    DROP TABLE jobs;
    ALTER TABLE jobs_v3 RENAME TO jobs;
    CREATE INDEX jobs_status_created ON jobs (status, created_at);
    CREATE INDEX jobs_user_created ON jobs (user_id, created_at);
    CREATE INDEX jobs_chat_result_message ON jobs (chat_id, result_message_id);

    CREATE TABLE users_v3 (
        user_id INTEGER PRIMARY KEY,
        first_name TEXT,
        -- NULL: the operator's default quality (STYLEBOT_DEFAULT_QUALITY)
        quality TEXT CHECK (quality IS NULL OR quality IN ('instant', 'preview', 'standard', 'hd')),
        strength TEXT NOT NULL DEFAULT 'medium' CHECK (strength IN ('low', 'medium', 'high')),
        keep_colors INTEGER NOT NULL DEFAULT 0 CHECK (keep_colors IN (0, 1)),
        default_style TEXT,
        created_at REAL,
        updated_at REAL
    );
    -- 'standard' was everyone's default until now: it becomes "the operator's default".
    INSERT INTO users_v3
        SELECT user_id, first_name, NULLIF(quality, 'standard'), strength, keep_colors, default_style,
               created_at, updated_at
        FROM users;
    DROP TABLE users;
    ALTER TABLE users_v3 RENAME TO users;

    CREATE TABLE group_settings_v3 (
        chat_id INTEGER PRIMARY KEY,
        max_quality TEXT NOT NULL DEFAULT 'hd' CHECK (max_quality IN ('instant', 'preview', 'standard', 'hd')),
        updated_at REAL
    );
    INSERT INTO group_settings_v3 SELECT * FROM group_settings;
    DROP TABLE group_settings;
    ALTER TABLE group_settings_v3 RENAME TO group_settings;

    CREATE TABLE unreachable_chats (
        chat_id INTEGER PRIMARY KEY,
        reason TEXT NOT NULL,
        since REAL NOT NULL
    );
    """,
    # 4: the language a user chose with /language (NULL: follow their Telegram app), and the one their app
    # reported when they last wrote, so status messages and results sent later are worded for them.
    """
    ALTER TABLE users ADD COLUMN language TEXT;
    ALTER TABLE users ADD COLUMN telegram_language TEXT;
    """,
    # 5: the forum topic a job was asked in (NULL: none), so every message about it goes there even when the
    # photo it answers was deleted; and the row /healthz rewrites to prove the database takes a real write.
    """
    ALTER TABLE jobs ADD COLUMN thread_id INTEGER;
    CREATE TABLE heartbeat (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        beat REAL NOT NULL
    );
    """,
    # 6: a pending clip (GIF, video, video note, sticker) waiting for its style: the kind it comes back as and
    # its frames (its cost); NULL for a photo.
    """
    ALTER TABLE sessions ADD COLUMN media TEXT;
    ALTER TABLE sessions ADD COLUMN frames INTEGER NOT NULL DEFAULT 0;
    """,
    # 7: columns nothing reads: a user's first name (kept for nothing) and the photo's unique id.
    # jobs.parent_job_id stays, unused: SQLite cannot drop a column a foreign key names without rebuilding the
    # table, which is not worth the risk to a live queue.
    """
    ALTER TABLE users DROP COLUMN first_name;
    ALTER TABLE sessions DROP COLUMN content_unique_id;
    """,
]

LATEST_VERSION = len(MIGRATIONS)


class DatabaseTooNewError(RuntimeError):
    """The database was written by a newer version of the bot than this one."""

    def __init__(self, path: Path, found: int, known: int) -> None:
        super().__init__(
            f"database {path} has schema version {found}, but this code only knows up to {known}; "
            "upgrade the bot (or restore an older backup) instead of running old code on it"
        )
        self.found = found
        self.known = known


def split_statements(script: str) -> list[str]:
    """Split an SQL script into single statements, respecting strings, comments and triggers."""
    # executescript() would COMMIT any open transaction first (Python < 3.12), so a
    # migration must be run statement by statement inside our own transaction.
    statements: list[str] = []
    buffer = ""
    for char in script:
        buffer += char
        if char == ";" and sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


async def user_version(conn: aiosqlite.Connection) -> int:
    """Return the schema version stored in the database header."""
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row is not None else 0


async def _apply_next_migration(conn: aiosqlite.Connection, path: Path) -> bool:
    """Apply one pending migration in its own transaction; return False when none was pending."""
    # BEGIN IMMEDIATE takes the write lock before reading the version, so two
    # processes opening a fresh file at once cannot both run the same migration.
    await conn.execute("BEGIN IMMEDIATE")
    try:
        version = await user_version(conn)
        if version > LATEST_VERSION:
            raise DatabaseTooNewError(path, version, LATEST_VERSION)
        if version == LATEST_VERSION:
            await conn.execute("COMMIT")
            return False
        for statement in split_statements(MIGRATIONS[version]):
            await conn.execute(statement)
        # PRAGMA cannot take bound parameters; the value is an int we computed.
        await conn.execute(f"PRAGMA user_version = {version + 1:d}")
        await conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
        raise
    logger.info("migrated %s to schema version %d", path, version + 1)
    return True


async def migrate(conn: aiosqlite.Connection, path: Path) -> int:
    """Apply every pending migration and return the resulting schema version."""
    found = await user_version(conn)
    if found > LATEST_VERSION:
        raise DatabaseTooNewError(path, found, LATEST_VERSION)
    while await _apply_next_migration(conn, path):
        pass
    return await user_version(conn)


async def _configure(conn: aiosqlite.Connection, path: Path) -> None:
    """Set the per-connection pragmas the bot relies on."""
    # busy_timeout first, so switching to WAL waits for another process instead of failing.
    await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
    async with conn.execute("PRAGMA journal_mode = WAL") as cursor:
        row = await cursor.fetchone()
    if row is None or str(row[0]).lower() != "wal":
        logger.warning("could not switch %s to WAL mode (journal_mode=%s)", path, row[0] if row else None)
    await conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
    await conn.execute("PRAGMA foreign_keys = ON")


def connect_short(path: Path, timeout_s: float) -> sqlite3.Connection:
    """A short-lived blocking connection (health probes, in a thread) with the same durability as the bot's own."""
    # timeout_s is also its busy timeout: a probe must not wait 30 s for a lock.
    conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None)
    try:
        conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
    except BaseException:
        conn.close()
        raise
    return conn


async def open_database(path: Path) -> aiosqlite.Connection:
    """Open (creating if needed) the database at path, configured and migrated to the latest schema."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: no implicit transactions; storage issues BEGIN IMMEDIATE itself.
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        conn.row_factory = aiosqlite.Row
        await _configure(conn, path)
        await migrate(conn, path)
    except BaseException:
        await conn.close()
        raise
    return conn
