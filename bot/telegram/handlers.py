"""Telegram handlers: parse the update, call the service, reply. Nothing else happens here."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from telegram import (
    CallbackQuery,
    InlineQueryResult,
    InlineQueryResultArticle,
    InlineQueryResultCachedPhoto,
    InputMediaPhoto,
    InputTextMessageContent,
    Message,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.core.errors import UserFacingError, problem_of
from bot.core.messages import Msg
from bot.core.models import Job, MediaKind
from bot.ops.chart import usage_chart
from bot.ops.report import usage_report
from bot.presets.library import PresetError, UnknownPresetError, default_title
from bot.service import IncomingImage, Outcome, StyleService, Who
from bot.telegram import callback_data, i18n, keyboards, texts
from bot.telegram.callback_data import (
    AddSticker,
    ChooseLanguage,
    ForgedCallbackError,
    GroupCap,
    MakingOf,
    PickPreset,
    Remix,
    Setting,
)
from bot.telegram.i18n import N_
from bot.telegram.state import REFUSAL_WINDOW_S, App, Context
from bot.telegram.sticker_sets import PACK, StickerSets, input_sticker
from engine.errors import InvalidImageError

log = logging.getLogger(__name__)
Handler = Callable[[Update, Context], Coroutine[Any, Any, None]]
GALLERY_CHUNK = 10  # Telegram's album limit
# Refusals every photo of a flood would get alike: one reply per chat per window (state.REFUSAL_WINDOW_S).
FLOOD_REFUSALS = frozenset({Msg.USER_CAP, Msg.BUSY, Msg.CLUSTER_BUSY, Msg.TOO_MANY_IMAGES})


def service(context: Context) -> StyleService:
    """The service built in post_init."""
    return context.bot_data.running.service


def replies_errors(handler: Handler) -> Handler:
    """Turn expected bad input into a friendly reply; anything else goes to the error handler."""

    @functools.wraps(handler)
    async def wrapper(update: Update, context: Context) -> None:
        try:
            await handler(update, context)
        except UserFacingError as exc:
            if _hushed(update, context, exc):
                return
            await _reply(update, texts.render(exc, await _lang(update, context)))
        except UnknownPresetError as exc:
            owner = _who(update).user_id if update.effective_chat and update.effective_chat.id < 0 else None
            markup = keyboards.did_you_mean(exc.suggestions, owner, exc.titles) if exc.suggestions else None
            await _reply(update, texts.preset_error(exc, await _lang(update, context)), reply_markup=markup)
        except PresetError as exc:
            await _reply(update, texts.preset_error(exc, await _lang(update, context)))
        except InvalidImageError as exc:  # an image for a preset (/addstyle): worded from its kind, not the engine's
            await _reply(update, texts.unusable(problem_of(exc), await _lang(update, context)))
        except ForgedCallbackError:
            await _reply(update, texts.say(Msg.BUTTON_GONE, await _lang(update, context)))

    return wrapper


def _hushed(update: Update, context: Context, exc: UserFacingError) -> bool:
    """A flood's refusal in a chat already told one within the window: logged, not said again."""
    chat = update.effective_chat
    if exc.key not in FLOOD_REFUSALS or update.callback_query is not None or chat is None:
        return False  # a tap is always answered: its button spins until it is
    if context.bot_data.refusals.allow(chat.id):
        return False
    log.info("not repeating %s in chat %d (told within the last %g s)", exc.key, chat.id, REFUSAL_WINDOW_S)
    return True


async def _reply(update: Update, text: str, **kwargs: Any) -> Message | None:
    """Answer in the same chat, quoting the user's message."""
    if update.callback_query is not None:
        await update.callback_query.answer(text[:200], show_alert=True)
        return None
    message = update.effective_message
    if message is None:
        return None
    return await message.reply_text(text, **kwargs)


async def _say(update: Update, context: Context, outcome: Outcome) -> None:
    """Reply with what the outcome names, if anything."""
    if outcome.key:
        await _reply(update, texts.say(outcome.key, await _lang(update, context), **outcome.values))


