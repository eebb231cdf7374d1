"""Clip files: probing, bombs and damage refused with domain errors, every output kind as Telegram wants it."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from engine import video_out
from engine.clip import ClipOptions, paint_clip, plan_output
from engine.errors import (
    Cancelled,
    ClipDamagedError,
    ClipError,
    ClipNoAlphaError,
    ClipNoFramesError,
    ClipNoVideoError,
    ClipTooLargeError,
    ClipTooLongError,
    ClipTooManyFramesError,
)
from engine.fast import FastStylizer
from engine.params import StyleParams
from engine.video_io import ClipInfo, ClipLimits, ReadPlan, probe_clip, read_frames
from testing.clip_sources import alpha_webm, circle_alpha, cut_mp4, data_dir, gif, style_image, tgs, write_silence

SIDE = 160
PARAMS = StyleParams(method="fast", max_side=SIDE)


@pytest.fixture(scope="module")
def stylizer() -> FastStylizer:
    """The instant network on two threads (the machine has two cores)."""
    return FastStylizer(threads=2)


@pytest.fixture(scope="module")
def bunny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1.5 s of Big Buck Bunny with its AAC sound."""
    return cut_mp4(data_dir() / "bigbuckbunny.mp4", tmp_path_factory.mktemp("src") / "bunny.mp4", side=320, seconds=1.5)


