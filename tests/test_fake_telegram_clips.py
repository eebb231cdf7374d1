"""The fake Bot API's clips and sticker sets behave as Telegram's do where the bot depends on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from telegram import Bot, InputSticker
from telegram.error import BadRequest

from engine import video_out
from testing.clip_sources import cut_mp4, data_dir
from testing.fake_telegram import FakeTelegram


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url) as b:
        yield b


def mp4(tmp_path: Path, width: int, height: int, frames: int = 6) -> bytes:
    """A tiny H.264 MP4 of moving noise."""
    path = tmp_path / f"{width}x{height}.mp4"
    writer = video_out.H264Writer(path, width, height, Fraction(12))
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    writer.close()
    return path.read_bytes()


def webm_sticker(tmp_path: Path) -> bytes:
    """A 512 px VP9 WEBM with alpha, as a video sticker must be."""
    master = tmp_path / "master.mkv"
    writer = video_out.MasterWriter(master, 512, 512, Fraction(10))
    for _ in range(5):
        writer.write(np.zeros((512, 512, 3), np.uint8), np.full((512, 512), 255, np.uint8))
    writer.close()
    out = tmp_path / "sticker.webm"
    video_out.encode_video_sticker(str(master), out, Fraction(10))
    return out.read_bytes()


async def test_video_notes_must_be_square_and_under_640(fake: FakeTelegram, bot: Bot, tmp_path: Path) -> None:
    chat = fake.private_chat(1, "Alice")
    with pytest.raises(BadRequest, match=r"(?i)square"):
        await bot.send_video_note(chat.id, mp4(tmp_path, 96, 64))
    with pytest.raises(BadRequest, match=r"(?i)too big"):
        await bot.send_video_note(chat.id, mp4(tmp_path, 640, 640, frames=2))
    message = await bot.send_video_note(chat.id, mp4(tmp_path, 96, 96))
    assert message.video_note is not None and message.video_note.length == 96


async def test_a_bare_webm_sent_as_a_sticker_arrives_as_a_file_until_it_is_in_a_set(
    fake: FakeTelegram, bot: Bot, tmp_path: Path
) -> None:
    chat = fake.private_chat(1, "Alice")
    data = webm_sticker(tmp_path)
    bare = await bot.send_sticker(chat.id, data)
    assert bare.sticker is None and bare.document is not None
    name = f"r1_by_{fake.bot_username}"
    with pytest.raises(BadRequest, match=r"(?i)stickerset_invalid"):
        await bot.get_sticker_set(name)
    with pytest.raises(BadRequest, match=r"(?i)invalid sticker set name"):
        await bot.create_new_sticker_set(1, "r1_by_someone_else", "t", [InputSticker(data, ["🎨"], "video")])
    await bot.create_new_sticker_set(1, name, "Alice's", [InputSticker(data, ["🎨"], "video")])
    staged = (await bot.get_sticker_set(name)).stickers[-1]
    message = await bot.send_sticker(chat.id, staged.file_id)
    assert message.sticker is not None and message.sticker.is_video and message.sticker.set_name == name


async def test_sticker_sets_refuse_what_telegram_refuses(fake: FakeTelegram, bot: Bot, tmp_path: Path) -> None:
    """No set for a user who never opened a chat with the bot; a static sticker must have a 512 px side."""
    data = webm_sticker(tmp_path)
    with pytest.raises(BadRequest, match=r"(?i)peer_id_invalid"):
        await bot.create_new_sticker_set(2, f"p2_by_{fake.bot_username}", "t", [InputSticker(data, ["🎨"], "video")])
    fake.private_chat(2, "Bob")
    small = (tmp_path / "small.webp").as_posix()
    Image.new("RGBA", (100, 100)).save(small, "WEBP")
    with pytest.raises(BadRequest, match=r"(?i)dimensions"):
        sticker = InputSticker(Path(small).read_bytes(), ["🎨"], "static")
        await bot.create_new_sticker_set(2, f"p2_by_{fake.bot_username}", "t", [sticker])


async def test_an_animation_with_sound_shows_as_a_video(fake: FakeTelegram, bot: Bot, tmp_path: Path) -> None:
    """Telegram's clients show an MP4 with an audio track as a video, not a GIF: the fake records it so."""
    source = cut_mp4(data_dir() / "bigbuckbunny.mp4", tmp_path / "bunny.mp4", side=96, seconds=0.5)
    chat = fake.private_chat(1, "Alice")
    message = await bot.send_animation(chat.id, source.read_bytes())
    assert message.animation is None and message.video is not None
