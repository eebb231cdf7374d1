"""Telegram files on disk: downloaded once when a job needs them, checked cheaply, cached by file_id, capped."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import os
from collections.abc import AsyncGenerator, Iterable
from pathlib import Path
from typing import Protocol

from bot.core.errors import FileTooLargeError
from engine.imaging import probe_image
from engine.video_io import TGS_SUFFIX, ClipInfo, ClipLimits, probe_clip

log = logging.getLogger(__name__)
CLIP_SUFFIX = ".clip"
GZIP_MAGIC = b"\x1f\x8b"


class Downloader(Protocol):
    """Fetches a file's bytes by its Telegram file id (the Telegram layer provides it)."""

    def stream(self, file_id: str, size: int | None = None) -> AsyncGenerator[bytes, None]:
        """The file's bytes as they arrive; FileTooLargeError or DownloadUnavailableError when it cannot be had."""


class FileStore:
    """Downloads images into the cache directory, checks they decode, and keeps the cache under a quota."""

    def __init__(
        self,
        downloader: Downloader,
        directory: Path,
        *,
        quota_bytes: int,
        max_pixels: int,
        decode_side: int,
        max_bytes: int,
        clip_max_bytes: int | None = None,
    ) -> None:
        self._downloader = downloader
        self._max_bytes = max_bytes  # the largest upload taken, counted as the bytes arrive
        self._clip_max_bytes = clip_max_bytes or max_bytes  # clips (GIFs, videos) may be larger than photos
        self._dir = directory
        self._quota = quota_bytes
        self._max_pixels = max_pixels
        self._decode_side = decode_side
        # One decode at a time: a flood of huge images then costs one image's memory, not one per upload.
        self._decoding = asyncio.Semaphore(1)

    def path_for(self, file_id: str) -> Path:
        """Where the file with this id is cached."""
        return self._dir / hashlib.sha256(file_id.encode()).hexdigest()[:32]

    async def fetch_image(self, file_id: str, size: int | None = None) -> Path:
        """The cached path of an image, downloading and checking it first if needed.

        Raises InvalidImageError, FileTooLargeError or DownloadUnavailableError.
        """
        path = self.path_for(file_id)
        if path.is_file():
            os.utime(path)  # recently used: the quota evicts it last
            return path
        data = await self._download(file_id, size)
        async with self._decoding:
            await asyncio.to_thread(probe_image, data, self._max_pixels, self._decode_side)
        await asyncio.to_thread(_write_atomically, path, data)
        await asyncio.to_thread(enforce_quota, self._dir, self._quota)
        return path

    async def download(self, file_id: str) -> bytes:
        """A Telegram file's bytes, not cached (a result the bot sent, say)."""
        return await self._download(file_id, None)

    def clip_paths(self, file_id: str) -> tuple[Path, Path]:
        """Where a clip with this id is cached: an animated sticker (gzipped Lottie) keeps .tgs, the rest .clip."""
        base = self.path_for(file_id)
        return base.with_suffix(TGS_SUFFIX), base.with_suffix(CLIP_SUFFIX)

    async def fetch_clip(self, file_id: str, size: int | None, limits: ClipLimits) -> tuple[Path, ClipInfo]:
        """The cached path of a clip and what its header says, downloading it first if needed.

        Raises ClipError (engine.errors) for a damaged clip or one over `limits`, FileTooLargeError or
        DownloadUnavailableError. Probing runs in a thread: it opens the container and reads headers.
        """
        for path in self.clip_paths(file_id):
            if path.is_file():
                os.utime(path)
                return path, await asyncio.to_thread(probe_clip, path, limits)
        tgs, other = self.clip_paths(file_id)
        # Streamed to disk (a clip may be 2000 MB with an own Bot API server: never whole in memory), then
        # probed under a temporary name with the right suffix, so a bad clip never enters the cache.
        download = other.with_name(f"{other.stem}.download.tmp{os.getpid()}")
        try:
            head = await self._download_to(file_id, size, download)
            path = tgs if head[:2] == GZIP_MAGIC else other
            probing = path.with_name(f"{path.stem}.tmp{os.getpid()}{path.suffix}")
            await asyncio.to_thread(os.replace, download, probing)
            try:
                async with self._decoding:
                    info = await asyncio.to_thread(probe_clip, probing, limits)
                await asyncio.to_thread(os.replace, probing, path)
            finally:
                await asyncio.to_thread(_unlink, probing)
        finally:
            await asyncio.to_thread(_unlink, download)
        await asyncio.to_thread(enforce_quota, self._dir, self._quota)
        return path, dataclasses.replace(info, path=str(path))

    async def _download_to(self, file_id: str, size: int | None, path: Path) -> bytes:
        """Stream a clip into `path`, stopping past the clip limit; returns its first bytes (to tell TGS apart)."""
        limit, written, head = self._clip_max_bytes, 0, b""
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = await asyncio.to_thread(path.open, "wb")
        try:
            async with contextlib.aclosing(self._downloader.stream(file_id, size)) as chunks:
                async for chunk in chunks:
                    head = head or bytes(chunk[:16])
                    written += len(chunk)
                    if written > limit:
                        log.warning(
                            "%s passed %d bytes while downloading (stated: %s); stopped", file_id, written, size
                        )
                        raise FileTooLargeError(None, limit / 1e6)
                    await asyncio.to_thread(handle.write, chunk)
        finally:
            await asyncio.to_thread(handle.close)
        return head

    async def _download(self, file_id: str, size: int | None, max_bytes: int | None = None) -> bytes:
        """The file's bytes, stopping as soon as they pass the limit: the size Telegram states may be wrong."""
        limit = max_bytes or self._max_bytes
        data = bytearray()
        async with contextlib.aclosing(self._downloader.stream(file_id, size)) as chunks:
            async for chunk in chunks:
                data += chunk
                if len(data) > limit:
                    log.warning("%s passed %d bytes while downloading (stated: %s); stopped", file_id, len(data), size)
                    raise FileTooLargeError(None, limit / 1e6)
        return await asyncio.to_thread(bytes, data)  # a 20 MB copy: off the loop

    async def remove(self, file_ids: Iterable[str]) -> int:
        """Delete cached copies of these files; returns how many existed."""
        ids = set(file_ids)
        paths = [self.path_for(file_id) for file_id in ids] + [p for i in ids for p in self.clip_paths(i)]
        return await asyncio.to_thread(lambda: sum(_unlink(p) for p in paths))


