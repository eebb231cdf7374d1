"""Production faults the job pipeline must survive: every other user is still served, every job ends in a state.

The real Application runs in-process against the fake Bot API (with its fault injection) and a scripted
executor; each test reproduces one scenario of the pipeline issue.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.core.recipes import units_of
from bot.jobs.protocol import RunJob
from bot.store.storage import Storage
from testing.bot_harness import photo_bytes
from testing.fake_telegram import CHANNEL_BOT_ID, FakeTelegram
from testing.inprocess import ScriptedExecutor, reply_time, results, running_bot, said, texts, until


def job_states(data: Path) -> dict[int, str]:
    """Job id -> status, read from the bot's database file."""
    with sqlite3.connect(data / "stylebot.sqlite3") as conn:
        return dict(conn.execute("SELECT id, status FROM jobs").fetchall())


async def states_become(fake: FakeTelegram, data: Path, wanted: dict[int, str], timeout: float = 10) -> None:
    """Wait until the jobs have the wanted states."""
    await until(fake, lambda: all(job_states(data).get(k) == v for k, v in wanted.items()), f"states {wanted}", timeout)


async def test_a_user_who_blocks_the_bot_stops_nobody(fake: FakeTelegram, tmp_path: Path) -> None:
    executor = ScriptedExecutor(hold=True)
    async with running_bot(fake, tmp_path, executor):
        alice, bob = fake.private_chat(11, "Alice"), fake.private_chat(12, "Bob")
        fake.send_photo(alice, None, photo_bytes(seed=1), caption="dots")
        await said(fake, alice, "Painting")  # job 1 holds the only worker
        fake.send_photo(bob, None, photo_bytes(seed=2), caption="stripes")
        await said(fake, bob, "Queued")
        fake.set_blocked(alice.id)
        executor.release()  # alice's result meets a 403 ...
        await states_become(fake, tmp_path, {1: "undeliverable"})
        executor.release()
        [result] = await until(fake, lambda: results(fake, bob), "bob's result")  # ... bob is still served
        assert "Stripes" in result["caption"]
        await states_become(fake, tmp_path, {2: "done"})
        to_alice = [c for c in fake.calls if c.params.get("chat_id") == alice.id]
        fake.send_photo(bob, None, photo_bytes(seed=3), caption="dots")
        await until(fake, lambda: len(results(fake, bob)) == 2, "bob's second result")
        assert [c for c in fake.calls if c.params.get("chat_id") == alice.id] == to_alice  # nothing more went there


async def test_status_edits_failing_with_502_do_not_stall_jobs(fake: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, ScriptedExecutor(workers=1)):
        fake.fault("editMessageText", error_code=502)  # until cleared: Telegram's edits are down
        chats = [fake.private_chat(20 + i, f"U{i}") for i in range(3)]
        for i, chat in enumerate(chats):
            fake.send_photo(chat, None, photo_bytes(seed=i), caption="dots")
        for chat in chats:
            await until(fake, lambda chat=chat: results(fake, chat), "a result")
        await states_become(fake, tmp_path, {1: "done", 2: "done", 3: "done"})


async def test_a_locked_database_delays_jobs_but_loses_none(fake: FakeTelegram, tmp_path: Path) -> None:
    executor = ScriptedExecutor(hold=True)
    async with running_bot(fake, tmp_path, executor):
        chat = fake.private_chat(31, "Cy")
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")
        await said(fake, chat, "Painting")
        fake.send_photo(chat, None, photo_bytes(seed=2), caption="stripes")
        await said(fake, chat, "Queued")
        other = sqlite3.connect(tmp_path / "stylebot.sqlite3", timeout=30)
        other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock while a worker becomes free
        executor.release()
        await asyncio.sleep(2)  # the scenario itself: the result comes in while the lock is held for 2 s
        other.rollback()
        other.close()
        executor.release()
        await until(fake, lambda: len(results(fake, chat)) == 2, "both results", 20)


