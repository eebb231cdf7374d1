"""The token stays out of logs and tracebacks; old rows are pruned; callback data round-trips and refuses forgeries."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from bot.core.models import JobParams, StyleRef
from bot.store.storage import Storage
from bot.telegram import callback_data
from bot.telegram.app import RedactToken
from bot.telegram.callback_data import ForgedCallbackError, GroupCap, MakingOf, PickPreset, Remix, Setting

TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789"


def test_the_token_is_redacted_in_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactToken(TOKEN))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError(f"POST https://api.telegram.org/bot{TOKEN}/sendPhoto failed")
        except RuntimeError:
            logger.exception("sending failed for %s", TOKEN)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "Traceback" in text and "sendPhoto" in text
    assert TOKEN not in text and TOKEN.split(":")[1] not in text


@pytest.mark.parametrize(
    "callback",
    [PickPreset("starry_night"), PickPreset("dots", 42), PickPreset("dots", -1001), Remix("hd", 7), MakingOf(3),
     GroupCap("preview"), Setting("quality", "instant"), Setting("colors", "off")],
)  # fmt: skip
def test_callback_data_round_trips(callback: callback_data.Callback) -> None:
    data = callback_data.encode(callback)
    assert len(data.encode()) <= 64
    assert callback_data.decode(data) == callback


@pytest.mark.parametrize("data", ["", "r|again|abc", "m|", "s|quality|ultra", "p|../x", "r|again|1|2", "g|ultra"])
def test_forged_callback_data_is_refused(data: str) -> None:
    with pytest.raises(ForgedCallbackError):
        callback_data.decode(data)


async def test_pruning_removes_old_finished_jobs_and_idle_users(tmp_path: Path) -> None:
    now = [1_000_000.0]
    storage = await Storage.open(tmp_path / "db.sqlite3", clock=lambda: now[0])
    try:
        params = JobParams(quality="preview", strength="medium", keep_colors=False, seed=0)
        style = [StyleRef("preset", name="dots")]
        await storage.remember_user(1)
        old = await storage.enqueue(1, 1, "Old", "f1", style, params, per_user_limit=5, queue_limit=5)
        await storage.move(old.id, "cancel")
        waiting = await storage.enqueue(2, 2, "Busy", "f2", style, params, per_user_limit=5, queue_limit=5)
        now[0] += 40 * 86400
        await storage.remember_user(3)
        counts = await storage.prune(30 * 86400)
        assert counts["jobs"] == 1 and counts["users"] == 1
        assert await storage.get_job(old.id) is None
        assert await storage.get_job(waiting.id) is not None  # unfinished jobs are never pruned
    finally:
        await storage.close()


def test_the_file_cache_keeps_to_its_quota_dropping_the_least_recently_used(tmp_path: Path) -> None:
    import os

    from bot.store.files import enforce_quota

    for i in range(5):
        path = tmp_path / f"f{i}"
        path.write_bytes(b"x" * 1000)
        os.utime(path, (1000 + i, 1000 + i))  # f0 is the least recently used
    (tmp_path / "f5.tmp123").write_bytes(b"x" * 5000)  # a download being written is never counted or removed
    assert enforce_quota(tmp_path, 3000) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f2", "f3", "f4", "f5.tmp123"]
    assert enforce_quota(tmp_path, 3000) == 0
