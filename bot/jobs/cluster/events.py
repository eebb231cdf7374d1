"""Outcome events stored with a job's in-flight entry, so a restarted bot can hand them on again."""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.jobs.protocol import JobCancelled, JobDone, JobFailed

StoredOutcome = JobDone | JobFailed | JobCancelled
_KINDS: dict[str, type[StoredOutcome]] = {cls.__name__: cls for cls in (JobDone, JobFailed, JobCancelled)}


def to_json(event: StoredOutcome) -> dict[str, Any]:
    """An outcome as a JSON object."""
    return {"type": type(event).__name__, **dataclasses.asdict(event)}


def from_json(data: dict[str, Any]) -> StoredOutcome:
    """The outcome a JSON object describes."""
    fields = dict(data)
    cls = _KINDS[fields.pop("type")]
    if "size" in fields:
        fields["size"] = tuple(fields["size"])
    if "notes" in fields:
        fields["notes"] = tuple(fields["notes"])
    return cls(**fields)
