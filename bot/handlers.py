"""Telegram handlers: parse the update, call the service, reply. Nothing else happens here."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import InputMediaPhoto, Message, Update
from telegram.constants import ChatAction
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import keyboards, texts
from bot.models import QueueFullError
from bot.presets import PresetError
from bot.service import IncomingImage, StyleService, UserFacingError, Who
from bot.telegram_io import FileTooLargeError
from engine.errors import InvalidImageError

log = logging.getLogger(__name__)
Context = ContextTypes.DEFAULT_TYPE
Handler = Callable[[Update, Context], Coroutine[Any, Any, None]]
GALLERY_CHUNK = 10  # Telegram's album limit


def service(context: Context) -> StyleService:
    """The service built in post_init."""
    return context.application.bot_data["service"]


def replies_errors(handler: Handler) -> Handler:
    """Turn expected bad input into a friendly reply; anything else goes to the error handler."""

    @functools.wraps(handler)
    async def wrapper(update: Update, context: Context) -> None:
        try:
            await handler(update, context)
        except (UserFacingError, PresetError, QueueFullError) as exc:
            await _reply(update, str(exc))
        except InvalidImageError as exc:
            await _reply(update, texts.CORRUPT_IMAGE.format(reason=exc))
        except FileTooLargeError as exc:
            await _reply(update, texts.TOO_LARGE.format(reason=exc))

    return wrapper


async def _reply(update: Update, text: str, **kwargs: Any) -> Message | None:
    """Answer in the same chat, quoting the user's message."""
    if update.callback_query is not None:
        await update.callback_query.answer(text[:200], show_alert=True)
        return None
    if update.effective_message is None:
        return None
    return await update.effective_message.reply_text(text, do_quote=True, **kwargs)


def _who(update: Update) -> Who:
    """Chat and user of an update."""
    chat, user = update.effective_chat, update.effective_user
    assert chat is not None and user is not None
    return Who(chat.id, user.id, user.first_name)


def incoming_image(message: Message) -> IncomingImage | None:
    """The image a message carries, as a photo or as a document."""
    if message.photo:
        photo = message.photo[-1]
        return IncomingImage(photo.file_id, message.message_id, photo.file_size, message.media_group_id)
    if message.document:
        doc = message.document
        return IncomingImage(
            doc.file_id,
            message.message_id,
            doc.file_size,
            message.media_group_id,
            mime_type=doc.mime_type or "application/octet-stream",
            file_name=doc.file_name or "",
        )
    return None


async def start(update: Update, context: Context) -> None:
    """/start: what to do, in two lines."""
    await _reply(update, texts.START)


async def help_command(update: Update, context: Context) -> None:
    """/help: the commands."""
    await _reply(update, texts.HELP)


@replies_errors
async def image(update: Update, context: Context) -> None:
    """A photo or image document: content, style, or a captioned one-shot request."""
    message = update.effective_message
    assert message is not None
    incoming = incoming_image(message)
    if incoming is None:
        return
    await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
    outcome = await service(context).receive_image(_who(update), incoming, message.caption)
    if outcome.kind == "ask_style":
        names = service(context).presets.names()
        await _reply(update, outcome.text, reply_markup=keyboards.presets(names) if names else None)


@replies_errors
async def callback(update: Update, context: Context) -> None:
    """Inline-keyboard taps: a preset or a setting."""
    query = update.callback_query
    assert query is not None and query.data is not None
    kind, *args = keyboards.parse(query.data)
    svc = service(context)
    if kind == keyboards.PRESET and args:
        outcome = await svc.pick_style(_who(update), args[0])
        await query.answer(outcome.text[:200] if outcome.kind == "default_set" else "Queued!")
    elif kind == keyboards.SETTING and len(args) == 2:
        settings = await svc.change_setting(_who(update).user_id, args[0], args[1])
        await query.answer(texts.SETTINGS_SAVED)
        await query.edit_message_reply_markup(keyboards.settings(settings))
    else:
        await query.answer()


