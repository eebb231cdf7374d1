"""Delivery of painted results: each in its own task, retried with backoff until Telegram takes it or it expires."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.core import logcontext
from bot.core.models import Job
from bot.jobs.layout import JobFiles
from bot.jobs.lifecycle import Lifecycle
from bot.jobs.notifier_port import (
    ChatMigratedError,
    ChatUnreachableError,
    Notifier,
    Receipt,
    RejectedError,
    Result,
    Status,
    TransientError,
)
from bot.jobs.supervise import TaskSet
from bot.store.storage import Storage

log = logging.getLogger(__name__)

SAFETY_POLL_S = 5.0  # the loop looks again this often even when nothing woke it
# Delivery of a painted result is retried this long (about 20 min in all) before it counts as undeliverable.
DELIVERY_BACKOFF_S = (5.0, 15.0, 60.0, 180.0, 300.0, 600.0)


class Delivery:
    """Finds results waiting in 'delivering' and hands each to the notifier; the outcome decides the move."""

    def __init__(
        self,
        lifecycle: Lifecycle,
        storage: Storage,
        notifier: Notifier,
        jobs_dir: Path,
        tasks: TaskSet,
        clock: Callable[[], float],
        *,
        on_unreachable: Callable[[int, str], Awaitable[None]],
        on_migrated: Callable[[int, int], Awaitable[None]],
    ) -> None:
        self._lifecycle, self._storage, self._notifier, self._jobs_dir = lifecycle, storage, notifier, jobs_dir
        self._tasks, self._clock = tasks, clock
        self._on_unreachable, self._on_migrated = on_unreachable, on_migrated
        self._delivering: set[int] = set()

    async def run(self) -> None:
        """The loop: start a delivery for every result that is due, then sleep until the next is due or a wake."""
        due = self._lifecycle.delivery_due
        while True:
            now = self._clock()
            next_due = now + SAFETY_POLL_S
            for job in await self._storage.delivering_jobs():
                if job.id in self._delivering:
                    continue
                if job.deliver_after is not None and job.deliver_after > now:
                    next_due = min(next_due, job.deliver_after)
                    continue
                self._delivering.add(job.id)
                self._tasks.spawn(self._deliver(job), name=f"deliver-{job.id}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(due.wait(), max(0.05, next_due - now))
            due.clear()

    async def _deliver(self, job: Job) -> None:
        """One delivery attempt; its outcome decides the job's state, never the other way round."""
        logcontext.bind(job.id, job.chat_id, job.user_id)
        files = JobFiles(Path(job.result_dir or JobFiles.of(self._jobs_dir, job.id).root))
        document = files.document if await asyncio.to_thread(files.document.is_file) else None
        clip = files.clip(job.params.media) if job.params.is_clip else None
        notes = tuple((await asyncio.to_thread(_read_notes, files.notes)).split()) if clip is not None else ()
        result = Result(files.photo, document, job.run_seconds or 0.0, clip, notes)
        try:
            receipt = await self._notifier.deliver(job, result)
        except ChatUnreachableError as exc:
            await self._on_unreachable(job.chat_id, str(exc))
        except ChatMigratedError as exc:  # the group became a supergroup: the job moves there, delivered at once
            await self._on_migrated(job.chat_id, exc.new_chat_id)
        except RejectedError as exc:
            await self._lifecycle.move(job.id, "undeliverable", error=str(exc))
        except Exception as exc:  # TransientError, or something unforeseen: the result is kept and tried again
            if not isinstance(exc, TransientError):
                log.exception("delivering job %d failed unexpectedly", job.id)
            await self._postpone(job, str(exc))
        else:
            await self._delivered(job, receipt)
        finally:
            self._delivering.discard(job.id)
            self._lifecycle.delivery_due.set()

    async def _delivered(self, job: Job, receipt: Receipt) -> None:
        """The result is in Telegram: the job is done."""
        status = Status("done", seconds=job.run_seconds)
        await self._lifecycle.move(
            job.id, "delivered", status, result_file_id=receipt.file_id, result_message_id=receipt.message_id
        )

    async def _postpone(self, job: Job, reason: str) -> None:
        """A passing failure: try again later, until the backoff schedule runs out."""
        attempts = job.deliveries + 1
        if attempts > len(DELIVERY_BACKOFF_S):
            error = f"gave up after {attempts} attempts: {reason}"
            if await self._lifecycle.move(job.id, "undeliverable", error=error) is not None:
                log.info("job %d is undeliverable: %s", job.id, error)
            return
        wait = DELIVERY_BACKOFF_S[attempts - 1]
        log.warning("job %d: delivery failed (%s); attempt %d, next in %.0f s", job.id, reason, attempts, wait)
        await self._lifecycle.move(job.id, "postpone", deliver_after=self._clock() + wait)


def _read_notes(path: Path) -> str:
    """A clip's notes file, or nothing."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""
