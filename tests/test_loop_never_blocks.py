"""The event loop never blocks: a flow with photos of the largest size, asyncio's slow-callback warning on at 100 ms."""

from __future__ import annotations

import asyncio
import asyncio.events
import contextlib
import functools
import importlib.util
import io
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from testing.fake_telegram import FakeTelegram
from testing.inprocess import ScriptedExecutor, results, running_bot, said, until

if importlib.util.find_spec("onnxruntime") is None:  # found, not imported: the bot process must not import it
    pytest.skip("the instant lane runs on onnxruntime", allow_module_level=True)
SLOW_CALLBACK_S = 0.1
# asyncio's report is wall time: on a 2-core machine a 2 ms step preempted by the painting processes (or waiting for
# the GIL a decoding thread holds) is reported too. A step is the loop's own fault when it spent this much CPU, or
# when it held the loop for far longer than any preemption (a synchronous download or Redis call takes seconds).
STEP_CPU_LIMIT_S = 0.1
STEP_WALL_LIMIT_S = 0.5


def big_jpeg(size: tuple[int, int] = (4600, 3600), seed: int = 5) -> bytes:
    """A noise photo of about 19 MB, just under Telegram's 20 MB download limit (noise does not compress)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=95)
    return out.getvalue()


@contextlib.contextmanager
def step_timer() -> Iterator[list[tuple[float, float, str]]]:
    """Every loop step's (wall, CPU) seconds over the limits, while inside (asyncio.Handle._run, wrapped)."""
    run, slow = asyncio.events.Handle._run, []

    def timed(handle: asyncio.Handle) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            run(handle)
        finally:
            wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
            if cpu > STEP_CPU_LIMIT_S or wall > STEP_WALL_LIMIT_S:
                slow.append((wall, cpu, object.__repr__(handle)))

    asyncio.events.Handle._run = timed  # type: ignore[method-assign]
    try:
        yield slow
    finally:
        asyncio.events.Handle._run = run  # type: ignore[method-assign]


def slow_callbacks(records: list[logging.LogRecord]) -> list[str]:
    """asyncio's debug-mode reports of a step that held the loop ("Executing <Task ...> took 0.250 seconds")."""
    return [r.getMessage() for r in records if r.name == "asyncio" and r.getMessage().startswith("Executing")]


@pytest.mark.slow
async def test_big_photos_and_instant_pictures_never_block_the_loop(
    fake: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    photo = await asyncio.to_thread(big_jpeg)
    assert 18e6 < len(photo) < 20e6
    painted_here_before = "onnxruntime" in sys.modules  # another test of this session may have painted in-process
    caplog.set_level(logging.WARNING, logger="asyncio")
    executor = ScriptedExecutor(workers=2, hold=True)
    # The real instant lane (a process), the real download, cache, decode and job folders; only painting is scripted.
    async with running_bot(fake, tmp_path, executor, max_side=256, instant_preview=True):
        await until(fake, lambda: len(fake.calls_of("setMyCommands")) >= 12, "the start-up")  # serving from here on
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = SLOW_CALLBACK_S
        timer = step_timer()
        slow_steps = timer.__enter__()
        eve, gus, fay = fake.private_chat(301, "Eve"), fake.private_chat(302, "Gus"), fake.private_chat(303, "Fay")
        for chat, style in ((eve, "dots"), (gus, "stripes")):
            send = functools.partial(fake.send_document, file_name="big.jpg", mime_type="image/jpeg", caption=style)
            await asyncio.to_thread(send, chat, None, photo)
        fake.send_text(fay, None, "/help")
        await until(fake, lambda: fake.bot_messages(fay.id), "the help")
        jobs = await until(
            fake, lambda: len(executor.submitted) == 2 and executor.submitted, "both jobs on workers", 120
        )
        assert all(job.init_path is not None for job in jobs)  # each started from its instant picture
        fake.send_text(eve, None, "/cancel")  # the job's folder is removed
        await said(fake, eve, "Cancelled 1 job")
        executor.release()
        await until(fake, lambda: results(fake, gus), "the painting")
        timer.__exit__(None, None, None)
        loop.set_debug(False)
    reported = slow_callbacks(caplog.records)
    assert slow_steps == [], (slow_steps, reported)  # asyncio's wall-time reports, for the record
    assert painted_here_before or "onnxruntime" not in sys.modules  # the pictures were painted by the lane


def test_the_check_sees_a_blocked_loop(caplog: pytest.LogCaptureFixture) -> None:
    """The assertion above can fail: a step that sleeps 150 ms on the loop is reported."""
    caplog.set_level(logging.WARNING, logger="asyncio")

    async def blocking() -> None:
        import time

        time.sleep(0.15)

    async def main() -> None:
        asyncio.get_running_loop().slow_callback_duration = SLOW_CALLBACK_S
        await asyncio.create_task(blocking())

    asyncio.run(main(), debug=True)
    assert slow_callbacks(caplog.records)


def test_the_step_timer_sees_blocking_and_busy_steps() -> None:
    """The timer the flow above asserts on catches a step that sleeps on the loop and one that computes on it."""

    async def main() -> list[tuple[float, float, str]]:
        with step_timer() as slow:
            await asyncio.create_task(asyncio.to_thread(lambda: None))  # a normal step: not reported
            await asyncio.create_task(_sleeps(STEP_WALL_LIMIT_S + 0.1))
            await asyncio.create_task(_computes(STEP_CPU_LIMIT_S + 0.05))
        return slow

    slow = asyncio.run(main())
    assert len(slow) == 2 and slow[0][0] > STEP_WALL_LIMIT_S and slow[1][1] > STEP_CPU_LIMIT_S


async def _sleeps(seconds: float) -> None:
    """Block the loop without computing (a synchronous call waiting on the network)."""
    time.sleep(seconds)


async def _computes(seconds: float) -> None:
    """Keep the loop's thread busy computing."""
    began = time.thread_time()
    while time.thread_time() - began < seconds:
        sum(range(1000))
