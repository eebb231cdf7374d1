"""The real bot Application in the test's event loop, against the fake Bot API, with a scripted executor.

The executor is the one fake besides Telegram: it "paints" by writing a small image where the real worker
would, and a test can hold jobs (every worker busy), fail them, or take the workers down.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from bot.config import Settings
from bot.core.errors import UserFacingError
from bot.jobs.executor_port import EventHandler
from bot.jobs.layout import JobFiles
from bot.jobs.protocol import JobCancelled, JobDone, JobFailed, JobProgress, Ready, RunJob, WorkerFatal
from bot.telegram.app import build_application, webhook_options
from testing.bot_harness import make_presets
from testing.fake_telegram import Chat, FakeTelegram

T = TypeVar("T")


@dataclass
class ScriptedExecutor:
    """An executor whose workers paint instantly unless held; records what it was asked."""

    workers: int = 1
    pid: int = 0  # what Ready reports as the workers' process id
    hold: bool = False  # jobs wait for release() while True
    on_event: EventHandler = field(default=lambda event: None)
    fatal: str | None = None
    refusing: UserFacingError | None = None  # check_accepting raises it (e.g. the cluster's broker is down)
    submitted: list[RunJob] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    _running: dict[int, asyncio.Event] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _started: dict[int, float] = field(default_factory=dict)

    async def reattach(self, running: frozenset[int]) -> frozenset[int]:
        """Nothing survives a restart here (like the local pool)."""
        return frozenset()

    def check_accepting(self) -> None:
        """Accepting, unless the test made it refuse."""
        if self.refusing is not None:
            raise self.refusing

    def start(self, on_event: EventHandler) -> None:
        """Workers come up at once."""
        self.on_event = on_event
        for worker_id in range(self.workers):
            self.on_event(Ready(worker_id, self.pid))

    def idle_workers(self) -> int:
        """Workers without a job."""
        return 0 if self.fatal else self.workers - len(self._running)

    def holds(self, job_id: int) -> bool:
        """Whether a job is being painted here."""
        return job_id in self._running

    async def submit(self, request: RunJob) -> bool:
        """Paint in a task (at once, or when released)."""
        if self.idle_workers() <= 0:
            return False
        self.submitted.append(request)
        self._started[request.job_id] = time.monotonic()
        gate = asyncio.Event()
        if not self.hold:
            gate.set()
        self._running[request.job_id] = gate
        task = asyncio.create_task(self._paint(request, gate))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _paint(self, request: RunJob, gate: asyncio.Event) -> None:
        """Report progress with a live picture, wait for the gate, write the result, report done (unless cancelled)."""
        files = JobFiles(Path(request.out_dir))
        files.root.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (48, 32), (90, 90, 200)).save(files.live)
        self.on_event(JobProgress(request.job_id, 0.5, 1.0, 1, 2, str(files.live)))
        await gate.wait()
        if request.job_id not in self._running:
            return  # cancelled
        Image.new("RGB", (48, 32), (200, 80, 40)).save(files.photo)
        del self._running[request.job_id]
        seconds = time.monotonic() - self._started.pop(request.job_id)
        self.on_event(JobDone(request.job_id, str(files.photo), None, None, seconds, (48, 32)))

    def release(self) -> None:
        """Let every held job finish."""
        self.hold = False
        self.release_running()

    def release_running(self) -> None:
        """Let the jobs running now finish; later ones are held again."""
        for gate in self._running.values():
            gate.set()

    def cancel(self, job_id: int) -> bool:
        """Stop a job at once."""
        self.cancelled.append(job_id)
        if self._running.pop(job_id, None) is None:
            return False
        self.on_event(JobCancelled(job_id))
        return True

    def fail(self, job_id: int, message: str, *, user_error: bool = False) -> None:
        """The engine fails a held job (an error on our side unless user_error)."""
        self._running.pop(job_id, None)
        self.on_event(JobFailed(job_id, message, user_error=user_error))

    def lose(self, job_id: int) -> None:
        """The worker forgets a job without a word (a lost event, a worker gone quietly)."""
        self._running.pop(job_id, None)

    def go_down(self, reason: str) -> None:
        """No worker can load the model."""
        self.fatal = reason
        self.on_event(WorkerFatal(0, reason))

    async def stop(self) -> None:
        """Drop what is running."""
        for task in list(self._tasks):
            task.cancel()


@dataclass
class PaintingExecutor:
    """Runs the worker's own painting code (bot.jobs.painting.paint) in threads of the test process.

    No TensorFlow model is loaded (the stylizer is None): it serves clip jobs, which the engine paints with the
    instant network, exactly as a worker process would, minus the process.
    """

    workers: int = 1
    on_event: EventHandler = field(default=lambda event: None)
    fatal: str | None = None
    submitted: list[RunJob] = field(default_factory=list)
    _running: dict[int, threading.Event] = field(default_factory=dict)
    _tasks: set[asyncio.Future[None]] = field(default_factory=set)

    async def reattach(self, running: frozenset[int]) -> frozenset[int]:
        """Nothing survives a restart here."""
        return frozenset()

    def check_accepting(self) -> None:
        """Always accepting."""

    def start(self, on_event: EventHandler) -> None:
        """Workers come up at once."""
        self.on_event = on_event
        for worker_id in range(self.workers):
            self.on_event(Ready(worker_id, 0))

    def idle_workers(self) -> int:
        """Workers without a job."""
        return self.workers - len(self._running)

    def holds(self, job_id: int) -> bool:
        """Whether a job is being painted here."""
        return job_id in self._running

    async def submit(self, request: RunJob) -> bool:
        """Paint in a thread; events come back on the event loop, as the pool delivers them."""
        if self.idle_workers() <= 0:
            return False
        from bot.jobs.painting import paint

        self.submitted.append(request)
        stop = self._running[request.job_id] = threading.Event()
        loop = asyncio.get_running_loop()

        def report(event: Any) -> None:
            loop.call_soon_threadsafe(self.on_event, event)

        def run() -> None:
            outcome = paint(None, request, report, stop.is_set)
            loop.call_soon_threadsafe(self._finished, request.job_id, outcome)

        future = loop.run_in_executor(None, run)
        self._tasks.add(future)
        future.add_done_callback(self._tasks.discard)
        return True

    def _finished(self, job_id: int, outcome: Any) -> None:
        """The worker is free again; its outcome goes to the bot."""
        self._running.pop(job_id, None)
        self.on_event(outcome)

    def cancel(self, job_id: int) -> bool:
        """Ask the painting to stop at its next frame."""
        stop = self._running.get(job_id)
        if stop is None:
            return False
        stop.set()
        return True

    async def stop(self) -> None:
        """Stop what runs and wait for the threads."""
        for stop in self._running.values():
            stop.set()
        if self._tasks:
            await asyncio.wait(set(self._tasks))


def settings_for(fake: FakeTelegram, data_dir: Path, **overrides: Any) -> Settings:
    """Test settings: the fake's URLs, tiny jobs, no status throttle."""
    styles = data_dir / "styles"
    make_presets(styles)
    values: dict[str, Any] = {
        "token": fake.token,
        "api_url": fake.base_url,
        "file_api_url": fake.base_file_url,
        "data_dir": data_dir,
        "styles_dir": styles,
        "weights": "random",
        "max_side": 48,
        "steps": 2,
        "status_interval_s": 0.0,
        # The instant lane is processes of its own: tests that want instant pictures turn it on (and are slow).
        "instant_preview": False,
        "poll_timeout_s": 0,
        **overrides,
    }
    return Settings(**values)


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeTelegram, data_dir: Path, executor: ScriptedExecutor | PaintingExecutor | None = None, **overrides: Any
) -> AsyncIterator[Any]:
    """Start the Application as run_polling (or run_webhook, given a webhook_url) would, and stop it afterwards."""
    settings = settings_for(fake, data_dir, **overrides)
    app = build_application(settings, executor or ScriptedExecutor())
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    assert app.updater is not None
    if settings.webhook_url:
        await app.updater.start_webhook(**webhook_options(settings))
    else:
        await app.updater.start_polling(poll_interval=0.0, timeout=5)  # long polling: the fake answers at once
    await app.start()
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        assert app.post_shutdown is not None
        await app.post_shutdown(app)
        await app.shutdown()


