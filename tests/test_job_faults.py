"""Faults that used to lose a picture or leave a status on "Painting…" for ever (issue 17), each as it was found.

The real Application runs in-process against the fake Bot API and a scripted executor; disk faults are real
(a small tmpfs filled up).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from bot.jobs import reconcile
from testing.bot_harness import photo_bytes
from testing.disks import SmallDisk
from testing.fake_telegram import ERR_MIGRATED, FakeTelegram
from testing.inprocess import ScriptedExecutor, results, running_bot, said, texts, until


def job_rows(data: Path) -> dict[int, tuple[str, int]]:
    """Job id -> (status, chat id), read from the bot's database file."""
    with sqlite3.connect(data / "stylebot.sqlite3") as conn:
        return {row[0]: (row[1], row[2]) for row in conn.execute("SELECT id, status, chat_id FROM jobs")}


async def test_a_cancel_during_a_live_preview_ends_on_cancelled(fake: FakeTelegram, tmp_path: Path) -> None:
    # Found: the job's files went right after the final status was queued; the preview's upload then failed and
    # took the final status with it, leaving "Painting… 10%" on screen. A throttle makes the race certain.
    executor = ScriptedExecutor(hold=True)
    async with running_bot(fake, tmp_path, executor, status_interval_s=1.5):
        chat = fake.private_chat(41, "Ann")
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")
        await until(fake, lambda: executor.submitted, "the job on a worker")  # its live picture is wanted now
        fake.send_text(chat, None, "/cancel")
        await said(fake, chat, "Cancelled 1 job")
        await until(fake, lambda: texts(fake, chat)[0] == "🚫 Cancelled.", "the status message saying cancelled", 10)
        assert not results(fake, chat)


async def test_a_failure_during_a_live_preview_is_said(fake: FakeTelegram, tmp_path: Path) -> None:
    executor = ScriptedExecutor(hold=True)
    async with running_bot(fake, tmp_path, executor, status_interval_s=1.5):
        chat = fake.private_chat(42, "Bo")
        fake.send_photo(chat, None, photo_bytes(seed=2), caption="dots")
        await until(fake, lambda: executor.submitted, "the job on a worker")
        executor.fail(1, "the image is damaged", user_error=True)
        await until(fake, lambda: "couldn't use your photo" in texts(fake, chat)[0], "the failure said", 10)


async def test_a_group_that_becomes_a_supergroup_gets_its_result_there(fake: FakeTelegram, tmp_path: Path) -> None:
    # Found: sends to the old id got 400 with migrate_to_chat_id, which was retried for 19 minutes and then given up.
    executor = ScriptedExecutor(hold=True)
    async with running_bot(fake, tmp_path, executor):
        group = fake.group_chat(5001, "Painters", basic=True)
        ann = fake.user(51, "Ann")
        photo = fake.send_photo(group, ann, photo_bytes(seed=3))
        fake.send_text(group, ann, "/stylize dots", reply_to=photo["message_id"])
        await until(fake, lambda: executor.submitted, "the job on a worker")
        supergroup = fake.migrate_group(group.id, notify=False)  # the error is the only news of it
        executor.release()
        [result] = await until(fake, lambda: results(fake, supergroup), "the result in the supergroup")
        assert "Dots" in result["caption"] and "Ann" in result["caption"]
        await until(fake, lambda: job_rows(tmp_path)[1] == ("done", supergroup.id), "the job done in the supergroup")
        migrated = [c for c in fake.calls if c.error and c.error.get("description") == ERR_MIGRATED]
        assert migrated and all(c.params.get("chat_id") == group.id for c in migrated)


