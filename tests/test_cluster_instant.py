"""Instant pictures on the cluster: the instant lane's own queue and process, and a bot loop that never blocks.

The real bot (asyncio debug mode: steps over 100 ms are logged), redis-server, a real `stylebot worker` with its
instant lane, the fake Bot API.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.bot_harness import BotProcess, make_presets, photo_bytes, wait_results
from testing.cluster_harness import ClusterWorker, RedisServer, cluster_bot
from testing.fake_telegram import FakeTelegram
from tests.test_instant_bot import status_photo
from tests.test_loop_never_blocks import big_jpeg

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(400)]
COMMAND_MENUS = 12  # setMyCommands calls at start-up: 6 languages x (private, groups)


@pytest.fixture(scope="module")
def worker(server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterWorker]:
    worker = ClusterWorker(server, tmp_path_factory.mktemp("workers"), STYLEBOT_WORKER_INSTANT="on").start()
    worker.wait_lane()
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
    # PYTHONASYNCIODEBUG: asyncio's debug mode, whose slow-callback warning fires at 100 ms by default.
    process = cluster_bot(fake, data, server, STYLEBOT_INSTANT_PREVIEW="on", PYTHONASYNCIODEBUG="1").start()
    fake.wait_for(lambda: len(fake.calls_of("setMyCommands")) >= COMMAND_MENUS, 60, "the command menus")
    yield process
    process.stop()


def slow_steps(log: str) -> list[str]:
    """asyncio's reports of a step that held the bot's loop."""
    return [line for line in log.splitlines() if "Executing <" in line and " took " in line]


def test_the_instant_picture_does_not_wait_for_a_busy_gatys_worker(
    fake: FakeTelegram, bot: BotProcess, worker: ClusterWorker
) -> None:
    chat = fake.private_chat(1501, "Ida")
    worker.pause()  # the Gatys worker takes nothing now; the instant lane is a process of its own
    try:
        fake.send_photo(chat, None, photo_bytes(seed=51), caption="dots")
        fake.wait_for(lambda: status_photo(fake, chat.id), 60, "the instant picture from the lane")
    finally:
        worker.resume()
    wait_results(fake, chat, 1)
    assert "onnxruntime" not in bot.log_text()  # the bot process painted nothing


def test_20mb_photos_never_block_the_bots_loop(fake: FakeTelegram, bot: BotProcess) -> None:
    photo = big_jpeg()
    assert 18e6 < len(photo) < 20e6
    since = len(bot.log_text())
    chats = [fake.private_chat(1601 + i, f"User{i}") for i in range(2)]
    for chat in chats:
        send = functools.partial(fake.send_document, file_name="big.jpg", mime_type="image/jpeg")
        send(chat, None, photo, caption="stripes")
    for chat in chats:
        fake.wait_for(lambda chat=chat: status_photo(fake, chat.id), 120, "the instant picture")
        wait_results(fake, chat, 1, timeout=240)
    assert slow_steps(bot.log_text()[since:]) == []
