"""Load benchmark: many simulated users against the real bot while every worker is busy and Telegram misbehaves.

Run from the repository root::

    python bench/load.py [--users 200] [--seconds 20] [--workers 2] [--failure-rate 0.01] [--synchronous NORMAL]

The bot (its Application, dispatcher, notifier, storage: everything but the painting) runs in this
process against the fake Bot API server of the tests, with a scripted executor whose workers stay busy
until the load is over. Each user sends /start, a photo with a painting's name, taps a settings button,
/status and /help at random moments; 1% of the bot's Telegram calls fail (5xx, 429 with retry_after,
timeouts). Reported: time from each update to the bot's first answer in that chat (p50/p99), updates
never answered (lost), how the jobs ended once the workers are released, how many of them per second went
from running to done then (each is several fsync'd commits: SQLite's durability shows here), the bot's peak RSS
and the load average of the machine meanwhile. ``--synchronous NORMAL`` measures SQLite's weaker setting.

Issue 15's run: ``--real-worker --photo-or-help --seconds 30 --failure-rate 0 --status-interval 3
--asyncio-debug`` (a TensorFlow worker and the instant lane; each user sends a captioned photo or /help; the
loop's slow steps are counted both as asyncio reports them, in wall time, and in the loop's own CPU time).
"""

from __future__ import annotations

import argparse
import asyncio
import asyncio.events
import json
import logging
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.jobs.pool import PoolConfig, WorkerPool  # noqa: E402
from bot.store import db  # noqa: E402
from testing.bot_harness import photo_bytes  # noqa: E402
from testing.fake_telegram import Chat, FakeTelegram  # noqa: E402
from testing.inprocess import ScriptedExecutor, running_bot  # noqa: E402

ANSWER_TIMEOUT_S = 30.0
TIMEOUT_DELAY_S = 6.0  # an injected delay beyond PTB's 5 s read timeout
# How long a fault in a chat may rightly hold back that chat's next answer: a timed-out call (5 s) and the
# retry after it, or a 429's retry_after (1 s here).
FAULT_REACH_S = 7.0


class Peak:
    """Samples this process's resident memory in a thread."""

    def __init__(self) -> None:
        self.mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        process = psutil.Process()
        while not self._stop.wait(0.05):
            self.mb = max(self.mb, process.memory_info().rss / 1e6)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Action:
    """One thing a simulated user did, and when."""

    chat: Chat
    kind: str
    t0: float


def simulate(
    fake: FakeTelegram, chats: list[Chat], seconds: float, rng: random.Random, one_each: bool = False
) -> list[Action]:
    """Every user's actions at random moments over `seconds` (run in a thread: the bot keeps its loop).

    one_each: each user does one thing, half of them a photo with a preset caption, the other half /help.
    """
    if one_each:
        plan = sorted((rng.uniform(0, seconds), chat, "photo" if i % 2 else "/help") for i, chat in enumerate(chats))
    else:
        plan = sorted(
            (rng.uniform(0, seconds), chat, kind)
            for chat in chats
            for kind in ("/start", "photo", "settings", "/status", "/help")
        )
    begin, actions = time.monotonic(), []
    for at, chat, kind in plan:
        time.sleep(max(0.0, begin + at - time.monotonic()))
        actions.append(Action(chat, kind, time.time()))
        if kind == "photo":
            fake.send_photo(chat, None, photo_bytes(seed=chat.id % 50), caption=rng.choice(["dots", "stripes"]))
        elif kind == "settings":
            fake.send_text(chat, None, "/settings") if not _menu(fake, chat) else _tap(fake, chat)
        else:
            fake.send_text(chat, None, kind)
    return actions


def _menu(fake: FakeTelegram, chat: Chat) -> dict[str, Any] | None:
    """The user's settings keyboard, if the bot sent one."""
    return next(
        (m for m in fake.bot_messages(chat.id) if "settings" in (m.get("text") or "") and m.get("reply_markup")), None
    )


def _tap(fake: FakeTelegram, chat: Chat) -> None:
    """Tap the first button of the settings keyboard."""
    menu = _menu(fake, chat)
    assert menu is not None
    fake.press_button(chat, None, menu, data=menu["reply_markup"]["inline_keyboard"][0][0]["callback_data"])


def _chat_of(fake: FakeTelegram, call: Any) -> int | None:
    """The chat a bot call went to (a tap's answer goes to the chat of its button)."""
    chat_id = call.params.get("chat_id")
    if call.method.lower() == "answercallbackquery":
        chat_id = fake.callback_chat(call.params.get("callback_query_id"))
    return chat_id if isinstance(chat_id, int) else None


