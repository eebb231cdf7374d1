"""The periodic clean-up: old job files, cached downloads, and database rows past their keep time."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from pathlib import Path

from bot.config import Settings
from bot.core.models import Job
from bot.store.storage import Storage

log = logging.getLogger(__name__)


async def purge(settings: Settings, storage: Storage) -> dict[str, int]:
    """Delete what has outlived its keep time; returns how many of each kind went."""
    keep = settings.keep_files_s
    counts = {
        "job folders": await asyncio.to_thread(
            purge_old, settings.jobs_dir, keep, _unfinished(await storage.delivering_jobs())
        ),
        # Cached downloads can always be fetched again by file_id, so they expire the same way.
        "cached files": await asyncio.to_thread(purge_old, settings.files_dir, keep),
    }
    counts.update(await storage.prune(settings.keep_jobs_days * 86400))
    if any(counts.values()):
        log.info("purged %s", ", ".join(f"{n} {kind}" for kind, n in counts.items() if n))
    return counts


def _unfinished(jobs: list[Job]) -> frozenset[str]:
    """Folder names of results still waiting for delivery: never purged."""
    return frozenset(str(job.id) for job in jobs)


def purge_old(root: Path, max_age_s: float, keep: frozenset[str] = frozenset()) -> int:
    """Delete the entries of `root` not modified for `max_age_s` seconds (except `keep`); returns how many."""
    if not root.is_dir():
        return 0
    cutoff = time.time() - max_age_s
    old = [entry for entry in root.iterdir() if entry.name not in keep and entry.stat().st_mtime < cutoff]
    for entry in old:
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    return len(old)
