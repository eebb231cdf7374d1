"""Tests of the fake Telegram Bot API server, driven through PTB's real ``telegram.Bot``."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultCachedPhoto,
    InputMediaPhoto,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError, RetryAfter
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

from tests.fake_telegram import BOT_ID, FakeTelegram

# PTB 22.x warns when reading int-valued durations (retry_after, duration); not our concern here.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def make_png(width: int = 200, height: int = 150, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A small PNG image."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG")
    return buf.getvalue()


def make_gif(frames: int = 3) -> bytes:
    """A small animated GIF."""
    images = [Image.new("RGB", (64, 48), (k * 60, 0, 0)) for k in range(frames)]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=500, loop=0)
    return buf.getvalue()


def seconds(value: Any) -> float:
    """PTB 22 returns ints (with a deprecation warning) or timedeltas (PTB_TIMEDELTA=1)."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url) as b:
        yield b


async def test_get_me(fake: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == BOT_ID
    assert me.is_bot
    assert me.username == "stylebot_test_bot"
    assert me.supports_inline_queries
    assert bot.username == "stylebot_test_bot"
    assert fake.calls_of("getMe")


async def test_wrong_token_is_unauthorized(fake: FakeTelegram) -> None:
    from telegram.error import InvalidToken

    with pytest.raises(InvalidToken):
        async with Bot("456:WRONG", base_url=fake.base_url):
            pass


async def test_get_updates_offsets_and_long_poll(fake: FakeTelegram, bot: Bot) -> None:
    chat = fake.private_chat(111, "Alice", "alice")
    assert chat.user is not None
    fake.send_text(chat, chat.user, "/start")
    fake.send_text(chat, chat.user, "hello")

    updates = await bot.get_updates(timeout=0)
    assert [u.message.text for u in updates if u.message] == ["/start", "hello"]
    start = updates[0].message
    assert start is not None
    assert start.entities[0].type == "bot_command"
    assert start.from_user is not None and start.from_user.username == "alice"
    assert start.chat.type == "private"

    # Not confirmed yet: returned again; limit honoured.
    again = await bot.get_updates(timeout=0, limit=1)
    assert [u.update_id for u in again] == [updates[0].update_id]
    # Confirm both.
    offset = updates[-1].update_id + 1
    assert await bot.get_updates(offset=offset, timeout=0) == ()
    assert fake.pending_updates() == []

    # Long poll with nothing queued waits for the timeout.
    t0 = time.monotonic()
    assert await bot.get_updates(offset=offset, timeout=1) == ()
    assert 0.8 < time.monotonic() - t0 < 3

    # Long poll returns early when an update arrives.
    threading.Timer(0.3, lambda: fake.send_text(chat, chat.user, "late")).start()
    t0 = time.monotonic()
    late = await bot.get_updates(offset=offset, timeout=10)
    assert time.monotonic() - t0 < 3
    assert [u.message.text for u in late if u.message] == ["late"]


async def test_second_get_updates_terminates_waiting_one_with_conflict(fake: FakeTelegram, bot: Bot) -> None:
    async with Bot(fake.token, base_url=fake.base_url) as other:
        waiting = asyncio.create_task(bot.get_updates(timeout=5))
        await asyncio.sleep(0.3)
        assert await other.get_updates(timeout=0) == ()
        with pytest.raises(Conflict):
            await asyncio.wait_for(waiting, 3)


async def test_drop_pending_updates(fake: FakeTelegram, bot: Bot) -> None:
    chat = fake.private_chat(112)
    fake.send_text(chat, chat.user, "old")
    await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates(timeout=0) == ()


async def test_user_photo_is_downloadable(fake: FakeTelegram, bot: Bot) -> None:
    chat = fake.private_chat(113)
    png = make_png(400, 300)
    fake.send_photo(chat, chat.user, png, caption="/stylize mosaic")

    (update,) = await bot.get_updates(timeout=0)
    msg = update.message
    assert msg is not None
    assert msg.caption == "/stylize mosaic"
    assert msg.caption_entities[0].type == "bot_command"
    sizes = msg.photo
    assert len(sizes) >= 2
    assert max(sizes[0].width, sizes[0].height) <= 90
    assert (sizes[-1].width, sizes[-1].height) == (400, 300)

    tg_file = await bot.get_file(sizes[-1].file_id)
    assert tg_file.file_size == len(png)
    assert bytes(await tg_file.download_as_bytearray()) == png
    thumb = await (await bot.get_file(sizes[0].file_id)).download_as_bytearray()
    assert Image.open(io.BytesIO(bytes(thumb))).width <= 90

    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file("nope")


async def test_user_document_and_album(fake: FakeTelegram, bot: Bot) -> None:
    chat = fake.private_chat(114)
    user = chat.user
    assert user is not None
    png = make_png(50, 40)
    fake.send_document(chat, user, png, file_name="art.png", mime_type="image/png", caption="style")
    album = fake.send_album(chat, user, [make_png(), make_png(color=(0, 0, 255))])
    assert album[0]["media_group_id"] == album[1]["media_group_id"]

    updates = await bot.get_updates(timeout=0)
    doc = updates[0].message.document  # type: ignore[union-attr]
    assert doc is not None and doc.file_name == "art.png" and doc.mime_type == "image/png"
    assert bytes(await (await bot.get_file(doc.file_id)).download_as_bytearray()) == png
    group_ids = {u.message.media_group_id for u in updates[1:]}  # type: ignore[union-attr]
    assert len(group_ids) == 1 and None not in group_ids


async def test_send_photo_upload_and_resend_by_file_id(fake: FakeTelegram, bot: Bot) -> None:
    chat = fake.private_chat(115)
    png = make_png(320, 240)
    sent = await bot.send_photo(chat.id, photo=png, caption="<b>Done</b> &amp; dusted", parse_mode=ParseMode.HTML)
    assert sent.caption == "Done & dusted"
    assert sent.caption_entities[0].type == "bold"
    assert sent.caption_entities[0].length == 4
    assert (sent.photo[-1].width, sent.photo[-1].height) == (320, 240)
    assert sent.from_user is not None and sent.from_user.id == BOT_ID

    (call,) = fake.calls_of("sendPhoto")
    assert call.uploads == {"photo": png}
    assert call.params["chat_id"] == chat.id
    assert fake.file_bytes(sent.photo[-1].file_id) == png

    again = await bot.send_photo(chat.id, photo=sent.photo[-1].file_id)
    assert again.photo[-1].file_unique_id == sent.photo[-1].file_unique_id
    assert fake.calls_of("sendPhoto")[1].params["photo"] == sent.photo[-1].file_id
    assert again.message_id == sent.message_id + 1

    messages = fake.bot_messages(chat.id)
    assert [m["message_id"] for m in messages] == [sent.message_id, again.message_id]
    assert fake.message_file_bytes(messages[1]) == png

    with pytest.raises(BadRequest, match=r"(?i)IMAGE_PROCESS_FAILED"):
        await bot.send_photo(chat.id, photo=b"not an image")
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.send_photo(chat.id, photo="unknown-file-id")


async def test_send_document_and_animation(fake: FakeTelegram, bot: Bot) -> None:
    chat = fake.private_chat(116)
    png = make_png(64, 64)
    doc = await bot.send_document(chat.id, document=png, filename="result.png")
    assert doc.document is not None
    assert doc.document.file_name == "result.png"
    assert doc.document.mime_type == "image/png"
    gif = make_gif()
    anim = await bot.send_animation(chat.id, animation=gif, filename="result.gif")
    assert anim.animation is not None
    assert (anim.animation.width, anim.animation.height) == (64, 48)
    assert seconds(anim.animation.duration) >= 1
    assert fake.file_bytes(anim.animation.file_id) == gif
    await bot.send_chat_action(chat.id, "upload_photo")
    assert fake.calls_of("sendChatAction")[0].params["action"] == "upload_photo"


async def test_send_media_group(fake: FakeTelegram, bot: Bot) -> None:
    chat = fake.private_chat(117)
    first, second = make_png(100, 80), make_png(90, 60, (0, 255, 0))
    existing = fake.add_file(make_png(30, 30), kind="photo")
    messages = await bot.send_media_group(
        chat.id,
        [
            InputMediaPhoto(first, caption="*Before*", parse_mode=ParseMode.MARKDOWN_V2),
            InputMediaPhoto(second),
            InputMediaPhoto(existing.file_id),
        ],
    )
    assert len(messages) == 3
    assert len({m.media_group_id for m in messages}) == 1
    assert messages[0].caption == "Before"
    assert messages[0].caption_entities[0].type == "bold"
    (call,) = fake.calls_of("sendMediaGroup")
    # PTB uploads the bytes as multipart parts referenced by attach://<name> in the media JSON.
    assert sorted(call.uploads.values()) == sorted([first, second])
    assert call.params["media"][0]["media"].startswith("attach://")
    assert call.params["media"][2]["media"] == existing.file_id
    stored = fake.bot_messages(chat.id)
    assert [fake.message_file_bytes(m) for m in stored[:2]] == [first, second]
    assert stored[2]["photo"][-1]["file_unique_id"] == existing.file_unique_id


async def test_edit_message_text_and_markup(fake: FakeTelegram, bot: Bot) -> None:
    chat = fake.private_chat(118)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Cancel", callback_data="cancel:1")]])
    sent = await bot.send_message(chat.id, "Working… 0%", reply_markup=keyboard)
    edited = await bot.edit_message_text("Working… 50%", chat.id, sent.message_id, reply_markup=keyboard)
    assert isinstance(edited, type(sent)) and edited.text == "Working… 50%"
    (state,) = fake.bot_messages(chat.id)
    assert state["text"] == "Working… 50%"
    assert state["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "cancel:1"
    assert "edit_date" in state

    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("Working… 50%", chat.id, sent.message_id, reply_markup=keyboard)
    # Without reply_markup Telegram removes the inline keyboard.
    await bot.edit_message_text("Done", chat.id, sent.message_id)
    assert "reply_markup" not in fake.bot_messages(chat.id)[0]
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat.id, 999)
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(chat.id, "Done. 100%!", parse_mode=ParseMode.MARKDOWN_V2)
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(chat.id, "a <b> c", parse_mode=ParseMode.HTML)
    assert await bot.delete_message(chat.id, sent.message_id)
    assert fake.bot_messages(chat.id) == []


async def test_callback_query_and_answer(fake: FakeTelegram, bot: Bot) -> None:
    chat = fake.private_chat(119)
    assert chat.user is not None
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Mosaic", callback_data="style:mosaic")]])
    sent = await bot.send_message(chat.id, "Pick a style", reply_markup=keyboard)
    message = fake.bot_messages(chat.id)[0]
    with pytest.raises(ValueError, match=r"(?i)no button"):
        fake.press_button(chat, chat.user, message, "style:other")
    query_id = fake.press_button(chat, chat.user, message, "style:mosaic")

    (update,) = await bot.get_updates(timeout=0)
    query = update.callback_query
    assert query is not None and query.id == query_id
    assert query.data == "style:mosaic"
    assert query.message is not None and query.message.message_id == sent.message_id
    assert await bot.answer_callback_query(query_id, text="Got it")
    (answer,) = fake.answered_callbacks()
    assert answer.params["text"] == "Got it"
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query_id)


