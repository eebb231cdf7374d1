"""Supervised background loops: they stop when told, even when a cancel is lost on the way."""

from __future__ import annotations

import asyncio

from bot.jobs.supervise import cancel_and_wait, supervised


async def test_a_lost_cancel_does_not_keep_a_loop_running() -> None:
    lost = 0

    async def loop() -> None:
        nonlocal lost
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if lost:
                    raise
                lost += 1  # as asyncio.wait_for does before Python 3.12 when its call finished in the same step

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait([task]), 5)  # cancel then gather waited here for ever
    assert task.cancelled() and lost == 1

    running, rounds = True, 0

    async def busy() -> None:  # never idle: every cancel could be lost, so the loop checks the flag
        nonlocal rounds
        while running:
            rounds += 1
            await asyncio.sleep(0)

    looping = supervised("busy", busy, lambda: running)
    async with asyncio.timeout(5):
        while rounds < 3:  # the loop is running
            await asyncio.sleep(0)
    running = False
    await asyncio.wait_for(cancel_and_wait([looping]), 5)
    assert looping.done() and rounds > 0
