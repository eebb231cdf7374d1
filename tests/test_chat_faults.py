"""Chat-side faults of issue 17: floods, forum topics, linked channels, lying file sizes, photo status messages.

The real Application runs in-process against the fake Bot API (Telegram's real error texts) with a scripted executor.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from testing.bot_harness import photo_bytes
from testing.fake_telegram import FakeTelegram
from testing.inprocess import ScriptedExecutor, results, running_bot, said, texts, until


def job_states(data: Path) -> dict[int, str]:
    """Job id -> status, read from the bot's database file."""
    with sqlite3.connect(data / "stylebot.sqlite3") as conn:
        return dict(conn.execute("SELECT id, status FROM jobs").fetchall())


async def test_a_flood_is_refused_before_any_download_and_answered_once(fake: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, ScriptedExecutor(hold=True), instant_preview=False):
        chat = fake.private_chat(901, "Flo")
        for seed in range(40):  # issue 17: 40 photos in 10 s, each captioned with a painting (a job each)
            fake.send_photo(chat, None, photo_bytes(seed=seed), caption="dots")
            await asyncio.sleep(0.25)
        fake.send_text(chat, None, "/help")
        await said(fake, chat, "Commands")  # one sender's updates are handled in order: the photos came first
        assert len(job_states(tmp_path)) == 3  # STYLEBOT_JOBS_PER_USER
        # Only the three jobs' photos were fetched; the refused ones were never downloaded, decoded or cached.
        assert len(fake.calls_of("getFile")) == 3
        assert len(fake.downloads) == 3
        assert len(list((tmp_path / "files").iterdir())) == 3
        refusals = [t for t in texts(fake, chat) if "job(s) waiting" in t or "faster than I can look" in t]
        assert len(refusals) == 1, refusals  # 37 refusals (the cap, then 20 images a minute), one reply


async def test_in_a_forum_topic_every_message_stays_in_the_topic_though_the_photo_was_deleted(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    executor = ScriptedExecutor(hold=True)
    async with running_bot(fake, tmp_path, executor):
        forum, member = fake.forum_chat(902, "Painters"), fake.user(903, "Tom")
        topic = fake.create_topic(forum, "Portraits")
        photo = fake.send_photo(forum, member, photo_bytes(seed=1), thread_id=topic)
        fake.send_text(forum, member, "/stylize dots", reply_to=photo["message_id"])
        status = await until(fake, lambda: fake.bot_messages(forum.id), "the status message")
        assert status[0]["message_thread_id"] == topic
        # Issue 17: a moderator clears the topic before the result: the photo and the bot's status are gone.
        for message_id in (photo["message_id"], *(m["message_id"] for m in status)):
            fake.delete_message(forum, message_id)
        executor.release()
        [result] = await until(fake, lambda: results(fake, forum), "the result")
        assert result.get("message_thread_id") == topic  # not in General
        assert "reply_to_message" not in result  # sent without the reply (its photo is gone), in the topic still
        assert all(m.get("message_thread_id") == topic for m in fake.bot_messages(forum.id)), fake.bot_messages(
            forum.id
        )


async def test_styles_and_the_error_reply_go_to_the_topic_they_were_asked_in(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake, tmp_path):
        forum, member = fake.forum_chat(904, "Painters"), fake.user(905, "Ann")
        topic = fake.create_topic(forum, "Styles")
        fake.send_text(forum, member, "/styles", thread_id=topic)
        await said(fake, forum, "Preset paintings")
        album = [m for m in fake.bot_messages(forum.id) if m.get("media_group_id")]
        assert len(album) == 2
        fake.fault("getChatMember", error_code=400, description="Bad Request: PARTICIPANT_ID_INVALID", times=1)
        fake.send_text(forum, member, "/groupsettings", thread_id=topic)
        await said(fake, forum, "something went wrong")
        assert [m.get("message_thread_id") for m in fake.bot_messages(forum.id)] == [topic] * 4


async def test_a_linked_channels_posts_are_no_commands_in_its_discussion_group(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake, tmp_path, instant_preview=False):
        group, member = fake.group_chat(906, "Readers"), fake.user(907, "Max")
        channel = fake.channel_chat(908, "News")
        photo = fake.send_photo(group, member, photo_bytes(seed=1))
        fake.send_text(group, member, "/stylize dots", reply_to=photo["message_id"])
        await until(fake, lambda: results(fake, group), "the member's result")
        cached = sorted((tmp_path / "files").iterdir())
        before = len(fake.bot_messages(group.id))
        fake.auto_forward(channel, group, text="/forget")  # issue 17: it deleted a member's cached photo
        fake.auto_forward(channel, group, photo=photo_bytes(seed=2))
        fake.auto_forward(channel, group, text="/stylize dots")
        reader = fake.private_chat(909, "Ida")
        fake.send_text(reader, None, "/help")
        await said(fake, reader, "Commands")  # the forwards were handled before this
        assert len(fake.bot_messages(group.id)) == before  # no answer to the channel
        assert sorted((tmp_path / "files").iterdir()) == cached
        assert list(job_states(tmp_path).values()) == ["done"]


async def test_a_file_larger_than_it_says_is_stopped_at_the_limit_while_downloading(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake, tmp_path, instant_preview=False):
        chat = fake.private_chat(910, "Liz")
        # Issue 17: 31.5 MB served where 1 kB was declared; a JPEG decoder ignores what follows the picture.
        padded = photo_bytes(seed=1) + bytes(31_500_000)
        fake.send_document(
            chat, None, padded, file_name="tiny.jpg", mime_type="image/jpeg", caption="dots", declared_size=1024
        )
        reply = await said(fake, chat, "larger than the limit")
        assert "20 MB" in reply
        assert job_states(tmp_path) == {}
        assert not (tmp_path / "files").exists() or not any((tmp_path / "files").iterdir())


@pytest.mark.slow  # the instant picture comes from the instant lane's process
async def test_the_restart_notice_reaches_a_status_message_that_is_a_picture(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    chat = fake.private_chat(911, "Rex")
    async with running_bot(fake, tmp_path, ScriptedExecutor(hold=True), instant_preview=True):
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")
        status = await until(
            fake, lambda: next((m for m in fake.bot_messages(chat.id) if m.get("photo")), None), "a picture status"
        )
    # The bot restarts while the job paints; no worker is up yet, so the job waits in the queue.
    async with running_bot(fake, tmp_path, ScriptedExecutor(workers=0)):

        def notice_shown() -> bool:
            return any(
                c.ok and c.params.get("message_id") == status["message_id"] and "I restarted" in c.params["caption"]
                for c in fake.calls_of("editMessageCaption")
            )

        # Telegram refuses editMessageText on a photo ("there is no text in the message to edit"): the notice
        # goes into the picture's caption (the queue position follows it there).
        await until(fake, notice_shown, "the restart notice in the picture's caption")
