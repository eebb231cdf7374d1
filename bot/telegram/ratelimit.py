"""PTB's AIORateLimiter, with three changes: a flood wait holds back only its chat, 5xx/timeouts are retried, and
progress edits give way to everything else in a group whose budget is spent."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import AIORateLimiter

log = logging.getLogger(__name__)
JSONResult = bool | dict[str, Any] | list[dict[str, Any]]
RequestObserver = Callable[[str, str], None]  # (method, outcome): "ok", or what went wrong (see outcome_of)


@dataclass(frozen=True)
class Patience:
    """`rate_limit_args` of one call: how many flood waits or server errors it may retry (0: fail at once)."""

    retries: int


NO_WAIT = Patience(0)  # for progress edits: a stale one is worth skipping, never waiting for
NETWORK_BACKOFF_S = (0.5, 2.0, 5.0)  # waits before retrying a call that met a 5xx or a timeout
GROUP_SLOT_S = 3  # a group's budget frees one message every 60 s / 20
GROUP_RESERVE = 8  # of a group's 20 messages a minute, what progress edits always leave to answers and results


class PerChatRateLimiter(AIORateLimiter):
    """Telegram's overall and per-group rates as AIORateLimiter keeps them, and 429s kept per chat.

    AIORateLimiter pauses every request while any one waits out a 429 (retry_after), so one chat's
    flood wait would delay every user; here only requests to that chat wait.
    """

    def __init__(self, max_retries: int = 2, observe: RequestObserver | None = None) -> None:
        super().__init__(max_retries=max_retries)
        self._retries = max_retries
        self._observe = observe
        self._until: dict[object, float] = {}  # chat id -> loop time its flood wait ends

    async def process_request(  # type: ignore[override]
        self,
        callback: Callable[..., Coroutine[Any, Any, JSONResult]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Patience | None,
    ) -> JSONResult:
        """Run the request under the overall and group limits, waiting out this chat's flood waits."""
        retries = self._retries if rate_limit_args is None else rate_limit_args.retries
        # Flood waits are kept per chat; calls without one (getFile, callback and inline answers) per method,
        # so a 429 on one user's download does not hold back everyone's button taps.
        key = data.get("chat_id") or endpoint
        group: int | str | bool = False
        with contextlib.suppress(ValueError, TypeError):
            if int(key) < 0:
                group = int(key)
        if retries == 0 and group and self._group_short(group):
            # Telegram allows a group about 20 messages a minute. Progress edits use only what answers and results
            # leave: one that had to wait its turn would delay them, and be stale when sent. Skip it now.
            raise RetryAfter(dt.timedelta(seconds=GROUP_SLOT_S))
        loop = asyncio.get_running_loop()
        for attempt in range(retries + 1):
            wait = self._until.get(key, 0.0) - loop.time()
            if wait > 0:
                if attempt >= retries:
                    raise RetryAfter(max(1, round(wait)))
                await asyncio.sleep(wait)
            try:
                return await self._counted(
                    endpoint,
                    self._run_request(
                        chat=key is not None,
                        group=group,
                        allow_paid_broadcast=bool(data.get("allow_paid_broadcast", False)),
                        callback=callback,
                        args=args,
                        kwargs=kwargs,
                    ),
                )
            except RetryAfter as exc:
                self._until[key] = loop.time() + retry_after_s(exc) + 0.1
                self._forget_expired(loop.time())
                if attempt >= retries:
                    raise
            except NetworkError as exc:
                # BadRequest is a NetworkError in PTB, but a wrong request stays wrong; 5xx and timeouts pass.
                # A timed-out send may have arrived after all: a rare duplicate beats a lost answer.
                if isinstance(exc, BadRequest) or attempt >= retries:
                    raise
                wait = NETWORK_BACKOFF_S[min(attempt, len(NETWORK_BACKOFF_S) - 1)]
                log.warning("%s failed (%s); retrying in %.1f s", endpoint, exc, wait)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _counted(self, endpoint: str, request: Awaitable[JSONResult]) -> JSONResult:
        """Await one attempt of a call and report its outcome (each retry counts as a call of its own)."""
        try:
            result = await request
        except Exception as exc:
            if self._observe is not None:
                self._observe(endpoint, outcome_of(exc))
            raise
        if self._observe is not None:
            self._observe(endpoint, "ok")
        return result

    def _group_short(self, group: int | str) -> bool:
        """Whether a group's message budget is down to the reserve kept for answers and results."""
        if not self._group_max_rate:  # AIORateLimiter's setting (private): 0 turns the group limits off
            return False
        return not self._get_group_limiter(group).has_capacity(GROUP_RESERVE + 1)

    def _forget_expired(self, now: float) -> None:
        """Keep the table of flood waits small."""
        for key in [k for k, until in self._until.items() if until < now]:
            del self._until[key]


def retry_after_s(exc: RetryAfter) -> float:
    """Seconds to wait; RetryAfter.retry_after is an int or a timedelta depending on PTB's settings."""
    value: Any = exc.retry_after
    return float(value.total_seconds()) if hasattr(value, "total_seconds") else float(value)


def outcome_of(exc: Exception) -> str:
    """A small, fixed vocabulary for metrics labels: the HTTP error code where PTB tells it, else the kind."""
    if isinstance(exc, RetryAfter):
        return "429"
    if isinstance(exc, Forbidden):
        return "403"
    if isinstance(exc, BadRequest):
        return "400"
    if isinstance(exc, TimedOut):
        return "timeout"
    if isinstance(exc, NetworkError):
        return "network"  # 5xx and connection errors: PTB does not keep the code
    return "error" if isinstance(exc, TelegramError) else "exception"
