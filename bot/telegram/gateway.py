"""Downloads of Telegram files for the core, with the size limit and Telegram's errors mapped to the core's."""

from __future__ import annotations

import logging

from telegram import Bot
from telegram.error import BadRequest, NetworkError

from bot.core.errors import DownloadUnavailableError, FileTooLargeError

log = logging.getLogger(__name__)


class TelegramDownloader:
    """Implements the file store's Downloader with the bot's Bot."""

    def __init__(self, bot: Bot, max_upload_bytes: int) -> None:
        self._bot = bot
        self._limit = max_upload_bytes

    async def download(self, file_id: str, size: int | None = None) -> bytes:
        """A Telegram file's bytes; files over the limit are refused before anything is downloaded."""
        if size is not None and size > self._limit:
            raise FileTooLargeError(size / 1e6, self._limit / 1e6)
        try:
            file = await self._bot.get_file(file_id)
            if file.file_size and file.file_size > self._limit:
                raise FileTooLargeError(file.file_size / 1e6, self._limit / 1e6)
            return bytes(await file.download_as_bytearray())
        except BadRequest as exc:
            if "too big" in str(exc).lower():  # Bot API servers serve at most 20 MB
                raise FileTooLargeError((size or 0) / 1e6, self._limit / 1e6) from exc
            raise DownloadUnavailableError(f"Telegram no longer has that file ({exc})") from exc
        except NetworkError as exc:  # timeouts and 5xx: the file may well be there a moment later
            raise DownloadUnavailableError(f"getFile or the download failed: {exc}") from exc