@replies_errors
async def styles(update: Update, context: Context) -> None:
    """/styles: an album of thumbnails, then a keyboard."""
    presets = service(context).presets
    items = presets.all()
    if not items:
        await _reply(update, "No preset paintings are installed yet.")
        return
    chat_id = _who(update).chat_id
    media = [InputMediaPhoto(presets.thumbnail(p.name), caption=f"{p.name} – {p.label}") for p in items]
    for i in range(0, len(media), GALLERY_CHUNK):
        chunk = media[i : i + GALLERY_CHUNK]
        if len(chunk) == 1:
            await context.bot.send_photo(chat_id, chunk[0].media, caption=chunk[0].caption)
        else:
            await context.bot.send_media_group(chat_id, chunk)
    await _reply(update, texts.STYLES_HEADER, reply_markup=keyboards.presets([p.name for p in items]))


@replies_errors
async def style(update: Update, context: Context) -> None:
    """/style NAME [NAME:weight ...]: pick a preset (or blend) for the pending or next photo."""
    spec = " ".join(context.args or [])
    svc = service(context)
    if not spec:
        await _reply(update, texts.STYLES_HEADER, reply_markup=keyboards.presets(svc.presets.names()))
        return
    outcome = await svc.pick_style(_who(update), spec)
    if outcome.kind == "default_set":
        await _reply(update, outcome.text)


@replies_errors
async def settings(update: Update, context: Context) -> None:
    """/settings: the keyboard of the user's choices."""
    current = await service(context).get_settings(_who(update).user_id)
    await _reply(update, texts.SETTINGS, reply_markup=keyboards.settings(current))


@replies_errors
async def cancel(update: Update, context: Context) -> None:
    """/cancel: pending photo and active jobs."""
    await _reply(update, await service(context).cancel(_who(update)))


@replies_errors
async def status(update: Update, context: Context) -> None:
    """/status: the user's jobs."""
    await _reply(update, await service(context).status(_who(update)))


@replies_errors
async def addstyle(update: Update, context: Context) -> None:
    """/addstyle NAME as a reply to a photo (admins)."""
    message = update.effective_message
    assert message is not None
    target = message.reply_to_message
    incoming = incoming_image(target) if target is not None else None
    if not context.args or incoming is None:
        raise UserFacingError(texts.ADDSTYLE_USAGE)
    await _reply(update, await service(context).add_preset(_who(update).user_id, context.args[0], incoming))


@replies_errors
async def delstyle(update: Update, context: Context) -> None:
    """/delstyle NAME (admins)."""
    if not context.args:
        raise UserFacingError(texts.DELSTYLE_USAGE)
    await _reply(update, await service(context).remove_preset(_who(update).user_id, context.args[0]))


async def on_error(update: object, context: Context) -> None:
    """The one place unexpected errors go: log the traceback, tell the user their photo is kept."""
    log.error("unhandled error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await context.bot.send_message(update.effective_chat.id, texts.ERROR)
        except Exception:  # the error may be that Telegram is unreachable; the log has it
            log.warning("could not tell the user about the error")


COMMANDS: list[tuple[str, str, Handler]] = [
    ("start", "How to use the bot", start),
    ("help", "Commands", help_command),
    ("styles", "Preset paintings", styles),
    ("style", "Pick a painting: /style NAME", style),
    ("settings", "Quality, strength, colours", settings),
    ("status", "Your jobs", status),
    ("cancel", "Cancel what is pending or running", cancel),
]
ADMIN_COMMANDS: list[tuple[str, Handler]] = [("addstyle", addstyle), ("delstyle", delstyle)]


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Attach every handler to the application."""
    for name, _, handler in COMMANDS:
        app.add_handler(CommandHandler(name, handler))
    for name, handler in ADMIN_COMMANDS:
        app.add_handler(CommandHandler(name, handler))
    app.add_handler(MessageHandler((filters.PHOTO | filters.Document.ALL) & ~filters.COMMAND, image))
    app.add_handler(CallbackQueryHandler(callback))
    app.add_error_handler(on_error)