async def _lang(update: Update, context: Context) -> str:
    """The reader's language: the one they chose with /language, else their Telegram app's, else English."""
    try:
        who = _who(update)
    except UserFacingError:  # no sender: nobody's choice to look up
        return i18n.language_of(update)
    return i18n.pick(await service(context).language(who))


def _who(update: Update) -> Who:
    """Chat and sender of an update; a channel or an anonymous admin is identified by its sender_chat."""
    chat, user = update.effective_chat, update.effective_user
    message = update.effective_message
    is_group = chat is not None and chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)
    chat_id = chat.id if chat is not None else (user.id if user is not None else 0)
    thread_id = _topic(message)
    if message is not None and message.sender_chat is not None:
        sender = message.sender_chat
        return Who(chat_id, sender.id, sender.title or sender.username, is_group=is_group, thread_id=thread_id)
    if user is None:
        raise UserFacingError(Msg.NEED_CONTENT)
    return Who(chat_id, user.id, user.first_name, is_group=is_group, language=user.language_code, thread_id=thread_id)


def _topic(message: object) -> int | None:
    """The forum topic a message is in; None outside forums and in General (a reply chain is no topic)."""
    if isinstance(message, Message) and message.is_topic_message:
        return message.message_thread_id
    return None


async def seen(update: Update, context: Context) -> None:
    """Every update from a person first: a chat that blocked the bot and writes again can be answered."""
    if update.effective_chat is not None and update.effective_chat.type != ChatType.CHANNEL:
        await service(context).seen(_who(update))


async def migrated(update: Update, context: Context) -> None:
    """A group became a supergroup (Telegram says so in both chats): its jobs and settings follow it."""
    message = update.effective_message
    if message is None:
        return
    if message.migrate_to_chat_id is not None:
        await service(context).chat_migrated(message.chat_id, message.migrate_to_chat_id)
    elif message.migrate_from_chat_id is not None:
        await service(context).chat_migrated(message.migrate_from_chat_id, message.chat_id)


def incoming_image(message: Message) -> IncomingImage | None:
    """The image or clip a message carries: a photo, a GIF, a video, a video note, a sticker, or a document."""
    if message.photo:
        photo = message.photo[-1]
        return IncomingImage(photo.file_id, message.message_id, photo.file_size, message.media_group_id)
    clip = incoming_clip(message)
    if clip is not None:
        return clip
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


def incoming_clip(message: Message) -> IncomingImage | None:
    """A clip, painted and sent back as the same kind (animations first: a GIF is also a document)."""
    found: tuple[str, int | None, MediaKind] | None = None
    if message.animation is not None:
        found = message.animation.file_id, message.animation.file_size, "animation"
    elif message.video is not None:
        found = message.video.file_id, message.video.file_size, "video"
    elif message.video_note is not None:
        found = message.video_note.file_id, message.video_note.file_size, "video_note"
    elif message.sticker is not None:
        sticker = message.sticker
        # An animated (Lottie) sticker cannot be painted as vectors: it comes back as a video sticker.
        media: MediaKind = "video_sticker" if sticker.is_video or sticker.is_animated else "sticker"
        found = sticker.file_id, sticker.file_size, media
    elif message.document is not None and _is_gif(message.document.mime_type, message.document.file_name):
        found = message.document.file_id, message.document.file_size, "animation"
    if found is None:
        return None
    file_id, size, kind = found
    return IncomingImage(file_id, message.message_id, size, message.media_group_id, media=kind)


def _is_gif(mime_type: str | None, file_name: str | None) -> bool:
    """A real GIF file sent as a document (old or large GIFs arrive so): painted as an animation."""
    return (mime_type or "").lower() == "image/gif" or (file_name or "").lower().endswith(".gif")


async def start(update: Update, context: Context) -> None:
    """/start: what to do, in two lines (and, if painting is down, that it is)."""
    down, lang = service(context).unavailable(), await _lang(update, context)
    await _reply(update, texts.say(Msg.START, lang) + (f"\n\n{texts.say(down, lang)}" if down else ""))


