"""Outcome events stored with a job's in-flight entry, so a restarted bot can hand them on again."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from bot.core.errors import Problem
from bot.jobs.protocol import JobCancelled, JobDone, JobFailed, JobOutcome

_KINDS: dict[str, type[JobOutcome]] = {cls.__name__: cls for cls in (JobDone, JobFailed, JobCancelled)}


def to_json(event: JobOutcome) -> dict[str, Any]:
    """An outcome as a JSON object."""
    return {"type": type(event).__name__, **dataclasses.asdict(event)}


def failure_fields(event: JobFailed) -> dict[str, Any]:
    """A failure as the fields of its entry in the outcomes stream (flat strings and numbers)."""
    fields: dict[str, Any] = {"kind": "failed", "message": event.message, "user_error": int(event.user_error)}
    if event.problem is not None:  # what the bot words for the user, as data (never the engine's English)
        fields["problem"] = json.dumps(event.problem.to_json())
    return fields


def failure_from_fields(job_id: int, fields: dict[str, str]) -> JobFailed:
    """The failure an outcomes-stream entry describes."""
    problem = Problem.from_json(json.loads(fields["problem"])) if fields.get("problem") else None
    return JobFailed(job_id, fields.get("message", ""), fields.get("user_error") == "1", problem)


def from_json(data: dict[str, Any]) -> JobOutcome:
    """The outcome a JSON object describes."""
    fields = dict(data)
    cls = _KINDS[fields.pop("type")]
    if "size" in fields:
        fields["size"] = tuple(fields["size"])
    if "notes" in fields:
        fields["notes"] = tuple(fields["notes"])
    if fields.get("problem") is not None:
        fields["problem"] = Problem.from_json(fields["problem"])
    return cls(**fields)