async def test_inline_query_with_cached_photo(fake: FakeTelegram, bot: Bot) -> None:
    user = fake.user(120, "Bob")
    chat = fake.private_chat(120, "Bob")
    sent = await bot.send_photo(chat.id, photo=make_png(64, 64))
    query_id = fake.inline_query(user, "mosaic")

    (update,) = await bot.get_updates(timeout=0)
    assert update.inline_query is not None
    assert update.inline_query.query == "mosaic" and update.inline_query.id == query_id
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.answer_inline_query(query_id, [InlineQueryResultCachedPhoto("1", "unknown-id")])
    result = InlineQueryResultCachedPhoto("r1", sent.photo[-1].file_id, caption="styled")
    assert await bot.answer_inline_query(query_id, [result], cache_time=0)
    (answer,) = fake.inline_answers()
    assert answer.params["results"][0]["photo_file_id"] == sent.photo[-1].file_id
    chosen = fake.choose_inline_result(user, "r1", query="mosaic")
    assert await bot.edit_message_caption(inline_message_id=chosen["inline_message_id"], caption="x") is True


async def test_scheduled_errors(fake: FakeTelegram, bot: Bot) -> None:
    chat = fake.private_chat(121)
    fake.fail_next("sendMessage", error_code=429, retry_after=1)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(chat.id, "hi")
    assert seconds(info.value.retry_after) == 1
    fake.fail_next("sendMessage", 2, error_code=500)
    for _ in range(2):
        with pytest.raises(NetworkError):
            await bot.send_message(chat.id, "hi")
    fake.fail_next("sendMessage", error_code=400, description="Bad Request: chat not found")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(chat.id, "hi")
    assert (await bot.send_message(chat.id, "hi")).text == "hi"
    calls = fake.calls_of("sendMessage")
    assert [c.ok for c in calls] == [False, False, False, False, True]
    fake.set_blocked(chat.id)
    with pytest.raises(Forbidden, match=r"(?i)blocked"):
        await bot.send_message(chat.id, "hi")