async def help_command(update: Update, context: Context) -> None:
    """/help: the commands."""
    await _reply(update, texts.say(Msg.HELP, await _lang(update, context), bot=context.bot.username))


@replies_errors
async def image(update: Update, context: Context) -> None:
    """A photo or image document: content, style, or a captioned one-shot request."""
    message = update.effective_message
    assert message is not None
    incoming = incoming_image(message)
    if incoming is None:
        return
    spec = _stylize_args(message.caption or "", context.bot.username)
    if spec is not None:  # a photo captioned /stylize: the style for the replied photo, or content + presets
        target = incoming_image(message.reply_to_message) if message.reply_to_message else None
        if target is not None:
            outcome = await service(context).stylize_reply(_who(update), target, spec, style=incoming)
        else:
            outcome = await service(context).stylize_reply(_who(update), incoming, spec)
    else:
        reply_to = message.reply_to_message.message_id if message.reply_to_message else None
        outcome = await service(context).receive_image(_who(update), incoming, message.caption, reply_to)
    await _ask_style_if_needed(update, context, outcome)


async def _ask_style_if_needed(update: Update, context: Context, outcome: Outcome) -> None:
    """Show the preset keyboard when the service waits for a style (owned by the user in groups)."""
    if outcome.kind != "ask_style":
        await _say(update, context, outcome) if outcome.kind in ("said", "started") else None
        return
    who, lang = _who(update), await _lang(update, context)
    owner = who.user_id if who.is_group else None
    misspelt = outcome.misspelt
    assert outcome.key is not None, "a question for a style always says something"
    if misspelt is not None:  # only the paintings the caption nearly named, not the whole list
        text = texts.say(outcome.key, lang, titles=texts.suggested_titles(misspelt, lang))
        await _reply(update, text, reply_markup=keyboards.did_you_mean(misspelt.suggestions, owner, misspelt.titles))
        return
    names = service(context).preset_names()
    text = texts.say(outcome.key, lang, **outcome.values)
    await _reply(update, text, reply_markup=keyboards.presets(names, owner) if names else None)


def _stylize_args(caption: str, bot_username: str) -> str | None:
    """The arguments of a '/stylize[@bot] ...' caption, or None if it is not one addressed to us."""
    match = STYLIZE_CAPTION.match(caption)
    if match is None or (match.group(1) and match.group(1).lower() != bot_username.lower()):
        return None
    return (match.group(2) or "").strip()


@replies_errors
async def stylize(update: Update, context: Context) -> None:
    """/stylize [NAME ...] in reply to a photo."""
    message = update.effective_message
    assert message is not None
    target = incoming_image(message.reply_to_message) if message.reply_to_message else None
    if target is None:
        raise UserFacingError(Msg.STYLIZE_USAGE)
    outcome = await service(context).stylize_reply(_who(update), target, " ".join(context.args or []))
    await _ask_style_if_needed(update, context, outcome)


@replies_errors
async def reply_text(update: Update, context: Context) -> None:
    """Text in reply to a result: a preset name (or blend) restyles the result's original photo."""
    message = update.effective_message
    assert message is not None and message.reply_to_message is not None
    who, text = _who(update), message.text or ""
    outcome = await service(context).restyle_result(who, message.reply_to_message.message_id, text)
    if outcome.kind == "ignored" and not who.is_group:  # a reply to something else: read it as plain text
        outcome = await service(context).plain_text(who, text)
    await _say(update, context, outcome)


@replies_errors
async def private_text(update: Update, context: Context) -> None:
    """Text in a private chat: a painting's name, or a hint about what to send."""
    message = update.effective_message
    assert message is not None
    await _say(update, context, await service(context).plain_text(_who(update), message.text or ""))


@replies_errors
async def again(update: Update, context: Context) -> None:
    """/again: the last job once more with a new seed."""
    await service(context).again(_who(update))


