"""Names the bot and the cluster workers share in Redis: queue, task, keys and streams."""

from __future__ import annotations

QUEUE = "stylebot"
TASK_NAME = "stylebot.paint"
# Instant pictures have a queue of their own, served by a process of their own on each worker machine, so a
# Gatys job that takes minutes never stands in front of one.
INSTANT_QUEUE = "stylebot.instant"
INSTANT_TASK = "stylebot.instant"
PREFIX = "stylebot:"
INFLIGHT = PREFIX + "inflight"  # hash: job id -> {"task", "out_dir", "done", "event"}; the bot writes it
PROGRESS = PREFIX + "progress"  # stream: started/progress entries, best effort
OUTCOMES = PREFIX + "outcomes"  # stream read by the bot's consumer group: done/failed/cancelled, durable
OUTCOME_GROUP = "bot"
OUTCOME_CONSUMER = "bot"
WORKER_PREFIX = PREFIX + "worker:"
PROGRESS_MAXLEN = 2000
OUTCOMES_MAXLEN = 100_000
RESULT_TTL_S = 24 * 3600  # results the bot never collected (it was gone for a day) expire
CANCEL_TTL_S = 24 * 3600
PREVIEW_TTL_S = 300  # a task's latest live picture; the bot deletes it with the outcome, this covers the rest
FATAL_TTL_S = 600  # how long a worker that could not load the model keeps saying why
INSTANT_LANE_PREFIX = PREFIX + "instant-lane:"  # heartbeats of the instant lanes (not Gatys slots)
INSTANT_REPLY_TTL_S = 120  # an instant picture nobody collected
# An instant reply is one list item: the kind, a newline, then the JPEG (done) or the reason (failed).
INSTANT_DONE, INSTANT_FAILED = b"done", b"failed"


def worker_key(name: str) -> str:
    """The heartbeat key of a worker process (expires when it stops beating)."""
    return WORKER_PREFIX + name


def result_key(task_id: str) -> str:
    """The hash holding a task's result files until the bot has written them to disk."""
    return f"{PREFIX}result:{task_id}"


def preview_key(task_id: str) -> str:
    """The latest live picture of a task (JPEG bytes); progress entries flagged "preview" announce a new one."""
    return f"{PREFIX}preview:{task_id}"


def cancel_key(task_id: str) -> str:
    """The flag a running task's should_stop reads.

    Per task, not per job: job ids start again at 1 with a new database, and a flag left by a cancelled job of
    the old one would otherwise make a worker skip the new job's task, which the bot would then wait for forever.
    """
    return f"{PREFIX}cancel:{task_id}"


def instant_lane_key(name: str) -> str:
    """The heartbeat key of an instant-lane process (expires when it stops beating)."""
    return INSTANT_LANE_PREFIX + name


def instant_reply_key(task_id: str) -> str:
    """The list an instant task pushes its answer onto; the bot waits on it (BLPOP)."""
    return f"{PREFIX}instant-reply:{task_id}"