async def test_privacy_mode_in_groups(fake: FakeTelegram, bot: Bot) -> None:
    group = fake.group_chat(-100123, "Artists")
    carol = fake.user(201, "Carol")
    sent = await bot.send_message(group.id, "Send me a photo")
    fake.send_text(group, carol, "just chatting")
    fake.send_text(group, carol, "/stylize@otherbot")
    fake.send_photo(group, carol, make_png(), caption="look at this")
    fake.send_text(group, carol, "/stylize@stylebot_test_bot mosaic")
    fake.send_text(group, carol, "/help")
    fake.send_text(group, carol, "here you go", reply_to=sent.message_id)
    fake.send_text(group, carol, "hey @stylebot_test_bot")

    updates = await bot.get_updates(timeout=0)
    texts = [u.message.text for u in updates if u.message]
    assert texts == ["/stylize@stylebot_test_bot mosaic", "/help", "here you go", "hey @stylebot_test_bot"]
    assert [m.get("text", m.get("caption")) for m in fake.undelivered] == [
        "just chatting",
        "/stylize@otherbot",
        "look at this",
    ]
    command = updates[0].message
    assert command is not None and command.chat.type == "supergroup"
    assert command.entities[0].type == "bot_command" and command.entities[0].length == len("/stylize@stylebot_test_bot")
    reply = updates[2].message
    assert reply is not None and reply.reply_to_message is not None
    assert reply.reply_to_message.message_id == sent.message_id
    assert reply.reply_to_message.from_user is not None and reply.reply_to_message.from_user.id == BOT_ID

    fake.set_admin(group.id, carol.id)
    assert (await bot.get_chat_member(group.id, carol.id)).status == "administrator"
    dave = fake.user(202, "Dave")
    assert (await bot.get_chat_member(group.id, dave.id)).status == "member"
    assert (await bot.get_chat(group.id)).title == "Artists"


