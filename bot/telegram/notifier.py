"""The notifier on Telegram: status messages edited in the background, throttled per chat, and result upload."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image
from telegram import InputMediaPhoto, Message
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import ExtBot

from bot.config import Settings
from bot.core.messages import Msg
from bot.core.models import Job
from bot.jobs import notifier_port as port
from bot.jobs.layout import JobFiles
from bot.jobs.notifier_port import (
    ChatChange,
    ChatMigratedError,
    ChatUnreachableError,
    Receipt,
    RejectedError,
    Result,
    Status,
    TransientError,
)
from bot.jobs.stickers import StickerNote
from bot.jobs.supervise import TaskSet
from bot.presets.library import PresetLibrary
from bot.store.storage import Storage
from bot.telegram import i18n, keyboards, texts
from bot.telegram.ratelimit import NO_WAIT
from bot.telegram.sticker_sets import STAGING, StickerSets, input_sticker

log = logging.getLogger(__name__)
T = TypeVar("T")
FINAL_RETRIES_S = (2.0, 10.0, 30.0)  # a final status (done, failed) is worth a few tries; progress is not
NO_TEXT_TO_EDIT = "there is no text in the message to edit"  # Telegram's answer to a text edit of a photo
FIRST_PICTURE_GAP_S = 1.0  # Telegram asks bots for at most about one message a second in a chat


@dataclass
class _Screen:
    """A job's status message as this process knows it, and what is still to be shown on it."""

    job: Job
    message_id: int | None
    text: str | None = None  # the text or caption on screen
    photo: bool = False  # the status message is a picture (the instant result, then the live preview)
    in_place: bool = False  # the result replaced the picture: nothing more to show
    status: Status | None = None  # wanted, not shown yet
    picture: Path | None = None  # wanted, not shown yet
    last: Status | None = None  # the status on screen
    lang: str | None = None  # the owner's language, looked up once per screen
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # set when a picture arrives


