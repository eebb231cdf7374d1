"""Phone videos: frames stored landscape with a display rotation come out, and go back, the right way up."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from engine import video_out
from engine.clip import paint_clip
from engine.fast import FastStylizer
from engine.params import StyleParams
from engine.video_io import ClipLimits, ReadPlan, probe_clip, read_frames
from testing.clip_sources import cut_mp4, data_dir, style_image

SIDE = 192  # bikes.mp4 (640 x 272) is stored at 192 x 82
# Keep-colours puts the source's colours back on the painting: how it is turned shows plainly.
PARAMS = StyleParams(method="fast", max_side=SIDE, keep_colors=True)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Half a second of bikes.mp4 without any rotation: the frames as the phone stored them."""
    return cut_mp4(data_dir() / "bikes.mp4", tmp_path_factory.mktemp("src") / "plain.mp4", side=SIDE, seconds=0.5)


@pytest.fixture(scope="module")
def turned(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """The same frames, stored the same way, in MP4s that say to turn them by each angle for display."""
    folder = tmp_path_factory.mktemp("turned")
    return {
        angle: cut_mp4(data_dir() / "bikes.mp4", folder / f"r{angle}.mp4", side=SIDE, seconds=0.5, rotation=angle)
        for angle in (90, 180, 270, -90)
    }


@pytest.fixture(scope="module")
def stylizer() -> FastStylizer:
    """The instant network on two threads (the machine has two cores)."""
    return FastStylizer(threads=2)


def first_frame(path: Path) -> np.ndarray:
    """The first frame read_frames gives, at the clip's displayed size."""
    info = probe_clip(path)
    return next(read_frames(path, info, ReadPlan(info.width, info.height, info.fps, 1.0), ClipLimits())).rgb


def difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two same-sized frames."""
    assert a.shape == b.shape
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


@pytest.mark.parametrize(("angle", "rotation"), [(90, 90), (-90, 270), (270, 270), (180, 180)])
def test_probe_reports_the_displayed_size(turned: dict[int, Path], stored: Path, angle: int, rotation: int) -> None:
    """A quarter turn swaps width and height (a landscape-stored phone video is portrait); -90 reads as 270."""
    plain, info = probe_clip(stored), probe_clip(turned[angle])
    assert (plain.width, plain.height, plain.rotation) == (192, 82, 0)
    assert info.rotation == rotation
    expected = (82, 192) if rotation in (90, 270) else (192, 82)
    assert (info.width, info.height) == expected
    assert (info.frames, info.fps) == (plain.frames, plain.fps)


@pytest.mark.parametrize("angle", [90, 180, 270, -90])
def test_frames_come_out_upright(turned: dict[int, Path], stored: Path, angle: int) -> None:
    """Each frame is the stored one turned counter-clockwise by the angle, not the other way."""
    source, frame = first_frame(stored), first_frame(turned[angle])
    right = difference(frame, np.rot90(source, angle // 90))
    wrong = difference(frame, np.rot90(source, -angle // 90 if angle % 180 else 0))
    assert right < 1.0, right  # the same H.264 bitstream: decoded alike
    assert wrong > 20.0, wrong


def test_a_phone_portrait_matrix_turns_clockwise(tmp_path: Path) -> None:
    """The matrix an iPhone writes for portrait ({0, 1, -1, 0}; ffprobe: "rotation of -90.00 degrees") maps the
    stored top-left corner to the displayed top-right: x' = -y + h, y' = x (FFmpeg's display.h), a clockwise turn.
    Written raw, so the check does not lean on PyAV's sign for set_display_rotation."""
    height, width = 48, 64
    stored = np.zeros((height, width, 3), np.uint8)
    stored[: height // 2, : width // 2] = 255  # the stored top-left quarter is white
    path = tmp_path / "iphone.mp4"
    writer = video_out.H264Writer(path, width, height, Fraction(25))
    one, w_one = 1 << 16, 1 << 30  # a, b, c, d, x, y are 16.16 fixed point; u, v, w are 2.30
    writer.stream.set_display_matrix([0, one, 0, -one, 0, 0, height * one, 0, w_one])
    for _ in range(3):
        writer.write(stored)
    writer.close()
    info = probe_clip(path)
    assert (info.width, info.height, info.rotation) == (height, width, 270)
    frame = first_frame(path).astype(np.float32)
    assert frame[: width // 2, height // 2 :].mean() > 200  # displayed top-right: the white quarter
    assert frame[: width // 2, : height // 2].mean() < 50


@pytest.mark.parametrize(
    ("angle", "hflip", "vflip", "shown"),
    [
        (0, True, False, lambda s: s[:, ::-1]),
        (0, False, True, lambda s: s[::-1]),
        (90, True, False, lambda s: np.rot90(s, 1)[:, ::-1]),
        (90, False, True, lambda s: np.rot90(s, 1)[::-1]),
        (180, True, False, lambda s: s[::-1]),
        (-90, True, False, lambda s: np.rot90(s, -1)[:, ::-1]),
    ],
)
def test_mirrored_matrices_are_shown_as_ffmpeg_defines_them(
    stored: Path, tmp_path: Path, angle: int, hflip: bool, vflip: bool, shown: Callable[[np.ndarray], np.ndarray]
) -> None:
    """A turn then a mirror (av_display_matrix_flip negates x' or y') comes out as that picture; a pure left-right
    mirror is not taken for a half turn (which is what the rotation angle alone says)."""
    source = first_frame(stored)
    height, width = source.shape[:2]
    path = tmp_path / "mirrored.mp4"
    writer = video_out.H264Writer(path, width, height, Fraction(25))
    writer.stream.set_display_rotation(angle, hflip=hflip, vflip=vflip)
    for _ in range(3):
        writer.write(source)
    writer.close()
    frame = first_frame(path)
    expected = np.ascontiguousarray(shown(source))
    assert probe_clip(path).mirrored
    assert difference(frame, expected) < 3.0
    turned_only = np.rot90(source, angle // 90)
    if turned_only.shape == frame.shape:
        assert difference(frame, turned_only) > 10.0


def output_rotation(path: Path) -> int:
    """The display rotation a decoded frame of a written clip carries."""
    with av.open(str(path)) as container:
        return int(next(container.decode(video=0)).rotation)


def turns_apart(painted: np.ndarray, reference: np.ndarray) -> dict[int, float]:
    """How far `painted`'s colours are from `reference` turned k quarter turns counter-clockwise, for each k that
    fits; keep-colours gives a painting the source's chroma (RGB less its grey), so the right k is about 0."""

    def chroma(rgb: np.ndarray) -> np.ndarray:
        grey = rgb.astype(np.float32).mean(axis=2, keepdims=True)
        return rgb.astype(np.float32) - grey

    turns = {k: np.rot90(reference, k) for k in range(4)}
    return {k: difference(chroma(painted), chroma(t)) for k, t in turns.items() if t.shape == painted.shape}


def test_painted_video_is_portrait_and_upright(
    turned: dict[int, Path], stored: Path, stylizer: FastStylizer, tmp_path: Path
) -> None:
    """A rotated phone video is painted portrait, upright, and written with no rotation left in the file."""
    plain = paint_clip(stored, style_image(), PARAMS, tmp_path / "plain.mp4", kind="video", stylizer=stylizer)
    result = paint_clip(turned[90], style_image(), PARAMS, tmp_path / "out.mp4", kind="video", stylizer=stylizer)
    assert result.size == (82, 192) and plain.size == (192, 82)
    info = probe_clip(result.path)
    assert (info.width, info.height, info.rotation) == (82, 192, 0)
    assert output_rotation(result.path) == 0
    assert result.frames == plain.frames
    apart = turns_apart(np.asarray(result.first_frame), np.asarray(plain.first_frame))
    assert apart[1] < 0.25 * apart[3], apart  # a quarter turn counter-clockwise, not clockwise


def test_video_note_from_a_rotated_video_is_square_and_upright(
    turned: dict[int, Path], stored: Path, stylizer: FastStylizer, tmp_path: Path
) -> None:
    """A round video from a portrait phone video: the displayed middle square, upright, no rotation kept."""
    result = paint_clip(turned[270], style_image(), PARAMS, tmp_path / "note.mp4", kind="video_note", stylizer=stylizer)
    info = probe_clip(result.path)
    assert info.width == info.height == result.size[0] == 80 and info.rotation == 0
    assert output_rotation(result.path) == 0
    plain = paint_clip(stored, style_image(), PARAMS, tmp_path / "plain.mp4", kind="video_note", stylizer=stylizer)
    # The same square of the same frames, only turned: 270 degrees counter-clockwise.
    apart = turns_apart(np.asarray(result.first_frame), np.asarray(plain.first_frame))
    assert apart[3] < 0.25 * min(apart[0], apart[1], apart[2]), apart