def test_privacy_mode_off_delivers_everything() -> None:
    with FakeTelegram(privacy_mode=False) as fake:
        group = fake.group_chat(555)
        assert group.id == -100555
        fake.send_text(group, fake.user(1), "just chatting")
        assert len(fake.pending_updates()) == 1
        assert fake.undelivered == []


async def test_set_my_commands_with_scopes(fake: FakeTelegram, bot: Bot) -> None:
    private = [BotCommand("start", "Start"), BotCommand("styles", "List styles")]
    group = [BotCommand("stylize", "Stylize the replied photo")]
    assert await bot.set_my_commands(private, scope=BotCommandScopeAllPrivateChats())
    assert await bot.set_my_commands(group, scope=BotCommandScopeAllGroupChats())
    assert await bot.set_my_commands([BotCommand("start", "Начать")], language_code="ru")
    assert [c["command"] for c in fake.commands_for({"type": "all_private_chats"})] == ["start", "styles"]
    assert [c["command"] for c in fake.commands_for({"type": "all_group_chats"})] == ["stylize"]
    assert fake.commands_for(language_code="ru")[0]["description"] == "Начать"
    got = await bot.get_my_commands(scope=BotCommandScopeAllGroupChats())
    assert [c.command for c in got] == ["stylize"]
    calls = fake.calls_of("setMyCommands")
    assert calls[0].params["scope"] == {"type": "all_private_chats"}
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])


