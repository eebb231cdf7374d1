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
from bot.core import logcontext
from bot.core.errors import DownloadUnavailableError, UnavailableError
from bot.core.models import Job, JobParams, StyleRef
from bot.core.recipes import instant_params, style_params
from bot.jobs.eta import EtaModel
from bot.jobs.executor import Executor
from bot.jobs.instant import InstantPainter
from bot.jobs.layout import JobFiles
from bot.jobs.notifier import ChatUnreachableError, Notifier, Receipt, RejectedError, Result, Status, TransientError
from bot.jobs.observe import JobObserver, NullObserver
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
from bot.jobs.supervise import TaskSet, cancel_and_wait, supervised
from bot.presets.library import PresetLibrary
from bot.store.files import FileStore
from bot.store.storage import Storage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 2  # a job whose worker crashed is retried once
SAFETY_POLL_S = 5.0  # the loops look again this often even when nothing woke them
POSITIONS_INTERVAL_S = 1.0  # queue positions and waits are refreshed at most this often
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
        instant: InstantPainter | None = None,
        clock: Callable[[], float] = time.time,
        observer: JobObserver | None = None,
    ) -> None:
        self._storage, self._pool, self._notifier, self._instant = storage, pool, notifier, instant
        self._files, self._presets, self._settings = files, presets, settings
        self._clock = clock
        self._observer: JobObserver = observer or NullObserver()
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._positions_due = asyncio.Event()
        self._unreachable: set[int] = set()  # chats that blocked or removed the bot (mirrors the database)
        self._deliver_wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._tasks = TaskSet()
        self._launching = 0
        self._delivering: set[int] = set()
        self._instant_passes: dict[int, asyncio.Task[None]] = {}
        self._admins_told = False
        self._eta = EtaModel(settings)
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
        for job in await self._storage.recent_runs():
            self._eta.learn(job, job.run_seconds or 0.0)
        self._unreachable = await self._storage.unreachable_chats()
        for chat_id in self._unreachable:
            self._notifier.mute(chat_id)
        self._pool.start()
        self._loops = [
            supervised("dispatch", self._dispatch_loop),
            supervised("events", self._event_loop),
            supervised("delivery", self._delivery_loop),
            supervised("positions", self._positions_loop),
        ]
        order = await self._storage.queue_order()
        for job in recovered:
            position = order.index(job.id) + 1 if job.id in order else 1
            self._notifier.show(job, Status("restarted", position=position))
        if recovered:
            log.info("recovered %d queued job(s) after restart", len(recovered))

    async def stop(self) -> None:
        """Stop the loops and the workers; running jobs stay 'running' and run again on restart."""
        await cancel_and_wait(self._loops)  # the loops wait with wait_for, which can swallow one cancel
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
        self.check_accepting()
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
        self._observer.job_changed(job, None, "queued")
        position, eta = await self._place(job)
        self._notifier.show(job, Status("queued", position=position or 1, eta_s=eta))
        if self._instant is not None:
            task = self._tasks.spawn(self._instant_pass(job), name=f"instant-{job.id}")
            self._instant_passes[job.id] = task
            task.add_done_callback(lambda _: self._instant_passes.pop(job.id, None))
        self._wake.set()
        return job

    def check_accepting(self) -> None:
        """Raise the domain error that refuses new jobs now (no worker can paint, the broker is down), if any."""
        if self._pool.fatal is not None:
            raise UnavailableError(self._admins_told)
        self._pool.check_accepting()  # executor hook: e.g. the cluster's broker is down, "try again shortly"

    async def cancel(self, chat_id: int, user_id: int) -> int:
        """Cancel the user's queued and running jobs in this chat at once; returns how many."""
        count = 0
        for job in await self._storage.active_jobs(user_id, chat_id):
            before = await self._storage.request_cancel(job.id)
            if before is None:
                continue
            count += 1
            self._observer.job_changed(before, before.status, "cancelled")
            if before.status == "running":
                self._pool.cancel(job.id)  # the worker stops within a step; its slot is reused after that
            self._notifier.show(job, Status("cancelled"))
        self._wake.set()
        return count

    async def describe(self, chat_id: int, user_id: int) -> list[tuple[Job, int | None, float | None]]:
        """The user's active jobs with queue position and ETA in seconds."""
        rows = []
        for job in await self._storage.active_jobs(user_id, chat_id):
            position, eta = await self._place(job)
            eta = job.eta_s if job.status == "running" else eta
            rows.append((job, position, eta))
        return rows

    async def chat_unreachable(self, chat_id: int, reason: str) -> None:
        """The chat blocked or removed the bot: end its jobs as undeliverable and send nothing more there."""
        self._notifier.mute(chat_id)
        self._unreachable.add(chat_id)
        await self._storage.set_chat_unreachable(chat_id, reason)
        for job in await self._storage.unfinished_jobs_in_chat(chat_id):
            if await self._storage.mark_undeliverable(job.id, reason):
                self._observer.job_changed(job, job.status, "undeliverable")
                if job.status == "running":
                    self._pool.cancel(job.id)
                JobFiles.of(self._settings.jobs_dir, job.id).remove()
                log.info("job %d is undeliverable: %s", job.id, reason)
        self._wake.set()

    async def chat_reachable(self, chat_id: int) -> None:
        """Someone in the chat wrote to the bot: it may be answered again."""
        if chat_id not in self._unreachable:
            return  # the usual case: no write for every update
        self._unreachable.discard(chat_id)
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

    async def _place(self, job: Job) -> tuple[int | None, float | None]:
        """A queued job's position and the seconds until it is done (both None when it is not queued)."""
        queued = await self._storage.queued_jobs()
        ids = [j.id for j in queued]
        if job.id not in ids:
            return None, None
        index = ids.index(job.id)
        return index + 1, self._eta.wait(await self._storage.running_jobs(), queued[:index], job)

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
            self._report_started(job)
            self._launching += 1
            self._tasks.spawn(self._launch(job), name=f"launch-{job.id}")
        self._positions_due.set()

    async def _positions_loop(self) -> None:
        """Refresh the waiting users' positions when the queue moved, at most once per interval.

        Refreshing on every change would read the whole queue once per update under load.
        """
        while True:
            await self._positions_due.wait()
            self._positions_due.clear()
            await self._refresh_positions()
            await asyncio.sleep(POSITIONS_INTERVAL_S)

    async def _refresh_positions(self) -> None:
        """Tell waiting users their queue position and wait (the notifier skips unchanged and throttled ones)."""
        queued = await self._storage.queued_jobs()
        running = await self._storage.running_jobs()
        for position, job in enumerate(queued, start=1):
            eta = self._eta.wait(running, queued[: position - 1], job)
            self._notifier.show(job, Status("queued", position=position, eta_s=eta))

    async def _launch(self, job: Job) -> None:
        """Fetch the inputs and hand the job to a worker; a slow download delays only this job."""
        logcontext.bind(job.id, job.chat_id, job.user_id)  # this task's log lines name the job
        try:
            request = await self._request_for(job)
            if request is None:
                return
            current = await self._storage.get_job(job.id)
            if current is None or current.status != "running":
                return  # cancelled (or ended) while its photos were fetched
            if not await self._pool.submit(request):
                if await self._storage.requeue(job.id) is not None:
                    self._observer.job_changed(job, "running", "queued")
                return
            self._notifier.show(job, Status("starting"))
        finally:
            self._launching -= 1
            self._wake.set()

    async def _request_for(self, job: Job) -> RunJob | None:
        """The worker's request for a job, or None when its inputs cannot be had (the job has then ended)."""
        for wait in (*INPUT_RETRIES_S, None):
            try:
                content, style_paths = await self._inputs(job)
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
        params = style_params(job.params, _blend(job), max_side=self._settings.max_side, steps=self._settings.steps)
        files = JobFiles.of(self._settings.jobs_dir, job.id)
        instant = self._instant_passes.get(job.id)
        if instant is not None:
            await asyncio.wait({instant})  # a second or so: the warm start needs its picture
        init_path = None
        if params.init == "image":
            if files.instant.is_file():
                init_path = str(files.instant)
            else:  # no instant picture (the network is not installed): start from the photo, as the seed does
                params = params.replace(init="content")
        return RunJob(
            job_id=job.id,
            content_path=str(content),
            style_paths=tuple(str(p) for p in style_paths),
            params=dataclasses.asdict(params),
            out_dir=str(files.root),
            hd=job.params.quality == "hd",
            report_every=max(1, params.steps // 20),
            init_path=init_path,
        )

    async def _style_path(self, ref: StyleRef) -> Path:
        """The image file of a style: a preset on disk or a downloaded Telegram file."""
        if ref.kind == "preset" and ref.name is not None:
            return self._presets.get(ref.name).path
        if ref.file_id is None:
            raise ValueError("a style without a file")
        return await self._files.fetch_image(ref.file_id)

    # -- the instant picture ------------------------------------------------

    async def _instant_pass(self, job: Job) -> None:
        """Paint the instant picture in the bot process: the whole job for "instant", else the first preview."""
        assert self._instant is not None
        logcontext.bind(job.id, job.chat_id, job.user_id)
        try:
            content, styles = await self._inputs(job)
        except Exception:  # the launch reports unusable photos
            return
        files = JobFiles.of(self._settings.jobs_dir, job.id)
        if job.params.quality == "instant":
            await self._instant_job(job, content, styles, files)
            return
        params = instant_params(job.params, _blend(job), max_side=self._settings.max_side)
        if await self._instant.paint(content, styles, params, files.instant):
            current = await self._storage.get_job(job.id)
            if current is not None and current.status in ("queued", "running"):
                self._notifier.show_picture(current, files.instant)

    async def _instant_job(self, job: Job, content: Path, styles: list[Path], files: JobFiles) -> None:
        """An "instant" job is painted here at once, no worker needed; a worker takes it if this fails."""
        assert self._instant is not None
        claimed = await self._storage.claim(job.id)
        if claimed is None:
            return  # cancelled, or a worker took it first
        self._report_started(claimed)
        params = style_params(job.params, _blend(job), max_side=self._settings.max_side)
        started = time.monotonic()
        if await self._instant.paint(content, styles, params, files.photo):
            seconds = time.monotonic() - started
            if await self._storage.mark_painted(job.id, str(files.root), seconds, None):
                self._report_painted(claimed, seconds)
                self._deliver_wake.set()
            else:
                files.remove()
        elif await self._storage.requeue(job.id) is not None:
            self._observer.job_changed(claimed, "running", "queued")
        self._wake.set()

    async def _inputs(self, job: Job) -> tuple[Path, list[Path]]:
        """The job's photo and style images on disk (downloaded when not cached)."""
        content = await self._files.fetch_image(job.content_file_id)
        return content, [await self._style_path(ref) for ref in job.styles]

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
            self._observer.worker_ready(event.worker_id, event.pid, event.load_seconds)
            self._wake.set()
        elif isinstance(event, WorkerFatal):
            self._observer.worker_lost(event.worker_id, "fatal")
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
            self._observer.worker_lost(event.worker_id, "crashed")
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
            percent = min(99, round(event.fraction * 100))
            self._notifier.show(job, Status("painting", percent=percent, eta_s=event.eta_s))
            if event.preview_path is not None and self._settings.instant_preview:
                self._notifier.show_picture(job, Path(event.preview_path))

    async def _painted(self, event: JobDone) -> None:
        """The worker painted a job: keep the result for delivery, or drop it if nobody wants it any more."""
        self._wake.set()
        files = JobFiles.of(self._settings.jobs_dir, event.job_id)
        job = await self._storage.get_job(event.job_id)
        if job is not None:
            self._eta.learn(job, event.seconds)
        if not await self._storage.mark_painted(event.job_id, str(files.root), event.seconds, event.making_of_path):
            files.remove()  # cancelled or undeliverable meanwhile
            return
        if job is not None:
            self._report_painted(job, event.seconds)
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
            self._observer.job_changed(job, job.status, "cancelled")
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
            self._observer.job_changed(job, job.status, "queued")
            self._notifier.show(job, Status("retrying"))
            self._wake.set()
        else:
            await self._fail(job, Status("failed", reason="internal"))

    async def _fail(self, job: Job, status: Status) -> None:
        """Mark a job failed and say so."""
        if await self._storage.mark_failed(job.id, status.detail or status.reason or "failed"):
            self._observer.job_changed(job, job.status, "failed")
            self._notifier.show(job, status)
        JobFiles.of(self._settings.jobs_dir, job.id).remove()

    def _report_started(self, job: Job) -> None:
        """Report a job just claimed (and, on its first attempt, how long it waited)."""
        self._observer.job_changed(job, "queued", "running")
        if job.attempts == 1 and job.started_at is not None:  # a retry's wait would count the first run too
            self._observer.waited(job.params.quality, max(0.0, job.started_at - job.created_at))

    def _report_painted(self, job: Job, seconds: float) -> None:
        """Report a job painted and how long the painting took."""
        self._observer.job_changed(job, "running", "delivering")
        self._observer.ran(job.params.quality, seconds)

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
        logcontext.bind(job.id, job.chat_id, job.user_id)
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
            self._observer.job_changed(job, "delivering", "done")
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
            self._observer.job_changed(job, job.status, "undeliverable")
            log.info("job %d is undeliverable: %s", job.id, reason)
        files.remove()


def _blend(job: Job) -> tuple[float, ...]:
    """The job's style shares, summing to 1."""
    total = sum(ref.weight for ref in job.styles)
    return tuple(ref.weight / total for ref in job.styles)


def _reason(exc: Exception) -> str | None:
    """The words of an input error worth showing the user, if any."""
    text = str(exc).strip()
    return text or None