class TelegramNotifier:
    """Implements the notifier port with the bot's own Bot object (its rate limiter included)."""

    def __init__(self, bot: ExtBot[Any], storage: Storage, presets: PresetLibrary, settings: Settings) -> None:
        self._bot, self._storage, self._presets, self._settings = bot, storage, presets, settings
        self.chat_changes: asyncio.Queue[ChatChange] = asyncio.Queue()
        self._screens: dict[int, _Screen] = {}
        self._senders: dict[int, asyncio.Task[None]] = {}
        self._last_edit: dict[int, float] = {}  # per chat, for the throttle
        self._muted: set[int] = set()
        self._tasks = TaskSet()
        self._stickers = StickerSets(bot)

    # -- status messages -------------------------------------------------------

    def show(self, job: Job, status: Status) -> None:
        """Queue the newest status of a job; one sender per job shows it, skipping stale ones."""
        screen = self._screen(job)
        if screen is None:
            return
        if screen.in_place:  # the result is the status message now
            if status.final:
                self._screens.pop(job.id, None)
            return
        screen.status = status
        self._kick(job.id)

    def show_picture(self, job: Job, picture: Path) -> None:
        """Make the status message this picture (the instant result, then the painting as it forms)."""
        screen = self._screen(job)
        if screen is None or screen.in_place:
            return
        screen.picture = picture
        screen.wake.set()  # a sender waiting out the status interval may go sooner now
        self._kick(job.id)

    def _screen(self, job: Job) -> _Screen | None:
        """The job's screen (made on first use), or None for a muted chat."""
        if job.chat_id in self._muted:
            return None
        screen = self._screens.get(job.id)
        if screen is None:
            screen = self._screens[job.id] = _Screen(job, job.status_message_id)
        screen.job = job
        return screen

    def _kick(self, job_id: int) -> None:
        """Make sure a sender works on this job's screen."""
        if job_id not in self._senders:
            self._senders[job_id] = self._tasks.spawn(self._send(job_id), name=f"status-{job_id}")

    async def _send(self, job_id: int) -> None:
        """Show what is wanted on a job's screen until nothing is left; never raises."""
        try:
            while (screen := self._screens.get(job_id)) is not None and (screen.status or screen.picture):
                final = screen.status is not None and screen.status.final
                if not final:
                    await self._wait_turn(screen)
                status, picture = screen.status, screen.picture  # the newest, after the wait
                if final:  # a preview after the end would only mislead (and its file is being removed)
                    picture = None
                screen.status = screen.picture = None
                await self._show_now(screen, status, picture)
                if final:
                    self._screens.pop(job_id, None)
        except Exception:
            log.exception("status of job %d could not be shown", job_id)
        finally:
            self._senders.pop(job_id, None)

    def _gap(self, screen: _Screen) -> float:
        """Seconds this screen's next change must wait after the chat's last one.

        The first picture (the instant one) is what the user waits for: it waits only for Telegram's pace of
        about one message a second in a chat, not for the status interval that spaces progress edits.
        """
        interval = self._settings.status_interval_s
        return min(interval, FIRST_PICTURE_GAP_S) if screen.picture is not None and not screen.photo else interval

    async def _wait_turn(self, screen: _Screen) -> None:
        """Wait out the chat's gap; a first picture arriving meanwhile shortens the wait."""
        while (wait := self._last_edit.get(screen.job.chat_id, -1e9) + self._gap(screen) - time.monotonic()) > 0:
            screen.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(screen.wake.wait(), wait)

    async def _show_now(self, screen: _Screen, status: Status | None, picture: Path | None) -> None:
        """Send or edit the status message; a final status is retried a few times, progress never."""
        final = status is not None and status.final
        waits = FINAL_RETRIES_S if final else ()
        for wait in (*waits, None):
            try:
                await self._put(screen, status, picture, patient=final)
                return
            except Forbidden as exc:
                self._unreachable(screen.job.chat_id, exc)
                return
            except ChatMigrated as exc:  # shown in the new chat at once; the dispatcher moves the chat's jobs
                old = screen.job.chat_id
                self.moved_chat(old, exc.new_chat_id)
                self.chat_changes.put_nowait(port.ChatMigrated(old, exc.new_chat_id))
                if screen.job.chat_id != old:
                    await self._show_now(screen, status, picture)
                return
            except BadRequest as exc:  # deleted message, unchanged text: nothing to do about it
                log.info("status of job %d not shown: %s", screen.job.id, exc)
                return
            except (RetryAfter, NetworkError) as exc:  # NetworkError covers timeouts and 5xx
                if wait is None:
                    log.info("status of job %d not shown: %s", screen.job.id, exc)
                    return
                await asyncio.sleep(wait)

    async def _put(self, screen: _Screen, status: Status | None, picture: Path | None, *, patient: bool) -> None:
        """One Telegram call that brings the status message up to date."""
        # Only edits of a status already shown may be skipped; the first status message always goes out.
        job, limit = screen.job, (None if patient or screen.message_id is None else NO_WAIT)
        if screen.in_place:
            return  # the result took the status message's place
        status = status or screen.last
        data = await _read_picture(picture) if picture is not None else None
        if data is None:  # none wanted, or it went with its job's files: the words still count
            picture = None
        if screen.lang is None:
            screen.lang = await self._language(job.user_id)
        lang = screen.lang
        shown = screen.photo or picture is not None
        text = texts.status(status, picture=shown, lang=lang, clip=job.params.is_clip) if status else None
        if picture is None and (text is None or text == screen.text):
            return
        self._last_edit[job.chat_id] = time.monotonic()
        caption = text or texts.say(Msg.FIRST_FRAME if job.params.is_clip else Msg.INSTANT_PREVIEW, lang)
        if data is not None and not screen.photo:
            await self._replace_with_picture(screen, data, caption, limit)
        elif data is not None and screen.message_id is not None:
            media = InputMediaPhoto(data, caption=caption)
            await self._bot.edit_message_media(media, job.chat_id, screen.message_id, rate_limit_args=limit)
        elif screen.photo and screen.message_id is not None:
            await self._bot.edit_message_caption(job.chat_id, screen.message_id, caption=caption, rate_limit_args=limit)
        elif screen.message_id is None:
            message = await self._bot.send_message(job.chat_id, caption, rate_limit_args=limit, **_where(job))
            await self._new_message(screen, message.message_id)
        else:
            try:
                await self._bot.edit_message_text(caption, job.chat_id, screen.message_id, rate_limit_args=limit)
            except BadRequest as exc:
                if NO_TEXT_TO_EDIT not in str(exc).lower():
                    raise
                # A picture status from before a restart (only its id was kept): its words are a caption.
                screen.photo = True
                await self._put(screen, status, picture, patient=patient)
                return
        screen.text, screen.last = caption, status

    async def _replace_with_picture(self, screen: _Screen, data: bytes, caption: str, limit: Any) -> None:
        """A text status becomes a picture: Telegram cannot turn one into the other, so send anew, delete the old."""
        job, old = screen.job, screen.message_id
        message = await self._bot.send_photo(job.chat_id, data, caption=caption, rate_limit_args=limit, **_where(job))
        screen.photo = True
        await self._new_message(screen, message.message_id)
        if old is not None:
            await quietly(lambda: self._bot.delete_message(job.chat_id, old), "deleting the text status")

    async def _new_message(self, screen: _Screen, message_id: int) -> None:
        """Remember the job's status message, here and in the database."""
        screen.message_id = message_id
        await self._storage.set_status_message(screen.job.id, message_id)

    # -- delivery ---------------------------------------------------------------

    async def deliver(self, job: Job, result: Result) -> Receipt:
        """Send the result (HD also as a file); it replaces the status picture if there is one.

        A photo Telegram refuses goes as a document; if that is refused too, a text says why.
        """
        if job.chat_id in self._muted:
            raise ChatUnreachableError("the chat blocked the bot")
        lang = await self._language(job.user_id)
        caption = await asyncio.to_thread(self._caption, job, result, lang)
        markup = keyboards.result(
            job.id, job.params.keep_colors, job.params.quality == "hd", lang, clip=job.params.is_clip
        )
        common: dict[str, Any] = {"caption": caption, **_where(job)}
        try:
            if result.clip is not None:
                notes = [note for note in map(StickerNote.parse, result.notes) if note is not None]
                return _receipt(await self._send_clip(job, result.clip, markup, common, lang, notes))
            if result.document is not None:
                await self._bot.send_document(job.chat_id, result.document, filename="stylebot_hd.png", **common)
            message = await self._into_status_picture(job, result, caption, markup)
            if message is None:
                message = await self._send_photo_or_document(job, result, markup, common)
        except Forbidden as exc:
            raise ChatUnreachableError(str(exc)) from exc
        except ChatMigrated as exc:
            raise ChatMigratedError(job.chat_id, exc.new_chat_id) from exc
        except BadRequest as exc:
            await self._explain_refusal(job, exc, lang)
            raise RejectedError(str(exc)) from exc
        except (RetryAfter, NetworkError) as exc:
            raise TransientError(str(exc)) from exc
        return _receipt(message)

    async def _send_clip(
        self, job: Job, path: Path, markup: Any, common: dict[str, Any], lang: str, notes: list[StickerNote]
    ) -> Message:
        """A clip as the kind it came as: a GIF, a streamable video with its sound, a round video or a sticker."""
        data = await asyncio.to_thread(path.read_bytes)
        chat, media, where = job.chat_id, job.params.media, _where(job)
        if media == "animation":
            return await self._bot.send_animation(chat, data, filename="stylebot.mp4", reply_markup=markup, **common)
        if media == "video":
            return await self._bot.send_video(
                chat, data, filename="stylebot.mp4", supports_streaming=True, reply_markup=markup, **common
            )
        if media == "video_note":  # no caption on round videos: the status message above says what it is
            side = await asyncio.to_thread(_width, JobFiles(path.parent).photo)
            return await self._bot.send_video_note(
                chat, data, length=side, filename="stylebot.mp4", reply_markup=markup, **where
            )
        if media == "video_sticker":
            message = await self._send_video_sticker(job, data, markup, lang)
        else:
            message = await self._bot.send_sticker(chat, data, reply_markup=markup, **where)
        if notes:  # a sticker has no caption: what was cut or sped up is said beside it
            said = "\n".join(texts.sticker_note(note, lang) for note in notes)
            await quietly(lambda: self._bot.send_message(chat, said, **where), "the sticker's note")
        return message

    async def _send_video_sticker(self, job: Job, data: bytes, markup: Any, lang: str) -> Message:
        """A WEBM sent with sendSticker arrives as a file: staged in a set of the user's first, then sent by id."""
        title = texts.say(Msg.STICKER_PACK_TITLE, lang, name=job.user_name or self._bot.username)
        try:
            added = await self._stickers.add(STAGING, job.user_id, input_sticker(data, video=True), title)
        except BadRequest as exc:  # e.g. the user never opened a chat with the bot (a group): send it as a file
            log.warning("job %d: video sticker not staged (%s); sending the WEBM as a file", job.id, exc)
            return await self._bot.send_document(
                job.chat_id, data, filename="stylebot.webm", reply_markup=markup, **_where(job)
            )
        return await self._bot.send_sticker(job.chat_id, added.file_id, reply_markup=markup, **_where(job))

    async def _into_status_picture(self, job: Job, result: Result, caption: str, markup: Any) -> Message | None:
        """Put the result in place of the status picture (editMessageMedia); None when there is none or it fails."""
        screen = self._screens.get(job.id)
        if screen is None or not screen.photo or screen.message_id is None:
            return None
        # No live preview may land after the result: stop showing, and let an edit under way finish first.
        screen.in_place, screen.status, screen.picture = True, None, None
        sender = self._senders.get(job.id)
        if sender is not None:
            await asyncio.wait({sender})
        media = InputMediaPhoto(await asyncio.to_thread(result.photo.read_bytes), caption=caption)
        try:
            edited = await self._bot.edit_message_media(media, job.chat_id, screen.message_id, reply_markup=markup)
        except BadRequest as exc:  # deleted by the user, say: send the result as a new message
            log.info("job %d: the status picture could not become the result (%s)", job.id, exc)
            screen.in_place = False
            return None
        return edited if isinstance(edited, Message) else None

    async def _send_photo_or_document(self, job: Job, result: Result, markup: Any, common: dict[str, Any]) -> Message:
        """The result as a new photo message, or as a document when Telegram refuses the photo."""
        try:
            return await self._bot.send_photo(job.chat_id, result.photo, reply_markup=markup, **common)
        except BadRequest as exc:
            log.warning("job %d: photo refused (%s); sending it as a document", job.id, exc)
            return await self._bot.send_document(
                job.chat_id, result.photo, filename="stylebot.jpg", reply_markup=markup, **common
            )

    async def _explain_refusal(self, job: Job, exc: BadRequest, lang: str) -> None:
        """Tell the chat in words why its picture cannot be posted (best effort)."""
        rights = "rights" in str(exc).lower()
        text = texts.say(Msg.CANNOT_POST_MEDIA, lang) if rights else texts.say(Msg.CANNOT_POST, lang, reason=exc)
        try:
            await self._bot.send_message(job.chat_id, text, **_where(job))
        except TelegramError as error:
            log.info("job %d: could not explain the refusal: %s", job.id, error)

    def _caption(self, job: Job, result: Result, lang: str) -> str:
        """The result's caption: styles, quality, size, strength, time taken and who asked."""
        with Image.open(result.document or result.photo) as image:
            size = image.size
        return texts.caption(job, self._presets, size, result.seconds, lang)

    async def _language(self, user_id: int) -> str:
        """The language to word a message to a user in, when they are not the one writing."""
        return i18n.pick(await self._storage.language_of(user_id))

    # -- chats and admins -----------------------------------------------------

    async def tell_admins(self, reason: str) -> int:
        """Message every admin; returns how many received it."""
        told = 0
        for admin in sorted(self._settings.admin_ids):
            try:
                text = texts.say(Msg.ADMIN_WORKERS_DOWN, await self._language(admin), reason=reason)
                await self._bot.send_message(admin, text)
                told += 1
            except TelegramError as exc:
                log.warning("could not tell admin %s: %s", admin, exc)
        return told

    def mute(self, chat_id: int) -> None:
        """Send nothing more to this chat."""
        self._muted.add(chat_id)
        for job_id in [j for j, screen in self._screens.items() if screen.job.chat_id == chat_id]:
            self._screens.pop(job_id, None)

    def unmute(self, chat_id: int) -> None:
        """The chat wrote again."""
        self._muted.discard(chat_id)

    def moved_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup: its status messages start afresh there (message ids do not carry over)."""
        for job_id, screen in list(self._screens.items()):
            if screen.job.chat_id != old_chat_id:
                continue
            screen.job = dataclasses.replace(
                screen.job, chat_id=new_chat_id, reply_to_message_id=None, status_message_id=None
            )
            screen.message_id, screen.text, screen.photo = None, None, False
            if screen.status is None and screen.last is not None and not screen.in_place:
                screen.status = screen.last
            if screen.status is not None:
                self._kick(job_id)
        self._last_edit[new_chat_id] = self._last_edit.pop(old_chat_id, -1e9)

    def _unreachable(self, chat_id: int, exc: Exception) -> None:
        """A 403: the chat blocked or removed the bot; the dispatcher ends its jobs."""
        self.mute(chat_id)
        self.chat_changes.put_nowait(port.ChatUnreachable(chat_id, str(exc)))

    async def close(self) -> None:
        """Stop sending."""
        await self._tasks.cancel_all()


async def _read_picture(path: Path) -> bytes | None:
    """A status picture's bytes, or None when its file is gone (the job ended and its files were removed)."""
    try:
        return await asyncio.to_thread(path.read_bytes)
    except FileNotFoundError:
        return None


def _width(picture: Path) -> int:
    """A picture's width, from its header (a round video's side, from its first painted frame)."""
    with Image.open(picture) as image:
        return image.size[0]


def _where(job: Job) -> dict[str, Any]:
    """Where a message about a job goes: in reply to the photo, in the forum topic it was asked in.

    The topic is named on every send: a reply whose photo was deleted is sent without it (the bot's Defaults),
    and would land in the General topic.
    """
    return {"reply_to_message_id": job.reply_to_message_id, "message_thread_id": job.thread_id}


def _receipt(message: Message) -> Receipt:
    """Where Telegram keeps the result we sent."""
    if message.photo:
        return Receipt(message.photo[-1].file_id, message.message_id)
    for media in (message.animation, message.video, message.video_note, message.sticker):
        if media is not None:
            return Receipt(media.file_id, message.message_id)
    if message.document is not None:
        return Receipt(message.document.file_id, message.message_id)
    raise TransientError("Telegram answered without the file")


async def quietly(call: Callable[[], Awaitable[T]], what: str) -> T | None:
    """Run a Telegram call whose failure only costs a courtesy (a hint, an answer to a tap)."""
    try:
        return await call()
    except TelegramError as exc:
        log.info("%s failed: %s", what, exc)
        return None
