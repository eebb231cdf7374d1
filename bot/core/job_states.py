"""The job state machine: a job's states and the one table of moves between them (no SQL, no I/O here).

    queued ──claim──▶ running ──painted──▶ delivering ──delivered──▶ done
      ▲                 │  │                   │ ▲
      └──retry/requeue──┘  │                   └─┘ postpone (delivery failed for now)
                           ▼
    fail: queued|running ▶ failed           cancel: queued|running ▶ cancelled
    undeliverable: queued|running|delivering ▶ undeliverable (the chat blocked the bot, Telegram refused)

The store applies a move only from the states the table lists (bot/store/jobs.py); the jobs layer makes every
move through one place that also tells the metrics and the user (bot/jobs/lifecycle.py).
"""

from __future__ import annotations

from typing import Literal, get_args

JobStatus = Literal["queued", "running", "delivering", "done", "failed", "cancelled", "undeliverable"]
JobEvent = Literal[
    "claim",  # a worker slot takes the job
    "progress",  # the worker reports how far it got
    "painted",  # the worker finished; the result waits on disk for delivery
    "retry",  # the worker crashed or failed on our side: once more from the queue
    "requeue",  # not the job's fault (the bot restarted, the instant lane could not paint): queued, attempt refunded
    "postpone",  # a delivery attempt failed for now: try again later
    "delivered",  # Telegram has the result
    "fail",  # the job cannot be painted (bad input, twice failed, no worker can paint)
    "cancel",  # its user cancelled it
    "undeliverable",  # its chat cannot receive it
]

STATES: tuple[JobStatus, ...] = get_args(JobStatus)
EVENTS: tuple[JobEvent, ...] = get_args(JobEvent)

# event -> {state the job may be in: the state it moves to}. A move from any other state is refused.
MOVES: dict[JobEvent, dict[JobStatus, JobStatus]] = {
    "claim": {"queued": "running"},
    "progress": {"running": "running"},
    "painted": {"running": "delivering"},
    "retry": {"running": "queued"},
    "requeue": {"running": "queued"},
    "postpone": {"delivering": "delivering"},
    "delivered": {"delivering": "done"},
    "fail": {"queued": "failed", "running": "failed"},
    "cancel": {"queued": "cancelled", "running": "cancelled"},
    "undeliverable": {"queued": "undeliverable", "running": "undeliverable", "delivering": "undeliverable"},
}

# Nothing moves a job out of these.
FINAL_STATES: frozenset[JobStatus] = frozenset({"done", "failed", "cancelled", "undeliverable"})
# A job holds one of its user's slots while it waits or paints; a painted result being delivered does not.
ACTIVE_STATES: tuple[JobStatus, ...] = ("queued", "running")
# Not finished: queued, running or being delivered.
UNFINISHED_STATES: tuple[JobStatus, ...] = ("queued", "running", "delivering")


def target(state: JobStatus, event: JobEvent) -> JobStatus | None:
    """The state `event` moves a job in `state` to, or None when the table does not allow that move."""
    return MOVES[event].get(state)


def sources(event: JobEvent) -> tuple[JobStatus, ...]:
    """The states from which `event` may move a job."""
    return tuple(MOVES[event])