@replies_errors
async def group_settings(update: Update, context: Context) -> None:
    """/groupsettings: admins cap the group's quality tier."""
    who = _who(update)
    if not who.is_group:
        raise UserFacingError(Msg.GROUP_SETTINGS_PRIVATE)
    if not await _is_admin(context, who):
        raise UserFacingError(Msg.GROUP_ADMINS_ONLY)
    current, lang = await service(context).group_quality(who.chat_id), await _lang(update, context)
    await _reply(update, texts.say(Msg.GROUP_SETTINGS, lang), reply_markup=keyboards.group_settings(current, lang))


async def _is_admin(context: Context, who: Who) -> bool:
    """Whether the user administers the chat."""
    member = await context.bot.get_chat_member(who.chat_id, who.user_id)
    return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)


@replies_errors
async def inline_query(update: Update, context: Context) -> None:
    """Inline mode: the user's recent results as cached photos, then the presets."""
    query = update.inline_query
    assert query is not None
    jobs, presets = await service(context).inline_results(query.from_user.id, query.query)
    lang = await _lang(update, context)
    results: list[InlineQueryResult] = [
        InlineQueryResultCachedPhoto(f"r{job.id}", job.result_file_id or "", caption=_share_caption(job, context, lang))
        for job in jobs
    ]
    for preset, file_id in presets:
        text = texts.say(Msg.INLINE_PRESET, lang, label=preset.label, bot=context.bot.username)
        if file_id:
            results.append(InlineQueryResultCachedPhoto(f"p{preset.name}", file_id, caption=text))
        else:
            results.append(InlineQueryResultArticle(f"p{preset.name}", preset.label, InputTextMessageContent(text)))
    await query.answer(results[:50], cache_time=0, is_personal=True)


def _share_caption(job: Job, context: Context, lang: str) -> str:
    """Caption of a shared result: the style and where it was made."""
    photo = texts.text(texts.A_STYLE_PHOTO, lang)
    styles = " + ".join(default_title(r.name) if r.name else photo for r in job.styles)
    return texts.say(Msg.SHARED, lang, styles=styles, bot=context.bot.username)


@replies_errors
async def pick_preset(update: Update, context: Context) -> None:
    """A painting button under a photo."""
    query, data = _callback(update, PickPreset)
    who, lang = _who(update), await _lang(update, context)
    if data.owner is not None and data.owner != who.user_id:
        await query.answer(texts.say(Msg.NOT_YOUR_MENU, lang), show_alert=True)
        return
    outcome = await service(context).pick_style(who, data.name)
    await query.answer(texts.say(outcome.key or Msg.QUEUED_TAP, lang, **outcome.values)[:200])
    if outcome.kind == "started" and query.message is not None:
        # The photo this keyboard asked about is on its way: a second tap would mean nothing.
        await query.edit_message_reply_markup(None)


@replies_errors
async def remix(update: Update, context: Context) -> None:
    """A remix button under a result."""
    query, data = _callback(update, Remix)
    await service(context).remix(_who(update), data.job_id, data.action)
    await query.answer(texts.say(Msg.QUEUED_TAP, await _lang(update, context)))


@replies_errors
async def making_of(update: Update, context: Context) -> None:
    """The making-of button under a result."""
    query, data = _callback(update, MakingOf)
    who = _who(update)
    animation = await service(context).making_of(who, data.job_id)
    await query.answer()
    reply_to = query.message.message_id if query.message is not None else None
    await context.bot.send_animation(
        who.chat_id, animation, filename="making_of.gif", reply_to_message_id=reply_to,
        message_thread_id=who.thread_id, caption=texts.say(Msg.MAKING_OF, await _lang(update, context)),
    )  # fmt: skip


