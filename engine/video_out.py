"""Writing clips with PyAV, in the forms Telegram takes back (its wheels bundle libx264 and libvpx, in-process).

- ``H264Writer``: MP4, H.264, yuv420p, even sides, ``+faststart``, no audio (a GIF/"animation", or the video part
  of a video or video note before ``mux_audio``).
- ``mux_audio(video_path, source_path, out_path)``: the painted video with the source's sound, copied when it is
  AAC already, else re-encoded to AAC; interleaved by time, ``+faststart``.
- ``MasterWriter`` + ``encode_video_sticker``: a lossless FFV1 (yuva420p) master on disk, then WEBM VP9 with
  alpha (yuva420p), no audio, at a bitrate found by quick drafts to fit the byte limit (``StickerEncoding.fits``).
- ``webp_sticker(rgb, alpha)``: a static WEBP sticker with alpha, one side exactly 512.

Note: the x264 inside PyAV's wheels is GPL-licensed (see README).
"""

from __future__ import annotations

import contextlib
import heapq
import io
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

STICKER_SIDE = 512
STICKER_MAX_BYTES = 256 * 1024
STICKER_MAX_SECONDS = 3.0
STICKER_MAX_FPS = 30.0
# x264: visually clean at phone sizes; "veryfast" keeps encoding a small share of the frame time.
H264_CRF = 23
H264_PRESET = "veryfast"
AAC_BITRATE = 128_000
# VP9: constrained quality, capped by the bitrate that fits the limit; each retry aims this much lower.
VP9_CRF = 32
STICKER_BUDGET_SHARE = 0.85
STICKER_TRIES = 6
VP9_DRAFT = {"deadline": "realtime", "cpu-used": "8"}
VP9_FINAL = {"deadline": "good", "cpu-used": "4"}
WEBP_QUALITY = 90


class _FrameWriter:
    """One video stream being written frame by frame (PyAV): numbered frames in, packets muxed, then closed."""

    container: Any
    stream: Any
    frames: int

    def _put(self, frame: Any) -> None:
        """Encode the next frame (its pts is its number) and mux what comes out."""
        frame.pts = self.frames
        self.frames += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


class H264Writer(_FrameWriter):
    """MP4 H.264 yuv420p with no audio; frames must have even sides."""

    def __init__(self, path: str | os.PathLike[str], width: int, height: int, fps: Fraction) -> None:
        import av

        if width % 2 or height % 2:
            raise ValueError(f"H.264 yuv420p needs even sides, got {width}x{height}")
        self.container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        self.stream = self.container.add_stream("libx264", rate=fps)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        self.stream.options = {"crf": str(H264_CRF), "preset": H264_PRESET}
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        """Encode one RGB frame."""
        import av

        self._put(av.VideoFrame.from_ndarray(rgb, format="rgb24"))


