"""The job runner: queue to worker to chat, with progress, retries, cancel and restart recovery."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from telegram.error import TelegramError

from bot.config import Settings
from bot.core.models import Job, JobParams, StyleRef
from bot.core.recipes import TIERS, style_params
from bot.jobs.pool import WorkerPool
from bot.jobs.protocol import (
    Event,
    JobCancelled,
    JobDone,
    JobFailed,
    JobProgress,
    Ready,
    RunJob,
    WorkerCrashed,
    WorkerFatal,
)
from bot.presets.library import Preset, PresetError, PresetLibrary, default_title
from bot.store.files import FileStore
from bot.store.storage import Storage
from bot.telegram import keyboards, texts
from bot.telegram.gateway import TelegramGateway

log = logging.getLogger(__name__)


class UnavailableError(Exception):
    """The painting workers cannot run at all; the message is for the user."""


MAX_ATTEMPTS = 2  # a job whose worker crashed is retried once
PURGE_INTERVAL_S = 3600


class JobRunner:
    """Owns the queue's life: submits, dispatches to workers, reports progress and delivers results."""

    def __init__(
        self,
        storage: Storage,
        pool: WorkerPool,
        gateway: TelegramGateway,
        files: FileStore,
        presets: PresetLibrary,
        settings: Settings,
    ) -> None:
        self._storage, self._pool, self._gateway = storage, pool, gateway
        self._files, self._presets, self._settings = files, presets, settings
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._last_edit: dict[int, float] = {}
        self._last_text: dict[int, str] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def on_event(self, event: Event) -> None:
        """Called by the pool on the event loop; events are handled in order by one task."""
        self._events.put_nowait(event)

    async def start(self) -> None:
        """Re-queue what a previous run left, start the workers and the dispatch loop."""
        recovered = await self._storage.recover_after_restart()
        self._pool.start()
        self._tasks = [
            asyncio.create_task(self._dispatch_loop(), name="dispatch"),
            asyncio.create_task(self._event_loop(), name="events"),
            asyncio.create_task(self._purge_loop(), name="purge"),
        ]
        for job in recovered:
            position = await self._storage.queue_position(job.id) or 1
            await self._status(job, texts.RESTARTED.format(position=position), force=True)
        if recovered:
            log.info("recovered %d queued job(s) after restart", len(recovered))

    async def stop(self) -> None:
        """Stop dispatching and stop the workers; running jobs stay 'running' and rerun on restart."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._pool.stop()

    async def submit(
        self,
        chat_id: int,
        user_id: int,
        user_name: str | None,
        content_file_id: str,
        styles: Sequence[StyleRef],
        params: JobParams,
        *,
        reply_to: int | None = None,
        parent_job_id: int | None = None,
    ) -> Job:
        """Queue a job (QueueFullError when a cap is reached) and post its status message."""
        if self._pool.fatal is not None:
            raise UnavailableError(texts.UNAVAILABLE)
        job = await self._storage.enqueue(
            chat_id,
            user_id,
            user_name,
            content_file_id,
            list(styles),
            params,
            reply_to_message_id=reply_to,
            parent_job_id=parent_job_id,
            per_user_limit=self._settings.jobs_per_user,
            queue_limit=self._settings.queue_length,
        )
        position = await self._storage.queue_position(job.id) or 1
        text = texts.QUEUED.format(position=position, eta=texts.eta(await self._queue_eta(position)))
        message = await self._gateway.send_text(chat_id, text, reply_to=reply_to)
        await self._storage.set_status_message(job.id, message.message_id)
        self._last_text[job.id] = text
        self._wake.set()
        return dataclasses.replace(job, status_message_id=message.message_id)

    async def cancel(self, chat_id: int, user_id: int) -> int:
        """Cancel the user's queued and running jobs in this chat; returns how many."""
        count = 0
        for job in await self._storage.active_jobs(user_id, chat_id):
            cancelled = await self._storage.request_cancel(job.id)
            if cancelled is None:
                continue
            count += 1
            if cancelled.status == "running":
                self._pool.cancel(job.id)  # the worker answers JobCancelled within a step
            else:
                await self._status(cancelled, texts.CANCELLED_STATUS, force=True)
        return count

    async def describe(self, chat_id: int, user_id: int) -> list[tuple[Job, int | None, float | None]]:
        """The user's active jobs with queue position and ETA in seconds."""
        rows = []
        for job in await self._storage.active_jobs(user_id, chat_id):
            position = await self._storage.queue_position(job.id)
            eta = job.eta_s if job.status == "running" else await self._queue_eta(position or 1)
            rows.append((job, position, eta))
        return rows

    async def _queue_eta(self, position: int, average: float | None = None) -> float | None:
        """Rough wait for a queue position, from recent run times (looked up unless given)."""
        average = average if average is not None else await self._storage.average_run_seconds()
        if average is None:
            return None
        return average * position / max(1, self._settings.workers)

    async def _dispatch_loop(self) -> None:
        """Whenever a worker is idle and a job waits, start the next job fairly."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pool.idle_workers() > 0:
                job = await self._storage.claim_next()
                if job is None:
                    break
                try:
                    await self._launch(job)
                except Exception:  # one job's problem must not stop the dispatcher
                    log.exception("could not start job %d", job.id)
                    await self._fail(job, texts.FAILED_INTERNAL)
            await self._refresh_positions()

    async def _refresh_positions(self) -> None:
        """Tell waiting users their new queue position (edits throttled per chat, unchanged ones skipped)."""
        average = await self._storage.average_run_seconds()
        for position, job_id in enumerate(await self._storage.queue_order(), start=1):
            job = await self._storage.get_job(job_id)
            if job is not None:
                eta = texts.eta(await self._queue_eta(position, average))
                await self._status(job, texts.QUEUED.format(position=position, eta=eta))

    async def _launch(self, job: Job) -> None:
        """Fetch the inputs and hand the job to a worker."""
        try:
            content = await self._files.fetch_image(job.content_file_id)
            style_paths = [await self._style_path(ref) for ref in job.styles]
        except Exception as exc:
            log.warning("job %d: inputs unavailable: %s", job.id, exc)
            await self._fail(job, texts.FAILED.format(reason=str(exc) or "the photo is no longer available."))
            return
        total = sum(ref.weight for ref in job.styles)
        blend = tuple(ref.weight / total for ref in job.styles)
        params = style_params(job.params, blend, max_side=self._settings.max_side, steps=self._settings.steps)
        request = RunJob(
            job_id=job.id,
            content_path=str(content),
            style_paths=tuple(str(p) for p in style_paths),
            params=dataclasses.asdict(params),
            out_dir=str(self._job_dir(job.id)),
            hd=job.params.quality == "hd",
            report_every=max(1, params.steps // 20),
        )
        current = await self._storage.get_job(job.id)
        if current is None or current.cancel_requested:
            await self._storage.mark_cancelled(job.id)
            await self._status(job, texts.CANCELLED_STATUS, force=True)
            return
        if not self._pool.submit(request):
            await self._storage.requeue(job.id)
            return
        await self._status(job, texts.STARTING, force=True)

    async def _style_path(self, ref: StyleRef) -> Path:
        """The image file of a style: a preset on disk or a downloaded Telegram file."""
        if ref.kind == "preset":
            assert ref.name is not None
            return self._presets.get(ref.name).path
        assert ref.file_id is not None
        return await self._files.fetch_image(ref.file_id)

    async def _purge_loop(self) -> None:
        """Hourly: delete job files (making-of animations) and cached downloads past their keep time."""
        while True:
            keep = self._settings.keep_files_s
            removed = await asyncio.to_thread(purge_old, self._settings.jobs_dir, keep)
            # Cached downloads can always be fetched again by file_id, so they expire the same way.
            removed += await asyncio.to_thread(purge_old, self._settings.files_dir, keep)
            sessions = await self._storage.purge_expired_sessions()
            if removed or sessions:
                log.info("purged %d old file(s) or folder(s) and %d expired session(s)", removed, sessions)
            await asyncio.sleep(PURGE_INTERVAL_S)

    def _job_dir(self, job_id: int) -> Path:
        """Scratch directory of a job."""
        return self._settings.jobs_dir / str(job_id)

    async def _event_loop(self) -> None:
        """Handle worker events one at a time, in order."""
        while True:
            event = await self._events.get()
            try:
                await self._handle(event)
            except Exception:
                log.exception("handling %s failed", type(event).__name__)

    async def _handle(self, event: Event) -> None:
        """Act on one worker event."""
        if isinstance(event, Ready):
            self._wake.set()
        elif isinstance(event, WorkerFatal):
            log.critical("a worker cannot start: %s", event.message)
            await self._fail_everything()
            await self._tell_admins(texts.ADMIN_WORKERS_DOWN.format(reason=event.message))
        elif isinstance(event, JobProgress):
            await self._progress(event)
        elif isinstance(event, JobDone):
            await self._deliver(event)
            self._wake.set()
        elif isinstance(event, JobFailed):
            await self._failed(event)
            self._wake.set()
        elif isinstance(event, JobCancelled):
            job = await self._storage.get_job(event.job_id)
            await self._storage.mark_cancelled(event.job_id)
            if job is not None:
                await self._status(job, texts.CANCELLED_STATUS, force=True)
            self._cleanup(event.job_id)
            self._wake.set()
        elif isinstance(event, WorkerCrashed):
            await self._crashed(event)

    async def _tell_admins(self, text: str) -> None:
        """Message every admin; one who never started a chat with the bot is skipped."""
        for admin in sorted(self._settings.admin_ids):
            try:
                await self._gateway.send_text(admin, self._settings.redact(text))
            except TelegramError as exc:
                log.warning("could not tell admin %s: %s", admin, exc)

    async def _fail_everything(self) -> None:
        """No worker can run (e.g. the model weights are missing): tell everyone waiting instead of hanging."""
        for job in await self._storage.running_jobs():
            await self._fail(job, texts.UNAVAILABLE)
        for job_id in await self._storage.queue_order():
            queued = await self._storage.get_job(job_id)
            if queued is not None:
                await self._fail(queued, texts.UNAVAILABLE)

    async def _progress(self, event: JobProgress) -> None:
        """Store progress and edit the status message, throttled per chat."""
        await self._storage.set_progress(event.job_id, event.fraction, event.eta_s)
        job = await self._storage.get_job(event.job_id)
        if job is not None and job.status == "running":
            percent = min(99, round(event.fraction * 100))
            await self._status(job, texts.PROGRESS.format(percent=percent, eta=texts.eta(event.eta_s)))

    async def _deliver(self, event: JobDone) -> None:
        """Send the result once, record it, and close the status message."""
        job = await self._storage.get_job(event.job_id)
        if job is None or job.status != "running":
            self._cleanup(event.job_id)
            return
        photo = await asyncio.to_thread(Path(event.photo_path).read_bytes)
        document = await asyncio.to_thread(Path(event.document_path).read_bytes) if event.document_path else None
        markup = keyboards.result(job.id, job.params.keep_colors, job.params.quality == "hd")
        message = await self._gateway.send_result(
            job.chat_id,
            photo,
            await self._caption(job, event),
            document=document,
            reply_to=job.reply_to_message_id,
            markup=markup,
        )
        file_id = message.photo[-1].file_id if message.photo else message.document.file_id  # type: ignore[union-attr]
        await self._storage.mark_done(job.id, file_id, message.message_id, making_of_path=event.making_of_path)
        await self._status(job, texts.DONE.format(seconds=texts.duration(event.seconds)), force=True)
        # The result now lives in Telegram; the making-of stays with the job's files until they expire.
        for path in (event.photo_path, event.document_path):
            if path:
                Path(path).unlink(missing_ok=True)
        self._last_text.pop(job.id, None)

    async def _caption(self, job: Job, event: JobDone) -> str:
        """Style (the painting's title and artist), quality, strength and time taken."""
        titles = await asyncio.to_thread(self._style_titles, job)
        quality = TIERS[job.params.quality].label
        colours = " · photo colours" if job.params.keep_colors else ""
        credit = f"\nfor {job.user_name}" if job.chat_id < 0 and job.user_name else ""
        return (
            f"🎨 {titles}\n{quality} {event.size[0]}×{event.size[1]} · {job.params.strength} strength"
            f"{colours} · {texts.duration(event.seconds)}{credit}"
        )

    def _style_titles(self, job: Job) -> str:
        """'The Starry Night — Vincent van Gogh, 1889', or a blend's titles with their shares."""
        total = sum(ref.weight for ref in job.styles)
        names = []
        for ref in job.styles:
            preset = self._find_preset(ref.name) if ref.kind == "preset" else None
            if len(job.styles) == 1:
                names.append(preset.label if preset else default_title(ref.name or "") or "your style photo")
            else:
                title = preset.title if preset else default_title(ref.name or "") or "your style photo"
                names.append(f"{title} {ref.weight / total:.0%}")
        return " + ".join(names)

    def _find_preset(self, name: str | None) -> Preset | None:
        """A preset by name, or None if it was removed since the job started."""
        try:
            return self._presets.get(name) if name else None
        except PresetError:
            return None

    async def _failed(self, event: JobFailed) -> None:
        """A job failed in the engine: the user's input, or our problem (retried once)."""
        job = await self._storage.get_job(event.job_id)
        if job is None:
            return
        if event.user_error:
            await self._fail(job, texts.FAILED.format(reason=event.message))
        else:
            await self._retry_or_fail(job)

    async def _crashed(self, event: WorkerCrashed) -> None:
        """A worker died: retry its job once, then give up with a message."""
        if event.job_id is None:
            return
        job = await self._storage.get_job(event.job_id)
        if job is None or job.status != "running":
            return
        if job.cancel_requested:
            await self._storage.mark_cancelled(job.id)
            await self._status(job, texts.CANCELLED_STATUS, force=True)
            return
        await self._retry_or_fail(job)

    async def _retry_or_fail(self, job: Job) -> None:
        """Requeue a job that has attempts left, else fail it."""
        if job.attempts < MAX_ATTEMPTS:
            await self._storage.requeue(job.id)
            await self._status(job, texts.RETRYING, force=True)
            self._wake.set()
        else:
            await self._fail(job, texts.FAILED_INTERNAL)

    async def _fail(self, job: Job, text: str) -> None:
        """Mark a job failed and say so in its status message."""
        await self._storage.mark_failed(job.id, text)
        await self._status(job, text, force=True)
        self._cleanup(job.id)

    async def _status(self, job: Job, text: str, *, force: bool = False) -> None:
        """Edit the job's status message; progress edits are throttled per chat to respect rate limits."""
        if job.status_message_id is None or self._last_text.get(job.id) == text:
            return
        now = time.monotonic()
        if not force and now - self._last_edit.get(job.chat_id, -1e9) < self._settings.status_interval_s:
            return
        self._last_edit[job.chat_id] = now
        self._last_text[job.id] = text
        await self._gateway.edit_text(job.chat_id, job.status_message_id, text)

    def _cleanup(self, job_id: int) -> None:
        """Delete a finished job's scratch files."""
        shutil.rmtree(self._job_dir(job_id), ignore_errors=True)
        self._last_text.pop(job_id, None)


def purge_old(root: Path, max_age_s: float) -> int:
    """Delete the entries (files or folders) of `root` not modified for `max_age_s` seconds; returns how many."""
    if not root.is_dir():
        return 0
    cutoff = time.time() - max_age_s
    old = [entry for entry in root.iterdir() if entry.stat().st_mtime < cutoff]
    for entry in old:
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    return len(old)
