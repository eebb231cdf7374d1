"""The dispatcher: queue to worker. It starts the loops that move jobs, and takes the service's requests.

Every move of a job goes through bot/jobs/lifecycle.py; the loops live beside it: worker events
(worker_events.py), the instant pass (instant_pass.py), delivery (delivery.py) and the reconciler
(reconcile.py). People are told through the notifier port, and whether Telegram answered never changes a job's
state; a job always ends in a final state (done, failed, cancelled, undeliverable).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Sequence

from bot.config import Settings
from bot.core import logcontext
from bot.core.errors import DownloadUnavailableError, UnavailableError, problem_of
from bot.core.models import Job, JobParams, StyleRef
from bot.core.recipes import clip_params, style_params
from bot.jobs.clips import clip_limits, clip_request
from bot.jobs.delivery import Delivery
from bot.jobs.eta import EtaModel
from bot.jobs.executor_port import Executor
from bot.jobs.inputs import JobInputs, blend
from bot.jobs.instant import InstantPainter
from bot.jobs.instant_pass import InstantPasses
from bot.jobs.layout import JobFiles
from bot.jobs.lifecycle import Lifecycle
from bot.jobs.notifier_port import ChatMigrated, ChatUnreachable, Notifier, Status
from bot.jobs.observer_port import JobObserver, NullObserver
from bot.jobs.protocol import Event, RunJob
from bot.jobs.reconcile import Reconciler
from bot.jobs.supervise import TaskSet, cancel_and_wait, supervised
from bot.jobs.worker_events import WorkerEvents
from bot.presets.library import PresetLibrary
from bot.store.files import FileStore
from bot.store.storage import Storage

log = logging.getLogger(__name__)

SAFETY_POLL_S = 5.0  # the dispatch loop looks again this often even when nothing woke it
POSITIONS_INTERVAL_S = 1.0  # queue positions and waits are refreshed at most this often
INPUT_RETRIES_S = (1.0, 2.0, 4.0, 8.0, 15.0)  # waits between tries to fetch a job's photos from Telegram


class Dispatcher:
    """Claims queued jobs fairly and runs them on the executor; cancels, and hands chat changes to the store."""

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
        self._storage, self._pool, self._notifier, self._settings = storage, pool, notifier, settings
        observer = observer or NullObserver()
        self._tasks = TaskSet()
        self._lifecycle = Lifecycle(storage, notifier, observer, settings.jobs_dir)
        self._inputs = JobInputs(files, presets, functools.partial(clip_limits, settings))
        self._eta = EtaModel(settings)
        self._events = WorkerEvents(
            self._lifecycle,
            storage,
            notifier,
            observer,
            self._eta,
            settings.jobs_dir,
            live_preview=settings.instant_preview,
            on_workers_down=self._workers_down,
        )
        self._instant = (
            None
            if instant is None
            else InstantPasses(
                instant,
                self._lifecycle,
                storage,
                notifier,
                self._inputs,
                settings.jobs_dir,
                self._tasks,
                settings.max_side,
                degraded=lambda: self.degraded,
            )
        )
        self._delivery = Delivery(
            self._lifecycle,
            storage,
            notifier,
            settings.jobs_dir,
            self._tasks,
            clock,
            on_unreachable=self.chat_unreachable,
            on_migrated=self.chat_migrated,
        )
        self._launching: set[int] = set()
        self._reconciler = Reconciler(self._lifecycle, storage, pool, self._busy)
        self._positions_due = asyncio.Event()
        self._unreachable: set[int] = set()  # chats that blocked or removed the bot (mirrors the database)
        self._loops: list[asyncio.Task[None]] = []
        self._admins_told = False

    # -- life cycle ---------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Called by the executor on the event loop; events are handled in order by one task."""
        self._events.put(event)

    async def start(self) -> None:
        """Requeue what a previous run left, start the workers and the loops; never waits on Telegram."""
        # Executor hook: a cluster may still be painting jobs of the previous run; those are not requeued.
        running = frozenset(job.id for job in await self._storage.running_jobs())
        for job_id in await self._storage.running_after_restart(await self._pool.reattach(running)):
            await self._lifecycle.move(job_id, "requeue")
        for job in await self._storage.recent_runs():
            self._eta.learn(job, job.run_seconds or 0.0)
        self._unreachable = await self._storage.unreachable_chats()
        for chat_id in self._unreachable:
            self._notifier.mute(chat_id)
        self._pool.start(self.on_event)
        self._loops = [
            supervised("dispatch", self._dispatch_loop),
            supervised("events", self._events.run),
            supervised("delivery", self._delivery.run),
            supervised("positions", self._positions_loop),
            supervised("chat-changes", self._chat_changes_loop),
            supervised("reconcile", self._reconciler.run),
        ]
        queued = await self._storage.queued_jobs()
        for position, job in enumerate(queued, start=1):
            self._notifier.show(job, Status("restarted", position=position))
        if queued:
            log.info("recovered %d queued job(s) after restart", len(queued))

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
        thread_id: int | None = None,
    ) -> Job:
        """Queue a job (QueueFullError when a cap is reached) and have its status message posted."""
        self.check_accepting()
        if self.degraded and params.is_clip:  # clips are painted in the workers, and none can start
            raise UnavailableError(self._admins_told)
        if self.degraded:  # only the instant network can paint: the job is an instant one
            params = dataclasses.replace(params, quality="instant")
        job = await self._storage.enqueue(
            chat_id,
            user_id,
            user_name,
            content_file_id,
            list(styles),
            params,
            reply_to_message_id=reply_to,
            thread_id=thread_id,
            per_user_limit=self._settings.jobs_per_user,
            queue_limit=self._settings.queue_length,
        )
        position, eta = await self._place(job)
        await self._lifecycle.created(job, Status("queued", position=position or 1, eta_s=eta))
        if self._instant is not None:
            self._instant.start(job)
        return job

    def check_accepting(self) -> None:
        """Raise the domain error that refuses new jobs now (no worker can paint, the broker is down), if any."""
        if self.unavailable:
            raise UnavailableError(self._admins_told)
        self._pool.check_accepting()  # executor hook: e.g. the cluster's broker is down, "try again shortly"

    async def cancel(self, chat_id: int, user_id: int) -> int:
        """Cancel the user's queued and running jobs in this chat at once; returns how many."""
        count = 0
        for job in await self._storage.active_jobs(user_id, chat_id):
            cancelled = await self._lifecycle.move(job.id, "cancel", Status("cancelled"))
            if cancelled is None:
                continue
            count += 1
            if job.status == "running":
                self._pool.cancel(job.id)  # the worker stops within a step; its slot is reused after that
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
            if await self._lifecycle.move(job.id, "undeliverable", error=reason) is not None:
                if job.status == "running":
                    self._pool.cancel(job.id)
                log.info("job %d is undeliverable: %s", job.id, reason)

    async def chat_reachable(self, chat_id: int) -> None:
        """Someone in the chat wrote to the bot: it may be answered again."""
        if chat_id not in self._unreachable:
            return  # the usual case: no write for every update
        self._unreachable.discard(chat_id)
        self._notifier.unmute(chat_id)
        if await self._storage.set_chat_reachable(chat_id):
            log.info("chat %d can be reached again", chat_id)

    async def chat_migrated(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup: its jobs, sessions and settings move to the new id and go on there."""
        if old_chat_id == new_chat_id:
            return
        await self._storage.migrate_chat(old_chat_id, new_chat_id)
        self._notifier.moved_chat(old_chat_id, new_chat_id)
        self._lifecycle.delivery_due.set()
        self._positions_due.set()

    @property
    def unavailable(self) -> bool:
        """Whether painting cannot run at all (no worker can load the model, and no instant network either)."""
        return self._pool.fatal is not None and not self.degraded

    @property
    def degraded(self) -> bool:
        """Whether only the instant network can paint (no worker can load the full painting's model)."""
        return self._pool.fatal is not None and self._instant is not None and self._instant.available

    @property
    def admins_told(self) -> bool:
        """Whether at least one operator has been told that painting is unavailable."""
        return self._admins_told

    async def _workers_down(self, reason: str) -> None:
        """No worker can run (e.g. the model weights are missing): instant pictures only, or tell everyone waiting."""
        log.critical("a worker cannot start: %s", reason)
        self._admins_told = await self._notifier.tell_admins(self._settings.redact(reason)) > 0
        if self._instant is not None and self.degraded:
            log.warning("painting degraded: instant pictures only until a worker can load the model")
            unavailable = Status("unavailable", reason="unavailable", detail="told" if self._admins_told else None)
            for job in await self._storage.running_jobs():
                await self._lifecycle.move(job.id, "requeue")
            for job in await self._storage.queued_jobs():
                if job.params.is_clip:  # painted in the workers only, and none can start
                    await self._lifecycle.fail(job, unavailable)
                    continue
                instant = await self._storage.make_instant(job.id)
                if instant is not None:
                    self._instant.start(instant)
            return
        status = Status("unavailable", reason="unavailable", detail="told" if self._admins_told else None)
        for job in [*await self._storage.running_jobs(), *await self._storage.queued_jobs()]:
            await self._lifecycle.fail(job, status)

    # -- dispatching ----------------------------------------------------------

    def _busy(self, job_id: int) -> bool:
        """Whether the job is being launched or has a worker event waiting (the reconciler leaves it alone)."""
        return job_id in self._launching or self._events.pending(job_id)

    async def _place(self, job: Job) -> tuple[int | None, float | None]:
        """A queued job's position and the seconds until it is done (both None when it is not queued)."""
        queued = await self._storage.queued_jobs()
        ids = [j.id for j in queued]
        if job.id not in ids:
            return None, None
        index = ids.index(job.id)
        return index + 1, self._eta.wait(await self._storage.running_jobs(), queued[:index], job)

    def _clip_slots(self) -> int | None:
        """How many workers clips may hold at once: with several, one is always kept for photos (None: no cap).

        A clip takes one slot for its whole length (minutes for a long video); without the cap, a few users'
        clips could hold every worker while photo users wait. The round-robin still orders users fairly.
        """
        workers = self._settings.workers or 1  # unset: one per GPU, counted where they start; no cap known here
        return workers - 1 if workers > 1 else None

    async def _dispatch_loop(self) -> None:
        """Whenever a worker is idle and a job waits, start the next job fairly."""
        due = self._lifecycle.dispatch_due
        while True:
            await self._dispatch_ready()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(due.wait(), SAFETY_POLL_S)
            due.clear()

    async def _dispatch_ready(self) -> None:
        """Claim as many jobs as there are idle workers; each is launched in its own task."""
        while self._pool.idle_workers() > len(self._launching):
            job = await self._lifecycle.claim_next(self._clip_slots())
            if job is None:
                break
            self._launching.add(job.id)
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

    async def _chat_changes_loop(self) -> None:
        """Act on what status messages found out: a chat that blocked the bot, a group that became a supergroup."""
        while True:
            change = await self._notifier.chat_changes.get()
            if isinstance(change, ChatUnreachable):
                await self.chat_unreachable(change.chat_id, change.reason)
            elif isinstance(change, ChatMigrated):
                await self.chat_migrated(change.old_chat_id, change.new_chat_id)

    async def _launch(self, job: Job) -> None:
        """Fetch the inputs and hand the job to a worker; a slow download delays only this job."""
        logcontext.bind(job.id, job.chat_id, job.user_id)
        try:
            request = await self._request_for(job)
            if request is None:
                return
            current = await self._storage.get_job(job.id)
            if current is None or current.status != "running":
                return  # cancelled (or ended) while its photos were fetched
            if not await self._pool.submit(request):  # the worker went away meanwhile: back to the queue
                await self._lifecycle.move(job.id, "requeue")
                return
            self._notifier.show(job, Status("starting"))
        finally:
            self._launching.discard(job.id)
            self._lifecycle.dispatch_due.set()

    async def _request_for(self, job: Job) -> RunJob | None:
        """The worker's request for a job, or None when its inputs cannot be had (the job has then ended)."""
        for wait in (*INPUT_RETRIES_S, None):
            try:
                content, style_paths = await self._inputs.fetch(job)
                break
            except DownloadUnavailableError as exc:
                if wait is None:
                    await self._lifecycle.fail(job, Status("failed", reason="input", problem=problem_of(exc, "photo")))
                    return None
                log.warning("job %d: photos unavailable (%s); trying again in %.0f s", job.id, exc, wait)
                await asyncio.sleep(wait)
            except Exception as exc:  # the photo is gone, too large or unreadable: the user must resend it
                log.info("job %d: inputs unusable: %s", job.id, exc)
                await self._lifecycle.fail(job, Status("failed", reason="input", problem=problem_of(exc)))
                return None
        files = JobFiles.of(self._settings.jobs_dir, job.id)
        if job.params.is_clip:  # every frame by the instant network, in the worker: no warm start to wait for
            params = clip_params(job.params, blend(job), self._settings.clip_max_side)
            return RunJob(
                job_id=job.id,
                content_path=str(content),
                style_paths=tuple(str(p) for p in style_paths),
                params=dataclasses.asdict(params),
                out_dir=str(files.root),
                clip=clip_request(self._settings, job.params.media),
            )
        params = style_params(job.params, blend(job), max_side=self._settings.max_side, steps=self._settings.steps)
        if self._instant is not None:
            await self._instant.wait(job.id)
        init_path = None
        if params.init == "image":
            if await asyncio.to_thread(files.instant.is_file):
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
