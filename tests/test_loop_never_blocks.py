"""The event loop never blocks: a flow with photos of the largest size, asyncio's slow-callback warning on at 100 ms."""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import io
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.fake_telegram import FakeTelegram
from tests.inprocess import ScriptedExecutor, results, running_bot, said, until

if importlib.util.find_spec("onnxruntime") is None:  # found, not imported: the bot process must not import it
    pytest.skip("the instant lane runs on onnxruntime", allow_module_level=True)
SLOW_CALLBACK_S = 0.1


def big_jpeg(size: tuple[int, int] = (4600, 3600), seed: int = 5) -> bytes:
    """A noise photo of about 19 MB, just under Telegram's 20 MB download limit (noise does not compress)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=95)
    return out.getvalue()


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
    async with running_bot(fake, tmp_path, executor, max_side=256):
        await until(fake, lambda: len(fake.calls_of("setMyCommands")) >= 12, "the start-up")  # serving from here on
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = SLOW_CALLBACK_S
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
        loop.set_debug(False)
    assert slow_callbacks(caplog.records) == []
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
