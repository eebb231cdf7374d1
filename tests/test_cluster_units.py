"""Parts of the Celery executor that need no broker: settings, factory, payloads, stored outcomes, restart hook."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from PIL import Image

from bot.config import ConfigError, Settings
from bot.core.recipes import style_params
from bot.jobs.cluster import events
from bot.jobs.cluster.payload import decode_request, encode_request
from bot.jobs.factory import make_executor
from bot.jobs.pool import WorkerPool
from bot.jobs.protocol import JobCancelled, JobDone, JobFailed, RunJob
from bot.store.storage import Storage
from bot.telegram import texts
from tests.test_config import TOKEN
from tests.test_storage import PARAMS


def settings(**env: str) -> Settings:
    """Settings from a valid token plus these variables."""
    return Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, **env})


def test_executor_and_broker_settings() -> None:
    default = settings()
    assert (default.executor, default.broker_url) == ("local", "redis://localhost:6379/0")
    cluster = settings(STYLEBOT_EXECUTOR="Celery", STYLEBOT_BROKER_URL="redis://:pw@redis:6380/2")
    assert (cluster.executor, cluster.broker_url) == ("celery", "redis://:pw@redis:6380/2")
    with pytest.raises(ConfigError, match="STYLEBOT_EXECUTOR must be one of local, celery"):
        settings(STYLEBOT_EXECUTOR="ray")
    with pytest.raises(ConfigError, match="STYLEBOT_BROKER_URL must be a Redis URL") as refused:
        settings(STYLEBOT_BROKER_URL="amqp://user:secret@rabbit//")
    assert "secret" not in str(refused.value)
    with pytest.raises(ConfigError, match="STYLEBOT_VISIBILITY_TIMEOUT_S"):
        settings(STYLEBOT_VISIBILITY_TIMEOUT_S="1")


def test_factory_picks_the_executor_by_setting() -> None:
    from bot.jobs.cluster.executor import CeleryExecutor

    assert isinstance(make_executor(settings()), WorkerPool)
    executor = make_executor(settings(STYLEBOT_EXECUTOR="celery", STYLEBOT_BROKER_URL="redis://127.0.0.1:1/0"))
    assert isinstance(executor, CeleryExecutor)
    assert executor.idle_workers() == 0  # nothing known about the cluster until it has been read


def test_payload_carries_the_photos_and_restores_the_params(tmp_path: Path) -> None:
    content, style = tmp_path / "content.jpg", tmp_path / "style.png"
    Image.new("RGB", (300, 200), (200, 10, 10)).save(content)
    Image.new("RGB", (40, 40), (0, 0, 200)).save(style)
    params = dataclasses.asdict(style_params(PARAMS, (1.0,), max_side=64, steps=3))
    request = RunJob(7, str(content), (str(style),), params, str(tmp_path / "out"), hd=True, report_every=2)
    payload = encode_request(request)
    import json

    decoded = decode_request(json.loads(json.dumps(payload)), tmp_path / "worker")
    assert decoded.params == params  # tuples again, as the engine's validation wants
    assert (decoded.job_id, decoded.hd, decoded.report_every) == (7, True, 2)
    with Image.open(decoded.content_path) as sent:
        assert max(sent.size) == 64  # scaled to the job's size before it travels
    assert Path(decoded.style_paths[0]).read_bytes() == style.read_bytes()


def test_outcomes_survive_json() -> None:
    for event in (JobDone(1, "/a/result.jpg", None, "/a/making_of.gif", 1.5, (48, 32)), JobFailed(2, "bad", True)):
        assert events.from_json(events.to_json(event)) == event
    assert events.from_json(events.to_json(JobCancelled(3))) == JobCancelled(3)


def test_cluster_busy_has_a_sentence() -> None:
    from bot.core.errors import BrokerUnavailableError

    assert texts.render(BrokerUnavailableError()) == "The painting service is busy right now, please try again shortly."


async def test_a_restart_leaves_jobs_still_running_elsewhere(tmp_path: Path) -> None:
    from bot.core.models import StyleRef

    storage = await Storage.open(tmp_path / "db.sqlite3")
    try:
        ids = []
        for user in (1, 2):
            job = await storage.enqueue(
                user,
                user,
                None,
                "file",
                [StyleRef("preset", name="dots")],
                PARAMS,
                per_user_limit=3,
                queue_limit=10,
            )
            ids.append(job.id)
            await storage.claim_next()
        assert await storage.running_after_restart(still_running=[ids[0]]) == [ids[1]]
    finally:
        await storage.close()


def test_a_live_picture_travels_small(tmp_path: Path) -> None:
    import io

    import numpy as np

    from bot.jobs.cluster.task import PREVIEW_MAX_BYTES, PREVIEW_SMALL_SIDE, _preview_bytes

    small, noisy = tmp_path / "small.jpg", tmp_path / "noisy.jpg"
    Image.new("RGB", (320, 213), (10, 120, 200)).save(small, quality=85)
    pixels = np.random.default_rng(0).integers(0, 255, (640, 960, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(noisy, quality=85)  # noise hardly compresses: several times the cap
    assert _preview_bytes(str(small)) == small.read_bytes()  # as paint() saved it
    data = _preview_bytes(str(noisy))
    assert data is not None and len(data) <= PREVIEW_MAX_BYTES < noisy.stat().st_size
    with Image.open(io.BytesIO(data)) as sent:
        assert sent.format == "JPEG" and max(sent.size) == PREVIEW_SMALL_SIDE
    assert _preview_bytes(None) is None and _preview_bytes(str(tmp_path / "gone.jpg")) is None