def answer_times(fake: FakeTelegram, actions: list[Action]) -> tuple[list[float], list[float], int]:
    """Seconds from each action to the bot's first answer in that chat (a message, or a tap's answer).

    Returns every answer time, the answer times of updates that met no fault on their way (in their chat, or in
    the getUpdates call that fetches every chat's updates, from FAULT_REACH_S before the update to its answer),
    and how many updates were never answered.
    """
    answers: dict[int, list[float]] = {}
    faults: dict[int | None, list[tuple[float, float]]] = {}  # None: getUpdates, which brings every chat's updates
    for call in fake.calls:
        polling = call.method.lower() == "getupdates"
        chat_id = None if polling else _chat_of(fake, call)
        if call.finished is None or (chat_id is None and not polling):
            continue
        if call.error is not None or (call.duration or 0.0) >= TIMEOUT_DELAY_S:
            faults.setdefault(chat_id, []).append((call.time, call.finished))
        elif call.ok and chat_id is not None:
            answers.setdefault(chat_id, []).append(call.finished)
    times, clean, lost = [], [], 0
    for action in actions:
        after = [t for t in answers.get(action.chat.id, []) if action.t0 <= t <= action.t0 + ANSWER_TIMEOUT_S]
        if not after:
            lost += 1
            continue
        answered = min(after)
        times.append(answered - action.t0)
        met = any(
            start <= answered and end >= action.t0 - FAULT_REACH_S
            for start, end in faults.get(action.chat.id, []) + faults.get(None, [])
        )
        if not met:
            clean.append(answered - action.t0)
    return sorted(times), sorted(clean), lost


def _p99(times: list[float]) -> int:
    """The 99th percentile in milliseconds."""
    return round(1000 * times[int(0.99 * (len(times) - 1))])


async def run(args: argparse.Namespace) -> dict[str, object]:
    """The whole benchmark; returns its figures."""
    rng = random.Random(7)
    data = Path(tempfile.mkdtemp(prefix="stylebot-load-"))
    executor: Any = ScriptedExecutor(workers=args.workers, hold=True)
    if args.real_worker:  # TensorFlow worker processes (random weights), painting as they would in production
        executor = WorkerPool(PoolConfig(args.workers, "vgg19", "random"))
    with FakeTelegram() as fake, Peak() as peak:
        share = args.failure_rate / 3
        fake.fault("*", error_code=502, probability=share)
        fake.fault("*", error_code=429, retry_after=1, probability=share)
        fake.fault("*", delay=TIMEOUT_DELAY_S, probability=share)  # beyond PTB's 5 s read timeout: TimedOut
        async with running_bot(
            fake,
            data,
            executor,
            queue_length=10_000,
            images_per_minute=60,
            instant_preview=args.instant,
            status_interval_s=args.status_interval,
        ) as app:
            await _warm(app, executor, args.instant)
            slow = SlowSteps.watch(args.asyncio_debug)  # from here on: serving, not starting
            chats = [fake.private_chat(10_000 + i, f"User{i}") for i in range(args.users)]
            started, load_before = time.monotonic(), os.getloadavg()
            actions = await asyncio.to_thread(simulate, fake, chats, args.seconds, rng, args.photo_or_help)
            await asyncio.sleep(ANSWER_TIMEOUT_S / 3)  # the last answers
            load_s, load_after = time.monotonic() - started, os.getloadavg()
            slow.stop()
            fake.clear_faults()
            released = time.monotonic()
            if isinstance(executor, ScriptedExecutor):
                executor.release()
            states = await _settled(data)
            drain_s = time.monotonic() - released
            waits, clean, lost = answer_times(fake, actions)
    return {
        "users": args.users,
        "instant": args.instant,
        "updates": len(actions),
        "load_s": round(load_s, 1),
        "p50_ms": round(1000 * statistics.median(waits)),
        "p99_ms": _p99(waits),
        "max_ms": round(1000 * waits[-1]),
        "updates_without_fault": len(clean),  # in their own chat: shows faults stay in the chat that met them
        "p99_without_fault_ms": _p99(clean) if clean else None,
        "lost": lost,
        "jobs": states,
        "jobs_per_s": round(states.get("done", 0) / drain_s, 1),
        "synchronous": db.SYNCHRONOUS,
        "peak_rss_mb": round(peak.mb),
        "real_worker": args.real_worker,
        "status_interval_s": args.status_interval,
        "slow_callbacks": len(slow.reports) if args.asyncio_debug else None,  # wall time over 100 ms
        "slow_callbacks_cpu": slow.cpu_reports if args.asyncio_debug else None,  # the loop's own CPU over 100 ms
        "longest_step_cpu_ms": round(slow.longest_cpu_ms, 1) if args.asyncio_debug else None,
        "longest_step": slow.longest_step if args.asyncio_debug else None,
        "load_average_1min": [round(load_before[0], 1), round(load_after[0], 1)],
    }


