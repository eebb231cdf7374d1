"""The bot's rate limiter on its own: progress edits in a group leave a reserve of its budget to everything else."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from telegram.error import RetryAfter

from bot.telegram.ratelimit import GROUP_RESERVE, NO_WAIT, PerChatRateLimiter

GROUP, PRIVATE = -100123, 42
GROUP_BUDGET = 20  # Telegram's messages per minute in a group, as AIORateLimiter keeps them


async def call(limiter: PerChatRateLimiter, chat_id: int, sent: list[int], patience: Any = None) -> None:
    """One request to a chat through the limiter; `sent` records the ones that reached 'Telegram'."""

    async def request() -> bool:
        sent.append(chat_id)
        return True

    await limiter.process_request(request, (), {}, "editMessageText", {"chat_id": chat_id}, patience)


async def test_progress_edits_leave_a_groups_reserve_to_results_and_skip_at_once() -> None:
    limiter = PerChatRateLimiter()
    await limiter.initialize()
    sent: list[int] = []
    for _ in range(GROUP_BUDGET - GROUP_RESERVE):
        await call(limiter, GROUP, sent, NO_WAIT)  # progress edits go out while the group has budget to spare
    started = time.monotonic()
    with pytest.raises(RetryAfter):
        await call(limiter, GROUP, sent, NO_WAIT)  # down to the reserve: skipped, not queued
    assert len(sent) == GROUP_BUDGET - GROUP_RESERVE
    for _ in range(GROUP_RESERVE):
        await call(limiter, GROUP, sent)  # results and answers still go out at once
    assert time.monotonic() - started < 0.5
    assert len(sent) == GROUP_BUDGET
    await call(limiter, PRIVATE, sent, NO_WAIT)  # other chats are not touched by the group's budget
    assert sent[-1] == PRIVATE
    await limiter.shutdown()


async def test_a_flood_wait_without_a_chat_holds_back_only_its_method() -> None:
    limiter = PerChatRateLimiter()
    await limiter.initialize()

    async def flooded() -> bool:
        raise RetryAfter(dt.timedelta(seconds=2))

    async def fine() -> bool:
        return True

    with pytest.raises(RetryAfter):  # one user's download meets a 429 (no chat in the request)
        await limiter.process_request(flooded, (), {}, "getFile", {"file_id": "a"}, NO_WAIT)
    started = time.monotonic()
    assert await limiter.process_request(fine, (), {}, "answerCallbackQuery", {"callback_query_id": "1"}, NO_WAIT)
    assert time.monotonic() - started < 0.5  # another user's button tap is answered at once
    with pytest.raises(RetryAfter):  # the next download waits out the flood wait (or, here, gives up at once)
        await limiter.process_request(fine, (), {}, "getFile", {"file_id": "b"}, NO_WAIT)
    await limiter.shutdown()
