"""Tests of the database layer on real SQLite files: migrations, settings, sessions and the job queue."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.job_states import EVENTS, FINAL_STATES, MOVES, STATES
from bot.core.models import JobParams, QueueFullError, StyleRef, UserSettings
from bot.store import db
from bot.store.db import LATEST_VERSION, DatabaseTooNewError, open_database
from bot.store.storage import Storage, round_robin_order

STYLES = (
    StyleRef(kind="preset", name="starry_night", weight=0.7),
    StyleRef(kind="file", file_id="F1", weight=0.3),
)
PARAMS = JobParams(quality="standard", strength="medium", keep_colors=False, seed=42)


class FakeClock:
    """A clock the test moves by hand; each reading advances it a little so timestamps stay ordered."""

    def __init__(self, now: float = 1_000.0, tick: float = 0.001) -> None:
        self.now = now
        self.tick = tick

    def __call__(self) -> float:
        """Return the current fake time and step it forward by one tick."""
        self.now += self.tick
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """A fresh fake clock."""
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A database path inside a directory that does not exist yet."""
    return tmp_path / "data" / "bot.sqlite3"


@pytest.fixture
async def storage(db_path: Path, clock: FakeClock) -> AsyncIterator[Storage]:
    """A Storage on a fresh database file, closed after the test."""
    store = await Storage.open(db_path, clock=clock)
    yield store
    await store.close()


async def enqueue(store: Storage, user_id: int, chat_id: int = 1, **limits: int) -> int:
    """Queue a job for user_id with generous default caps and return its id."""
    job = await store.enqueue(
        chat_id,
        user_id,
        f"user{user_id}",
        f"content-{user_id}",
        STYLES,
        PARAMS,
        per_user_limit=limits.get("per_user_limit", 100),
        queue_limit=limits.get("queue_limit", 100),
    )
    return job.id


async def claim_id(store: Storage) -> int:
    """Claim the next job and return its id, failing if the queue was empty."""
    moved = await store.claim_next()
    assert moved is not None
    return moved.after.id


# -- durability -------------------------------------------------------------

FULL = 2  # PRAGMA synchronous reads back as a number: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


async def test_every_connection_commits_to_disk_before_it_returns(db_path: Path) -> None:
    # NORMAL lost committed jobs on a power cut (issue 17): the bot's own connection and a probe's are FULL.
    conn = await open_database(db_path)
    try:
        async with conn.execute("PRAGMA synchronous") as cursor:
            assert (await cursor.fetchone())[0] == FULL  # type: ignore[index]
    finally:
        await conn.close()
    short = db.connect_short(db_path, 1.0)
    try:
        assert short.execute("PRAGMA synchronous").fetchone()[0] == FULL
        assert short.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # the file's mode, kept
    finally:
        short.close()