async def test_the_migration_message_moves_queued_jobs_before_any_send_fails(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    executor = ScriptedExecutor(hold=True)
    async with running_bot(fake, tmp_path, executor):
        group = fake.group_chat(5002, "Sketchers", basic=True)
        bob = fake.user(52, "Bob")
        photo = fake.send_photo(group, bob, photo_bytes(seed=4))
        fake.send_text(group, bob, "/stylize dots", reply_to=photo["message_id"])
        await until(fake, lambda: executor.submitted, "the job on a worker")
        supergroup = fake.migrate_group(group.id)  # Telegram's service messages in both chats
        await until(fake, lambda: job_rows(tmp_path)[1][1] == supergroup.id, "the job moved to the supergroup")
        fake.send_text(supergroup, bob, "/status")  # it said "no jobs" there before
        await said(fake, supergroup, "#1 dots", 10)
        executor.release()
        await until(fake, lambda: results(fake, supergroup), "the result in the supergroup")


@pytest.mark.slow  # runs mount and umount
async def test_a_worker_event_that_cannot_be_written_is_written_later(
    fake: FakeTelegram, full_disk: SmallDisk, caplog: pytest.LogCaptureFixture
) -> None:
    # Found: with the data directory full, "handling JobFailed failed: database or disk is full" dropped the
    # event; the job stayed running with no worker for ever and its user saw "Queued" until a restart.
    caplog.set_level(logging.ERROR, logger="bot.jobs.lifecycle")
    data, disk = full_disk.path, full_disk
    executor = ScriptedExecutor(hold=True)
    async with running_bot(fake, data, executor):
        chat = fake.private_chat(43, "Cy")
        fake.send_photo(chat, None, photo_bytes(seed=5), caption="dots")
        await until(fake, lambda: executor.submitted, "the job on a worker")
        disk.fill()
        executor.hold = False  # the retry will paint at once
        executor.fail(1, "out of memory")  # our side: the job is retried once
        await until(fake, lambda: "database write failed" in caplog.text, "the write failing on the full disk")
        assert job_rows(data)[1][0] == "running" and len(executor.submitted) == 1
        disk.free()
        [result] = await until(fake, lambda: results(fake, chat), "the result after the disk was freed", 30)
        assert "Dots" in result["caption"]
        await until(fake, lambda: job_rows(data)[1][0] == "done", "the job done")
        assert len(executor.submitted) == 2


async def test_a_running_job_no_worker_holds_is_retried(
    fake: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reconcile, "SWEEP_INTERVAL_S", 0.2)
    executor = ScriptedExecutor(hold=True)
    async with running_bot(fake, tmp_path, executor):
        chat = fake.private_chat(44, "Di")
        fake.send_photo(chat, None, photo_bytes(seed=6), caption="dots")
        await until(fake, lambda: executor.submitted, "the job on a worker")
        executor.hold = False
        executor.lose(1)  # the worker forgets it without a word
        await until(fake, lambda: results(fake, chat), "the result after the reconciler retried it", 10)
        assert len(executor.submitted) == 2


async def test_a_graceful_restart_keeps_the_jobs_retry(fake: FakeTelegram, tmp_path: Path) -> None:
    # Found: a restart spent the job's one retry (attempts 2), so a later worker crash failed it at once.
    executor = ScriptedExecutor(hold=True)
    async with running_bot(fake, tmp_path, executor):
        chat = fake.private_chat(45, "Ed")
        fake.send_photo(chat, None, photo_bytes(seed=7), caption="dots")
        await until(fake, lambda: executor.submitted, "the job on a worker")
    again = ScriptedExecutor(hold=True)
    async with running_bot(fake, tmp_path, again):
        await until(fake, lambda: again.submitted, "the job on a worker after the restart")
        again.hold = False
        again.fail(1, "worker crashed")  # its retry is still there
        await until(fake, lambda: results(fake, chat), "the result of the retry")
        assert len(again.submitted) == 2


@pytest.mark.slow  # runs mount and umount
async def test_a_photo_that_cannot_be_stored_gets_no_promise(fake: FakeTelegram, full_disk: SmallDisk) -> None:
    # Found: on a full disk new photos got "Your photo is kept; please try again" when nothing was kept.
    data, disk = full_disk.path, full_disk
    async with running_bot(fake, data):
        chat = fake.private_chat(46, "Flo")
        disk.fill()
        fake.send_photo(chat, None, photo_bytes(seed=8))
        reply = await said(fake, chat, "Sorry")
        assert "kept" not in reply and "again" in reply
        disk.free()
