"""What the bot sent, decoded: a clip's streams, size, duration and alpha, and the bot's latest clip message."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import av
import numpy as np

from testing.fake_telegram import Chat, FakeTelegram


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
