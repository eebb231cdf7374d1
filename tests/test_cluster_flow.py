"""End to end with STYLEBOT_EXECUTOR=celery: the real bot, redis-server, a real Celery worker, the fake Bot API.

The flows are the local executor's own tests (imported, so they run here against this module's fixtures).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from testing.bot_harness import (
    BotProcess,
    free_port,
    make_presets,
    photo_bytes,
    result_photos,
    said,
    texts_in,
    wait_results,
)
from testing.cluster_harness import ClusterWorker, RedisServer, cluster_bot
from testing.fake_telegram import FakeTelegram
from tests.test_bot_flow import (  # noqa: F401 (collected here, with the fixtures below)
    test_hd_comes_as_a_document_plus_a_photo,
    test_preset_by_caption_and_blend,
    test_preset_by_keyboard,
    test_two_photo_flow,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def worker(server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterWorker]:
    worker = ClusterWorker(server, tmp_path_factory.mktemp("workers"), STYLEBOT_METRICS_PORT=str(free_port())).start()
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture(scope="module")
def bot(
    fake: FakeTelegram, server: RedisServer, worker: ClusterWorker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotProcess]:
    data: Path = tmp_path_factory.mktemp("bot")
    make_presets(data / "styles")
    process = cluster_bot(fake, data, server, STYLEBOT_ADMIN_IDS="7", STYLEBOT_MAX_UPLOAD_MB="1").start()
    yield process
    process.stop()


def test_the_bot_spawns_no_worker_and_results_leave_redis(bot: BotProcess, server: RedisServer) -> None:
    assert bot.worker_pids() == []
    client = server.client()
    assert list(client.scan_iter(match="stylebot:result:*")) == []  # every collected result was deleted


def test_progress_edits_show_percent(fake: FakeTelegram, bot: BotProcess) -> None:
    chat = fake.private_chat(1101, "Ivy")
    fake.send_photo(chat, None, photo_bytes(seed=21), caption="dots")
    fake.wait_for(lambda: any(t.startswith("🎨 Painting") for t in texts_in(fake, chat)), 60, "progress")
    wait_results(fake, chat, 1)
    edits = [c.params.get("text", "") for c in fake.calls_of("editMessageText") if int(c.params["chat_id"]) == chat.id]
    assert any("%" in e for e in edits if e.startswith("🎨 Painting"))
    fake.wait_for(lambda: any(t.startswith("✅ Done") for t in texts_in(fake, chat)), 20, "done")


def test_group_reply_with_a_preset(fake: FakeTelegram, bot: BotProcess) -> None:
    chat = fake.group_chat(3301, "Painters")
    ann, bob = fake.user(331, "Ann"), fake.user(332, "Bob")
    photo = fake.send_photo(chat, ann, photo_bytes(seed=31))
    fake.send_text(chat, bob, "/stylize stripes", reply_to=photo["message_id"])
    [result] = wait_results(fake, chat, 1)
    assert result["caption"].endswith("for Bob")
    assert len(result_photos(fake, chat)) == 1
    said(fake, chat, "Done", 20)


def test_the_worker_serves_its_own_metrics(fake: FakeTelegram, bot: BotProcess, worker: ClusterWorker) -> None:
    chat = fake.private_chat(1201, "Max")
    fake.send_photo(chat, None, photo_bytes(seed=41), caption="dots")
    wait_results(fake, chat, 1)
    done = ("stylebot_worker_jobs_total", (("method", "gatys"), ("outcome", "done")))
    # The worker counts a task just after publishing its outcome: the result can reach the chat first.
    samples = fake.wait_for(lambda: s if (s := worker_samples(worker)).get(done) else None, 10, "the count")
    assert samples[("stylebot_worker_job_run_seconds_count", (("method", "gatys"),))] >= 1
    assert samples[("stylebot_worker_model_load_seconds", ())] > 0
    assert samples[("process_resident_memory_bytes", ())] > 50e6  # TensorFlow and the model live here
    fake.wait_for(lambda: worker_samples(worker)[("stylebot_worker_busy", ())] == 0, 10, "idle again")


def worker_samples(worker: ClusterWorker) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample the worker's /metrics serves, by name and sorted labels."""
    response = httpx.get(f"http://127.0.0.1:{worker.env['STYLEBOT_METRICS_PORT']}/metrics", trust_env=False)
    response.raise_for_status()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
