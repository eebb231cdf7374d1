"""Concurrent update handling that keeps each sender's updates in order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.core import logcontext


def sender_key(update: Update) -> int:
    """Who an update is from: the sending chat (channels, anonymous admins), else the user, else the chat."""
    message = update.effective_message
    if message is not None and message.sender_chat is not None:
        return message.sender_chat.id
    if update.effective_user is not None:
        return update.effective_user.id
    return update.effective_chat.id if update.effective_chat is not None else 0


class PerSenderUpdateProcessor(BaseUpdateProcessor):
    """Many updates at once, but one sender's updates one after another (an album's photos stay in order)."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}  # updates holding or waiting for each lock

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run the handler coroutine after the sender's earlier updates."""
        key = sender_key(update) if isinstance(update, Update) else 0
        if isinstance(update, Update):  # each update runs in its own task: its log lines name chat and sender
            chat = update.effective_chat
            logcontext.bind(chat_id=chat.id if chat is not None else None, user_id=key or None)
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._users[key] -= 1
            if not self._users[key]:  # nobody else waits: drop the lock so the table stays small
                del self._users[key], self._locks[key]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""
