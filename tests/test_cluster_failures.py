"""The Celery executor when things break: workers or the bot killed mid-job, Redis restarted or down, no model."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.bot_harness import decode, photo_bytes, result_photos, said, texts_in, wait_results
from testing.cluster_harness import ClusterWorker, RedisServer, cluster_bot, settled, tasks_run
from testing.fake_telegram import Chat, FakeTelegram

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(300)]
LONG = {"STYLEBOT_STEPS": "50"}  # seconds on a CPU, reported from its first step: time to break something mid-job


@pytest.fixture(scope="module")
def workers(server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ClusterWorker]]:
    pool = [ClusterWorker(server, tmp_path_factory.mktemp("workers")).start()]
    yield pool
    for worker in pool:
        worker.stop()


@pytest.fixture
def worker(workers: list[ClusterWorker]) -> ClusterWorker:
    """The module's first worker, alive (a test may have killed it)."""
    if workers[0].proc is None or workers[0].proc.poll() is not None:
        workers[0] = ClusterWorker(workers[0].server, workers[0].log.parent).start()
    return workers[0]


def painting(fake: FakeTelegram, chat: Chat) -> None:
    """Wait until a job of this chat reports progress."""
    fake.wait_for(lambda: any(t.startswith("🎨 Painting") for t in texts_in(fake, chat)), 90, "progress")


def test_worker_killed_mid_job_another_worker_paints_it_once(
    fake: FakeTelegram, data: Path, server: RedisServer, worker: ClusterWorker, workers: list[ClusterWorker]
) -> None:
    second = ClusterWorker(server, worker.log.parent).start()
    workers.append(second)
    bot = cluster_bot(fake, data, server, **LONG).start()
    try:
        chat = fake.private_chat(4001, "Eve")
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")
        painting(fake, chat)
        [busy] = [w for w in (worker, second) if (w.state() or {}).get("state") == "busy"]
        busy.kill()
        fake.wait_for(lambda: any("retrying" in t for t in texts_in(fake, chat)), 30, "retry notice")
        [result] = wait_results(fake, chat, 1, timeout=120)
        assert decode(fake.message_file_bytes(result)).size == (48, 32)
        settled(server, [worker, second])  # no second result can come after this
        assert len(result_photos(fake, chat)) == 1
        assert "stopped beating while painting job" in bot.log_text()
    finally:
        bot.stop()
        second.stop()


def test_bot_killed_mid_job_reattaches_without_a_second_run(
    fake: FakeTelegram, data: Path, server: RedisServer, worker: ClusterWorker
) -> None:
    before = tasks_run([worker])
    bot = cluster_bot(fake, data, server, **LONG).start()
    chat = fake.private_chat(4101, "Dan")
    fake.send_photo(chat, None, photo_bytes(seed=1), caption="stripes")
    painting(fake, chat)
    bot.kill()
    bot.start()
    try:
        [result] = wait_results(fake, chat, 1, timeout=120)
        assert decode(fake.message_file_bytes(result)).size == (48, 32)
        fake.wait_for(lambda: any(t.startswith("✅ Done") for t in texts_in(fake, chat)), 30, "done status")
        assert "re-attached to 1 job(s)" in bot.log_text()
        assert not any("restarted" in t for t in texts_in(fake, chat))  # it never went back to the queue
        settled(server, [worker])
        assert len(result_photos(fake, chat)) == 1
        assert tasks_run([worker]) - before == 1  # painted once
    finally:
        bot.stop()


def test_redis_restart_mid_queue_loses_no_job(
    fake: FakeTelegram, data: Path, server: RedisServer, worker: ClusterWorker
) -> None:
    bot = cluster_bot(fake, data, server, STYLEBOT_STEPS="20", STYLEBOT_JOBS_PER_USER="5").start()
    try:
        ann, bob = fake.private_chat(4201, "Ann"), fake.private_chat(4202, "Bob")
        for seed in range(3):
            fake.send_photo(ann, None, photo_bytes(seed=seed), caption="dots")
        fake.send_photo(bob, None, photo_bytes(seed=9), caption="stripes")
        painting(fake, ann)
        server.stop()  # SIGTERM: the append-only file is complete
        time.sleep(1.0)  # the scenario: Redis stays down for a moment while the bot and the worker go on
        server.start()
        wait_results(fake, ann, 3, timeout=180)
        wait_results(fake, bob, 1, timeout=60)
        settled(server, [worker])
        assert len(result_photos(fake, ann)) == 3 and len(result_photos(fake, bob)) == 1
    finally:
        bot.stop()


def test_redis_down_says_try_again_shortly_and_recovers(
    fake: FakeTelegram, data: Path, server: RedisServer, worker: ClusterWorker
) -> None:
    bot = cluster_bot(fake, data, server).start()
    try:
        chat = fake.private_chat(4301, "Gus")
        connected = bot.log_text().count("connected to the broker")
        server.stop()
        fake.wait_for(lambda: "lost the broker" in bot.log_text(), 30, "the bot noticing")
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")
        said(fake, chat, "please try again shortly", 30)
        server.start()
        fake.wait_for(lambda: bot.log_text().count("connected to the broker") > connected, 30, "the bot reconnecting")
        fake.send_photo(chat, None, photo_bytes(seed=2), caption="dots")
        wait_results(fake, chat, 1, timeout=120)
    finally:
        bot.stop()


def test_cancel_reaches_a_running_task(
    fake: FakeTelegram, data: Path, server: RedisServer, worker: ClusterWorker
) -> None:
    bot = cluster_bot(fake, data, server, STYLEBOT_STEPS="3000").start()
    try:
        chat = fake.private_chat(4401, "Ivy")
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")
        painting(fake, chat)
        fake.send_text(chat, None, "/cancel")
        fake.wait_for(lambda: any(t == "🚫 Cancelled." for t in texts_in(fake, chat)), 30, "cancelled status")
        worker.wait_state("idle", 30)  # the running task stopped within a step
        assert result_photos(fake, chat) == []
    finally:
        bot.stop()


def test_a_worker_that_cannot_load_the_model_takes_no_task_and_says_why(
    fake: FakeTelegram, data: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = RedisServer(tmp_path_factory.mktemp("redis-fatal")).start()
    broken = data / "broken.weights.h5"
    broken.write_bytes(b"not an HDF5 file")
    bad = ClusterWorker(server, data, STYLEBOT_WEIGHTS=str(broken)).start(wait=False)
    bad.wait_state("fatal", 120)
    admin = fake.private_chat(42, "Root")
    bot = cluster_bot(fake, data, server, STYLEBOT_ADMIN_IDS="42").start()
    try:
        said(fake, admin, "broken.weights.h5", 30)
        chat = fake.private_chat(4501, "Gil")
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")
        said(fake, chat, "the operator has to install the model weights", 30)
        assert bad.proc is not None and bad.proc.wait(30) == 3
        assert server.client().llen("stylebot") == 0  # nothing was queued for it
    finally:
        bot.stop()
        server.stop()
