"""Telegram files on disk: downloaded once, validated, cached by file_id."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from bot.telegram.gateway import TelegramGateway
from engine.imaging import load_image


class FileStore:
    """Downloads Telegram files into the cache directory and checks that they are images."""

    def __init__(self, gateway: TelegramGateway, directory: Path) -> None:
        self._gateway = gateway
        self._dir = directory

    def path_for(self, file_id: str) -> Path:
        """Where the file with this id is cached."""
        return self._dir / hashlib.sha256(file_id.encode()).hexdigest()[:32]

    async def fetch_image(self, file_id: str, size: int | None = None) -> Path:
        """The cached path of an image, downloading and validating it first if needed.

        Raises InvalidImageError or FileTooLargeError for images a user must replace.
        """
        path = self.path_for(file_id)
        if path.is_file():
            return path
        data = await self._gateway.download(file_id, size)
        await asyncio.to_thread(load_image, data)  # decoding is CPU work: keep it off the event loop
        await asyncio.to_thread(_write_atomically, path, data)
        return path


def _write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file, so a crash never leaves half a file under the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
