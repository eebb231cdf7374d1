"""The dispatcher: queue to worker to delivery. It owns every job state change and speaks no Telegram.

People are told about their jobs through the notifier port; whether Telegram answered never changes a
job's state, and a job always ends in one of the final states (done, failed, cancelled, undeliverable).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.config import Settings
from bot.core.errors import DownloadUnavailableError, UnavailableError
from bot.core.models import Job, JobParams, StyleRef
from bot.core.recipes import style_params
from bot.jobs.executor import Executor
from bot.jobs.layout import JobFiles
from bot.jobs.notifier import ChatUnreachableError, Notifier, Receipt, RejectedError, Result, Status, TransientError
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
from bot.jobs.supervise import TaskSet, supervised
from bot.presets.library import PresetLibrary
from bot.store.files import FileStore
from bot.store.storage import Storage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 2  # a job whose worker crashed is retried once
SAFETY_POLL_S = 5.0  # the loops look again this often even when nothing woke them
INPUT_RETRIES_S = (1.0, 2.0, 4.0, 8.0, 15.0)  # waits between tries to fetch a job's photos from Telegram
# Delivery of a painted result is retried this long (about 20 min in all) before it counts as undeliverable.
DELIVERY_BACKOFF_S = (5.0, 15.0, 60.0, 180.0, 300.0, 600.0)


class Dispatcher:
    """Claims queued jobs fairly, runs them on the worker pool, retries, cancels and delivers."""

    def __init__(
        self,
        storage: Storage,
        pool: Executor,
        notifier: Notifier,
        files: FileStore,
        presets: PresetLibrary,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._storage, self._pool, self._notifier = storage, pool, notifier
        self._files, self._presets, self._settings = files, presets, settings
        self._clock = clock
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._deliver_wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._tasks = TaskSet()
        self._launching = 0
        self._delivering: set[int] = set()
        self._admins_told = False
        notifier.on_unreachable = self.chat_unreachable

    # -- life cycle ---------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Called by the pool on the event loop; events are handled in order by one task."""
        self._events.put_nowait(event)

    async def start(self) -> None:
        """Requeue what a previous run left, start the workers and the loops; never waits on Telegram."""
        # Executor hook: a cluster may still be painting jobs of the previous run; those are not requeued.
        running = frozenset(job.id for job in await self._storage.running_jobs())
        recovered = await self._storage.recover_after_restart(await self._pool.reattach(running))
        for chat_id in await self._storage.unreachable_chats():
            self._notifier.mute(chat_id)
        self._pool.start()
        self._loops = [
            supervised("dispatch", self._dispatch_loop),
            supervised("events", self._event_loop),
            supervised("delivery", self._delivery_loop),
        ]
        order = await self._storage.queue_order()
        for job in recovered:
            position = order.index(job.id) + 1 if job.id in order else 1
            self._notifier.show(job, Status("restarted", position=position))
        if recovered:
            log.info("recovered %d queued job(s) after restart", len(recovered))

    async def stop(self) -> None:
        """Stop the loops and the workers; running jobs stay 'running' and run again on restart."""
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await self._tasks.cancel_all()
        await self._pool.stop()

    # -- requests from the service ------------------------------------------

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
        """Queue a job (QueueFullError when a cap is reached) and have its status message posted."""
        if self._pool.fatal is not None:
            raise UnavailableError(self._admins_told)
        self._pool.check_accepting()  # executor hook: e.g. the cluster's broker is down, "try again shortly"
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
        self._notifier.show(job, Status("queued", position=position, eta_s=await self._queue_eta(position)))
        self._wake.set()
        return job

    async def cancel(self, chat_id: int, user_id: int) -> int:
        """Cancel the user's queued and running jobs in this chat at once; returns how many."""
        count = 0
        for job in await self._storage.active_jobs(user_id, chat_id):
            before = await self._storage.request_cancel(job.id)
            if before is None:
                continue
            count += 1
            if before.status == "running":
                self._pool.cancel(job.id)  # the worker stops within a step; its slot is reused after that
            self._notifier.show(job, Status("cancelled"))
        self._wake.set()
        return count

    async def describe(self, chat_id: int, user_id: int) -> list[tuple[Job, int | None, float | None]]:
        """The user's active jobs with queue position and ETA in seconds."""
        rows = []
        for job in await self._storage.active_jobs(user_id, chat_id):
            position = await self._storage.queue_position(job.id)
            eta = job.eta_s if job.status == "running" else await self._queue_eta(position or 1)
            rows.append((job, position, eta))
        return rows

    async def chat_unreachable(self, chat_id: int, reason: str) -> None:
        """The chat blocked or removed the bot: end its jobs as undeliverable and send nothing more there."""
        self._notifier.mute(chat_id)
        await self._storage.set_chat_unreachable(chat_id, reason)
        for job in await self._storage.unfinished_jobs_in_chat(chat_id):
            if await self._storage.mark_undeliverable(job.id, reason):
                if job.status == "running":
                    self._pool.cancel(job.id)
                JobFiles.of(self._settings.jobs_dir, job.id).remove()
                log.info("job %d is undeliverable: %s", job.id, reason)
        self._wake.set()

    async def chat_reachable(self, chat_id: int) -> None:
        """Someone in the chat wrote to the bot: it may be answered again."""
        self._notifier.unmute(chat_id)
        if await self._storage.set_chat_reachable(chat_id):
            log.info("chat %d can be reached again", chat_id)

    @property
    def unavailable(self) -> bool:
        """Whether painting cannot run at all (no worker can load the model)."""
        return self._pool.fatal is not None

    @property
    def admins_told(self) -> bool:
        """Whether at least one operator has been told that painting is unavailable."""
        return self._admins_told

    # -- dispatching ----------------------------------------------------------

    async def _queue_eta(self, position: int, average: float | None = None) -> float | None:
        """Rough wait for a queue position, from recent run times (looked up unless given)."""
        average = average if average is not None else await self._storage.average_run_seconds()
        if average is None:
            return None
        return average * position / max(1, self._settings.workers)

    async def _dispatch_loop(self) -> None:
        """Whenever a worker is idle and a job waits, start the next job fairly."""
        while True:
            await self._dispatch_ready()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), SAFETY_POLL_S)
            self._wake.clear()

    async def _dispatch_ready(self) -> None:
        """Claim as many jobs as there are idle workers; each is launched in its own task."""
        while self._pool.idle_workers() > self._launching:
            job = await self._storage.claim_next()
            if job is None:
                break
            self._launching += 1
            self._tasks.spawn(self._launch(job), name=f"launch-{job.id}")
        await self._refresh_positions()

    async def _refresh_positions(self) -> None:
        """Tell waiting users their queue position (the notifier skips unchanged and throttled ones)."""
        average = await self._storage.average_run_seconds()
        for position, job_id in enumerate(await self._storage.queue_order(), start=1):
            job = await self._storage.get_job(job_id)
            if job is not None:
                eta = await self._queue_eta(position, average)
                self._notifier.show(job, Status("queued", position=position, eta_s=eta))

    async def _launch(self, job: Job) -> None:
        """Fetch the inputs and hand the job to a worker; a slow download delays only this job."""
        try:
            request = await self._request_for(job)
            if request is None:
                return
            current = await self._storage.get_job(job.id)
            if current is None or current.status != "running":
                return  # cancelled (or ended) while its photos were fetched
            if not self._pool.submit(request):
                await self._storage.requeue(job.id)
                return
            self._notifier.show(job, Status("starting"))
        finally:
            self._launching -= 1
            self._wake.set()

    async def _request_for(self, job: Job) -> RunJob | None:
        """The worker's request for a job, or None when its inputs cannot be had (the job has then ended)."""
        for wait in (*INPUT_RETRIES_S, None):
            try:
                content = await self._files.fetch_image(job.content_file_id)
                style_paths = [await self._style_path(ref) for ref in job.styles]
                break
            except DownloadUnavailableError as exc:
                if wait is None:
                    await self._fail(job, Status("failed", reason="input", detail=str(exc) or None))
                    return None
                log.warning("job %d: photos unavailable (%s); trying again in %.0f s", job.id, exc, wait)
                await asyncio.sleep(wait)
            except Exception as exc:  # the photo is gone, too large or unreadable: the user must resend it
                log.info("job %d: inputs unusable: %s", job.id, exc)
                await self._fail(job, Status("failed", reason="input", detail=_reason(exc)))
                return None
        total = sum(ref.weight for ref in job.styles)
        blend = tuple(ref.weight / total for ref in job.styles)
        params = style_params(job.params, blend, max_side=self._settings.max_side, steps=self._settings.steps)
        return RunJob(
            job_id=job.id,
            content_path=str(content),
            style_paths=tuple(str(p) for p in style_paths),
            params=dataclasses.asdict(params),
            out_dir=str(JobFiles.of(self._settings.jobs_dir, job.id).root),
            hd=job.params.quality == "hd",
            report_every=max(1, params.steps // 20),
        )

    async def _style_path(self, ref: StyleRef) -> Path:
        """The image file of a style: a preset on disk or a downloaded Telegram file."""
        if ref.kind == "preset" and ref.name is not None:
            return self._presets.get(ref.name).path
        if ref.file_id is None:
            raise ValueError("a style without a file")
        return await self._files.fetch_image(ref.file_id)

    # -- worker events ------------------------------------------------------

    async def _event_loop(self) -> None:
        """Handle worker events one at a time, in order; one event's failure is logged and skipped."""
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
            await self._workers_down(event.message)
        elif isinstance(event, JobProgress):
            await self._progress(event)
        elif isinstance(event, JobDone):
            await self._painted(event)
        elif isinstance(event, JobFailed):
            await self._failed(event)
        elif isinstance(event, JobCancelled):
            await self._cancelled(event.job_id)
        elif isinstance(event, WorkerCrashed):
            await self._crashed(event)

    async def _workers_down(self, reason: str) -> None:
        """No worker can run (e.g. the model weights are missing): tell everyone waiting instead of hanging."""
        log.critical("a worker cannot start: %s", reason)
        self._admins_told = await self._notifier.tell_admins(self._settings.redact(reason)) > 0
        status = Status("unavailable", reason="unavailable", detail="told" if self._admins_told else None)
        for job in await self._storage.running_jobs():
            await self._fail(job, status)
        for job_id in await self._storage.queue_order():
            queued = await self._storage.get_job(job_id)
            if queued is not None:
                await self._fail(queued, status)

    async def _progress(self, event: JobProgress) -> None:
        """Store progress and show it (the notifier throttles edits per chat)."""
        await self._storage.set_progress(event.job_id, event.fraction, event.eta_s)
        job = await self._storage.get_job(event.job_id)
        if job is not None and job.status == "running":
            self._notifier.show(
                job, Status("painting", percent=min(99, round(event.fraction * 100)), eta_s=event.eta_s)
            )

    async def _painted(self, event: JobDone) -> None:
        """The worker painted a job: keep the result for delivery, or drop it if nobody wants it any more."""
        self._wake.set()
        files = JobFiles.of(self._settings.jobs_dir, event.job_id)
        if not await self._storage.mark_painted(event.job_id, str(files.root), event.seconds, event.making_of_path):
            files.remove()  # cancelled or undeliverable meanwhile
            return
        self._deliver_wake.set()

    async def _failed(self, event: JobFailed) -> None:
        """A job failed in the engine: the user's input, or our problem (retried once)."""
        self._wake.set()
        job = await self._storage.get_job(event.job_id)
        if job is None or job.status != "running":
            return
        if event.user_error:
            await self._fail(job, Status("failed", reason="input", detail=event.message))
        else:
            await self._retry_or_fail(job)

    async def _cancelled(self, job_id: int) -> None:
        """A worker stopped a job on request (the job was marked cancelled when it was asked)."""
        self._wake.set()
        job = await self._storage.get_job(job_id)
        if job is not None and await self._storage.mark_cancelled(job_id):
            self._notifier.show(job, Status("cancelled"))
        JobFiles.of(self._settings.jobs_dir, job_id).remove()

    async def _crashed(self, event: WorkerCrashed) -> None:
        """A worker died: retry its job once, then give up with a message."""
        self._wake.set()
        if event.job_id is None:
            return
        job = await self._storage.get_job(event.job_id)
        if job is None or job.status != "running":
            return
        await self._retry_or_fail(job)

    async def _retry_or_fail(self, job: Job) -> None:
        """Requeue a job that has attempts left, else fail it."""
        if job.attempts < MAX_ATTEMPTS and await self._storage.requeue(job.id) is not None:
            self._notifier.show(job, Status("retrying"))
            self._wake.set()
        else:
            await self._fail(job, Status("failed", reason="internal"))

    async def _fail(self, job: Job, status: Status) -> None:
        """Mark a job failed and say so."""
        if await self._storage.mark_failed(job.id, status.detail or status.reason or "failed"):
            self._notifier.show(job, status)
        JobFiles.of(self._settings.jobs_dir, job.id).remove()

    # -- delivery -------------------------------------------------------------

    async def _delivery_loop(self) -> None:
        """Deliver painted results, each in its own task, retrying with backoff until they arrive or expire."""
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
                await asyncio.wait_for(self._deliver_wake.wait(), max(0.05, next_due - now))
            self._deliver_wake.clear()

    async def _deliver(self, job: Job) -> None:
        """One delivery attempt; its outcome decides the job's state, never the other way round."""
        files = JobFiles(Path(job.result_dir or JobFiles.of(self._settings.jobs_dir, job.id).root))
        result = Result(files.photo, files.document if files.document.is_file() else None, job.run_seconds or 0.0)
        try:
            receipt = await self._notifier.deliver(job, result)
        except ChatUnreachableError as exc:
            await self.chat_unreachable(job.chat_id, str(exc))
        except RejectedError as exc:
            await self._undeliverable(job, files, str(exc))
        except Exception as exc:  # TransientError, or something unforeseen: the result is kept and tried again
            if not isinstance(exc, TransientError):
                log.exception("delivering job %d failed unexpectedly", job.id)
            await self._postpone(job, files, str(exc))
        else:
            await self._delivered(job, files, receipt)
        finally:
            self._delivering.discard(job.id)
            self._deliver_wake.set()

    async def _delivered(self, job: Job, files: JobFiles, receipt: Receipt) -> None:
        """The result is in Telegram: the job is done."""
        if await self._storage.mark_delivered(job.id, receipt.file_id, receipt.message_id):
            self._notifier.show(job, Status("done", seconds=job.run_seconds))
        files.drop_results()

    async def _postpone(self, job: Job, files: JobFiles, reason: str) -> None:
        """A passing failure: try again later, until the backoff schedule runs out."""
        attempts = job.deliveries + 1
        if attempts > len(DELIVERY_BACKOFF_S):
            await self._undeliverable(job, files, f"gave up after {attempts} attempts: {reason}")
            return
        wait = DELIVERY_BACKOFF_S[attempts - 1]
        log.warning("job %d: delivery failed (%s); attempt %d, next in %.0f s", job.id, reason, attempts, wait)
        await self._storage.delivery_postponed(job.id, self._clock() + wait)

    async def _undeliverable(self, job: Job, files: JobFiles, reason: str) -> None:
        """The result cannot be delivered: end the job and free its files."""
        if await self._storage.mark_undeliverable(job.id, reason):
            log.info("job %d is undeliverable: %s", job.id, reason)
        files.remove()


def _reason(exc: Exception) -> str | None:
    """The words of an input error worth showing the user, if any."""
    text = str(exc).strip()
    return text or None
