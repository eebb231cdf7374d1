"""The notifier port: how the dispatcher tells people about their jobs without knowing it is Telegram."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from bot.core.errors import Problem
from bot.core.models import Job

StatusKind = Literal[
    "queued", "starting", "painting", "retrying", "restarted", "done", "failed", "cancelled", "unavailable"
]
FailReason = Literal["input", "internal", "unavailable"]
FINAL_KINDS: frozenset[StatusKind] = frozenset({"done", "failed", "cancelled", "unavailable"})


class DeliveryError(Exception):
    """A message could not reach its chat; the subclass says whether trying again can help."""


class ChatUnreachableError(DeliveryError):
    """The chat blocked or removed the bot: nothing more can be sent there until it writes again."""


class ChatMigratedError(DeliveryError):
    """The group became a supergroup with a new id: the message must go there."""

    def __init__(self, old_chat_id: int, new_chat_id: int) -> None:
        super().__init__(f"chat {old_chat_id} is now {new_chat_id}")
        self.old_chat_id, self.new_chat_id = old_chat_id, new_chat_id


class RejectedError(DeliveryError):
    """Telegram refuses this message as it is (no rights to send media, too big), fallbacks included."""


class TransientError(DeliveryError):
    """Telegram is unreachable or overloaded right now: try again later."""


@dataclass(frozen=True)
class Status:
    """What a job's status message should say."""

    kind: StatusKind
    position: int | None = None
    eta_s: float | None = None
    percent: int | None = None
    seconds: float | None = None
    reason: FailReason | None = None
    detail: str | None = None  # "told": the admins know painting is unavailable
    problem: Problem | None = None  # reason "input": what is wrong with which input (worded by the Telegram layer)

    @property
    def final(self) -> bool:
        """Nothing follows a final status; it is never skipped or throttled away."""
        return self.kind in FINAL_KINDS


@dataclass(frozen=True)
class Result:
    """A painted result on disk, waiting to be delivered."""

    photo: Path  # a clip's first painted frame
    document: Path | None
    seconds: float
    clip: Path | None = None  # a clip job's result, sent as the kind the job's params name
    notes: tuple[str, ...] = ()  # what was changed to fit Telegram's rules: "shortened:4.2:3", "sped_up:1.3:3"


@dataclass(frozen=True)
class Receipt:
    """Where a delivered result now lives in Telegram."""

    file_id: str
    message_id: int


@dataclass(frozen=True)
class ChatUnreachable:
    """A status message found that the chat blocked or removed the bot."""

    chat_id: int
    reason: str


@dataclass(frozen=True)
class ChatMigrated:
    """A status message found that the group became a supergroup."""

    old_chat_id: int
    new_chat_id: int


ChatChange = ChatUnreachable | ChatMigrated


class Notifier(Protocol):
    """Status messages and result delivery; the dispatcher's only way to reach people."""

    chat_changes: asyncio.Queue[ChatChange]  # what sending status messages found out about chats, for the dispatcher

    def show(self, job: Job, status: Status) -> None:
        """Bring the job's status message up to date in the background; never blocks, never raises."""

    def show_picture(self, job: Job, picture: Path) -> None:
        """Make the status message this picture (the instant result, then the painting as it forms)."""

    async def deliver(self, job: Job, result: Result) -> Receipt:
        """One attempt to deliver a result; raises ChatUnreachableError, RejectedError or TransientError."""

    def moved_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup: status messages of its jobs start afresh under the new id."""

    async def tell_admins(self, reason: str) -> int:
        """Tell the operators the workers cannot paint; returns how many were told."""

    def mute(self, chat_id: int) -> None:
        """Send nothing more to this chat (it blocked the bot)."""

    def unmute(self, chat_id: int) -> None:
        """The chat wrote again: it can be answered."""

    async def close(self) -> None:
        """Finish or drop what is still being sent."""