@replies_errors
async def add_sticker(update: Update, context: Context) -> None:
    """The sticker pack button under a result: the user's pack is made on first use, and its link sent then."""
    query, data = _callback(update, AddSticker)
    who, lang = _who(update), await _lang(update, context)
    sticker = await service(context).sticker_file(who, data.job_id)  # a clip takes a few seconds to convert
    await query.answer()
    title = texts.say(Msg.STICKER_PACK_TITLE, lang, name=who.name or context.bot.username)
    lines = [texts.sticker_note(note, lang) for note in sticker.notes]
    try:
        added = await StickerSets(context.bot).add(PACK, who.user_id, input_sticker(sticker.data, sticker.video), title)
    except BadRequest as exc:
        lines.append(texts.say(Msg.STICKER_PACK_FAILED, lang, reason=exc.message))
    else:
        lines.append(
            texts.say(Msg.STICKER_PACK_CREATED, lang, link=added.link)
            if added.created
            else texts.say(Msg.STICKER_ADDED, lang)
        )
    reply_to = query.message.message_id if query.message is not None else None
    thread = getattr(query.message, "message_thread_id", None)  # a forum topic: answer there
    await context.bot.send_message(
        who.chat_id, "\n".join(lines), reply_to_message_id=reply_to, message_thread_id=thread
    )


@replies_errors
async def group_cap(update: Update, context: Context) -> None:
    """An admin's tap on /groupsettings."""
    query, data = _callback(update, GroupCap)
    who = _who(update)
    quality = await service(context).set_group_quality(who, data.quality, await _is_admin(context, who))
    lang = await _lang(update, context)
    await query.answer(texts.say(Msg.SETTINGS_SAVED, lang))
    await query.edit_message_reply_markup(keyboards.group_settings(quality, lang))


@replies_errors
async def setting(update: Update, context: Context) -> None:
    """A tap on /settings."""
    query, data = _callback(update, Setting)
    settings = await service(context).change_setting(_who(update).user_id, data.key, data.value)
    lang = await _lang(update, context)
    await query.answer(texts.say(Msg.SETTINGS_SAVED, lang))
    await query.edit_message_reply_markup(keyboards.settings(settings, lang))


@replies_errors
async def language(update: Update, context: Context) -> None:
    """/language: buttons to choose the language; /language CODE sets it ('auto': follow the Telegram app)."""
    who, args = _who(update), context.args or []
    if not args:
        current = (await service(context).get_settings(who.user_id)).language
        lang = i18n.pick(current, who.language)
        await _reply(update, texts.say(Msg.LANGUAGE_CHOOSE, lang), reply_markup=keyboards.languages(current, lang))
        return
    code = args[0].lower()
    chosen = None if code == ChooseLanguage.AUTOMATIC else i18n.supported(code)
    if chosen is None and code != ChooseLanguage.AUTOMATIC:
        await _reply(update, texts.language_unknown(code, await _lang(update, context)))
        return
    await service(context).set_language(who.user_id, chosen)
    await _reply(update, texts.language_set(i18n.pick(chosen, who.language), automatic=chosen is None))


@replies_errors
async def choose_language(update: Update, context: Context) -> None:
    """A tap on /language: save the choice, and reword the menu in the language chosen."""
    query, data = _callback(update, ChooseLanguage)
    who = _who(update)
    chosen = None if data.code == ChooseLanguage.AUTOMATIC else data.code
    await service(context).set_language(who.user_id, chosen)
    lang = i18n.pick(chosen, who.language)
    await query.answer(texts.say(Msg.SETTINGS_SAVED, lang))
    markup = keyboards.languages(chosen, lang)
    await query.edit_message_text(texts.language_set(lang, automatic=chosen is None), reply_markup=markup)


async def stale_button(update: Update, context: Context) -> None:
    """Button data this bot does not know (forged, or from an old version): say so, stop the spinner."""
    if update.callback_query is not None:
        await update.callback_query.answer(texts.say(Msg.BUTTON_GONE, await _lang(update, context)), show_alert=True)


CallbackT = TypeVar("CallbackT")


def _callback(update: Update, kind: type[CallbackT]) -> tuple[CallbackQuery, CallbackT]:
    """The query and its decoded data, which the handler's pattern guarantees to be of `kind`."""
    query = update.callback_query
    data = callback_data.decode(query.data if query is not None else None)
    if query is None or not isinstance(data, kind):
        raise ForgedCallbackError(str(data))
    return query, data


