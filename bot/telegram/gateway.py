"""Downloads of Telegram files for the core, with the size limit and Telegram's errors mapped to the core's."""

from __future__ import annotations

import asyncio
import logging
import urllib.parse

import httpx
from telegram import Bot
from telegram.error import BadRequest, NetworkError

from bot.core.errors import DownloadUnavailableError, FileTooLargeError

log = logging.getLogger(__name__)
# A 20 MB file on a slow link: generous reads, a short connect.
DOWNLOAD_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class TelegramDownloader:
    """Implements the file store's Downloader with the bot's Bot (getFile) and a streaming HTTP client.

    PTB reads a file whole and joins its chunks on the event loop, some 50-100 ms for a 20 MB photo; here the
    chunks are collected as they arrive and joined in a thread.
    """

    def __init__(self, bot: Bot, max_upload_bytes: int) -> None:
        self._bot = bot
        self._limit = max_upload_bytes
        self._http = httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT, follow_redirects=True)

    async def download(self, file_id: str, size: int | None = None) -> bytes:
        """A Telegram file's bytes; files over the limit are refused before anything is downloaded."""
        if size is not None and size > self._limit:
            raise FileTooLargeError(size / 1e6, self._limit / 1e6)
        try:
            file = await self._bot.get_file(file_id)
            if file.file_size and file.file_size > self._limit:
                raise FileTooLargeError(file.file_size / 1e6, self._limit / 1e6)
            path = str(file.file_path or "")
            if not path.startswith(("http://", "https://")):  # a local Bot API server hands out local paths
                data = await file.download_as_bytearray()
                return await asyncio.to_thread(bytes, data)
            return await self._fetch(_encoded(path))
        except BadRequest as exc:
            if "too big" in str(exc).lower():  # Bot API servers serve at most 20 MB
                raise FileTooLargeError((size or 0) / 1e6, self._limit / 1e6) from exc
            raise DownloadUnavailableError(f"Telegram no longer has that file ({exc})") from exc
        except NetworkError as exc:  # timeouts and 5xx: the file may well be there a moment later
            raise DownloadUnavailableError(f"getFile or the download failed: {exc}") from exc

    async def _fetch(self, url: str) -> bytes:
        """Stream a file, refusing it once it passes the limit; the chunks are joined off the loop."""
        chunks: list[bytes] = []
        received = 0
        try:
            async with self._http.stream("GET", url) as response:
                if response.status_code >= 400:
                    raise DownloadUnavailableError(f"the download failed: HTTP {response.status_code}")
                async for chunk in response.aiter_bytes():
                    received += len(chunk)
                    if received > self._limit:
                        raise FileTooLargeError(received / 1e6, self._limit / 1e6)
                    chunks.append(chunk)
        except httpx.HTTPError as exc:  # timeouts, resets: the file may well be there a moment later
            raise DownloadUnavailableError(f"the download failed: {type(exc).__name__}: {exc}") from exc
        return await asyncio.to_thread(b"".join, chunks)


def _encoded(url: str) -> str:
    """The URL with its path percent-encoded, as PTB sends it."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=urllib.parse.quote(parts.path)))
