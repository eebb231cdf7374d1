"""The Celery executor's scheduling: a cancel that reaches a task still in the broker, fairness with one worker
slot, the live preview painted on a cluster worker, and a stop right after an outcome. Real bot (but for the
last: the executor alone, as bench/cluster.py drives it), redis-server and Celery worker, fake Bot API.

The worker is paused (SIGSTOP) to hold a task where a test needs it: in the broker, or mid-painting. Its
heartbeat is slow here (a key that lives 30 s), so a pause of a few seconds does not count as a lost worker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.models import JobParams
from bot.core.recipes import style_params
from bot.jobs.cluster.keys import INFLIGHT, QUEUE
from bot.jobs.protocol import Event, JobDone, RunJob
from testing.bot_harness import decode, make_presets, photo_bytes, said, texts_in, wait_results
from testing.cluster_harness import ClusterWorker, RedisServer, cluster_bot
from testing.fake_telegram import Call, Chat, FakeTelegram

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(300)]
PAINTED = re.compile(r"job (\d+): JobDone")  # the worker's line for each job it painted


@pytest.fixture(scope="module")
def module_worker(server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterWorker]:
    # With its instant lane: the live-preview test checks the instant picture comes first.
    worker = ClusterWorker(
        server, tmp_path_factory.mktemp("workers"), STYLEBOT_WORKER_HEARTBEAT_S="10", STYLEBOT_WORKER_INSTANT="on"
    ).start()
    worker.wait_lane()
    yield worker
    worker.stop()


@pytest.fixture
def worker(module_worker: ClusterWorker) -> Iterator[ClusterWorker]:
    """The module's worker, idle; resumed afterwards even if the test failed while it was paused."""
    module_worker.wait_state("idle", 60)
    yield module_worker
    module_worker.resume()


def jobs(data: Path) -> dict[int, tuple[int, str]]:
    """Every job in the bot's database: id -> (user id, status)."""
    with sqlite3.connect(data / "stylebot.sqlite3") as conn:
        return {row[0]: (row[1], row[2]) for row in conn.execute("SELECT id, user_id, status FROM jobs")}


def tasks_sent(server: RedisServer) -> list[int]:
    """Jobs whose task the bot has handed to the cluster and whose outcome has not come back."""
    entries = server.client().hgetall(INFLIGHT)
    return sorted(int(job) for job, raw in entries.items() if not json.loads(raw).get("done"))


def painted(worker: ClusterWorker, since: int) -> list[int]:
    """The jobs the worker painted after log offset `since`, in the order it painted them."""
    return [int(job) for job in PAINTED.findall(worker.log_text()[since:])]


def test_cancel_reaches_a_task_still_waiting_in_the_broker(
    fake: FakeTelegram, data: Path, server: RedisServer, worker: ClusterWorker
) -> None:
    bot = cluster_bot(fake, data, server).start()
    try:
        chat = fake.private_chat(5001, "Ada")
        since = len(worker.log_text())
        worker.pause()  # its heartbeat still says idle: the bot sends it the task, which nobody takes
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")
        fake.wait_for(lambda: tasks_sent(server) == [1], 30, "the task handed to the broker")
        fake.send_text(chat, None, "/cancel")
        said(fake, chat, "Cancelled 1 job")
        fake.wait_for(lambda: "🚫 Cancelled." in texts_in(fake, chat), 30, "the cancelled status")
        assert jobs(data) == {1: (5001, "cancelled")}
        # The broker is told in the background (never on the bot's loop): its entry goes a moment later.
        fake.wait_for(lambda: tasks_sent(server) == [], 10, "the task's entry dropped")
        worker.resume()
        # The worker now receives the task and drops it: revoked, or (should the revoke come second) stale.
        fake.wait_for(
            lambda: re.search(r"Discarding revoked task|job 1: task \S+ is stale", worker.log_text()[since:]),
            30,
            "the worker dropping the task",
        )
        worker.wait_state("idle", 30)
        fake.send_photo(chat, None, photo_bytes(seed=2), caption="dots")  # the slot is free for the next job
        wait_results(fake, chat, 1, timeout=90)
        assert painted(worker, since) == [2]  # job 1 was never painted
        assert server.client().llen(QUEUE) == 0
    finally:
        worker.resume()
        bot.stop()
    # A new database numbers jobs from 1 again: what cancelled the old job 1 must not stop the new one.
    fresh = data / "fresh"
    make_presets(fresh / "styles")
    bot = cluster_bot(fake, fresh, server).start()
    try:
        fake.send_photo(chat, None, photo_bytes(seed=3), caption="dots")
        wait_results(fake, chat, 2, timeout=90)
        assert painted(worker, since) == [2, 1]
    finally:
        bot.stop()


