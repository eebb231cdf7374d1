"""End to end: the real bot process, real workers (random VGG19, tiny images), a fake Bot API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.bot_harness import BotProcess, decode, make_presets, photo_bytes, result_photos, texts_in, wait_results
from tests.fake_telegram import FakeTelegram

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture(scope="module")
def bot(fake: FakeTelegram, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    data = tmp_path_factory.mktemp("bot")
    make_presets(data / "styles")
    process = BotProcess(fake, data, STYLEBOT_ADMIN_IDS="7").start()
    yield process
    process.stop()


def test_two_photo_flow(fake: FakeTelegram, bot: BotProcess) -> None:
    chat = fake.private_chat(1001, "Ann")
    content = photo_bytes((96, 64), seed=1)
    fake.send_photo(chat, None, content)
    fake.wait_for(lambda: any("Got your photo" in t for t in texts_in(fake, chat)), 30, "the ask-for-style reply")
    asked = next(m for m in fake.bot_messages(chat.id) if "Got your photo" in (m.get("text") or ""))
    buttons = [b["text"] for row in asked["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["Dots", "Stripes"]
    fake.send_photo(chat, None, photo_bytes((64, 64), seed=2))
    [result] = wait_results(fake, chat, 1)
    image = decode(fake.message_file_bytes(result))
    assert image.size == (48, 32)  # STYLEBOT_MAX_SIDE=48, the content's 3:2 aspect
    original = np.asarray(decode(content).resize(image.size).convert("RGB"), dtype=np.float32)
    assert np.abs(np.asarray(image.convert("RGB"), dtype=np.float32) - original).mean() > 1.0
    assert "your style photo" in result["caption"]
    fake.wait_for(lambda: any(t.startswith("✅ Done") for t in texts_in(fake, chat)), 10, "status: done")
