"""The bot's rate limiter on its own: progress edits in a group leave a reserve of its budget to everything else."""

from __future__ import annotations

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
