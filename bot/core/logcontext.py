"""Who a log line is about (job, chat, user), carried in context variables so every module's logs get it."""

from __future__ import annotations

import contextvars
import logging

FIELDS = ("job_id", "chat_id", "user_id")
_vars: dict[str, contextvars.ContextVar[int | None]] = {
    name: contextvars.ContextVar(f"stylebot_{name}", default=None) for name in FIELDS
}


def bind(job_id: int | None = None, chat_id: int | None = None, user_id: int | None = None) -> None:
    """Attach these ids to every log record of the current task (and of tasks it starts from now on)."""
    for name, value in (("job_id", job_id), ("chat_id", chat_id), ("user_id", user_id)):
        if value is not None:
            _vars[name].set(value)


def current() -> dict[str, int]:
    """The ids bound in this context."""
    return {name: value for name, var in _vars.items() if (value := var.get()) is not None}


class ContextFilter(logging.Filter):
    """Copies the bound ids onto each record, unless the call passed its own through `extra=`."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add job_id, chat_id and user_id attributes where known."""
        for name, value in current().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True