class SlowSteps(logging.Handler):
    """Counts asyncio's debug-mode reports of a step that held the loop over 100 ms ("Executing <...> took").

    asyncio measures wall time: on a machine whose load average exceeds its cores, a 2 ms step preempted by other
    processes is reported too. So the loop's own CPU time per step is measured as well (`cpu_reports`): a step
    over 100 ms of CPU is the bot's doing, whatever the machine's load.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reports: list[str] = []
        self.cpu_reports: list[str] = []
        self.longest_cpu_ms = 0.0
        self.longest_step = ""
        self._run: Any = None

    @classmethod
    def watch(cls, on: bool) -> SlowSteps:
        """Turn on debug mode with a 100 ms threshold on the running loop, and start counting (if `on`)."""
        handler = cls()
        if on:
            loop = asyncio.get_running_loop()
            loop.set_debug(True)
            loop.slow_callback_duration = 0.1
            logging.getLogger("asyncio").addHandler(handler)
            handler._time_steps()
        return handler

    def _time_steps(self) -> None:
        """Measure the thread CPU time of every step the loop runs (asyncio.Handle._run, wrapped)."""
        self._run = run = asyncio.events.Handle._run

        def timed(handle: Any) -> None:
            began = time.thread_time()
            try:
                run(handle)
            finally:
                spent = time.thread_time() - began
                if spent * 1000 > self.longest_cpu_ms:
                    self.longest_cpu_ms, self.longest_step = spent * 1000, repr(handle)[:160]
                if spent > 0.1:
                    self.cpu_reports.append(f"{repr(handle)[:160]} used {spent:.3f} s of CPU")

        asyncio.events.Handle._run = timed  # type: ignore[method-assign]

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the report's first line."""
        if record.getMessage().startswith("Executing"):
            self.reports.append(record.getMessage()[:200])

    def stop(self) -> None:
        """Stop counting; debug mode off."""
        logging.getLogger("asyncio").removeHandler(self)
        asyncio.get_running_loop().set_debug(False)
        if self._run is not None:
            asyncio.events.Handle._run = self._run  # type: ignore[method-assign]


async def _warm(app: Any, executor: Any, instant: bool, timeout: float = 300) -> None:
    """Wait until the workers and the instant lane have loaded their models (load is measured, not start-up)."""
    deadline = time.monotonic() + timeout
    lane = app.bot_data.running.instant
    while executor.idle_workers() < 1 or (instant and lane is not None and not lane.ready):
        if time.monotonic() > deadline:
            raise TimeoutError("the workers did not load their models")
        await asyncio.sleep(0.2)


async def _settled(data: Path, timeout: float = 120) -> dict[str, int]:
    """Job counts by state once none is queued, running or being delivered."""
    deadline = time.monotonic() + timeout
    while True:
        with sqlite3.connect(data / "stylebot.sqlite3") as conn:
            states = dict(conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())
        if not {"queued", "running", "delivering"} & set(states) or time.monotonic() > deadline:
            return states
        await asyncio.sleep(0.1)


def main() -> None:
    """Parse the arguments, run, print a JSON line and a table row."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0, help="spread of each user's actions")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--failure-rate", type=float, default=0.01)
    parser.add_argument(
        "--no-instant", dest="instant", action="store_false", help="no instant pictures (the network costs CPU)"
    )
    parser.add_argument(
        "--synchronous", choices=("FULL", "NORMAL"), default=db.SYNCHRONOUS, help="SQLite durability (the bot: FULL)"
    )
    parser.add_argument(
        "--status-interval", type=float, default=0.0, help="STYLEBOT_STATUS_INTERVAL_S (production: 3; 0 edits at once)"
    )
    parser.add_argument("--asyncio-debug", action="store_true", help="report steps that held the loop over 100 ms")
    parser.add_argument("--real-worker", action="store_true", help="TensorFlow worker processes, not scripted ones")
    parser.add_argument(
        "--photo-or-help", action="store_true", help="each user does one thing: a captioned photo, or /help (half each)"
    )
    args = parser.parse_args()
    db.SYNCHRONOUS = args.synchronous
    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(run(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
