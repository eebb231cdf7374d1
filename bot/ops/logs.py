"""Log lines as JSON objects, one per line, for log collectors (STYLEBOT_LOG_FORMAT=json)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timezone

from bot.core.logcontext import FIELDS


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, the ids of the job, chat and user where known, and the traceback."""

    def __init__(self, redact: Callable[[str], str] = lambda text: text) -> None:
        super().__init__()
        self._redact = redact  # the RedactToken filter runs first; this catches anything passed through `extra=`

    def format(self, record: logging.LogRecord) -> str:
        """One JSON object, no newlines inside."""
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return self._redact(json.dumps(entry, ensure_ascii=False, default=str))
