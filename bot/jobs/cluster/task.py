"""The Celery task a cluster worker runs: one RunJob painted with the shared painting code, results into Redis."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from bot.jobs.cluster.events import failure_fields
from bot.jobs.cluster.heartbeat import Heartbeat
from bot.jobs.cluster.keys import (
    INFLIGHT,
    OUTCOMES,
    OUTCOMES_MAXLEN,
    PREVIEW_TTL_S,
    PROGRESS,
    PROGRESS_MAXLEN,
    RESULT_TTL_S,
    cancel_key,
    preview_key,
    result_key,
)
from bot.jobs.cluster.payload import decode_request
from bot.jobs.painting import paint
from bot.jobs.protocol import JobCancelled, JobDone, JobFailed, JobOutcome, JobProgress

log = logging.getLogger(__name__)
OUTCOME_NAMES: dict[type, str] = {JobDone: "done", JobFailed: "failed", JobCancelled: "cancelled"}
PUBLISH_RETRY_S = (0.5, 1, 2, 4, 8, 15, 30, 60, 60, 120)  # an outcome waits out a Redis restart
# A live picture (RunJob.preview_side, 320 px) is a JPEG of some 10-55 kB, pure noise being the worst; a larger
# one (a larger preview_side) is made smaller rather than let a few jobs fill Redis with pictures for a thumbnail.
PREVIEW_MAX_BYTES = 64 * 1024
PREVIEW_SMALL_SIDE, PREVIEW_SMALL_QUALITY = 200, 60


class WorkerObserver:
    """What a cluster worker reports about itself; this base records nothing (bot.ops.worker_metrics serves it)."""

    def model_loaded(self, seconds: float) -> None:
        """The model is ready, after this long."""

    def busy(self, painting: bool) -> None:
        """A task started (True) or ended (False)."""

    def finished(self, method: str, outcome: str, seconds: float) -> None:
        """A job was painted (done), failed or cancelled here by `method` (gatys, fast), after `seconds` of work."""


NO_OBSERVER = WorkerObserver()


@dataclasses.dataclass
class WorkerContext:
    """What the worker process loaded once: the model, its Redis client, its heartbeat, its observer."""

    stylizer: Any
    client: Any  # redis.Redis; redis-py types each command as "Awaitable or value"
    heartbeat: Heartbeat
    observer: WorkerObserver = NO_OBSERVER


def run_task(context: WorkerContext, payload: dict[str, Any], task_id: str) -> None:
    """Paint the job in `payload` unless it is stale or cancelled, and publish the outcome."""
    job_id = int(payload["job_id"])
    context.heartbeat.set(state="busy", job=job_id, task=task_id)
    context.observer.busy(True)
    try:
        if not _current(context.client, job_id, task_id):
            log.info("job %d: task %s is stale (retried elsewhere, cancelled or delivered); skipped", job_id, task_id)
            return
        _progress(context, job_id, task_id, {"kind": "started"})
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"stylebot-{job_id}-") as tmp:
            job = decode_request(payload, Path(tmp))
            outcome = paint(
                context.stylizer,
                job,
                lambda p: _progress(context, job_id, task_id, _progress_fields(p), _preview_bytes(p.preview_path)),
                lambda: _cancelled(context.client, task_id),
            )
            _publish(context, task_id, outcome)
        method = str(job.params.get("method") or "gatys")
        context.observer.finished(method, OUTCOME_NAMES[type(outcome)], time.monotonic() - started)
        log.info("job %d: %s", job_id, type(outcome).__name__)
    finally:
        context.observer.busy(False)
        context.heartbeat.set(state="idle", job=None, task=None)


def _current(client: Any, job_id: int, task_id: str) -> bool:
    """Whether the bot still wants this task run: it is the job's latest task, not finished, not cancelled."""
    raw = client.hget(INFLIGHT, str(job_id))
    if raw is None or client.exists(cancel_key(task_id)):
        return False
    entry = json.loads(raw)
    return bool(entry.get("task") == task_id and not entry.get("done"))


