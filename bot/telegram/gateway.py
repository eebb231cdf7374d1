"""Calls to Telegram with retries and backoff, file downloads with limits, and result delivery."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from telegram import Bot, InlineKeyboardMarkup, Message
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

log = logging.getLogger(__name__)
T = TypeVar("T")
ATTEMPTS = 5
MAX_BACKOFF_S = 30.0


class FileTooLargeError(Exception):
    """An upload is over the size limit; the message says the limit."""


async def with_retries(call: Callable[[], Awaitable[T]], what: str = "telegram call") -> T:
    """Run `call`, retrying flood waits, timeouts and server errors with exponential backoff."""
    delay = 1.0
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await call()
        except RetryAfter as exc:
            wait = _seconds(exc.retry_after)
            log.warning("%s: flood control, waiting %.0fs", what, wait)
            await asyncio.sleep(wait)
        except (BadRequest, Forbidden):
            raise  # the request itself is wrong or the chat is gone: retrying cannot help
        except (TimedOut, NetworkError) as exc:
            if attempt == ATTEMPTS:
                raise
            log.warning("%s failed (%s), retrying in %.0fs", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)
    return await call()


def _seconds(value: Any) -> float:
    """RetryAfter.retry_after is an int or a timedelta depending on PTB settings."""
    return float(value.total_seconds()) if hasattr(value, "total_seconds") else float(value)


class TelegramGateway:
    """The bot's outgoing side, used by background services (handlers reply directly)."""

    def __init__(self, bot: Bot, max_upload_bytes: int) -> None:
        self.bot = bot
        self.max_upload_bytes = max_upload_bytes

    async def download(self, file_id: str, size: int | None = None) -> bytes:
        """Download a Telegram file, refusing files over the upload limit."""
        limit_mb = self.max_upload_bytes / 1e6
        if size is not None and size > self.max_upload_bytes:
            raise FileTooLargeError(f"That file is {size / 1e6:.1f} MB; the limit is {limit_mb:.0f} MB.")
        file = await with_retries(lambda: self.bot.get_file(file_id), "getFile")
        if file.file_size and file.file_size > self.max_upload_bytes:
            raise FileTooLargeError(f"That file is {file.file_size / 1e6:.1f} MB; the limit is {limit_mb:.0f} MB.")
        return bytes(await with_retries(file.download_as_bytearray, "download"))

    async def send_text(
        self,
        chat_id: int,
        text: str,
        *,
        reply_to: int | None = None,
        markup: InlineKeyboardMarkup | None = None,
    ) -> Message:
        """Send a message, as a reply when the original still exists."""
        return await with_retries(
            lambda: self.bot.send_message(
                chat_id,
                text,
                reply_to_message_id=reply_to,
                allow_sending_without_reply=True,
                reply_markup=markup,
            ),
            "sendMessage",
        )

    async def edit_text(
        self, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        """Edit a message; an unchanged text or a deleted message is not an error here."""
        try:
            await with_retries(
                lambda: self.bot.edit_message_text(text, chat_id, message_id, reply_markup=markup),
                "editMessageText",
            )
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                log.info("could not edit message %s in %s: %s", message_id, chat_id, exc)

    async def send_result(
        self,
        chat_id: int,
        photo: bytes,
        caption: str,
        *,
        document: bytes | None = None,
        reply_to: int | None = None,
        markup: InlineKeyboardMarkup | None = None,
    ) -> Message:
        """Send the result photo (and the full-size document); a photo Telegram refuses goes as a document."""
        common: dict[str, Any] = {
            "caption": caption,
            "reply_to_message_id": reply_to,
            "allow_sending_without_reply": True,
            "reply_markup": markup,
        }
        if document is not None:
            await with_retries(
                lambda: self.bot.send_document(
                    chat_id, document, filename="stylebot_hd.png", caption=caption, reply_to_message_id=reply_to,
                    allow_sending_without_reply=True,
                ),
                "sendDocument",
            )  # fmt: skip
        try:
            return await with_retries(lambda: self.bot.send_photo(chat_id, photo, **common), "sendPhoto")
        except BadRequest as exc:
            log.warning("sending the result as a photo failed (%s); sending it as a document", exc)
            return await with_retries(
                lambda: self.bot.send_document(chat_id, photo, filename="stylebot.jpg", **common),
                "sendDocument",
            )