@replies_errors
async def styles(update: Update, context: Context) -> None:
    """/styles: an album of thumbnails, then a keyboard."""
    svc, lang = service(context), await _lang(update, context)
    gallery = await svc.gallery()
    if not gallery:
        await _reply(update, texts.say(Msg.NO_PRESETS_INSTALLED, lang))
        return
    who = _who(update)
    sent: list[Message] = []
    for i in range(0, len(gallery), GALLERY_CHUNK):
        chunk, topic = gallery[i : i + GALLERY_CHUNK], who.thread_id  # the gallery goes to the asker's topic
        if len(chunk) == 1:
            item = chunk[0]
            sent.append(
                await context.bot.send_photo(who.chat_id, item.thumbnail, caption=item.caption, message_thread_id=topic)
            )
        else:
            media = [InputMediaPhoto(item.thumbnail, caption=item.caption) for item in chunk]
            sent.extend(await context.bot.send_media_group(who.chat_id, media, message_thread_id=topic))
    await svc.remember_gallery([(g.name, m.photo[-1].file_id) for g, m in zip(gallery, sent, strict=False) if m.photo])
    await _reply(update, texts.say(Msg.STYLES_HEADER, lang), reply_markup=keyboards.presets([g.name for g in gallery]))


@replies_errors
async def style(update: Update, context: Context) -> None:
    """/style NAME [NAME:weight ...]: pick a preset (or blend) for the pending or next photo."""
    spec = " ".join(context.args or [])
    svc = service(context)
    if not spec:
        header = texts.say(Msg.STYLES_HEADER, await _lang(update, context))
        await _reply(update, header, reply_markup=keyboards.presets(svc.preset_names()))
        return
    outcome = await svc.pick_style(_who(update), spec)
    if outcome.kind in ("default_set", "started"):
        await _say(update, context, outcome)


@replies_errors
async def settings(update: Update, context: Context) -> None:
    """/settings: the keyboard of the user's choices."""
    current, lang = await service(context).get_settings(_who(update).user_id), await _lang(update, context)
    await _reply(update, texts.say(Msg.SETTINGS, lang), reply_markup=keyboards.settings(current, lang))


@replies_errors
async def cancel(update: Update, context: Context) -> None:
    """/cancel: pending photo and active jobs."""
    await _say(update, context, await service(context).cancel(_who(update)))


@replies_errors
async def status(update: Update, context: Context) -> None:
    """/status: the user's jobs."""
    rows = await service(context).status(_who(update))
    await _reply(update, texts.job_lines(rows, await _lang(update, context)))


@replies_errors
async def addstyle(update: Update, context: Context) -> None:
    """/addstyle NAME as a reply to a photo (admins)."""
    message = update.effective_message
    assert message is not None
    target = message.reply_to_message
    incoming = incoming_image(target) if target is not None else None
    if not context.args or incoming is None:
        raise UserFacingError(Msg.ADDSTYLE_USAGE)
    await _say(update, context, await service(context).add_preset(_who(update).user_id, context.args[0], incoming))


@replies_errors
async def forget(update: Update, context: Context) -> None:
    """/forget: delete everything the bot keeps about the user."""
    await _say(update, context, await service(context).forget(_who(update)))


@replies_errors
async def delstyle(update: Update, context: Context) -> None:
    """/delstyle NAME (admins)."""
    if not context.args:
        raise UserFacingError(Msg.DELSTYLE_USAGE)
    await _say(update, context, await service(context).remove_preset(_who(update).user_id, context.args[0]))


async def stats(update: Update, context: Context) -> None:
    """/stats: the last day and week in numbers, and a chart (operators only)."""
    message, lang = update.effective_message, await _lang(update, context)
    if message is None or _who(update).user_id not in service(context).settings.admin_ids:
        await _reply(update, texts.say(Msg.STATS_REFUSED, lang))
        return
    report = await usage_report(context.bot_data.running.probes)
    await _reply(update, texts.usage(report, lang))
    labels = texts.chart_labels(lang)
    chart = await asyncio.to_thread(usage_chart, report.day, labels)  # matplotlib takes a moment: off the event loop
    await message.reply_photo(chart, caption=texts.say(Msg.STATS_CHART, lang))


