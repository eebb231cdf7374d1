"""Tests of the fake Telegram Bot API server, driven through PTB's real ``telegram.Bot``."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
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
    InputMediaDocument,
    InputMediaPhoto,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

from testing.fake_telegram import (
    BOT_ID,
    CHANNEL_BOT_ID,
    DOWNLOAD,
    ERR_EDIT_NOT_FOUND,
    ERR_KICKED_GROUP,
    FakeTelegram,
)

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

    # Long poll returns early when an update arrives while it waits.
    polls = len(fake.calls_of("getUpdates"))
    t0 = time.monotonic()
    waiting = asyncio.create_task(bot.get_updates(offset=offset, timeout=10))
    await fake.wait_for_async(lambda: len(fake.calls_of("getUpdates")) > polls, 5, "the long poll")
    fake.send_text(chat, chat.user, "late")
    late = await waiting
    assert time.monotonic() - t0 < 3
    assert [u.message.text for u in late if u.message] == ["late"]


async def test_second_get_updates_terminates_waiting_one_with_conflict(fake: FakeTelegram, bot: Bot) -> None:
    async with Bot(fake.token, base_url=fake.base_url) as other:
        polls = len(fake.calls_of("getUpdates"))
        waiting = asyncio.create_task(bot.get_updates(timeout=5))
        await fake.wait_for_async(lambda: len(fake.calls_of("getUpdates")) > polls, 5, "the first long poll")
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
    sent = await bot.send_photo(chat.id, photo=png, caption="Done & dusted")
    assert sent.caption == "Done & dusted"
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
            InputMediaPhoto(first, caption="Before"),
            InputMediaPhoto(second),
            InputMediaPhoto(existing.file_id),
        ],
    )
    assert len(messages) == 3
    assert len({m.media_group_id for m in messages}) == 1
    assert messages[0].caption == "Before"
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
    with pytest.raises(BadRequest, match=r"parses no markup"):  # the bot sends plain text only
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


@pytest.mark.slow  # starts a process
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


# --------------------------------------------------------------------------------------------------
# Fault injection and more update kinds
# --------------------------------------------------------------------------------------------------


def raw_call(fake: FakeTelegram, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
    """A Bot API call without PTB: HTTP status and decoded JSON body."""
    request = urllib.request.Request(
        f"{fake.base_url}{fake.token}/{method}",
        data=json.dumps(params).encode(),
        headers={"Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


async def test_fault_error_bodies_are_telegrams(fake: FakeTelegram, bot: Bot) -> None:
    chat = fake.private_chat(300)
    fake.fault("sendMessage", error_code=429, retry_after=20, times=2)
    assert raw_call(fake, "sendMessage", chat_id=chat.id, text="hi") == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 20",
            "parameters": {"retry_after": 20},
        },
    )
    with pytest.raises(RetryAfter) as retry:
        await bot.send_message(chat.id, "hi")
    assert seconds(retry.value.retry_after) == 20

    expected: list[tuple[int, str | None, str, type[TelegramError]]] = [
        (403, None, "Forbidden: bot was blocked by the user", Forbidden),
        (403, ERR_KICKED_GROUP, "Forbidden: bot was kicked from the group chat", Forbidden),
        (400, ERR_EDIT_NOT_FOUND, "Bad Request: message to edit not found", BadRequest),
        (502, None, "Bad Gateway", NetworkError),
        (500, None, "Internal Server Error", NetworkError),
    ]
    for code, description, body_description, exc_type in expected:
        with fake.fault("sendMessage", error_code=code, description=description, times=2):
            assert raw_call(fake, "sendMessage", chat_id=chat.id, text="hi") == (
                code,
                {"ok": False, "error_code": code, "description": body_description},
            )
            with pytest.raises(exc_type) as info:
                await bot.send_message(chat.id, "hi")
            assert type(info.value) is exc_type
            assert body_description.removeprefix("Bad Request: ").lower() in info.value.message.lower()
    # A raw (non-JSON) body, like nginx's 502 page.
    fake.fault("getMe", error_code=502, raw_body=b"<html>502 Bad Gateway</html>", times=1)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.get_me()
    assert (await bot.send_message(chat.id, "hi")).text == "hi"


async def test_fault_rules_last_and_filter(fake: FakeTelegram, bot: Bot) -> None:
    alice, bob = fake.private_chat(301), fake.private_chat(302)
    rule = fake.fault("SendMessage", error_code=403, chat_id=alice.id)  # method names are case-insensitive
    for _ in range(3):  # times=None: until removed
        with pytest.raises(Forbidden):
            await bot.send_message(alice.id, "hi")
    assert (await bot.send_message(bob.id, "hi")).text == "hi"  # other chats are not affected
    assert await bot.send_chat_action(alice.id, "typing")  # nor other methods
    assert rule.hits == 3 and rule.active
    rule.remove()
    assert not rule.active
    assert (await bot.send_message(alice.id, "back")).text == "back"

    counted = fake.fault("*", error_code=500, times=2)  # "*": any method
    with pytest.raises(NetworkError):
        await bot.send_chat_action(bob.id, "typing")
    with pytest.raises(NetworkError):
        await bot.get_me()
    assert not counted.active
    await bot.get_me()

    brief = fake.fault("sendMessage", error_code=429, retry_after=3, duration_s=0.4)
    with pytest.raises(RetryAfter):
        await bot.send_message(bob.id, "hi")
    await fake.wait_for_async(lambda: not brief.active, 5, "the fault's 0.4 s to pass")
    assert (await bot.send_message(bob.id, "later")).text == "later"

    fake.fault("sendMessage", error_code=500)
    fake.fail_next("sendMessage", error_code=400, description="Bad Request: chat not found")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):  # fail_next comes first
        await bot.send_message(bob.id, "hi")
    with pytest.raises(NetworkError):
        await bot.send_message(bob.id, "hi")
    fake.clear_faults()
    assert (await bot.send_message(bob.id, "ok")).text == "ok"
    with pytest.raises(ValueError, match="error_code, a delay"):
        fake.fault("sendMessage")


async def test_delay_is_per_call(fake: FakeTelegram, bot: Bot) -> None:
    slow_chat, fast_chat = fake.private_chat(303), fake.private_chat(304)
    fake.fault("sendMessage", delay=1.5, chat_id=slow_chat.id)
    t0 = time.monotonic()
    slow = asyncio.create_task(bot.send_message(slow_chat.id, "slow"))
    await fake.wait_for_async(  # once it has arrived, the slow call sleeps in its handler thread
        lambda: [c for c in fake.calls_of("sendMessage") if c.params["chat_id"] == slow_chat.id], 5, "the slow call"
    )
    fast = await bot.send_message(fast_chat.id, "fast")
    fast_done = time.monotonic() - t0
    assert fast.text == "fast" and fast_done < 1.2
    assert not slow.done()
    assert (await slow).text == "slow"
    assert 1.4 < time.monotonic() - t0 < 6
    (slow_call,) = [c for c in fake.calls_of("sendMessage") if c.params["chat_id"] == slow_chat.id]
    assert slow_call.duration is not None and slow_call.duration >= 1.4
    (fast_call,) = [c for c in fake.calls_of("sendMessage") if c.params["chat_id"] == fast_chat.id]
    assert fast_call.duration is not None and fast_call.duration < 1.0

    # A delay with an error: slow, then the error.
    fake.fault("sendPhoto", error_code=502, delay=0.5, times=1)
    t0 = time.monotonic()
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_photo(fast_chat.id, photo=make_png(20, 20))
    assert 0.4 < time.monotonic() - t0 < 5


async def test_delay_beyond_read_timeout_is_a_timeout(fake: FakeTelegram, bot: Bot) -> None:
    chat = fake.private_chat(305)
    fake.fault("sendMessage", delay=1.5, times=1)
    t0 = time.monotonic()
    with pytest.raises(TimedOut):
        await bot.send_message(chat.id, "are you there?", read_timeout=0.5)
    assert time.monotonic() - t0 < 1.4
    # As with Telegram, the held request is still carried out: the bot's retry would be a duplicate.
    assert fake.bot_messages(chat.id) == []
    message = await fake.wait_for_async(lambda: fake.bot_messages(chat.id), timeout=5, what="the late message")
    assert message[0]["text"] == "are you there?"


async def test_slow_download_of_one_file(fake: FakeTelegram, bot: Bot) -> None:
    alice, bob = fake.private_chat(306), fake.private_chat(307)
    slow_png, fast_png = make_png(60, 40), make_png(40, 60)
    slow_id = fake.send_photo(alice, None, slow_png)["photo"][-1]["file_id"]
    fast_id = fake.send_photo(alice, None, fast_png)["photo"][-1]["file_id"]
    rule = fake.delay_download(1.5, file_id=slow_id)
    slow_file, fast_file = await bot.get_file(slow_id), await bot.get_file(fast_id)  # getFile is not slowed
    t0 = time.monotonic()
    slow = asyncio.create_task(slow_file.download_as_bytearray())
    await fake.wait_for_async(lambda: fake.downloads, 5, "the slow download")  # now sleeping in its thread
    assert bytes(await fast_file.download_as_bytearray()) == fast_png
    assert time.monotonic() - t0 < 1.2 and not slow.done()
    assert bytes(await slow) == slow_png
    assert time.monotonic() - t0 >= 1.4
    assert rule.hits == 1
    slow_dl, fast_dl = fake.downloads  # in arrival order, with their answer times
    assert (slow_dl.params["file_id"], fast_dl.params["file_id"]) == (slow_id, fast_id)
    assert slow_dl.finished is not None and fast_dl.finished is not None and fast_dl.finished < slow_dl.finished
    rule.remove()

    # Per chat: files users sent in that chat; a delay past the read timeout times out.
    bob_id = fake.send_photo(bob, None, make_png(30, 30))["photo"][-1]["file_id"]
    fake.delay_download(2.0, chat_id=bob.id)
    assert bytes(await (await bot.get_file(slow_id)).download_as_bytearray()) == slow_png
    with pytest.raises(TimedOut):
        await (await bot.get_file(bob_id)).download_as_bytearray(read_timeout=0.5)
    # Download errors and getFile faults keyed by the file's chat.
    fake.clear_faults()
    fake.fault(DOWNLOAD, error_code=502, file_id=slow_id, times=1)
    with pytest.raises(NetworkError):
        await (await bot.get_file(slow_id)).download_as_bytearray()
    fake.fault("getFile", error_code=500, chat_id=bob.id, times=1)
    with pytest.raises(NetworkError):
        await bot.get_file(bob_id)
    assert (await bot.get_file(slow_id)).file_size == len(slow_png)


async def test_blocked_user_stays_blocked_until_the_test_says(fake: FakeTelegram, bot: Bot) -> None:
    chat = fake.private_chat(310, "Frank")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="go")]])
    text_msg = await bot.send_message(chat.id, "menu", reply_markup=keyboard)
    photo_msg = await bot.send_photo(chat.id, photo=make_png(30, 30))
    query_id = fake.press_button(chat, None, fake.bot_messages(chat.id)[0], "go")
    fake.set_blocked(chat.id, notify=True)

    press, update = await bot.get_updates(timeout=0)
    assert press.callback_query is not None
    assert update.my_chat_member is not None
    assert update.my_chat_member.new_chat_member.status == "kicked"
    assert update.my_chat_member.old_chat_member.status == "member"
    assert update.my_chat_member.from_user.id == chat.id
    attempts = [
        bot.send_message(chat.id, "hi"),
        bot.send_photo(chat.id, photo=make_png(20, 20)),
        bot.send_document(chat.id, document=b"data", filename="a.bin"),
        bot.send_media_group(chat.id, [InputMediaPhoto(make_png(20, 20)), InputMediaPhoto(make_png(21, 21))]),
        bot.send_chat_action(chat.id, "upload_photo"),
        bot.edit_message_text("changed", chat.id, text_msg.message_id),
        bot.edit_message_caption(chat.id, photo_msg.message_id, caption="x"),
        bot.edit_message_media(InputMediaPhoto(make_png(22, 22)), chat.id, photo_msg.message_id),
        bot.answer_callback_query(query_id),
    ]
    for attempt in attempts:
        with pytest.raises(Forbidden) as info:
            await attempt
        assert info.value.message == "Forbidden: bot was blocked by the user"

    fake.send_text(chat, None, "/start")  # writing again does not unblock by itself
    with pytest.raises(Forbidden, match="blocked"):
        await bot.send_message(chat.id, "welcome back")
    fake.set_blocked(chat.id, False)
    assert (await bot.send_message(chat.id, "welcome back")).text == "welcome back"
    assert await bot.delete_message(chat.id, text_msg.message_id)


async def test_kicked_from_groups(fake: FakeTelegram, bot: Bot) -> None:
    supergroup = fake.group_chat(311, "Super")
    basic = fake.group_chat(312, "Basic", basic=True)
    assert (supergroup.id, basic.id, basic.type) == (-100311, -312, "group")
    admin = fake.user(313, "Grace")
    sent = await bot.send_message(supergroup.id, "hello")
    fake.set_kicked(supergroup.id, by=admin, notify=True)
    fake.set_kicked(basic.id)
    (update,) = await bot.get_updates(timeout=0)
    assert update.my_chat_member is not None
    assert update.my_chat_member.chat.id == supergroup.id
    assert update.my_chat_member.from_user.id == admin.id
    assert update.my_chat_member.new_chat_member.status == "kicked"
    with pytest.raises(Forbidden, match=r"^Forbidden: bot was kicked from the supergroup chat$"):
        await bot.send_message(supergroup.id, "hi")
    with pytest.raises(Forbidden, match="kicked from the supergroup chat"):
        await bot.edit_message_text("x", supergroup.id, sent.message_id)
    with pytest.raises(Forbidden, match="kicked from the supergroup chat"):
        await bot.delete_message(supergroup.id, sent.message_id)
    with pytest.raises(Forbidden) as info:
        await bot.send_photo(basic.id, photo=make_png(20, 20))
    assert info.value.message == ERR_KICKED_GROUP
    fake.set_kicked(supergroup.id, False)
    assert (await bot.send_message(supergroup.id, "back")).text == "back"


async def test_no_media_rights_in_a_group(fake: FakeTelegram, bot: Bot) -> None:
    group = fake.group_chat(314)
    earlier = await bot.send_photo(group.id, photo=make_png(30, 30))
    fake.set_no_media(group.id)
    photos = "Not enough rights to send photos to the chat"
    attempts = [
        (bot.send_photo(group.id, photo=make_png(20, 20)), photos),
        (
            bot.send_document(group.id, document=b"x", filename="a.txt"),
            "Not enough rights to send documents to the chat",
        ),
        (bot.send_animation(group.id, animation=make_gif()), "Not enough rights to send animations to the chat"),
        (bot.send_media_group(group.id, [InputMediaPhoto(make_png()), InputMediaPhoto(make_png())]), photos),
        (
            bot.send_media_group(group.id, [InputMediaDocument(b"a"), InputMediaDocument(b"b")]),
            "Not enough rights to send documents to the chat",
        ),
        (bot.edit_message_media(InputMediaPhoto(make_png(25, 25)), group.id, earlier.message_id), photos),
    ]
    for attempt, message in attempts:
        with pytest.raises(BadRequest) as info:
            await attempt
        assert info.value.message == message  # PTB drops the "Bad Request: " prefix
    assert fake.calls_of("sendPhoto")[-1].error == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: not enough rights to send photos to the chat",
    }
    assert (await bot.send_message(group.id, "text still works")).text == "text still works"
    assert await bot.edit_message_caption(group.id, earlier.message_id, caption="captions too")
    fake.set_no_media(group.id, False)
    assert (await bot.send_photo(group.id, photo=make_png(20, 20))).photo


async def test_edited_message_and_channel_posts(fake: FakeTelegram, bot: Bot) -> None:
    chat = fake.private_chat(320)
    original = fake.send_text(chat, None, "/stylize mosaic")
    photo = fake.send_photo(chat, None, make_png(40, 40), caption="first")
    fake.edit_message(chat, None, original["message_id"], new_text="/stylize wave")
    fake.edit_message(chat, None, photo["message_id"], new_caption="/stylize candy")
    channel = fake.channel_chat(321, "Art feed")
    assert channel.id == -100321 and channel.type == "channel"
    post = fake.channel_post(channel, photo=make_png(50, 50), caption="new painting", author_signature="Ann")
    fake.channel_post(channel, text="hello subscribers")
    fake.edit_message(channel, None, post["message_id"], new_caption="renamed")

    updates = await bot.get_updates(timeout=0)
    assert [next(k for k, v in u.to_dict().items() if k != "update_id" and v) for u in updates] == [
        "message",
        "message",
        "edited_message",
        "edited_message",
        "channel_post",
        "channel_post",
        "edited_channel_post",
    ]
    edited = updates[2].edited_message
    assert edited is not None and edited.text == "/stylize wave" and edited.edit_date is not None
    assert edited.message_id == original["message_id"] and edited.entities[0].type == "bot_command"
    assert updates[3].edited_message is not None and updates[3].edited_message.caption == "/stylize candy"
    posted = updates[4].channel_post
    assert posted is not None and posted.chat.type == "channel" and posted.chat.title == "Art feed"
    assert posted.from_user is None and posted.sender_chat is not None and posted.sender_chat.id == channel.id
    assert posted.photo and posted.caption == "new painting" and posted.author_signature == "Ann"
    assert updates[5].channel_post is not None and updates[5].channel_post.text == "hello subscribers"
    assert updates[6].edited_channel_post is not None and updates[6].edited_channel_post.caption == "renamed"
    assert fake.message(chat.id, original["message_id"])["text"] == "/stylize wave"  # type: ignore[index]
    # The bot can download a channel photo and answer in the channel.
    assert bytes(await (await bot.get_file(posted.photo[-1].file_id)).download_as_bytearray()) == (
        fake.message_file_bytes(post)
    )
    assert (await bot.send_message(channel.id, "styled")).chat.type == "channel"
    assert fake.bot_messages(channel.id)[0]["text"] == "styled"
    with pytest.raises(ValueError, match="exactly one"):
        fake.edit_message(chat, None, original["message_id"])


async def test_group_messages_as_channel_or_anonymous_admin(fake: FakeTelegram, bot: Bot) -> None:
    group = fake.group_chat(322, "Artists")
    channel = fake.channel_chat(323, "Linked")
    fake.send_text(group, None, "/start@stylebot_test_bot", sender_chat=channel)
    fake.send_photo(group, None, make_png(40, 40), caption="/stylize", sender_chat=group)
    fake.send_document(group, None, b"%PDF", file_name="a.pdf", mime_type="application/pdf", sender_chat=group)
    images = [make_png(20 + k, 20) for k in range(10)]
    album = fake.send_album(group, None, images, caption="/stylize mosaic", sender_chat=channel)
    assert len(album) == 10 and len({m["media_group_id"] for m in album}) == 1
    assert "caption" in album[0] and all("caption" not in m for m in album[1:])

    raw = await bot.get_updates(timeout=0)
    updates = [u.message for u in raw]
    as_channel, anonymous = updates[0], updates[1]
    assert as_channel is not None and as_channel.from_user is not None and anonymous is not None
    assert as_channel.from_user.id == CHANNEL_BOT_ID and as_channel.from_user.username == "Channel_Bot"
    assert as_channel.sender_chat is not None and as_channel.sender_chat.id == channel.id
    assert as_channel.sender_chat.type == "channel"
    assert anonymous.from_user is not None and anonymous.from_user.id == 1087968824
    assert anonymous.from_user.username == "GroupAnonymousBot"
    assert anonymous.sender_chat is not None and anonymous.sender_chat.id == group.id
    # Privacy mode: the document (no command) is hidden; of the album only the captioned first photo arrives.
    assert len(updates) == 3
    first = updates[2]
    assert (
        first is not None and first.caption == "/stylize mosaic" and first.media_group_id == album[0]["media_group_id"]
    )
    assert len(fake.undelivered) == 10  # the document and nine captionless album photos

    fake.set_admin(group.id, BOT_ID)  # privacy mode off there: the whole album arrives
    fake.send_album(group, None, images, sender_chat=group)
    album_updates = await bot.get_updates(offset=raw[-1].update_id + 1, timeout=0)
    assert len(album_updates) == 10
    downloaded = []
    for u in album_updates:
        assert u.message is not None and u.message.caption is None
        downloaded.append(bytes(await (await bot.get_file(u.message.photo[-1].file_id)).download_as_bytearray()))
    assert downloaded == images
    for bad in ([make_png()], [make_png()] * 11):
        with pytest.raises(ValueError, match="2-10"):
            fake.send_album(group, None, bad)
    with pytest.raises(ValueError, match="sender_chat"):
        fake.send_text(group, None, "hi", sender_chat=fake.group_chat(324))


async def test_forum_topics_deleted_replies_and_automatic_forwards(fake: FakeTelegram, bot: Bot) -> None:
    forum, member = fake.forum_chat(326, "Forum"), fake.user(327, "Ola")
    topic = fake.create_topic(forum, "Cats")
    photo = fake.send_photo(forum, member, make_png(40, 40), thread_id=topic)
    assert photo["message_thread_id"] == topic and photo["is_topic_message"] is True
    assert photo["reply_to_message"]["forum_topic_created"]["name"] == "Cats"  # Telegram's topic quirk
    command = fake.send_text(forum, member, "/stylize", reply_to=photo["message_id"])
    assert command["message_thread_id"] == topic  # a reply stays in the topic of what it answers
    [update] = await bot.get_updates(timeout=0)
    assert update.message is not None and update.message.is_topic_message and update.message.chat.is_forum
    reply = await bot.send_message(forum.id, "in the topic", reply_to_message_id=photo["message_id"])
    assert reply.message_thread_id == topic
    fake.delete_message(forum, photo["message_id"])
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_message(forum.id, "lost", reply_to_message_id=photo["message_id"])
    general = await bot.send_message(
        forum.id, "sent anyway", reply_to_message_id=photo["message_id"], allow_sending_without_reply=True
    )
    assert general.message_thread_id is None and general.reply_to_message is None  # General: the topic is lost
    named = await bot.send_message(
        forum.id, "named", reply_to_message_id=photo["message_id"], allow_sending_without_reply=True,
        message_thread_id=topic,
    )  # fmt: skip
    assert named.message_thread_id == topic and fake.message(forum.id, named.message_id)["message_thread_id"] == topic
    with pytest.raises(BadRequest, match=r"(?i)message thread not found"):
        await bot.send_message(forum.id, "nowhere", message_thread_id=topic + 100)
    picture = await bot.send_photo(forum.id, make_png(), message_thread_id=topic)
    with pytest.raises(BadRequest, match=r"(?i)there is no text in the message to edit"):
        await bot.edit_message_text("words", forum.id, picture.message_id)

    group, channel = fake.group_chat(328, "Discussion"), fake.channel_chat(329, "News")
    fake.auto_forward(channel, group, text="/forget")
    updates = await bot.get_updates(offset=update.update_id + 1, timeout=0)
    assert [u.channel_post is not None for u in updates] == [True, False]
    forwarded = updates[1].message
    assert forwarded is not None and forwarded.is_automatic_forward and forwarded.text == "/forget"
    assert forwarded.sender_chat is not None and forwarded.sender_chat.id == channel.id
    assert forwarded.from_user is not None and forwarded.from_user.id == 777000


async def test_a_file_can_declare_less_than_it_has(fake: FakeTelegram, bot: Bot) -> None:
    chat = fake.private_chat(330)
    data = make_png() + bytes(50_000)
    message = fake.send_document(chat, None, data, file_name="a.png", mime_type="image/png", declared_size=1024)
    assert message["document"]["file_size"] == 1024
    file = await bot.get_file(message["document"]["file_id"])
    assert file.file_size == 1024
    assert bytes(await file.download_as_bytearray()) == data  # served whole, whatever it declared


async def test_forged_callback_data(fake: FakeTelegram, bot: Bot) -> None:
    chat = fake.private_chat(325)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Again", callback_data="r|again|12")]])
    await bot.send_message(chat.id, "Done", reply_markup=keyboard)
    menu = fake.bot_messages(chat.id)[0]
    forged = ["r|again|abc", "m|", "s|quality|ultra", "x" * 64]
    ids = [fake.press_button(chat, None, menu, data=data) for data in forged]
    plain = fake.send_text(chat, None, "no keyboard here")
    ids.append(fake.press_button(chat, None, plain, data="p|dots"))  # even on a message without buttons
    updates = await bot.get_updates(timeout=0)
    assert [u.callback_query.data for u in updates[:4]] == forged  # type: ignore[union-attr]
    assert [u.callback_query.id for u in updates if u.callback_query] == ids
    assert await bot.answer_callback_query(ids[0], text="That button has expired")
    with pytest.raises(ValueError, match="no button"):
        fake.press_button(chat, None, menu, "r|again|abc")
    with pytest.raises(ValueError, match="callback_data"):
        fake.press_button(chat, None, menu)


async def test_first_reply_after_measures_reply_time(fake: FakeTelegram) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("Hello!")

    app = ApplicationBuilder().token(fake.token).base_url(fake.base_url).base_file_url(fake.base_file_url).build()
    app.add_handler(CommandHandler("start", start))
    alice, bob = fake.private_chat(326, "Alice"), fake.private_chat(327, "Bob")
    fake.fault("sendMessage", delay=1.0, chat_id=bob.id)  # replies to Bob are slow
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        t0 = time.time()
        assert fake.first_reply_after(alice.id, t0) is None
        fake.send_text(alice, None, "/start")
        fake.send_text(bob, None, "/start")
        to_alice = await fake.wait_for_async(lambda: fake.first_reply_after(alice.id, t0), 10, "reply to Alice")
        to_bob = await fake.wait_for_async(lambda: fake.first_reply_after(bob.id, t0), 10, "reply to Bob")
        await app.updater.stop()
        await app.stop()
    assert to_alice.result["text"] == "Hello!" and to_alice.result["chat"]["id"] == alice.id
    assert to_alice.finished is not None and to_alice.finished - t0 < 0.9
    assert to_bob.finished is not None and to_bob.finished - t0 >= 0.95
    assert to_bob.duration is not None and to_bob.duration >= 0.95
    assert fake.first_reply_after(alice.id, time.time() + 1) is None


async def test_post_update_to_webhook(fake: FakeTelegram) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            """Record the update; 403 without the right secret, as a webhook should answer."""
            secret = self.headers.get("X-Telegram-Bot-Api-Secret-Token")
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((secret, body))
            self.send_response(200 if secret == "s3cret" else 403)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Silence logging."""

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/webhook"
        chat = fake.private_chat(328)
        fake.send_text(chat, None, "/start")
        (update,) = fake.take_updates()
        assert fake.pending_updates() == []
        status = await asyncio.to_thread(fake.post_update_to, url, update, "s3cret")
        assert status == 200
        assert await asyncio.to_thread(fake.post_update_to, url, update, "wrong") == 403
        assert await asyncio.to_thread(fake.post_update_to, url, update) == 403
    finally:
        server.shutdown()
        server.server_close()
    assert [secret for secret, _ in received] == ["s3cret", "wrong", None]
    parsed = Update.de_json(received[0][1], None)
    assert parsed.message is not None and parsed.message.text == "/start"
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        fake.post_update_to("http://example.com/hook", update)