async def test_the_dispatch_loop_restarts_after_a_crash(
    fake: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Storage.claim_next
    failures = iter([sqlite3.OperationalError("database is locked")])

    async def flaky(self: Storage, clip_slots: int | None = None) -> Any:
        error = next(failures, None)
        if error is not None:
            raise error
        return await real(self, clip_slots)

    monkeypatch.setattr(Storage, "claim_next", flaky)
    async with running_bot(fake, tmp_path):
        chat = fake.private_chat(32, "Di")
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")
        await until(fake, lambda: results(fake, chat), "the result", 15)


async def test_a_group_without_media_rights_gets_words_and_the_job_ends(fake: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path):
        group = fake.group_chat(-100500, "Friends")
        alice = fake.user(41, "Alice")
        photo = fake.send_photo(group, alice, photo_bytes(seed=1))
        fake.set_no_media(group.id)
        fake.send_text(group, alice, "/stylize dots", reply_to=photo["message_id"])
        await said(fake, group, "may not post pictures")
        await states_become(fake, tmp_path, {1: "undeliverable"})
        # The state is written first, then the files go: wait for both.
        await until(fake, lambda: not (tmp_path / "jobs" / "1").exists(), "job 1's files removed")
        fake.send_text(group, alice, "/status")
        await said(fake, group, "no jobs")  # the slot is free


async def test_an_upload_that_keeps_failing_is_retried_then_given_up(
    fake: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.jobs.delivery.DELIVERY_BACKOFF_S", (0.2, 0.2))
    monkeypatch.setattr("bot.telegram.ratelimit.NETWORK_BACKOFF_S", (0.1, 0.1))
    async with running_bot(fake, tmp_path):
        chat = fake.private_chat(51, "Eve")
        fake.fault("sendPhoto", error_code=502)
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")
        await states_become(fake, tmp_path, {1: "undeliverable"})
        # Three delivery attempts, each with the rate limiter's own two quick retries of a 502.
        uploads = [c for c in fake.calls_of("sendPhoto") if str(c.params.get("caption", "")).startswith("🎨")]
        assert len(uploads) == 3 * 3


async def test_a_result_waits_out_an_outage_and_arrives(
    fake: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.jobs.delivery.DELIVERY_BACKOFF_S", (0.3, 0.3, 0.3, 0.3, 0.3))
    async with running_bot(fake, tmp_path):
        chat = fake.private_chat(52, "Fay")
        outage = fake.fault("sendPhoto", error_code=502, times=2)
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")
        await until(fake, lambda: results(fake, chat), "the result after the outage")
        assert outage.hits == 2
        await states_become(fake, tmp_path, {1: "done"})


async def test_one_chats_flood_wait_does_not_delay_another_user(fake: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path):
        slow, quick = fake.private_chat(61, "Slow"), fake.private_chat(62, "Quick")
        # The 20 s wait, shortened: the bot's shutdown at the end of the test honours it too.
        fake.fault("sendMessage", error_code=429, retry_after=5, chat_id=slow.id, times=1)
        fake.send_text(slow, None, "/help")
        await until(fake, lambda: fake.calls_of("sendMessage"), "the 429")
        assert await reply_time(fake, quick, lambda: fake.send_text(quick, None, "/help")) < 1.0


async def test_a_slow_download_does_not_delay_another_user(fake: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path):
        slow, quick = fake.private_chat(63, "Slow"), fake.private_chat(64, "Quick")
        fake.delay_download(40, chat_id=slow.id)
        fake.send_photo(slow, None, photo_bytes(seed=1), caption="dots")
        await until(fake, lambda: fake.downloads, "the slow download to start")
        assert await reply_time(fake, quick, lambda: fake.send_text(quick, None, "/help")) < 1.0


async def test_an_edited_caption_starts_no_second_job(fake: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path):
        chat = fake.private_chat(71, "Gus")
        photo = fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")
        await until(fake, lambda: results(fake, chat), "the result")
        fake.edit_message(chat, None, photo["message_id"], new_caption="stripes")
        fake.send_text(chat, None, "/help")
        await said(fake, chat, "Commands")
        assert len(job_states(tmp_path)) == 1


async def test_channel_posts_are_ignored(fake: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path):
        channel = fake.channel_chat(77, "News")
        fake.channel_post(channel, photo=photo_bytes(seed=1), caption="dots")
        fake.channel_post(channel, text="/start")
        user = fake.private_chat(72, "Hal")
        fake.send_text(user, None, "/help")
        await said(fake, user, "Commands")  # the posts were processed before this
        assert fake.bot_messages(channel.id) == []
        assert job_states(tmp_path) == {}


async def test_senders_posting_as_channels_are_told_apart(fake: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path):
        group = fake.group_chat(-100600, "Club")
        first, second = fake.channel_chat(81, "One"), fake.channel_chat(82, "Two")
        photo = fake.send_photo(group, None, photo_bytes(seed=1), sender_chat=first)
        fake.send_text(group, None, "/stylize", reply_to=photo["message_id"], sender_chat=first)
        menu = await until(
            fake, lambda: next((m for m in fake.bot_messages(group.id) if m.get("reply_markup")), None), "a menu"
        )
        fake.send_text(group, None, "/cancel", sender_chat=second)
        await said(fake, group, "Nothing to cancel")  # the second channel cannot cancel the first one's photo
        button = menu["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        fake.press_button(group, fake.user(CHANNEL_BOT_ID, "Channel"), menu, data=button)
        await until(fake, fake.answered_callbacks, "the tap answered")
        assert job_states(tmp_path) == {}  # someone else's tap on the first channel's menu starts nothing


async def test_an_album_of_ten_gives_one_job_and_one_note(fake: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path):
        chat = fake.private_chat(91, "Ida")
        fake.send_album(chat, None, [photo_bytes(seed=i) for i in range(10)])
        await until(fake, lambda: results(fake, chat), "the result")
        await said(fake, chat, "first two photos")
        fake.send_text(chat, None, "/help")
        await said(fake, chat, "Commands")
        assert len(job_states(tmp_path)) == 1
        notes = [t for t in texts(fake, chat) if "first two photos" in t]
        keyboards = [m for m in fake.bot_messages(chat.id) if m.get("reply_markup") and not m.get("photo")]
        assert len(notes) == 1 and keyboards == []


@pytest.mark.parametrize("data", ["r|again|abc", "m|", "s|quality|ultra", "p|../etc", "x" * 64])
async def test_forged_buttons_get_a_plain_answer(fake: FakeTelegram, tmp_path: Path, data: str) -> None:
    async with running_bot(fake, tmp_path):
        chat = fake.private_chat(92, "Jo")
        fake.send_text(chat, None, "/settings")
        menu = await until(
            fake, lambda: next((m for m in fake.bot_messages(chat.id) if m.get("reply_markup")), None), "menu"
        )
        fake.press_button(chat, None, menu, data=data)
        answer = await until(fake, fake.answered_callbacks, "the answer")
        assert "no longer works" in answer[-1].params.get("text", "")


@pytest.mark.parametrize("spec", ["dots:" + "9" * 308 + " stripes:" + "9" * 308, "dots:" + "9" * 309])
async def test_a_huge_weight_is_refused_politely(fake: FakeTelegram, tmp_path: Path, spec: str) -> None:
    async with running_bot(fake, tmp_path):
        chat = fake.private_chat(93, "Kai")
        fake.send_text(chat, None, "/style " + spec)
        reply = await until(fake, lambda: texts(fake, chat), "a reply")
        assert "weight" in reply[-1].lower()
        assert job_states(tmp_path) == {}


async def test_cancel_of_a_running_job_frees_the_slot_at_once(fake: FakeTelegram, tmp_path: Path) -> None:
    executor = ScriptedExecutor(hold=True)
    async with running_bot(fake, tmp_path, executor, jobs_per_user=1):
        chat = fake.private_chat(94, "Lou")
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")
        await said(fake, chat, "Painting")
        fake.send_text(chat, None, "/cancel")
        await said(fake, chat, "Cancelled 1 job")
        assert executor.cancelled == [1]
        fake.send_photo(chat, None, photo_bytes(seed=2), caption="stripes")  # the one slot is free again
        executor.release()
        await until(fake, lambda: results(fake, chat), "the second job's result")
        await states_become(fake, tmp_path, {1: "cancelled", 2: "done"})


async def test_forget_deletes_what_the_bot_keeps(fake: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path):
        chat = fake.private_chat(95, "Mo")
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")
        await until(fake, lambda: results(fake, chat), "the result")
        cached = list((tmp_path / "files").iterdir())
        assert cached
        fake.send_text(chat, None, "/forget")
        reply = await said(fake, chat, "Deleted")
        assert "1 job" in reply
        assert job_states(tmp_path) == {}
        assert list((tmp_path / "files").iterdir()) == []


async def test_data_is_private_to_the_bots_user(fake: FakeTelegram, tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with running_bot(fake, data):
        chat = fake.private_chat(96, "Ned")
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")
        await until(fake, lambda: results(fake, chat), "the result")
    assert data.stat().st_mode & 0o777 == 0o700
    for path in data.rglob("*"):
        if path.is_file() and path.parent.name != "styles":
            assert path.stat().st_mode & 0o077 == 0, path


async def test_a_restart_survives_a_chat_that_blocked_the_bot(fake: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, ScriptedExecutor(hold=True)):
        alice = fake.private_chat(101, "Alice")
        fake.send_photo(alice, None, photo_bytes(seed=1), caption="dots")
        await said(fake, alice, "Painting")
    assert job_states(tmp_path) == {1: "running"}  # the bot stopped mid-job
    fake.set_blocked(alice.id)
    async with running_bot(fake, tmp_path):  # recovery's "I restarted" meets a 403: start-up goes on
        await states_become(fake, tmp_path, {1: "undeliverable"})
        bob = fake.private_chat(102, "Bob")
        fake.send_photo(bob, None, photo_bytes(seed=2), caption="stripes")
        await until(fake, lambda: results(fake, bob), "bob's result")


async def test_a_painted_result_is_delivered_after_a_restart_without_painting_again(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    outage = fake.fault("sendPhoto", error_code=502)
    first = ScriptedExecutor()
    async with running_bot(fake, tmp_path, first):
        chat = fake.private_chat(103, "Cleo")
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")
        await until(fake, lambda: outage.hits >= 1, "a failed upload")
        await states_become(fake, tmp_path, {1: "delivering"})
    outage.remove()
    second = ScriptedExecutor()
    async with running_bot(fake, tmp_path, second):
        await until(fake, lambda: results(fake, chat), "the result", 15)
        await states_become(fake, tmp_path, {1: "done"})
    assert len(first.submitted) == 1 and second.submitted == []


async def test_a_huge_document_is_refused_before_it_is_decoded(fake: FakeTelegram, tmp_path: Path) -> None:
    import io

    from PIL import Image

    big = io.BytesIO()
    Image.new("RGB", (7000, 7000), (30, 60, 90)).save(big, "PNG")  # 49 MP, yet a small file
    async with running_bot(fake, tmp_path):
        chat = fake.private_chat(104, "Dee")
        fake.send_document(chat, None, big.getvalue(), file_name="huge.png", mime_type="image/png", caption="dots")
        reply = await said(fake, chat, "megapixels")
        assert "24" in reply
        assert job_states(tmp_path) == {}
        assert not any((tmp_path / "files").glob("*"))


async def test_photos_waiting_for_a_style_are_checked_once(fake: FakeTelegram, tmp_path: Path) -> None:
    # A photo is decoded when it arrives (a damaged one must not wait for a style: issue 17), and only once.
    async with running_bot(fake, tmp_path):
        chats = [fake.private_chat(105 + 100 * i, f"Eli{i}") for i in range(3)]
        for seed, chat in enumerate(chats):
            fake.send_photo(chat, None, photo_bytes(seed=seed))
        for chat in chats:
            await said(fake, chat, "Got your photo")
        assert len(fake.downloads) == 3 and len(list((tmp_path / "files").glob("*"))) == 3
        fake.send_text(chats[0], None, "dots")
        await states_become(fake, tmp_path, {1: "done"})
        assert len(fake.downloads) == 3  # the job used the cached, checked copy


async def test_a_flood_of_images_gets_a_friendly_brake(fake: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, images_per_minute=3):
        chat = fake.private_chat(106, "Flo")
        for seed in range(5):
            fake.send_photo(chat, None, photo_bytes(seed=seed))
        await said(fake, chat, "faster than I can look at them")
        await until(fake, lambda: results(fake, chat), "the job of the photos that were taken")
        assert len(job_states(tmp_path)) == 1  # photos 1 and 2 made a job, photo 3 waits, 4 and 5 were refused


@dataclass
class TimedExecutor(ScriptedExecutor):
    """Workers that take `seconds_per_unit` per work unit of each job, as real ones roughly do."""

    seconds_per_unit: float = 0.2

    async def _paint(self, request: RunJob, gate: asyncio.Event) -> None:
        """Take the job's time, then finish."""
        p = request.params
        await asyncio.sleep(self.seconds_per_unit * units_of(p["max_side"], p["steps"], p["levels"]))
        await super()._paint(request, gate)


def promised(text: str) -> float:
    """Seconds an ETA text promises ('about 3 s left', 'about 1 min 5 s left')."""
    match = re.search(r"about (?:(\d+) min ?)?(?:(\d+) s)? left", text)
    assert match is not None, text
    return 60 * int(match[1] or 0) + int(match[2] or 0)


def first_eta(fake: FakeTelegram, chat_id: int) -> str | None:
    """The first status text in a chat that promised a time (edited away soon after: read from the calls)."""
    for call in fake.calls:
        text = call.params.get("text") or call.params.get("caption") or ""
        if call.params.get("chat_id") == chat_id and " left" in text:
            return str(text)
    return None


async def test_queue_etas_follow_the_size_of_the_jobs(fake: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, TimedExecutor(), max_side=None, steps=None) as app:
        storage = app.bot_data.running.storage
        first, second, third = (fake.private_chat(300 + i, f"U{i}") for i in range(3))
        await storage.update_settings(second.id, quality="preview")
        await storage.update_settings(third.id, quality="hd")
        fake.send_photo(first, None, photo_bytes(seed=1), caption="dots")  # a standard job teaches the speed
        await until(fake, lambda: results(fake, first), "the first result", 30)
        fake.send_photo(first, None, photo_bytes(seed=2), caption="dots")
        await said(fake, first, "Starting")
        for chat in (second, third):  # a preview behind a standard job, then an HD job behind both
            t0 = time.monotonic()
            fake.send_photo(chat, None, photo_bytes(seed=chat.id), caption="stripes")
            wait = promised(await until(fake, lambda chat=chat: first_eta(fake, chat.id), "an ETA", 20))
            await until(fake, lambda chat=chat: results(fake, chat), "the result", 60)
            took = time.monotonic() - t0
            # Within half again either way, plus a second for the messages themselves (a loaded CI machine's
            # round trips are no part of the promise, and ETAs are whole seconds).
            assert wait / 1.5 - 1.0 <= took <= wait * 1.5 + 1.0, (chat.id, wait, took)


async def test_inline_query_words_filter_the_users_results_too(fake: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path):
        chat = fake.private_chat(310, "Iva")
        user = fake.user(310, "Iva")
        for seed, style in ((1, "dots"), (2, "stripes")):
            fake.send_photo(chat, None, photo_bytes(seed=seed), caption=style)
            await until(fake, lambda seed=seed: len(results(fake, chat)) == seed, "a result")
        await states_become(fake, tmp_path, {1: "done", 2: "done"})
        fake.inline_query(user, "STRIPES")  # the manifest's title, in any case
        answer = await until(fake, fake.inline_answers, "the inline answer")
        ids = [r["id"] for r in answer[-1].params["results"]]
        assert ids == ["r2", "pstripes"]


async def test_when_no_worker_can_load_the_model_people_are_told_plainly(fake: FakeTelegram, tmp_path: Path) -> None:
    executor = ScriptedExecutor()  # and no instant network: with it, instant pictures are served instead
    async with running_bot(fake, tmp_path, executor, instant_preview=False):
        chat = fake.private_chat(320, "Ola")
        executor.go_down("cannot read /weights/vgg19.h5")
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")
        reply = await said(fake, chat, "install the model weights")
        assert "admins have been told" not in reply  # no admins are configured, so nobody was told
        assert fake.downloads == []  # refused before fetching photos that could not become a job
        fake.send_text(chat, None, "/start")
        start = await said(fake, chat, "Send me a photo")
        assert "install the model weights" in start


async def test_a_chat_that_blocked_the_bot_is_served_again_once_it_writes(fake: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path):
        alice = fake.private_chat(330, "Alice")
        fake.set_blocked(alice.id)
        fake.send_photo(alice, None, photo_bytes(seed=1), caption="dots")
        await states_become(fake, tmp_path, {1: "undeliverable"})
        fake.set_blocked(alice.id, False)  # she unblocks the bot and writes again
        fake.send_photo(alice, None, photo_bytes(seed=2), caption="stripes")
        [result] = await until(fake, lambda: results(fake, alice), "her result")
        assert "Stripes" in result["caption"]