def enforce_quota(directory: Path, quota_bytes: int) -> int:
    """Delete the least recently used cached files until the folder fits its quota; returns how many."""
    if not directory.is_dir():
        return 0
    entries = sorted(_cached_files(directory))
    total = sum(size for _, size, _ in entries)
    removed = 0
    for _, size, path in entries:
        if total <= quota_bytes:
            break
        removed += _unlink(path)
        total -= size
    if removed:
        log.info("file cache over its quota: removed %d least recently used file(s)", removed)
    return removed


def _cached_files(directory: Path) -> list[tuple[float, int, Path]]:
    """(mtime, size, path) of the finished cached files; a download being written (or just gone) is skipped."""
    entries = []
    for entry in os.scandir(directory):
        if ".tmp" in entry.name:
            continue
        try:
            if entry.is_file():
                stat = entry.stat()
                entries.append((stat.st_mtime, stat.st_size, Path(entry.path)))
        except FileNotFoundError:  # removed by a concurrent purge or quota pass
            continue
    return entries


def _unlink(path: Path) -> int:
    """Delete a file; 1 if it existed."""
    try:
        path.unlink()
    except FileNotFoundError:
        return 0
    return 1


def _write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file, so a crash never leaves half a file under the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def probe_space(directory: Path, size: int) -> None:
    """Write `size` bytes to a file in the directory, fsync them and remove it; OSError when the disk cannot.

    A lock or a rewrite in place needs no free space, so only a write that allocates tells a full disk.
    """
    path = directory / f".space-probe-{os.getpid()}"
    try:
        with path.open("wb") as probe:
            probe.write(bytes(size))
            probe.flush()
            os.fsync(probe.fileno())
    finally:
        path.unlink(missing_ok=True)
