"""End to end with long-running jobs: two workers, cancel, status, busy queue, and crashes of bot or worker.

Fairness between users is driven in-process (test_queue_fairness.py): it is the dispatcher's, not the processes'.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from testing.bot_harness import (
    BotProcess,
    decode,
    keyboard_message,
    photo_bytes,
    result_photos,
    said,
    texts_in,
    wait_results,
)
from testing.fake_telegram import Chat, FakeTelegram

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]  # the bot as a process: skip with -m "not slow"
SLOW = {"STYLEBOT_STEPS": "3000"}  # minutes: long enough to act while a job runs
LONG = {"STYLEBOT_STEPS": "50"}  # seconds, reported from its first step: time to kill something mid-job


def painting(fake: FakeTelegram, chat: Chat) -> None:
    """Wait until a job of this chat reports progress."""
    fake.wait_for(lambda: any(t.startswith("🎨 Painting") for t in texts_in(fake, chat)), 90, "progress")


def test_full_queue_says_busy_and_keeps_the_photo(fake: FakeTelegram, data: Path) -> None:
    bot = BotProcess(fake, data, STYLEBOT_QUEUE_LENGTH="1", STYLEBOT_JOBS_PER_USER="5", **SLOW).start()
    try:
        chat = fake.private_chat(2201, "Cat")
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")  # runs
        painting(fake, chat)
        fake.send_photo(chat, None, photo_bytes(seed=2), caption="dots")  # waits
        fake.wait_for(lambda: any(t.startswith("⏳ Queued") for t in texts_in(fake, chat)), 30, "second queued")
        fake.send_photo(chat, None, photo_bytes(seed=3))
        said(fake, chat, "Got your photo", 30)
        fake.send_text(chat, None, "/style stripes")
        said(fake, chat, "busy", 30)
        fake.send_text(chat, None, "/cancel")
        said(fake, chat, "forgot your pending photo", 30)
    finally:
        bot.stop()


def test_bot_killed_mid_job_delivers_exactly_one_result_after_restart(fake: FakeTelegram, data: Path) -> None:
    bot = BotProcess(fake, data, **LONG).start()
    chat = fake.private_chat(2301, "Dan")
    fake.send_photo(chat, None, photo_bytes(seed=1))
    said(fake, chat, "Got your photo", 30)
    fake.send_photo(chat, None, photo_bytes(seed=2))
    painting(fake, chat)
    workers = bot.worker_pids()
    bot.kill()
    bot.start()
    try:
        [result] = wait_results(fake, chat, 1, timeout=240)
        assert decode(fake.message_file_bytes(result)).size == (48, 32)
        fake.wait_for(lambda: any(t.startswith("✅ Done") for t in texts_in(fake, chat)), 30, "done status")
        # The notice was shown: as the text of a text status, or as the caption of a picture status (issue 17).
        edits = fake.calls_of("editMessageText") + fake.calls_of("editMessageCaption")
        assert any(c.ok and "restarted" in (c.params.get("text") or c.params.get("caption") or "") for c in edits)
        bot.stop()
        assert len(result_photos(fake, chat)) == 1
        for pid in workers:  # the orphaned worker noticed its bot was gone and exited
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        bot.stop()


def test_quality_setting_changes_the_result_size(fake: FakeTelegram, data: Path) -> None:
    bot = BotProcess(fake, data, STYLEBOT_STEPS="1")
    bot.env.pop("STYLEBOT_MAX_SIDE")  # the real tiers: preview 256 px, standard 512 px
    bot.start()
    try:
        chat = fake.private_chat(2501, "Flo")
        fake.send_text(chat, None, "/settings")
        menu = keyboard_message(fake, chat, 20)
        fake.press_button(chat, None, menu, "s|quality|preview")
        fake.wait_for(fake.answered_callbacks, 20, "answer")
        fake.send_photo(chat, None, photo_bytes((120, 80), seed=1), caption="dots")
        [result] = wait_results(fake, chat, 1, timeout=240)
        assert decode(fake.message_file_bytes(result)).size == (256, 171)
        assert "preview" in result["caption"]
    finally:
        bot.stop()


def test_missing_model_weights_tell_users_instead_of_hanging(fake: FakeTelegram, data: Path) -> None:
    admin = fake.private_chat(42, "Root")
    broken = data / "broken.weights.h5"
    data.mkdir(parents=True, exist_ok=True)
    broken.write_bytes(b"not an HDF5 file")  # exists, so start-up accepts it; the workers cannot load it
    bot = BotProcess(fake, data, STYLEBOT_WEIGHTS=str(broken), STYLEBOT_ADMIN_IDS="42").start()
    try:
        said(fake, admin, "broken.weights.h5", 90)  # the admins learn why
        chat = fake.private_chat(2601, "Gil")
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")
        said(fake, chat, "the operator has to install the model weights (the bot's admins have been told)", 90)
        fake.wait_for(lambda: "broken.weights.h5" in bot.log_text(), 30, "the reason in the log")
        assert result_photos(fake, chat) == []
    finally:
        bot.stop()


def test_a_killed_worker_costs_one_retry_and_a_second_kill_fails_the_job(fake: FakeTelegram, data: Path) -> None:
    bot = BotProcess(fake, data, **LONG).start()  # one bot for both jobs: a worker start is most of the time
    try:
        eve, hana = fake.private_chat(2401, "Eve"), fake.private_chat(2701, "Hana")

        def last_status(chat: Chat) -> str:
            return (texts_in(fake, chat) or [""])[-1]

        def kill_worker_once_painting(chat: Chat, what: str) -> None:
            fake.wait_for(lambda: last_status(chat).startswith("🎨 Painting"), 90, what)
            [worker] = bot.worker_pids()
            os.kill(worker, signal.SIGKILL)

        fake.send_photo(eve, None, photo_bytes(seed=1), caption="dots")
        kill_worker_once_painting(eve, "Eve's job running")
        fake.wait_for(lambda: "retrying" in last_status(eve), 60, "the retry notice")
        [result] = wait_results(fake, eve, 1, timeout=240)  # the retry paints it
        assert decode(fake.message_file_bytes(result)).size == (48, 32)
        assert "died" in bot.log_text()

        fake.send_photo(hana, None, photo_bytes(seed=2), caption="dots")
        kill_worker_once_painting(hana, "Hana's job running")
        fake.wait_for(lambda: "retrying" in last_status(hana), 60, "the retry notice")
        kill_worker_once_painting(hana, "Hana's retry running")
        fake.wait_for(lambda: "failed twice" in last_status(hana), 60, "failure message")
        assert result_photos(fake, hana) == []
        fake.wait_for(lambda: len(bot.worker_pids()) == 1, 60, "a fresh worker")  # the pool is healthy again
    finally:
        bot.stop()


def test_two_workers_paint_at_once_and_cancel_frees_one(fake: FakeTelegram, data: Path) -> None:
    bot = BotProcess(fake, data, STYLEBOT_WORKERS="2", **SLOW).start()
    try:
        ann, bob = fake.private_chat(2801, "Ann"), fake.private_chat(2802, "Bob")
        fake.send_photo(ann, None, photo_bytes(seed=1), caption="dots")
        fake.send_photo(bob, None, photo_bytes(seed=2), caption="stripes")

        def both_painting() -> bool:
            return all((texts_in(fake, c) or [""])[-1].startswith("🎨 Painting") for c in (ann, bob))

        fake.wait_for(both_painting, 120, "both jobs painting at the same time")
        assert len(bot.worker_pids()) == 2
        fake.send_text(ann, None, "/status")
        said(fake, ann, "painting,", 20)
        fake.send_text(ann, None, "/cancel")
        fake.wait_for(lambda: any(t == "🚫 Cancelled." for t in texts_in(fake, ann)), 30, "cancelled status")
        assert result_photos(fake, ann) == []
        # Ann's worker is free again: her next job starts at once, while Bob's still paints.
        fake.send_photo(ann, None, photo_bytes(seed=3), caption="stripes")
        fake.wait_for(lambda: texts_in(fake, ann)[-1].startswith("🎨"), 60, "the next job starting")
        assert texts_in(fake, bob)[-1].startswith("🎨 Painting")
    finally:
        bot.stop()