async def on_error(update: object, context: Context) -> None:
    """The one place unexpected errors go: log the traceback, ask the user to send it again."""
    log.error("unhandled error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            # The app's language only: the error may be the database's, where a chosen one is kept.
            text, topic = texts.say(Msg.ERROR, i18n.language_of(update)), _topic(update.effective_message)
            await context.bot.send_message(update.effective_chat.id, text, message_thread_id=topic)
        except Exception:  # the error may be that Telegram is unreachable; the log has it
            log.warning("could not tell the user about the error")


HANDLERS: dict[str, Handler] = {
    "start": start,
    "help": help_command,
    "styles": styles,
    "style": style,
    "stylize": stylize,
    "settings": settings,
    "groupsettings": group_settings,
    "status": status,
    "again": again,
    "cancel": cancel,
    "forget": forget,
    "addstyle": addstyle,
    "delstyle": delstyle,
    "language": language,
    "stats": stats,
}
# The command menus per scope: what makes sense in a private chat and in a group (English; app.py registers
# each language's translation).
PRIVATE_COMMANDS = [
    ("start", N_("How to use the bot")),
    ("styles", N_("Preset paintings")),
    ("style", N_("Pick a painting: /style NAME")),
    ("settings", N_("Quality, strength, colours")),
    ("again", N_("Your last picture again, new seed")),
    ("status", N_("Your jobs")),
    ("cancel", N_("Cancel what is pending or running")),
    ("forget", N_("Delete your photos, results and settings")),
    ("language", N_("The language I speak")),
    ("help", N_("Commands")),
]
GROUP_COMMANDS = [
    ("stylize", N_("Reply to a photo: /stylize NAME")),
    ("styles", N_("Preset paintings")),
    ("again", N_("Your last picture again, new seed")),
    ("status", N_("Your jobs")),
    ("cancel", N_("Cancel your jobs")),
    ("groupsettings", N_("Admins: highest quality here")),
    ("help", N_("Commands")),
]
STYLIZE_CAPTION = re.compile(r"^/stylize(?:@(\w+))?(?:\s+(.*))?$", re.DOTALL | re.IGNORECASE)


def register(app: App) -> None:
    """Attach every handler to the application; only new messages from people reach them."""
    # Edited messages and channel posts are not requests: an edited caption must not start a second job. Nor is
    # a channel's post that Telegram forwards to its discussion group: a post "/forget" is nobody's command there.
    new = filters.UpdateType.MESSAGE & ~filters.ChatType.CHANNEL & ~filters.IS_AUTOMATIC_FORWARD
    app.add_handler(TypeHandler(Update, seen), group=-1)
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, migrated))
    for name, handler in HANDLERS.items():
        app.add_handler(CommandHandler(name, handler, filters=new))
    media = filters.PHOTO | filters.Document.ALL | filters.ANIMATION | filters.VIDEO | filters.VIDEO_NOTE
    app.add_handler(MessageHandler(new & (media | filters.Sticker.ALL), image))
    app.add_handler(MessageHandler(new & filters.REPLY & filters.TEXT & ~filters.COMMAND, reply_text))
    app.add_handler(MessageHandler(new & filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND, private_text))
    for kind, handler in (
        (PickPreset, pick_preset),
        (Remix, remix),
        (MakingOf, making_of),
        (AddSticker, add_sticker),
        (GroupCap, group_cap),
        (Setting, setting),
        (ChooseLanguage, choose_language),
    ):
        app.add_handler(CallbackQueryHandler(handler, pattern=callback_data.PATTERNS[kind]))
    app.add_handler(CallbackQueryHandler(stale_button))
    app.add_handler(InlineQueryHandler(inline_query))
    app.add_error_handler(on_error)