def _cancelled(client: Any, task_id: str) -> bool:
    """should_stop: the bot set the task's cancel flag (read every step; an unreachable broker means go on)."""
    try:
        return bool(client.exists(cancel_key(task_id)))
    except redis.RedisError:
        return False


def _progress_fields(p: JobProgress) -> dict[str, Any]:
    """A progress event as stream fields."""
    eta = "" if p.eta_s is None else f"{p.eta_s:.3f}"
    return {"kind": "progress", "fraction": f"{p.fraction:.4f}", "eta": eta, "step": p.step, "total": p.total}


def _preview_bytes(path: str | None) -> bytes | None:
    """The live picture paint() saved with this report, as JPEG bytes of at most PREVIEW_MAX_BYTES, or None."""
    if path is None:
        return None
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        log.debug("no live picture: %s", exc)
        return None
    if len(data) <= PREVIEW_MAX_BYTES:
        return data
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((PREVIEW_SMALL_SIDE, PREVIEW_SMALL_SIDE))
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=PREVIEW_SMALL_QUALITY)
    small = out.getvalue()
    return small if len(small) <= PREVIEW_MAX_BYTES else None


def _progress(
    context: WorkerContext, job_id: int, task_id: str, fields: dict[str, Any], preview: bytes | None = None
) -> None:
    """Add a progress entry, with the live picture stored beside it; best effort, a broker hiccup loses this one."""
    entry = {"job": job_id, "task": task_id, "worker": context.heartbeat.name, **fields}
    try:
        pipe = context.client.pipeline(transaction=True)
        if preview is not None:
            # One key per task holding the latest picture, not the picture in the stream: the stream keeps
            # thousands of entries, and the bot only ever wants the newest picture of a job.
            pipe.set(preview_key(task_id), preview, ex=PREVIEW_TTL_S)
            entry["preview"] = 1
        pipe.xadd(PROGRESS, entry, maxlen=PROGRESS_MAXLEN, approximate=True)
        pipe.execute()
    except redis.RedisError as exc:
        log.debug("progress not sent: %s", exc)


def _publish(context: WorkerContext, task_id: str, outcome: JobOutcome) -> None:
    """Store the result files with an expiry and announce the outcome, atomically; retried through an outage."""
    fields: dict[str, Any] = {"job": outcome.job_id, "task": task_id, "worker": context.heartbeat.name}
    files: dict[str, bytes] = {}
    if isinstance(outcome, JobDone):
        fields.update(kind="done", seconds=f"{outcome.seconds:.3f}", width=outcome.size[0], height=outcome.size[1])
        files["photo"] = Path(outcome.photo_path).read_bytes()
        if outcome.document_path:
            files["document"] = Path(outcome.document_path).read_bytes()
        if outcome.making_of_path:
            files["making_of"] = Path(outcome.making_of_path).read_bytes()
        if outcome.clip_path:  # a clip job's result, beside its first frame as the "photo"
            files["clip"] = Path(outcome.clip_path).read_bytes()
            fields.update(clip_name=Path(outcome.clip_path).name, notes=" ".join(outcome.notes))
    elif isinstance(outcome, JobFailed):
        fields.update(failure_fields(outcome))
    elif isinstance(outcome, JobCancelled):
        fields.update(kind="cancelled")
    for wait in (*PUBLISH_RETRY_S, None):
        try:
            pipe = context.client.pipeline(transaction=True)
            if files:
                pipe.hset(result_key(task_id), mapping=files)
                pipe.expire(result_key(task_id), RESULT_TTL_S)
            pipe.xadd(OUTCOMES, fields, maxlen=OUTCOMES_MAXLEN, approximate=True)
            pipe.execute()
            return
        except redis.RedisError as exc:
            if wait is None:
                raise  # the Celery task turns this into a requeue: the job runs again later
            log.warning("job %d: cannot publish the outcome (%s); again in %.1f s", outcome.job_id, exc, wait)
            time.sleep(wait)