async def test_wait_for_reports_recent_calls(fake: FakeTelegram, bot: Bot) -> None:
    chat = fake.private_chat(122)
    await bot.send_message(chat.id, "hello there")
    with pytest.raises(AssertionError, match=r"a photo(.|\n)*sendMessage"):
        fake.wait_for(lambda: fake.calls_of("sendPhoto"), timeout=0.2, what="a photo")
    assert fake.wait_for(lambda: fake.calls_of("sendMessage"), timeout=1)[0].params["text"] == "hello there"


async def test_minimal_application_polls_and_replies(fake: FakeTelegram) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        assert update.effective_message is not None and user is not None
        await update.effective_message.reply_text(f"Hi {user.first_name}!", do_quote=True)

    app = ApplicationBuilder().token(fake.token).base_url(fake.base_url).base_file_url(fake.base_file_url).build()
    app.add_handler(CommandHandler("start", start))
    chat = fake.private_chat(123, "Eve")
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        incoming = fake.send_text(chat, None, "/start")  # None: the private chat's user
        replies = await fake.wait_for_async(lambda: fake.bot_messages(chat.id), timeout=5, what="reply to /start")
        await app.updater.stop()
        await app.stop()
    assert replies[0]["text"] == "Hi Eve!"
    assert replies[0]["reply_to_message"]["message_id"] == incoming["message_id"]
    # The update was confirmed by the final getUpdates call with the next offset.
    assert fake.pending_updates() == []
    assert fake.calls_of("deleteWebhook")


BOT_SCRIPT = """
import sys
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

token, base_url, base_file_url, tag = sys.argv[1:5]


async def echo(update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message.photo:
        data = await (await message.photo[-1].get_file()).download_as_bytearray()
        await message.reply_document(bytes(data), filename="echo.png")
    else:
        await message.reply_text(f"{tag}: {message.text}")


app = ApplicationBuilder().token(token).base_url(base_url).base_file_url(base_file_url).build()
app.add_handler(MessageHandler(filters.ALL, echo))
app.run_polling(poll_interval=0, timeout=10)
"""


def test_bot_in_separate_process_survives_sigkill(fake: FakeTelegram, tmp_path: Path) -> None:
    script = tmp_path / "echo_bot.py"
    script.write_text(BOT_SCRIPT)
    chat = fake.private_chat(124)

    def spawn(tag: str) -> subprocess.Popen[bytes]:
        args = [sys.executable, str(script), fake.token, fake.base_url, fake.base_file_url, tag]
        return subprocess.Popen(args)

    first = spawn("A")
    try:
        fake.send_text(chat, None, "one")
        fake.wait_for(lambda: fake.bot_messages(chat.id), timeout=10, what="reply from the first process")
        # Kill it while its long poll is waiting; what is sent meanwhile must reach the next process.
        fake.wait_for(
            lambda: [c for c in fake.calls_of("getUpdates") if c.result is None and c.error is None],
            timeout=5,
            what="a waiting long poll",
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait(5)
        fake.send_text(chat, None, "two")
        png = make_png(120, 90)
        fake.send_photo(chat, None, png)
        second = spawn("B")
        try:
            messages = fake.wait_for(
                lambda: (m := fake.bot_messages(chat.id)) and len(m) >= 3 and m,
                timeout=10,
                what="replies from the second process",
            )
        finally:
            second.kill()
            second.wait(5)
    finally:
        first.kill()
    assert [m.get("text") for m in messages[:2]] == ["A: one", "B: two"]
    assert messages[2]["document"]["file_name"] == "echo.png"
    assert fake.message_file_bytes(messages[2]) == png
