"""Background tasks that cannot die silently: a crash is logged with its traceback and the task restarts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

log = logging.getLogger(__name__)
FIRST_DELAY_S, MAX_DELAY_S = 0.5, 30.0
RECANCEL_S = 0.1  # how long a cancelled task gets before it is cancelled again


def supervised(
    name: str, run: Callable[[], Awaitable[None]], running: Callable[[], bool] = lambda: True
) -> asyncio.Task[None]:
    """Run `run` in a task while running() holds: each time it raises, log it and start it again after a backoff."""
    return asyncio.create_task(_forever(name, run, running), name=name)


async def _forever(name: str, run: Callable[[], Awaitable[None]], running: Callable[[], bool]) -> None:
    """The supervisor loop; cancellation ends it, and so does running() turning false (see cancel_and_wait)."""
    delay = FIRST_DELAY_S
    while running():
        try:
            await run()
            if not running():
                return
            delay = FIRST_DELAY_S  # a clean return (a loop that finished its work) restarts at once
            log.warning("background task %s returned; starting it again", name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background task %s crashed; restarting in %.1f s", name, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_DELAY_S)


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel endless loops (see supervised) and wait until they have ended, cancelling again if need be.

    One cancel is not enough before Python 3.12: asyncio.wait_for returns the awaited result instead of raising
    CancelledError when that result came in the same loop step as the cancel (CPython gh-86296). redis-py
    sends every command through wait_for, so a Redis loop cancelled at that moment just goes on, and a
    cancel-then-gather waited for it forever (bench/cluster.py hung stopping the Celery executor so). The
    cancel is repeated; a loop that is never idle can lose every one, so such loops also check a flag.
    Not for tasks that clean up after a cancel: a cleanup longer than RECANCEL_S is cancelled too.
    """
    every = list(tasks)
    pending = {task for task in every if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_S)
    await asyncio.gather(*every, return_exceptions=True)  # all ended: this only collects their exceptions


class TaskSet:
    """Fire-and-forget tasks that are kept referenced, logged when they fail, and cancelled together."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Start a task; an exception it raises is logged with its traceback."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        """Forget a finished task and log its failure."""
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed", task.get_name(), exc_info=task.exception())

    def __len__(self) -> int:
        """Tasks still running."""
        return len(self._tasks)

    async def cancel_all(self) -> None:
        """Cancel every task and wait for them to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