def mux_audio(video_path: str | os.PathLike[str], source_path: str, out_path: str | os.PathLike[str]) -> bool:
    """Write the painted video with the source's first audio track; False (video only) when it has none."""
    import av

    with av.open(str(video_path)) as video_in, av.open(source_path, metadata_errors="ignore") as audio_in:
        if not audio_in.streams.audio:
            os.replace(video_path, out_path)
            return False
        v_in, a_in = video_in.streams.video[0], audio_in.streams.audio[0]
        end_s = float(v_in.duration * v_in.time_base) if v_in.duration and v_in.time_base else float("inf")
        with av.open(str(out_path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            v_out = out.add_stream_from_template(v_in)
            copy = a_in.codec_context.name == "aac"
            a_out = out.add_stream_from_template(a_in) if copy else out.add_stream("aac", rate=_audio_rate(a_in))
            if not copy:
                a_out.bit_rate = AAC_BITRATE
            video = ((p, v_out) for p in _packets(video_in, v_in))
            audio = (
                _copied_audio(audio_in, a_in, a_out, end_s) if copy else _encoded_audio(audio_in, a_in, a_out, end_s)
            )
            for packet, stream in heapq.merge(video, audio, key=lambda item: float(item[0].dts * item[0].time_base)):
                packet.stream = stream
                out.mux(packet)
    return True


def _audio_rate(stream: Any) -> int:
    """The source's sample rate, when AAC takes it; else 48 kHz."""
    rate = int(stream.codec_context.sample_rate or 0)
    return rate if rate in (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000) else 48000


def _packets(container: Any, stream: Any) -> Iterator[Any]:
    """The stream's packets in order, without the demuxer's empty flush packet."""
    for packet in container.demux(stream):
        if packet.dts is not None and packet.size:
            yield packet


def _copied_audio(container: Any, a_in: Any, a_out: Any, end_s: float) -> Iterator[tuple[Any, Any]]:
    """The source's AAC packets up to the video's end, unchanged."""
    for packet in _packets(container, a_in):
        if float(packet.dts * packet.time_base) >= end_s:
            return
        yield packet, a_out


def _encoded_audio(container: Any, a_in: Any, a_out: Any, end_s: float) -> Iterator[tuple[Any, Any]]:
    """The source's sound decoded, resampled and encoded to AAC, up to the video's end."""
    import av

    layout = "stereo" if (a_in.codec_context.channels or 2) >= 2 else "mono"
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=a_out.codec_context.sample_rate)
    for frame in container.decode(a_in):
        if frame.time is not None and frame.time >= end_s:
            break
        for resampled in resampler.resample(frame):
            for packet in a_out.encode(resampled):
                yield packet, a_out
    for packet in a_out.encode(None):
        yield packet, a_out


class MasterWriter(_FrameWriter):
    """A lossless FFV1 yuva420p file of painted frames, so the sticker can be re-encoded to fit its limit."""

    def __init__(self, path: str | os.PathLike[str], width: int, height: int, fps: Fraction) -> None:
        import av

        self.path = str(path)
        self.container = av.open(self.path, "w", format="matroska")
        self.stream = self.container.add_stream("ffv1", rate=fps)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuva420p"
        self.frames = 0

    def write(self, rgb: np.ndarray, alpha: np.ndarray) -> None:
        """Store one RGBA frame."""
        import av

        self._put(av.VideoFrame.from_ndarray(np.dstack([rgb, alpha]), format="rgba"))


@dataclass(frozen=True)
class StickerEncoding:
    """How the video sticker was fitted: bytes written, the bitrate, draft encodes tried, whether it fits."""

    size: int
    bit_rate: int
    tries: int
    fits: bool


def encode_video_sticker(
    master_path: str, out_path: str | os.PathLike[str], fps: Fraction, *, max_bytes: int = STICKER_MAX_BYTES
) -> StickerEncoding:
    """WEBM VP9 yuva420p from the master at `fps`, within `max_bytes` when a bitrate that fits is found.

    libvpx overshoots its target on painted (high-contrast) frames, by up to 1.7x measured: quick realtime drafts
    find a bitrate that fits, then one encode at the good deadline makes the file (the draft is kept if that one
    comes out larger). Measured on 90 painted 512 px frames: 13 s instead of 65 s for four good-deadline tries.
    """
    import av

    with av.open(master_path) as master:
        stream = master.streams.video[0]
        # Matroska keeps no frame count (0): counted from the packets (demuxed, not decoded). Taken as 1 before,
        # the first draft aimed at 6x the budget of a 3 s sticker, and 6 tries could end still too big.
        frames = stream.frames or sum(1 for packet in master.demux(stream) if packet.size)
    seconds = max(max(frames, 1) / float(fps), 0.5)
    bit_rate = int(max_bytes * 8 * STICKER_BUDGET_SHARE / seconds)
    draft, size, tries = f"{out_path}.draft.webm", 0, 0
    try:
        for tries in range(1, STICKER_TRIES + 1):  # noqa: B007 - `tries` is reported
            size = _encode_vp9(master_path, draft, fps, bit_rate, VP9_DRAFT)
            log.debug("video sticker draft at %d bps: %d bytes", bit_rate, size)
            if size <= max_bytes:
                break
            bit_rate = int(bit_rate * STICKER_BUDGET_SHARE * max_bytes / size)
        if size > max_bytes:
            log.warning("video sticker still %d bytes after %d tries at %d bps", size, tries, bit_rate)
            os.replace(draft, out_path)
            return StickerEncoding(size, bit_rate, tries, fits=False)
        final = _encode_vp9(master_path, str(out_path), fps, bit_rate, VP9_FINAL)
        if final > max_bytes:
            os.replace(draft, out_path)
            return StickerEncoding(size, bit_rate, tries, fits=True)
        return StickerEncoding(final, bit_rate, tries, fits=True)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(draft)


def _encode_vp9(master_path: str, out_path: str, fps: Fraction, bit_rate: int, speed: dict[str, str]) -> int:
    """One VP9-with-alpha encode of the master at `speed`'s settings; returns the file's size."""
    import av
    from av.video.frame import PictureType

    with av.open(master_path) as master, av.open(out_path, "w", format="webm") as out:
        src = master.streams.video[0]
        stream = out.add_stream("libvpx-vp9", rate=fps)
        stream.width, stream.height, stream.pix_fmt = src.width, src.height, "yuva420p"
        stream.bit_rate = bit_rate
        stream.options = {"crf": str(VP9_CRF), "row-mt": "1", **speed}
        for index, frame in enumerate(master.decode(src)):
            # The master's frames are all intra: libvpx would obey their picture type and make each a key frame.
            frame.pict_type = PictureType.NONE
            frame.pts, frame.time_base = index, 1 / fps
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return os.path.getsize(out_path)


def sticker_size(width: int, height: int, side: int = STICKER_SIDE) -> tuple[int, int]:
    """The size with the longest side exactly `side` and the other scaled to match (even, for yuva420p)."""
    scale = side / max(width, height)
    short = max(2, 2 * round(min(width, height) * scale / 2))
    return (side, short) if width >= height else (short, side)


def webp_sticker(rgb: np.ndarray, alpha: np.ndarray | None = None) -> bytes:
    """A static sticker: WEBP with alpha, its longest side exactly 512 px."""
    image = Image.fromarray(rgb, "RGB")
    if alpha is not None:
        image.putalpha(Image.fromarray(alpha, "L"))
    else:
        image = image.convert("RGBA")
    scale = STICKER_SIDE / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    size = (STICKER_SIDE, size[1]) if image.width >= image.height else (size[0], STICKER_SIDE)
    buffer = io.BytesIO()
    image.resize(size, Image.Resampling.LANCZOS).save(buffer, "WEBP", quality=WEBP_QUALITY, method=4)
    return buffer.getvalue()