@pytest.fixture(scope="module")
def sticker_webm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A video sticker with a round alpha cut-out, from the carphone clip."""
    folder = tmp_path_factory.mktemp("src")
    return alpha_webm(data_dir() / "carphone_pristine.mp4", folder / "sticker.webm", side=SIDE, seconds=1.0)


def streams(path: Path) -> dict[str, tuple[str, str | None]]:
    """Stream type -> (codec, pixel format) of a written file."""
    with av.open(str(path)) as container:
        return {s.type: (s.codec_context.name, getattr(s.codec_context, "pix_fmt", None)) for s in container.streams}


def alpha_planes(path: Path) -> Iterator[np.ndarray]:
    """The alpha planes of a WEBM, decoded with libvpx (FFmpeg's own VP9 decoder drops alpha)."""
    decoder = av.CodecContext.create("libvpx-vp9", "r")
    with av.open(str(path)) as container:
        for packet in container.demux(container.streams.video[0]):
            for frame in decoder.decode(packet):
                yield frame.to_ndarray(format="rgba")[..., 3]


def test_video_keeps_the_sound_as_aac(bunny: Path, stylizer: FastStylizer, tmp_path: Path) -> None:
    """A video comes back as H.264 yuv420p with its AAC sound, the same length, faststart."""
    result = paint_clip(bunny, style_image(), PARAMS, tmp_path / "out.mp4", kind="video", stylizer=stylizer)
    kinds = streams(result.path)
    assert kinds["video"] == ("h264", "yuv420p")
    assert kinds["audio"][0] == "aac" and result.has_audio
    info = probe_clip(result.path)
    assert info.width == SIDE and info.width % 2 == 0 and info.height % 2 == 0
    assert info.frames == result.frames == 38
    assert abs(info.duration_s - 1.52) < 0.1
    head = result.path.read_bytes()[:64]
    assert head.index(b"moov") < head.index(b"mdat") if b"mdat" in head else b"moov" in head  # +faststart


def test_animation_has_no_audio_track(bunny: Path, stylizer: FastStylizer, tmp_path: Path) -> None:
    """A GIF (Telegram 'animation') is MP4 H.264 without any audio track, even from a source with sound."""
    result = paint_clip(bunny, style_image(), PARAMS, tmp_path / "out.mp4", kind="animation", stylizer=stylizer)
    assert set(streams(result.path)) == {"video"}
    assert not result.has_audio


def test_video_note_is_square_under_640_with_sound(bunny: Path, stylizer: FastStylizer, tmp_path: Path) -> None:
    """A round video: square, even side below 640, sound kept."""
    params = StyleParams(method="fast", max_side=1024)
    result = paint_clip(bunny, style_image(), params, tmp_path / "note.mp4", kind="video_note", stylizer=stylizer)
    info = probe_clip(result.path)
    assert info.width == info.height < 640 and info.width % 2 == 0
    assert info.has_audio and streams(result.path)["audio"][0] == "aac"


def test_real_gif_becomes_an_animation(stylizer: FastStylizer, tmp_path: Path) -> None:
    """A real .gif document is read (Pillow-made, 256 colours) and painted into MP4 frame for frame."""
    source = gif(data_dir() / "carphone_pristine.mp4", tmp_path / "in.gif", side=128, seconds=1.0)
    info = probe_clip(source)
    assert info.container == "gif"
    result = paint_clip(
        source,
        style_image(),
        PARAMS,
        tmp_path / "out.mp4",
        kind="animation",
        stylizer=stylizer,
        options=ClipOptions(fps_cap=50),
    )
    assert result.frames == info.frames  # a 33 fps GIF under a 50 fps cap: every frame
    assert streams(result.path) == {"video": ("h264", "yuv420p")}


def test_video_sticker_keeps_alpha_and_fits(sticker_webm: Path, stylizer: FastStylizer, tmp_path: Path) -> None:
    """WEBM VP9 with alpha in, WEBM VP9 yuva420p out: 512 px side, <= 30 fps, <= 3 s, <= 256 KB, alpha kept."""
    source = probe_clip(sticker_webm)
    assert source.has_alpha
    first: list[Image.Image] = []
    result = paint_clip(
        sticker_webm,
        style_image(),
        PARAMS,
        tmp_path / "out.webm",
        kind="video_sticker",
        stylizer=stylizer,
        on_progress=lambda p: first.append(p.preview) if p.preview is not None else None,
    )
    info = probe_clip(result.path)
    assert (info.codec, info.container) == ("vp9", "matroska") and info.has_alpha and not info.has_audio
    assert max(info.width, info.height) == 512
    assert info.fps <= 30 and info.duration_s <= 3.0
    assert result.bytes == result.path.stat().st_size <= 256 * 1024
    alphas = list(alpha_planes(result.path))
    assert len(alphas) == result.frames == source.frames
    assert alphas[0].min() == 0 and alphas[0].max() == 255  # the cut-out survived
    assert len(first) == 1 and first[0].size == result.first_frame.size == result.size


def test_static_sticker_webp(sticker_webm: Path, stylizer: FastStylizer, tmp_path: Path) -> None:
    """A static sticker: WEBP, one side exactly 512, transparency kept."""
    result = paint_clip(sticker_webm, style_image(), PARAMS, tmp_path / "out.webp", kind="sticker", stylizer=stylizer)
    with Image.open(result.path) as image:
        assert image.format == "WEBP" and max(image.size) == 512
        alpha = np.asarray(image.convert("RGBA"))[..., 3]
    assert alpha.min() < 16 and alpha.max() == 255


def test_tgs_becomes_a_video_sticker(stylizer: FastStylizer, tmp_path: Path) -> None:
    """An animated (Lottie) sticker is rendered by rlottie, painted and sent back as a video sticker."""
    source = tgs(tmp_path / "in.tgs", frames=15)
    result = paint_clip(source, style_image(), PARAMS, tmp_path / "out.webm", kind="video_sticker", stylizer=stylizer)
    assert result.frames == 15 and result.size == (512, 512)
    alphas = list(alpha_planes(result.path))
    moving = [np.argwhere(a > 128)[:, 1].mean() for a in (alphas[0], alphas[-1])]
    assert moving[1] > moving[0] + 100  # the square slid right, its transparency around it


def test_sticker_timing_plan() -> None:
    """Stickers over 3 s are sped up by at most 1.5x (and say so), beyond that cut to 3 s (and say so)."""
    clip = ClipInfo("x.mp4", "mov", "h264", 640, 360, 30.0, 4.0, 120, False, False)
    sped = plan_output(clip, "video_sticker", 512)
    # One output frame of headroom, so a rounded-up frame count still ends by 3 s.
    assert sped.notes[0].code == "sped_up" and sped.notes[0].value == pytest.approx(4 / (3 - 1 / 30), abs=1e-3)
    assert float(sped.out_fps) <= 30 and (sped.read.width, sped.read.height) == (512, 288)
    long = plan_output(ClipInfo("x.mp4", "mov", "h264", 640, 360, 30.0, 10.0, 300, False, False), "video_sticker", 512)
    assert long.notes[0].code == "shortened" and long.read.max_seconds == 3.0
    short = plan_output(ClipInfo("x.mp4", "mov", "h264", 640, 360, 60.0, 2.0, 120, False, False), "video_sticker", 512)
    assert short.notes == () and float(short.out_fps) == 30
    with pytest.raises(ClipTooLongError):
        plan_output(ClipInfo("x.mp4", "mov", "h264", 480, 480, 30.0, 61.0, 1830, True, False), "video_note", 384)


@pytest.mark.parametrize(("seconds", "note"), [(3.003, None), (4.0, "sped_up"), (3.8, "sped_up")])
def test_a_video_sticker_never_runs_past_3_s(tmp_path: Path, seconds: float, note: str | None) -> None:
    """29.97 fps footage: 90 frames (3.003 s) lose their last frame unsaid; sped-up clips end by 3 s too."""
    source = cut_mp4(data_dir() / "carphone_pristine.mp4", tmp_path / "c.mp4", side=96, seconds=seconds)
    info = probe_clip(source)
    plan = plan_output(info, "video_sticker", 512)
    frames = sum(1 for _ in read_frames(source, info, plan.read, ClipLimits()))
    assert [n.code for n in plan.notes] == ([note] if note else [])
    assert frames / float(plan.out_fps) <= video_out.STICKER_MAX_SECONDS
    assert frames >= 88  # and nothing more than the one frame is lost


def test_cancel_leaves_no_file(bunny: Path, stylizer: FastStylizer, tmp_path: Path) -> None:
    """should_stop() ends the run with Cancelled and no output nor temporary file."""
    calls = iter(range(1000))
    with pytest.raises(Cancelled):
        paint_clip(
            bunny,
            style_image(),
            PARAMS,
            tmp_path / "out.mp4",
            kind="video",
            stylizer=stylizer,
            should_stop=lambda: next(calls) >= 5,
        )
    assert list(tmp_path.iterdir()) == []


def test_sticker_without_alpha_refused_when_required(bunny: Path, stylizer: FastStylizer, tmp_path: Path) -> None:
    """A caller that needs transparency gets ClipNoAlphaError for an opaque source."""
    with pytest.raises(ClipNoAlphaError) as caught:
        paint_clip(
            bunny,
            style_image(),
            PARAMS,
            tmp_path / "o.webm",
            kind="video_sticker",
            stylizer=stylizer,
            options=ClipOptions(require_alpha=True),
        )
    assert caught.value.kind == "no_alpha"


def test_truncated_and_garbage_files_are_damaged(tmp_path: Path) -> None:
    """A cut-off MP4 and random bytes are ClipDamagedError (kind 'damaged'), not an FFmpeg traceback."""
    data = (data_dir() / "bikes.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 3])
    (tmp_path / "junk.mp4").write_bytes(bytes(range(256)) * 40)
    for name in ("cut.mp4", "junk.mp4"):
        with pytest.raises(ClipDamagedError) as caught:
            probe_clip(tmp_path / name)
        assert caught.value.kind == "damaged"


def test_audio_only_has_no_video(tmp_path: Path) -> None:
    """An M4A with sound only is ClipNoVideoError."""
    path = tmp_path / "sound.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=44100)
        write_silence(out, stream)
    with pytest.raises(ClipNoVideoError):
        probe_clip(path)


def test_zero_frames(stylizer: FastStylizer, tmp_path: Path) -> None:
    """A video stream without a single frame is ClipNoFramesError (kind 'no_frames')."""
    path = tmp_path / "empty.mkv"
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        write_silence(out, out.add_stream("aac", rate=44100))
    with pytest.raises(ClipNoFramesError) as caught:
        paint_clip(path, style_image(), PARAMS, tmp_path / "o.mp4", kind="video", stylizer=stylizer)
    assert caught.value.kind == "no_frames"


def test_gif_bomb_refused_from_its_header(tmp_path: Path) -> None:
    """A GIF whose header declares 10,000 x 10,000 px frames is refused before decoding (kind 'too_large')."""
    frames = [Image.new("RGB", (40, 30), (i * 40, 0, 0)) for i in range(3)]
    frames[0].save(tmp_path / "small.gif", save_all=True, append_images=frames[1:], duration=100)
    data = bytearray((tmp_path / "small.gif").read_bytes())
    data[6:10] = struct.pack("<HH", 10_000, 10_000)  # the logical screen descriptor
    (tmp_path / "bomb.gif").write_bytes(bytes(data))
    with pytest.raises(ClipTooLargeError) as caught:
        probe_clip(tmp_path / "bomb.gif")
    assert caught.value.kind == "too_large" and caught.value.details["width"] == 10_000


def test_too_many_frames_and_too_long() -> None:
    """The header's frame count and duration are checked against the limits, with numbers for the reply."""
    source = data_dir() / "bikes.mp4"  # 250 frames, 10 s
    with pytest.raises(ClipTooManyFramesError) as many:
        probe_clip(source, ClipLimits(max_frames=100))
    assert many.value.details == {"frames": 250, "limit": 100}
    with pytest.raises(ClipTooLongError) as long:
        probe_clip(source, ClipLimits(max_seconds=5))
    assert long.value.details["limit_s"] == 5
    assert isinstance(long.value, ClipError) and long.value.kind == "too_long"


def test_gif_with_too_many_frames_refused(stylizer: FastStylizer, tmp_path: Path) -> None:
    """A GIF of many tiny frames is refused with 'too_many_frames', from the header or while decoding."""
    frames = [Image.new("RGB", (8, 8), (i % 256, 0, 0)) for i in range(300)]
    frames[0].save(tmp_path / "many.gif", save_all=True, append_images=frames[1:], duration=20)
    limits = ClipLimits(max_frames=100)
    with pytest.raises(ClipTooManyFramesError) as caught:
        paint_clip(
            tmp_path / "many.gif",
            style_image(),
            PARAMS,
            tmp_path / "o.mp4",
            kind="animation",
            stylizer=stylizer,
            limits=limits,
        )
    assert caught.value.details["limit"] == 100
    assert not (tmp_path / "o.mp4").exists()


def test_video_sticker_bitrate_search(tmp_path: Path) -> None:
    """The sticker encoder finds a bitrate under the byte limit, and says so when none fits."""
    master = tmp_path / "master.mkv"
    writer = video_out.MasterWriter(master, 128, 128, Fraction(30))
    rng = np.random.default_rng(0)
    for _ in range(30):  # noise: the hardest thing to compress
        writer.write(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8), np.full((128, 128), 255, np.uint8))
    writer.close()
    fitted = video_out.encode_video_sticker(str(master), tmp_path / "ok.webm", Fraction(30), max_bytes=60_000)
    assert fitted.fits and fitted.size == (tmp_path / "ok.webm").stat().st_size <= 60_000
    hopeless = video_out.encode_video_sticker(str(master), tmp_path / "no.webm", Fraction(30), max_bytes=500)
    assert not hopeless.fits and hopeless.size > 500
    assert sorted(p.name for p in tmp_path.iterdir()) == ["master.mkv", "no.webm", "ok.webm"]  # no drafts left


def test_video_sticker_first_draft_aims_at_the_clips_own_length(tmp_path: Path) -> None:
    """The master (Matroska, no frame count in its header) is 3 s: the first draft's bitrate is a 3 s budget."""
    master = tmp_path / "master.mkv"
    writer = video_out.MasterWriter(master, 64, 64, Fraction(30))
    for index in range(90):
        writer.write(np.full((64, 64, 3), index, dtype=np.uint8), np.full((64, 64), 255, np.uint8))
    writer.close()
    fitted = video_out.encode_video_sticker(str(master), tmp_path / "flat.webm", Fraction(30))
    budget = video_out.STICKER_MAX_BYTES * 8 * video_out.STICKER_BUDGET_SHARE / 3.0
    assert fitted.tries == 1 and fitted.bit_rate == pytest.approx(budget, rel=0.01)


def test_cli_paints_a_clip(bunny: Path, tmp_path: Path) -> None:
    """`python -m engine clip.mp4 painting.jpg -o out.mp4` writes a video; a .gif output is refused with exit 1."""
    from engine.cli import main

    style = tmp_path / "style.png"
    style_image().save(style)
    assert main([str(bunny), str(style), "-o", str(tmp_path / "out.mp4"), "--size", "96", "-q"]) == 0
    info = probe_clip(tmp_path / "out.mp4")
    assert (info.codec, info.width, info.has_audio) == ("h264", 96, True)
    assert main([str(bunny), str(style), "-o", str(tmp_path / "out.gif"), "-q"]) == 1
    assert main([str(bunny), str(style), "-o", str(tmp_path / "n.mp4"), "--clip-kind", "animation", "-q"]) == 0
    assert not probe_clip(tmp_path / "n.mp4").has_audio


def test_static_webp_sticker_in_and_out(stylizer: FastStylizer, tmp_path: Path) -> None:
    """A static WEBP sticker with transparency (as Telegram sends them) comes back painted, alpha kept."""
    source = probe_clip(data_dir() / "carphone_pristine.mp4")
    frame = next(read_frames(data_dir() / "carphone_pristine.mp4", source, ReadPlan(512, 418, 30, 1), ClipLimits()))
    image = Image.fromarray(frame.rgb)
    image.putalpha(Image.fromarray(circle_alpha(512, 418)))
    image.save(tmp_path / "in.webp", quality=80)
    assert probe_clip(tmp_path / "in.webp").has_alpha
    result = paint_clip(
        tmp_path / "in.webp", style_image(), PARAMS, tmp_path / "out.webp", kind="sticker", stylizer=stylizer
    )
    with Image.open(result.path) as painted:
        assert painted.size == (512, 418)
        alpha = np.asarray(painted.convert("RGBA"))[..., 3]
    assert alpha[0, 0] < 16 and alpha[209, 256] == 255