def test_one_idle_slot_gets_one_task_so_the_queue_stays_fair(
    fake: FakeTelegram, data: Path, server: RedisServer, worker: ClusterWorker
) -> None:
    bot = cluster_bot(fake, data, server, STYLEBOT_JOBS_PER_USER="5").start()
    try:
        ann, bob = fake.private_chat(5101, "Ann"), fake.private_chat(5102, "Bob")
        since = len(worker.log_text())
        for seed in range(3):
            fake.send_photo(ann, None, photo_bytes(seed=seed), caption="dots")
        fake.wait_for(lambda: len(jobs(data)) == 3, 30, "Ann's three jobs queued")
        fake.wait_for(lambda: any(t.startswith("🎨 Painting") for t in texts_in(fake, ann)), 90, "Ann's first job")
        worker.pause()  # Ann's first job stays on the only slot until Bob's job has queued behind the others
        fake.send_photo(bob, None, photo_bytes(seed=9), caption="stripes")
        fake.wait_for(lambda: len(jobs(data)) == 4, 30, "Bob's job queued")
        said(fake, bob, "Queued")
        # A negative needs a window: the dispatcher, woken by Bob's job, would hand on a task it should not
        # within a payload's build time; 1 s covers that on a loaded machine.
        time.sleep(1.0)
        sent = tasks_sent(server)
        assert len(sent) == 1, f"jobs {sent} handed to the cluster for one worker slot"  # the rest wait in SQLite
        assert server.client().llen(QUEUE) == 0
        worker.resume()
        wait_results(fake, ann, 3, timeout=120)
        wait_results(fake, bob, 1, timeout=60)
        owners = {job: ("Ann" if user == 5101 else "Bob") for job, (user, _) in jobs(data).items()}
        assert [owners[job] for job in painted(worker, since)] == ["Ann", "Bob", "Ann", "Ann"]
        assert painted(worker, since)[0] == sent[0]
    finally:
        worker.resume()
        bot.stop()


def status_edits(fake: FakeTelegram, chat: Chat) -> list[tuple[Call, dict[str, str]]]:
    """The bot's editMessageMedia calls in a chat, each with its media object."""
    calls = [c for c in fake.calls_of("editMessageMedia") if int(c.params["chat_id"]) == chat.id]
    return [(c, c.params["media"]) for c in calls]


def uploaded(call: Call, media: dict[str, str]) -> bytes:
    """The picture a call uploaded for its media (attach://name)."""
    return call.uploads[media["media"].removeprefix("attach://")]


def test_live_preview_from_a_cluster_worker_edits_the_status_picture(
    fake: FakeTelegram, data: Path, server: RedisServer, worker: ClusterWorker
) -> None:
    bot = cluster_bot(fake, data, server, STYLEBOT_INSTANT_PREVIEW="on", STYLEBOT_STEPS="8").start()
    try:
        chat = fake.private_chat(5201, "Cy")
        fake.send_photo(chat, None, photo_bytes(seed=3), caption="dots")
        [result] = wait_results(fake, chat, 1, timeout=90)
        edits = status_edits(fake, chat)
        live = [(c, m) for c, m in edits if "Painting" in m.get("caption", "")]
        assert live, f"no live preview among {[m.get('caption') for _, m in edits]}"
        assert edits[-1][1].get("caption", "").startswith("🎨")  # the result came last, in the same message
        assert {int(c.params["message_id"]) for c, _ in edits} == {result["message_id"]}
        [instant] = [c for c in fake.calls_of("sendPhoto") if int(c.params["chat_id"]) == chat.id]
        assert "Instant preview" in instant.params.get("caption", "")  # painted by the worker machine's lane
        for call, media in live:
            picture = uploaded(call, media)
            assert picture != instant.uploads["photo"]  # the worker's picture, not the instant one
            assert decode(picture).size == (48, 32)
    finally:
        bot.stop()


async def test_the_executor_stops_at_once_right_after_an_outcome(
    server: RedisServer, worker: ClusterWorker, tmp_path: Path
) -> None:
    """bench/cluster.py hung here: the outcome loop, still sending its acknowledgement, lost the cancel.

    redis-py sends through asyncio.wait_for, which before Python 3.12 returns instead of raising when the
    send finishes in the same step as the cancel; a single cancel then left the loop running for ever.
    """
    from bot.jobs.cluster.executor import CeleryExecutor

    content, style = tmp_path / "content.jpg", tmp_path / "style.jpg"
    content.write_bytes(photo_bytes(seed=5))
    style.write_bytes(photo_bytes((64, 64), seed=6))
    params = style_params(JobParams("standard", "medium", False, 1), (1.0,), max_side=48, steps=2, warm_start=False)
    for attempt in range(3):  # one was enough to hang the old stop in 2 out of 2 tries
        executor = CeleryExecutor(server.url, 3600)
        await executor.reattach(frozenset())
        done = asyncio.Event()

        def on_event(event: Event, done: asyncio.Event = done) -> None:
            if isinstance(event, JobDone):
                done.set()

        executor.start(on_event)
        try:
            async with asyncio.timeout(30):
                while executor.idle_workers() < 1:
                    await asyncio.sleep(0.05)
            job_id = 9000 + attempt
            request = RunJob(
                job_id, str(content), (str(style),), dataclasses.asdict(params), str(tmp_path / str(job_id))
            )
            assert await executor.submit(request)
            await asyncio.wait_for(done.wait(), 60)
        finally:
            await asyncio.wait_for(executor.stop(), 10)  # at once: the outcome loop is still acknowledging
        worker.wait_state("idle", 30)