async def until(fake: FakeTelegram, predicate: Callable[[], T | bool | None], what: str, timeout: float = 20) -> T:
    """Wait (without blocking the loop) until predicate() is truthy."""
    return await fake.wait_for_async(predicate, timeout, what)


def texts(fake: FakeTelegram, chat: Chat) -> list[str]:
    """The bot's texts and captions in a chat."""
    return [m.get("text") or m.get("caption") or "" for m in fake.bot_messages(chat.id)]


def results(fake: FakeTelegram, chat: Chat) -> list[dict[str, Any]]:
    """Result photos in a chat."""
    return [m for m in fake.bot_messages(chat.id) if m.get("photo") and (m.get("caption") or "").startswith("🎨")]


async def said(fake: FakeTelegram, chat: Chat, fragment: str, timeout: float = 20) -> str:
    """Wait until a bot message in the chat contains `fragment`."""
    return await until(
        fake, lambda: next((t for t in texts(fake, chat) if fragment in t), None), repr(fragment), timeout
    )


async def reply_time(fake: FakeTelegram, chat: Chat, send: Callable[[], object], timeout: float = 10) -> float:
    """Seconds from a user's message to the bot's first message in that chat after it."""
    t0 = time.time()
    send()
    call = await until(fake, lambda: fake.first_reply_after(chat.id, t0), "a reply", timeout)
    return float((call.finished or t0) - t0)