def test_the_bot_opens_sqlite_only_through_the_database_module() -> None:
    # So the durability set there holds for every connection, however short-lived.
    root = Path(__file__).resolve().parent.parent / "bot"
    opened = [
        f"{path.relative_to(root)}:{number}"
        for path in root.rglob("*.py")
        if path.name != "db.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "sqlite3.connect(" in line or "aiosqlite.connect(" in line
    ]
    assert opened == []


# -- migrations -------------------------------------------------------------


async def test_migrates_empty_database_to_latest(db_path: Path) -> None:
    conn = await open_database(db_path)
    try:
        assert await db.user_version(conn) == LATEST_VERSION == len(db.MIGRATIONS)
        async with conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cursor:
            tables = {row[0] for row in await cursor.fetchall()}
        assert {"users", "group_settings", "sessions", "jobs"} <= tables
        async with conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'") as cursor:
            indexes = {row[0] for row in await cursor.fetchall()}
        assert {"jobs_status_created", "jobs_user_created", "jobs_chat_result_message"} <= indexes
        async with conn.execute("PRAGMA journal_mode") as cursor:
            assert (await cursor.fetchone())[0] == "wal"  # type: ignore[index]
        async with conn.execute("PRAGMA foreign_keys") as cursor:
            assert (await cursor.fetchone())[0] == 1  # type: ignore[index]
    finally:
        await conn.close()


async def test_reopening_is_idempotent(db_path: Path) -> None:
    store = await Storage.open(db_path)
    await store.update_settings(7, quality="hd")
    await store.close()
    conn = await open_database(db_path)
    try:
        assert await db.user_version(conn) == LATEST_VERSION
    finally:
        await conn.close()
    store = await Storage.open(db_path)
    try:
        assert (await store.get_settings(7)).quality == "hd"
    finally:
        await store.close()


async def test_future_schema_version_is_refused(db_path: Path) -> None:
    await (await open_database(db_path)).close()
    with sqlite3.connect(db_path) as raw:
        raw.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    with pytest.raises(DatabaseTooNewError, match="only knows up to"):
        await open_database(db_path)
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION + 1


async def test_failed_migration_rolls_back_whole_step(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = await open_database(db_path)
    await conn.close()
    broken = "CREATE TABLE half_done (x INTEGER); INSERT INTO no_such_table VALUES (1);"
    monkeypatch.setattr(db, "MIGRATIONS", [*db.MIGRATIONS, broken])
    monkeypatch.setattr(db, "LATEST_VERSION", len(db.MIGRATIONS))
    with pytest.raises(sqlite3.OperationalError):
        await open_database(db_path)
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
        assert raw.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchone() is None


def test_split_statements_respects_strings_and_comments() -> None:
    script = "CREATE TABLE a (x TEXT DEFAULT ';'); -- a comment; with a semicolon\nINSERT INTO a VALUES ('b;c');"
    assert db.split_statements(script) == [
        "CREATE TABLE a (x TEXT DEFAULT ';');",
        "-- a comment; with a semicolon\nINSERT INTO a VALUES ('b;c');",
    ]


# -- settings ---------------------------------------------------------------


async def test_settings_default_without_inserting(storage: Storage, db_path: Path) -> None:
    assert await storage.get_settings(5) == UserSettings(
        user_id=5, quality="standard", strength="medium", keep_colors=False, default_style=None
    )
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0


async def test_update_settings_and_remember_user(storage: Storage) -> None:
    await storage.remember_user(5)
    settings = await storage.update_settings(5, quality="hd", keep_colors=True, default_style=" starry_night ")
    assert settings == UserSettings(5, "hd", "medium", True, "starry_night")
    settings = await storage.update_settings(5, strength="low", default_style="")
    assert settings == UserSettings(5, "hd", "low", True, None)
    await storage.remember_user(5, "de")
    assert await storage.get_settings(5) == settings


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"quality": "ultra"}, "preview, standard, hd"),
        ({"strength": "max"}, "low, medium, high"),
        ({"keep_colors": "yes"}, "True or False"),
        ({"default_style": 3}, "style spec"),
    ],
)
async def test_update_settings_validates(storage: Storage, changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await storage.update_settings(5, **changes)
    assert await storage.get_settings(5) == UserSettings(5)


async def test_update_settings_rejects_unknown_field(storage: Storage) -> None:
    with pytest.raises(TypeError, match="allowed"):
        await storage.update_settings(5, colour="red")


async def test_group_max_quality(storage: Storage) -> None:
    assert await storage.get_group_max_quality(-100) == "hd"
    await storage.set_group_max_quality(-100, "preview")
    assert await storage.get_group_max_quality(-100) == "preview"
    assert await storage.get_group_max_quality(-200) == "hd"
    with pytest.raises(ValueError, match="preview, standard, hd"):
        await storage.set_group_max_quality(-100, "4k")  # type: ignore[arg-type]


# -- sessions ---------------------------------------------------------------


async def test_session_save_replace_and_expiry(storage: Storage, clock: FakeClock) -> None:
    await storage.save_session(1, 5, "photo-a", ttl_s=60)
    await storage.save_session(1, 6, "photo-other-user", ttl_s=600)
    session = await storage.get_session(1, 5)
    assert session is not None
    assert session.content_file_id == "photo-a"

    await storage.save_session(1, 5, "photo-b", content_message_id=9, media_group_id="g1", ttl_s=60)
    session = await storage.get_session(1, 5)
    assert session is not None
    assert (session.content_file_id, session.content_message_id) == ("photo-b", 9)
    assert session.media_group_id == "g1"
    assert await storage.get_session(2, 5) is None

    clock.advance(61)
    assert await storage.get_session(1, 5) is None
    assert await storage.get_session(1, 6) is not None
    assert (await storage.prune(older_than_s=3600))["sessions"] == 1
    assert (await storage.prune(older_than_s=3600))["sessions"] == 0

    await storage.delete_session(1, 6)
    assert await storage.get_session(1, 6) is None


# -- enqueue caps -----------------------------------------------------------


async def test_enqueue_stores_job(storage: Storage) -> None:
    job = await storage.enqueue(
        1, 5, "Ann", "photo", STYLES, PARAMS, reply_to_message_id=3, per_user_limit=2, queue_limit=10
    )
    assert job.status == "queued"
    assert (job.styles, job.params, job.reply_to_message_id) == (STYLES, PARAMS, 3)
    assert (job.attempts, job.progress, job.cancel_requested) == (0, 0.0, False)
    assert await storage.get_job(job.id) == job


async def test_enqueue_per_user_cap(storage: Storage) -> None:
    await enqueue(storage, 5, per_user_limit=2)
    running = await enqueue(storage, 5, per_user_limit=2)
    await claim_id(storage)  # running jobs still count against the user's cap
    with pytest.raises(QueueFullError) as caught:
        await enqueue(storage, 5, per_user_limit=2)
    assert not caught.value.is_global
    assert caught.value.limit == 2
    assert caught.value.key == "USER_CAP"
    await enqueue(storage, 6, per_user_limit=2)  # another user is unaffected
    await storage.move(running, "fail", error="boom")
    await enqueue(storage, 5, per_user_limit=2)


async def test_enqueue_global_cap(storage: Storage) -> None:
    await enqueue(storage, 5, queue_limit=2)
    await enqueue(storage, 6, queue_limit=2)
    with pytest.raises(QueueFullError) as caught:
        await enqueue(storage, 7, queue_limit=2)
    assert caught.value.is_global
    assert caught.value.key == "BUSY"
    await claim_id(storage)  # only queued jobs count toward the global cap
    await enqueue(storage, 7, queue_limit=2)


# -- scheduling -------------------------------------------------------------


async def test_claim_next_round_robin(storage: Storage) -> None:
    a1, a2, a3 = [await enqueue(storage, 1) for _ in range(3)]
    b1 = await enqueue(storage, 2)
    expected = [a1, b1, a2, a3]
    assert await storage.queue_order() == expected

    claimed = []
    for _ in range(4):
        moved = await storage.claim_next()
        assert moved is not None
        job = moved.after
        assert (moved.before.status, job.status, job.attempts) == ("queued", "running", 1)
        assert job.started_at is not None
        claimed.append(job.id)
    assert claimed == expected
    assert await storage.claim_next() is None
    assert await storage.queue_order() == []


async def test_queue_order_matches_claim_order_with_history(storage: Storage) -> None:
    # User 1 was served before; users 2 and 3 never were, so they go first.
    first = await enqueue(storage, 1)
    await claim_id(storage)
    await finish(storage, first, "result", 100)
    for user_id in (1, 1, 2, 3, 3, 2):
        await enqueue(storage, user_id)
    order = await storage.queue_order()
    assert [await claim_id(storage) for _ in order] == order
    jobs = [await storage.get_job(job_id) for job_id in order]
    assert [job.user_id for job in jobs if job] == [2, 3, 1, 2, 3, 1]


def test_round_robin_order_pure() -> None:
    queued = [(10, 1), (11, 1), (12, 2), (13, 3)]
    assert round_robin_order(queued, {}) == [10, 12, 13, 11]
    assert round_robin_order(queued, {1: 5.0, 2: 9.0}) == [13, 10, 12, 11]
    assert round_robin_order([], {}) == []


# -- cancel, retry, recovery ------------------------------------------------


async def test_cancel_queued_and_running(storage: Storage) -> None:
    running = await enqueue(storage, 1)
    queued = await enqueue(storage, 1)
    assert await claim_id(storage) == running

    moved = await storage.move(queued, "cancel")
    assert moved is not None and moved.before.status == "queued"  # the job as it was
    assert moved.after.status == "cancelled" and moved.after.finished_at is not None

    moved = await storage.move(running, "cancel")
    assert moved is not None and moved.before.status == "running"  # the caller tells the worker to stop
    assert (moved.after.status, moved.after.cancel_requested) == ("cancelled", True)  # the slot is free now
    assert await storage.move(running, "cancel") is None  # the worker's late JobCancelled changes nothing
    painted = await storage.move(running, "painted", result_dir="/jobs/x", run_seconds=1.0, making_of_path=None)
    assert painted is None  # nor does a late result
    assert await storage.move(queued, "cancel") is None
    assert await storage.move(9999, "cancel") is None
    assert await storage.claim_next() is None


async def test_restart_requeues_running_and_refunds_the_attempt(storage: Storage, db_path: Path) -> None:
    first = await enqueue(storage, 1)
    second = await enqueue(storage, 2)
    waiting = await enqueue(storage, 3)
    await claim_id(storage)
    await claim_id(storage)
    await storage.move(first, "progress", progress=0.5, eta_s=30.0)
    await storage.move(second, "cancel")  # cancelled, then the process died
    await storage.close()

    restarted = await Storage.open(db_path)
    try:
        left = await restarted.running_after_restart()
        assert left == [first]
        moved = await restarted.move(first, "requeue")
        assert moved is not None
        # A graceful restart is nobody's fault: the job keeps its one retry for a real crash.
        assert (moved.after.status, moved.after.attempts, moved.after.progress) == ("queued", 0, 0.0)
        assert (await restarted.get_job(second)).status == "cancelled"  # type: ignore[union-attr]
        assert [job.id for job in await restarted.queued_jobs()] == [first, waiting]
        claimed = await restarted.claim_next()
        assert claimed is not None
        assert (claimed.after.id, claimed.after.attempts) == (first, 1)
    finally:
        await restarted.close()


async def test_retry_keeps_attempts(storage: Storage) -> None:
    job_id = await enqueue(storage, 1)
    await claim_id(storage)
    moved = await storage.move(job_id, "retry")
    assert moved is not None
    assert (moved.after.status, moved.after.attempts) == ("queued", 1)
    assert await storage.move(job_id, "retry") is None  # not running any more
    assert (await storage.claim_next()).after.attempts == 2  # type: ignore[union-attr]


MOVE_VALUES: dict[str, dict[str, object]] = {
    "progress": {"progress": 0.5, "eta_s": 3.0},
    "painted": {"result_dir": "/jobs/1", "run_seconds": 2.0, "making_of_path": None},
    "postpone": {"deliver_after": 5_000.0},
    "delivered": {"result_file_id": "R", "result_message_id": 9},
    "fail": {"error": "boom"},
    "undeliverable": {"error": "blocked"},
}
# How to bring a fresh job into each state, by moves the table allows.
PATHS: dict[str, tuple[str, ...]] = {
    "queued": (),
    "running": ("claim",),
    "delivering": ("claim", "painted"),
    "done": ("claim", "painted", "delivered"),
    "failed": ("fail",),
    "cancelled": ("cancel",),
    "undeliverable": ("undeliverable",),
}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("event", EVENTS)
async def test_every_move_follows_the_table(storage: Storage, state: str, event: str) -> None:
    """Each (state, event) pair on a real database: the table's target, or a refusal that changes nothing."""
    job_id = await enqueue(storage, 1)
    for step in PATHS[state]:
        assert await storage.move(job_id, step, **MOVE_VALUES.get(step, {})) is not None  # type: ignore[arg-type]
    before = await storage.get_job(job_id)
    assert before is not None and before.status == state
    moved = await storage.move(job_id, event, **MOVE_VALUES.get(event, {}))  # type: ignore[arg-type]
    expected = MOVES[event].get(state)  # type: ignore[index]
    if expected is None:
        assert moved is None
        assert await storage.get_job(job_id) == before
    else:
        assert moved is not None and moved.before == before
        assert moved.after.status == expected == (await storage.get_job(job_id)).status  # type: ignore[union-attr]
        assert (moved.after.finished_at is not None) == (expected in FINAL_STATES)


async def test_a_move_takes_exactly_its_values(storage: Storage) -> None:
    job_id = await enqueue(storage, 1)
    with pytest.raises(TypeError, match="fail"):
        await storage.move(job_id, "fail")
    with pytest.raises(TypeError):
        await storage.move(job_id, "cancel", error="surplus")


# -- results and history ----------------------------------------------------


async def finish(storage: Storage, job_id: int, file_id: str, message_id: int, making_of: str | None = None) -> bool:
    """A job painted and delivered."""
    painted = await storage.move(
        job_id, "painted", result_dir=f"/jobs/{job_id}", run_seconds=10.0, making_of_path=making_of
    )
    delivered = await storage.move(job_id, "delivered", result_file_id=file_id, result_message_id=message_id)
    return painted is not None and delivered is not None


async def test_mark_done_results_and_lookups(storage: Storage, clock: FakeClock) -> None:
    assert await storage.recent_runs() == []
    done_ids = []
    for message_id in (100, 101):
        job_id = await enqueue(storage, 1, chat_id=50)
        await claim_id(storage)
        clock.advance(10)
        assert await finish(storage, job_id, f"result-{message_id}", message_id, "/tmp/making_of.gif")
        done_ids.append(job_id)
    failed = await enqueue(storage, 1, chat_id=50)
    await claim_id(storage)
    await storage.move(failed, "fail", error="out of memory")
    late = await storage.move(failed, "painted", result_dir="/jobs/late", run_seconds=1.0, making_of_path=None)
    assert late is None

    results = await storage.recent_results(1)
    assert [job.id for job in results] == done_ids[::-1]
    assert results[0].result_file_id == "result-101"
    assert results[0].making_of_path == "/tmp/making_of.gif"
    assert results[0].progress == 1.0
    assert [job.id for job in await storage.recent_results(1, limit=1)] == [done_ids[1]]
    assert await storage.recent_results(2) == []

    found = await storage.job_by_result_message(50, 100)
    assert found is not None
    assert found.id == done_ids[0]
    assert await storage.job_by_result_message(51, 100) is None

    runs = await storage.recent_runs()
    assert [job.id for job in runs] == done_ids and all(job.run_seconds == 10.0 for job in runs)
    failed_job = await storage.get_job(failed)
    assert failed_job is not None
    assert (failed_job.status, failed_job.error) == ("failed", "out of memory")


async def test_last_job_and_active_jobs(storage: Storage) -> None:
    assert await storage.last_job(1) is None
    in_chat_a = await enqueue(storage, 1, chat_id=10)
    in_chat_b = await enqueue(storage, 1, chat_id=20)
    cancelled = await enqueue(storage, 1, chat_id=10)
    await storage.move(cancelled, "cancel")
    assert (await storage.last_job(1)).id == in_chat_b  # type: ignore[union-attr]
    assert (await storage.last_job(1, chat_id=10)).id == in_chat_a  # type: ignore[union-attr]
    assert await storage.last_job(2) is None

    await claim_id(storage)
    active = await storage.active_jobs(1)
    assert [(job.id, job.status) for job in active] == [(in_chat_a, "running"), (in_chat_b, "queued")]
    assert [job.id for job in await storage.active_jobs(1, chat_id=20)] == [in_chat_b]
    assert [job.id for job in await storage.running_jobs()] == [in_chat_a]


async def test_status_message_and_progress(storage: Storage) -> None:
    job_id = await enqueue(storage, 1)
    await storage.set_status_message(job_id, 77)
    assert await storage.move(job_id, "progress", progress=0.5, eta_s=12.0) is None  # refused: not running yet
    await claim_id(storage)
    await storage.move(job_id, "progress", progress=1.7, eta_s=3.0)
    job = await storage.get_job(job_id)
    assert job is not None
    assert (job.status_message_id, job.progress, job.eta_s) == (77, 1.0, 3.0)


# -- several connections ----------------------------------------------------


async def test_two_connections_see_each_others_writes(db_path: Path, clock: FakeClock) -> None:
    bot_side = await Storage.open(db_path, clock=clock)
    worker_side = await Storage.open(db_path, clock=clock)
    try:
        job_id = await enqueue(bot_side, 1)
        claimed = await worker_side.claim_next()
        assert claimed is not None
        assert claimed.after.id == job_id
        await finish(worker_side, job_id, "result", 5)
        job = await bot_side.get_job(job_id)
        assert job is not None
        assert job.status == "done"
        await worker_side.update_settings(1, quality="preview")
        assert (await bot_side.get_settings(1)).quality == "preview"
    finally:
        await bot_side.close()
        await worker_side.close()


async def test_concurrent_claims_never_share_a_job(db_path: Path) -> None:
    first = await Storage.open(db_path)
    second = await Storage.open(db_path)
    try:
        queued = {await enqueue(first if i % 2 else second, user_id=i % 4) for i in range(12)}
        stores = [first, second] * 10
        claims = await asyncio.gather(*(store.claim_next() for store in stores))
        claimed = [moved.after.id for moved in claims if moved is not None]
        assert len(claimed) == len(set(claimed)) == len(queued)
        assert set(claimed) == queued
        assert all(moved.after.attempts == 1 for moved in claims if moved is not None)
    finally:
        await first.close()
        await second.close()
