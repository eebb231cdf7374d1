"""The notifier on Telegram: status messages edited in the background, throttled per chat, and result upload."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image
from telegram import Message
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import ExtBot

from bot.config import Settings
from bot.core.models import Job
from bot.jobs.notifier import (
    ChatUnreachableError,
    Receipt,
    RejectedError,
    Result,
    Status,
    TransientError,
    UnreachableHandler,
)
from bot.jobs.supervise import TaskSet
from bot.presets.library import PresetLibrary
from bot.store.storage import Storage
from bot.telegram import keyboards, texts
from bot.telegram.ratelimit import NO_WAIT

log = logging.getLogger(__name__)
T = TypeVar("T")
FINAL_RETRIES_S = (2.0, 10.0, 30.0)  # a final status (done, failed) is worth a few tries; progress is not


class TelegramNotifier:
    """Implements the notifier port with the bot's own Bot object (its rate limiter included)."""

    def __init__(self, bot: ExtBot[Any], storage: Storage, presets: PresetLibrary, settings: Settings) -> None:
        self._bot, self._storage, self._presets, self._settings = bot, storage, presets, settings
        self.on_unreachable: UnreachableHandler | None = None
        self._wanted: dict[int, tuple[Job, Status]] = {}  # the newest status of each job not yet shown
        self._senders: dict[int, asyncio.Task[None]] = {}
        self._shown: dict[int, str] = {}  # text on screen per job
        self._message_ids: dict[int, int] = {}
        self._last_edit: dict[int, float] = {}  # per chat, for the throttle
        self._muted: set[int] = set()
        self._tasks = TaskSet()

    # -- status messages -------------------------------------------------------

    def show(self, job: Job, status: Status) -> None:
        """Queue the newest status of a job; one sender per job shows it, skipping stale ones."""
        if job.chat_id in self._muted:
            return
        self._wanted[job.id] = (job, status)
        if job.id not in self._senders:
            self._senders[job.id] = self._tasks.spawn(self._send_statuses(job.id), name=f"status-{job.id}")

    async def _send_statuses(self, job_id: int) -> None:
        """Show the wanted status of a job until none is left; never raises."""
        try:
            while (item := self._wanted.pop(job_id, None)) is not None:
                job, status = item
                if not status.final and not await self._throttle(job.chat_id, job_id):
                    continue  # a newer status arrived while waiting: show that one instead
                await self._show_now(job, status)
                if status.final:
                    self._forget(job_id)
        except Exception:
            log.exception("status of job %d could not be shown", job_id)
        finally:
            self._senders.pop(job_id, None)

    async def _throttle(self, chat_id: int, job_id: int) -> bool:
        """Wait out the chat's edit interval; False if a newer status for the job came meanwhile."""
        wait = self._last_edit.get(chat_id, -1e9) + self._settings.status_interval_s - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        return job_id not in self._wanted

    async def _show_now(self, job: Job, status: Status) -> None:
        """Send or edit the status message; a final status is retried a few times, progress never."""
        text = texts.status(status)
        if self._shown.get(job.id) == text or job.chat_id in self._muted:
            return
        waits = FINAL_RETRIES_S if status.final else ()
        for wait in (*waits, None):
            try:
                await self._put_status(job, text, patient=status.final)
                return
            except Forbidden as exc:
                await self._unreachable(job.chat_id, exc)
                return
            except BadRequest as exc:  # deleted message, unchanged text: nothing to do about it
                log.info("status of job %d not shown: %s", job.id, exc)
                return
            except (RetryAfter, NetworkError) as exc:  # NetworkError covers timeouts and 5xx
                if wait is None:
                    log.info("status of job %d not shown: %s", job.id, exc)
                    return
                await asyncio.sleep(wait)

    async def _put_status(self, job: Job, text: str, *, patient: bool) -> None:
        """Send the status message the first time, edit it afterwards."""
        self._last_edit[job.chat_id] = time.monotonic()
        limit = None if patient else NO_WAIT
        message_id = self._message_ids.get(job.id) or job.status_message_id
        if message_id is None:
            message = await self._bot.send_message(
                job.chat_id, text, reply_to_message_id=job.reply_to_message_id, rate_limit_args=limit
            )
            self._message_ids[job.id] = message.message_id
            await self._storage.set_status_message(job.id, message.message_id)
        else:
            await self._bot.edit_message_text(text, job.chat_id, message_id, rate_limit_args=limit)
        self._shown[job.id] = text

    def _forget(self, job_id: int) -> None:
        """Drop what is remembered about a job whose last status is shown."""
        self._shown.pop(job_id, None)
        self._message_ids.pop(job_id, None)

    # -- delivery ---------------------------------------------------------------

    async def deliver(self, job: Job, result: Result) -> Receipt:
        """Send the result (HD also as a file); a photo refused goes as a document, then a text says why."""
        if job.chat_id in self._muted:
            raise ChatUnreachableError("the chat blocked the bot")
        caption = await asyncio.to_thread(self._caption, job, result)
        markup = keyboards.result(job.id, job.params.keep_colors, job.params.quality == "hd")
        common: dict[str, Any] = {"caption": caption, "reply_to_message_id": job.reply_to_message_id}
        try:
            if result.document is not None:
                await self._bot.send_document(job.chat_id, result.document, filename="stylebot_hd.png", **common)
            try:
                message = await self._bot.send_photo(job.chat_id, result.photo, reply_markup=markup, **common)
            except BadRequest as exc:
                log.warning("job %d: photo refused (%s); sending it as a document", job.id, exc)
                message = await self._bot.send_document(
                    job.chat_id, result.photo, filename="stylebot.jpg", reply_markup=markup, **common
                )
        except Forbidden as exc:
            raise ChatUnreachableError(str(exc)) from exc
        except BadRequest as exc:
            await self._explain_refusal(job, exc)
            raise RejectedError(str(exc)) from exc
        except (RetryAfter, NetworkError) as exc:
            raise TransientError(str(exc)) from exc
        return _receipt(message)

    async def _explain_refusal(self, job: Job, exc: BadRequest) -> None:
        """Tell the chat in words why its picture cannot be posted (best effort)."""
        text = texts.CANNOT_POST_MEDIA if "rights" in str(exc).lower() else texts.CANNOT_POST.format(reason=exc)
        try:
            await self._bot.send_message(job.chat_id, text, reply_to_message_id=job.reply_to_message_id)
        except TelegramError as error:
            log.info("job %d: could not explain the refusal: %s", job.id, error)

    def _caption(self, job: Job, result: Result) -> str:
        """The result's caption: styles, quality, size, strength, time taken and who asked."""
        with Image.open(result.document or result.photo) as image:
            size = image.size
        return texts.caption(job, self._presets, size, result.seconds)

    # -- chats and admins -----------------------------------------------------

    async def tell_admins(self, reason: str) -> int:
        """Message every admin; returns how many received it."""
        told = 0
        for admin in sorted(self._settings.admin_ids):
            try:
                await self._bot.send_message(admin, texts.ADMIN_WORKERS_DOWN.format(reason=reason))
                told += 1
            except TelegramError as exc:
                log.warning("could not tell admin %s: %s", admin, exc)
        return told

    def mute(self, chat_id: int) -> None:
        """Send nothing more to this chat."""
        self._muted.add(chat_id)
        for job_id in [j for j, (job, _) in self._wanted.items() if job.chat_id == chat_id]:
            self._wanted.pop(job_id, None)

    def unmute(self, chat_id: int) -> None:
        """The chat wrote again."""
        self._muted.discard(chat_id)

    async def _unreachable(self, chat_id: int, exc: Exception) -> None:
        """A 403: the chat blocked or removed the bot; the dispatcher ends its jobs."""
        self.mute(chat_id)
        if self.on_unreachable is not None:
            await self.on_unreachable(chat_id, str(exc))

    async def close(self) -> None:
        """Stop sending."""
        await self._tasks.cancel_all()


def _receipt(message: Message) -> Receipt:
    """Where Telegram keeps the result we sent."""
    if message.photo:
        return Receipt(message.photo[-1].file_id, message.message_id)
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


def path_bytes(path: Path) -> bytes:
    """A file's bytes (for uploads done from a thread)."""
    return path.read_bytes()
