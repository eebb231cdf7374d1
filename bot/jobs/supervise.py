"""Background tasks that cannot die silently: a crash is logged with its traceback and the task restarts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)
FIRST_DELAY_S, MAX_DELAY_S = 0.5, 30.0


def supervised(name: str, run: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
    """Run `run` forever in a task: each time it raises, log it and start it again after a backoff."""
    return asyncio.create_task(_forever(name, run), name=name)


async def _forever(name: str, run: Callable[[], Awaitable[None]]) -> None:
    """The supervisor loop; only cancellation ends it."""
    delay = FIRST_DELAY_S
    while True:
        try:
            await run()
            delay = FIRST_DELAY_S  # a clean return (a loop that finished its work) restarts at once
            log.warning("background task %s returned; starting it again", name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background task %s crashed; restarting in %.1f s", name, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_DELAY_S)


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
