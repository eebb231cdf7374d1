"""Downloads of Telegram files for the core, with the size limit and Telegram's errors mapped to the core's."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator

import httpx
from telegram import Bot, File
from telegram.error import BadRequest, NetworkError

from bot.core.errors import DownloadUnavailableError, FileTooLargeError

log = logging.getLogger(__name__)
CHUNK_BYTES = 64 * 1024
# As PTB's own requests: a stalled download fails in seconds and is tried again when the job starts.
DOWNLOAD_TIMEOUT = httpx.Timeout(5.0)


class TelegramDownloader:
    """Implements the file store's Downloader with the bot's Bot, streaming the bytes (the store counts them)."""

    def __init__(self, bot: Bot, max_upload_bytes: int) -> None:
        self._bot = bot
        self._limit = max_upload_bytes
        self._http: httpx.AsyncClient | None = None

    async def stream(self, file_id: str, size: int | None = None) -> AsyncGenerator[bytes, None]:
        """A Telegram file's bytes in chunks; files stated to be over the limit are refused before any is fetched."""
        if size is not None and size > self._limit:
            raise FileTooLargeError(size / 1e6, self._limit / 1e6)
        file = await self._get_file(file_id, size)
        if file.file_size and file.file_size > self._limit:
            raise FileTooLargeError(file.file_size / 1e6, self._limit / 1e6)
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT)
        try:
            # Streamed rather than PTB's download_as_bytearray: the caller stops reading past the limit, whatever
            # size Telegram stated (a file may be larger than it says).
            async with self._http.stream("GET", str(file.file_path)) as response:
                if response.status_code != httpx.codes.OK:
                    raise DownloadUnavailableError(f"the download answered HTTP {response.status_code}")
                async for chunk in response.aiter_bytes(CHUNK_BYTES):
                    yield chunk
        except httpx.HTTPError as exc:  # the message may hold the URL, and so the token: only the kind is kept
            raise DownloadUnavailableError(f"the download failed ({type(exc).__name__})") from exc

    async def _get_file(self, file_id: str, size: int | None) -> File:
        """getFile, with Telegram's refusals mapped to the core's errors."""
        try:
            return await self._bot.get_file(file_id)
        except BadRequest as exc:
            if "too big" in str(exc).lower():  # Bot API servers serve at most 20 MB
                raise FileTooLargeError((size or 0) / 1e6, self._limit / 1e6) from exc
            raise DownloadUnavailableError(f"Telegram no longer has that file ({exc})") from exc
        except NetworkError as exc:  # timeouts and 5xx: the file may well be there a moment later
            raise DownloadUnavailableError(f"getFile failed: {exc}") from exc

    async def close(self) -> None:
        """Close the download connections."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None
